"""The audit record of a verification attempt: written whole, parseable, never lost silently."""

from __future__ import annotations

import base64
import json
import os

import pytest

from tests.support.id_cards import render_photo
from vigil.cli.main import main
from vigil.compare.verify import verify
from vigil.errors import ErrorCode, VigilError
from vigil.models.scoring import thresholds
from vigil.schemas.verification_record import VerificationRecord


def jpeg(data: str | None) -> bool:
    return data is not None and base64.b64decode(data)[:2] == b"\xff\xd8"


def only_record(folder) -> VerificationRecord:
    files = sorted(folder.iterdir())
    assert [f.suffix for f in files] == [".json"], files  # no temporary file left behind
    return VerificationRecord.model_validate_json(files[0].read_text())


def test_an_id_photo_attempt_is_recorded_with_both_crops_and_every_far(images, tmp_path):
    folder = tmp_path / "records" / "kiosk-1"  # created when missing
    result = verify(str(images / "obama.jpg"), image=str(images / "obama2.jpg"), record_to=folder)
    record = only_record(folder)
    assert result.record == str(folder / f"{record.attempt_id}.json")
    assert record.result == result  # the whole answer: what a later field adds is kept too
    assert record.inputs.reference_kind == "id_photo"
    assert record.inputs.reference == str(images / "obama.jpg")
    assert record.inputs.live == str(images / "obama2.jpg")
    assert jpeg(record.reference_crop_jpeg) and record.live_crop_jpeg == result.crop_jpeg
    assert jpeg(record.live_crop_jpeg)
    assert record.similarity == result.similarity and record.card_text is None
    calibrated = sorted(t.far for t in thresholds("face_resnet128").thresholds)
    assert sorted(d.far for d in record.decisions) == calibrated
    for decision in record.decisions:
        assert decision.match == (result.distance <= decision.threshold_distance)
    at_far = next(d for d in record.decisions if d.far == result.far)
    assert at_far.match == result.match
    assert record.models["face_resnet128"] == result.model


def test_a_card_attempt_records_the_card_text(images, tmp_path):
    card = render_photo("biden", 1, photo=0)
    result = verify(id_card=card.jpeg, image=str(images / "obama2.jpg"), record_to=tmp_path)
    record = only_record(tmp_path)
    assert record.inputs.reference_kind == "id_card" and not result.match
    assert record.card_text == result.card.text() and card.fields["Surname"] in record.card_text
    assert record.reference_crop_jpeg == result.card.portrait.crop_jpeg
    assert jpeg(record.reference_crop_jpeg) and record.models["ocr"].startswith("rapidocr@")
    assert not any(d.match for d in record.decisions)


def test_an_unwritable_folder_is_refused_before_the_attempt(images, tmp_path, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")

    def no_face_work(*args, **kwargs):
        raise AssertionError("the attempt ran although its record could not be kept")

    monkeypatch.setattr("vigil.compare.verify.reference_face", no_face_work)
    with pytest.raises(VigilError) as caught:
        verify(str(images / "obama.jpg"), image=str(images / "obama2.jpg"), record_to=blocker / "x")
    assert caught.value.code == ErrorCode.RECORD_NOT_WRITTEN
    assert str(blocker / "x") in caught.value.message


def test_a_failed_write_is_a_coded_error_and_leaves_no_partial_file(images, tmp_path, monkeypatch):
    def full_disk(source, target):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("vigil.compare.verification_record.os.replace", full_disk)
    with pytest.raises(VigilError) as caught:
        verify(str(images / "obama.jpg"), image=str(images / "obama2.jpg"), record_to=tmp_path)
    assert caught.value.code == ErrorCode.RECORD_NOT_WRITTEN
    assert "No space left on device" in caught.value.message
    assert os.listdir(tmp_path) == []


def test_cli_record_option(images, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("vigil.cli.main.configure_logging", lambda *_: None)
    argv = ["verify", "--id-photo", str(images / "obama.jpg"), "--image"]
    assert main([*argv, str(images / "biden.jpg"), "--record", str(tmp_path), "--json"]) == 1
    printed = json.loads(capsys.readouterr().out)
    assert only_record(tmp_path).result.model_dump(mode="json", exclude_none=True) == printed
    blocker = tmp_path / printed["record"]  # a file, not a folder
    assert main([*argv, str(images / "obama2.jpg"), "--record", str(blocker), "--json"]) == 2
    assert json.loads(capsys.readouterr().out)["error"]["code"] == "record_not_written"


def test_a_live_card_attempt_records_the_liveness_evidence(tmp_path):
    """The whole kiosk flow at once: an ID card as the reference, a live source with the
    liveness challenge, and the audit record holding the card text and the evidence."""
    from tests.support import liveness_videos as lv
    from vigil.schemas.liveness import LivenessDecision

    card = render_photo("biden", seed=3)
    card_file = tmp_path / "card.jpg"
    card_file.write_bytes(card.jpeg)
    clip = lv.live_clip(tmp_path, "biden", "blink", seed=7)
    folder = tmp_path / "records"
    result = verify(
        id_card=str(card_file),
        source=str(clip.path),
        liveness=True,
        challenge="blink",
        timeout=120,
        record_to=folder,
    )
    assert result.card is not None and result.liveness is not None
    assert result.liveness.decision == LivenessDecision.LIVE, result.liveness.reason
    record = only_record(folder)
    assert record.result.liveness == result.liveness  # the evidence, frame by frame
    assert result.passed and record.result.passed  # the card holder, live
    assert card.fields["Surname"] in (record.card_text or [])
