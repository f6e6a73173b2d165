"""Identity verification against an ID photo: pictures, video sources with a time limit."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.synthetic_video import moving_faces_frames, write_video
from tests.test_alarm import empty_scene, face_patch
from vigil.cli.main import main
from vigil.compare.compare import compare
from vigil.compare.verify import verify
from vigil.errors import ErrorCode, VigilError
from vigil.schemas.verify import VerifyDecision, VerifyEnd
from vigil.workers import compare_tasks

TIMEOUT = 10.0


@pytest.fixture(scope="module")
def id_photo(images) -> str:
    return str(images / "obama.jpg")


@pytest.fixture(scope="module")
def videos(images, tmp_path_factory) -> dict[str, Path]:
    """8 s of Obama walking past, 30 s of an empty scene, 2 s of an empty scene."""
    folder = tmp_path_factory.mktemp("verify")
    walk = moving_faces_frames([face_patch(images, "obama2.jpg")], frames=40)
    empty = empty_scene(150)
    return {
        "obama": write_video(walk, folder / "obama.mkv", fps=5),
        "nobody": write_video(empty, folder / "nobody.mkv", fps=5),
        "short": write_video(empty[:10], folder / "short.mkv", fps=5),
    }


@pytest.fixture
def blank(tmp_path) -> str:
    path = tmp_path / "blank.png"
    cv2.imwrite(str(path), np.full((240, 240, 3), 180, np.uint8))
    return str(path)


def coded(code: ErrorCode, *args, **kwargs) -> VigilError:
    with pytest.raises(VigilError) as caught:
        verify(*args, **kwargs)
    assert caught.value.code == code, caught.value
    return caught.value


# -- pictures --------------------------------------------------------------------------------


def test_same_person_on_a_picture_matches_as_compare_decides(images, id_photo):
    result = verify(id_photo, image=str(images / "obama2.jpg"))
    expected = compare(id_photo, str(images / "obama2.jpg"))
    assert result.decision == VerifyDecision.MATCH and result.ended == VerifyEnd.MATCHED
    assert result.similarity == expected.similarity and result.distance == expected.distance
    assert result.similarity >= result.threshold_similarity and result.far == 1e-3
    assert (result.frames, result.faces) == (1, 1)
    assert result.id_face.faces_found == 1 and result.face.box is not None
    assert base64.b64decode(result.crop_jpeg)[:2] == b"\xff\xd8"


def test_another_person_does_not_match(images, id_photo):
    result = verify(id_photo, image=(images / "biden.jpg").read_bytes(), far=1e-4)
    assert result.decision == VerifyDecision.NO_MATCH and result.ended == VerifyEnd.PICTURE
    assert result.similarity < result.threshold_similarity and result.far == 1e-4
    assert not result.match


def test_a_picture_without_a_face_is_an_answer_not_an_error(id_photo, blank):
    result = verify(id_photo, image=blank)
    assert result.decision == VerifyDecision.NO_FACE
    assert result.similarity is None and result.crop_jpeg is None and result.faces == 0


def test_an_id_photo_without_a_face_is_a_coded_error(images, blank):
    error = coded(ErrorCode.NO_FACE, blank, image=str(images / "obama2.jpg"))
    assert error.message.startswith("ID photo") and "blank.png" in error.message


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({}, "exactly one"),
        ({"image": "a.jpg", "source": "b.mp4"}, "exactly one"),
        ({"image": "a.jpg", "far": 1.5}, "far"),
        ({"image": "a.jpg", "far": 1e-9}, "FAR"),
        ({"source": "b.mp4", "timeout": 0}, "timeout"),
        ({"source": "b.mp4", "fps": -1}, "fps"),
    ],
)
def test_bad_options_are_refused_before_any_work(options, message):
    error = coded(ErrorCode.INVALID_OPTIONS, "/nonexistent/id.jpg", **options)
    assert message in error.message


# -- video sources ---------------------------------------------------------------------------


def test_source_matches_as_soon_as_the_person_shows_up(id_photo, videos):
    result = verify(id_photo, source=str(videos["obama"]), timeout=TIMEOUT)
    assert result.decision == VerifyDecision.MATCH and result.ended == VerifyEnd.MATCHED
    assert result.elapsed_s < TIMEOUT / 2, result
    assert 1 <= result.frames < 40, "stopped at the first matching frame"
    assert result.similarity >= result.threshold_similarity
    assert base64.b64decode(result.crop_jpeg)[:2] == b"\xff\xd8"


def test_nobody_on_a_live_length_source_gives_no_face_at_the_time_limit(id_photo, videos):
    result = verify(id_photo, source=str(videos["nobody"]), timeout=1.0)
    assert result.decision == VerifyDecision.NO_FACE and result.ended == VerifyEnd.TIMEOUT
    assert result.frames >= 1 and result.faces == 0
    assert 1.0 <= result.elapsed_s < 4.0, result.elapsed_s  # ID photo + last frame on top


def test_a_source_that_ends_first_says_so(id_photo, videos):
    result = verify(id_photo, source=str(videos["short"]), timeout=TIMEOUT)
    assert result.decision == VerifyDecision.NO_FACE and result.ended == VerifyEnd.SOURCE_ENDED
    assert result.frames == 10 and result.elapsed_s < TIMEOUT


def test_someone_else_on_the_source_gives_no_match_with_the_best_similarity(images, videos):
    result = verify(str(images / "biden.jpg"), source=str(videos["obama"]), timeout=TIMEOUT)
    assert result.decision == VerifyDecision.NO_MATCH and result.ended == VerifyEnd.SOURCE_ENDED
    assert result.faces >= 1 and 0 <= result.similarity < result.threshold_similarity


def test_a_missing_video_file_is_a_coded_error(id_photo, tmp_path):
    with pytest.raises(VigilError, match="no such file") as caught:
        verify(id_photo, source=str(tmp_path / "gone.mp4"))
    assert caught.value.code == "not_found"


# -- interfaces ------------------------------------------------------------------------------


def test_cli_exit_codes_json_and_crop(
    images, id_photo, videos, blank, tmp_path, capsys, monkeypatch
):
    monkeypatch.setattr("vigil.cli.main.configure_logging", lambda *_: None)  # see test_enroll
    crop = tmp_path / "face.jpg"
    argv = ["verify", "--id-photo", id_photo]
    assert main([*argv, "--source", str(videos["obama"]), "--json", "--crop", str(crop)]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["decision"] == "match" and printed["ended"] == "matched"
    assert crop.read_bytes() == base64.b64decode(printed["crop_jpeg"])
    assert main([*argv, "--image", str(images / "biden.jpg")]) == 1
    assert capsys.readouterr().out.startswith("NO MATCH at FAR 0.001: best similarity")
    assert main(["verify", "--id-photo", blank, "--image", id_photo, "--json"]) == 2
    assert json.loads(capsys.readouterr().out)["error"]["code"] == "no_face"
    assert main([*argv, "--source", "clip.mp4", "--timeout", "0"]) == 2
    assert "[invalid_options] timeout must be positive" in capsys.readouterr().err


def test_celery_task_returns_the_result_or_a_coded_error(images, id_photo):
    photo = (images / "obama.jpg").read_bytes()
    result = compare_tasks.verify.apply(args=[photo, str(images / "obama3.jpg")]).get()
    assert result["decision"] == "match" and result["frames"] == 1
    failed = compare_tasks.verify.apply(args=[b"not a picture", photo]).get()
    assert failed["error"]["code"] in {"not_an_image", "corrupt_image"}
    assert failed["error"]["message"].startswith("ID photo")
