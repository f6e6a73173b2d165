"""1:1 compare on real photos, coded refusals, the calibrated thresholds and how they are made."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from tools.calibration.data import View
from tools.calibration.report import SECTION_TITLE, replace_section
from tools.calibration.stats import (
    EMPIRICAL,
    TAIL_MODEL,
    Pairs,
    closest_unlabelled,
    estimate,
    pair_distances,
)
from vigil.analysis.faces import face_targets
from vigil.cli.main import main
from vigil.compare.compare import compare
from vigil.errors import ErrorCode, VigilError
from vigil.models.runtime import model_version
from vigil.models.scoring import similarity, thresholds_path
from vigil.schemas.feature import Feature
from vigil.schemas.threshold import Thresholds
from vigil.workers import compare_tasks

MODEL = model_version("face_resnet128")
CARD = thresholds_path("face_resnet128").with_name("face_resnet128.md")


@pytest.fixture(scope="module")
def features(images: Path) -> dict[str, Feature]:
    return {name: face_targets(images / f"{name}.jpg")[0].feature for name in ("obama2", "biden")}


def refused(code: ErrorCode, a, b, **kwargs) -> VigilError:
    with pytest.raises(VigilError) as caught:
        compare(a, b, **kwargs)
    assert caught.value.code == code, caught.value
    return caught.value


def raw_feature(values: np.ndarray, model: str = MODEL) -> dict:
    """A feature as it arrives in JSON, without the schema's own checks."""
    data = base64.b64encode(np.asarray(values, "<f4").tobytes()).decode()
    return {"model": model, "dim": int(np.asarray(values).size), "data": data}


# -- real photos ---------------------------------------------------------------------------


def test_obama_and_biden_do_not_match_at_any_far(images):
    result = compare(images / "obama.jpg", images / "biden.jpg")
    assert not result.match
    assert [d.far for d in result.decisions] == [1e-3, 1e-4, 1e-5]
    assert not any(d.match for d in result.decisions)
    assert result.distance > result.decisions[0].threshold_distance
    assert result.similarity < 20
    assert result.a.kind == result.b.kind == "picture" and result.a.faces_found == 1


def test_two_photos_of_obama_match_at_the_default_far(images):
    result = compare(images / "obama.jpg", (images / "obama2.jpg").read_bytes())
    assert result.match and result.far == 1e-3
    assert result.distance <= result.decisions[0].threshold_distance
    assert result.similarity == similarity(result.distance)
    assert result.model == MODEL
    assert result.b.box is not None and result.b.box.width > 100


def test_picture_feature_and_feature_feature_give_the_picture_distance(images, features):
    pictures = compare(images / "obama2.jpg", images / "biden.jpg")
    mixed = compare(images / "obama2.jpg", features["biden"])
    both = compare(features["obama2"], features["biden"].model_dump())
    assert mixed.distance == pytest.approx(pictures.distance, abs=1e-5)
    assert both.distance == pytest.approx(pictures.distance, abs=1e-5)
    assert mixed.b.kind == "feature" and mixed.b.box is None
    assert both.a.kind == "feature"
    same = compare(features["obama2"], features["obama2"])
    assert same.distance == 0 and all(d.match for d in same.decisions)


def test_a_looser_far_is_decided_at_the_nearest_calibrated_tighter_one(features):
    result = compare(features["obama2"], features["biden"], far=5e-4)
    assert result.far == 1e-4
    refused(ErrorCode.INVALID_OPTIONS, features["obama2"], features["biden"], far=1e-6)
    refused(ErrorCode.INVALID_OPTIONS, features["obama2"], features["biden"], far=1.5)


# -- bad input ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("bad", "code"),
    [
        (raw_feature(np.full(128, np.nan)), ErrorCode.INVALID_FEATURE),
        (raw_feature(np.r_[np.ones(127), np.inf]), ErrorCode.INVALID_FEATURE),
        (raw_feature(np.ones(64)), ErrorCode.INVALID_FEATURE),
        ({"model": MODEL, "dim": 128, "data": "not base64!"}, ErrorCode.INVALID_FEATURE),
        ({"model": MODEL, "dim": 128, "data": "AAAA"}, ErrorCode.INVALID_FEATURE),
        (raw_feature(np.ones(128), "other_net@v2"), ErrorCode.FEATURE_MISMATCH),
        (raw_feature(np.ones(128), "face_resnet128@older"), ErrorCode.FEATURE_MISMATCH),
    ],
    ids=["nan", "inf", "wrong-length", "bad-base64", "dim-disagrees", "other-model", "old-version"],
)
def test_bad_features_are_refused_with_a_code(features, bad, code):
    error = refused(code, bad, features["biden"])
    assert error.message
    refused(code, features["biden"], bad)  # either side


def test_a_nan_feature_built_around_the_schema_is_still_refused(features):
    vector = np.full(128, np.nan, np.float32)
    sneaky = Feature.model_construct(
        model=MODEL, dim=128, data=base64.b64encode(vector.tobytes()).decode()
    )
    refused(ErrorCode.INVALID_FEATURE, sneaky, features["biden"])


def test_two_features_of_another_model_are_refused(features):
    other = raw_feature(np.ones(128), "other_net@v2")
    error = refused(ErrorCode.FEATURE_MISMATCH, other, other)
    assert "face_resnet128" in error.message


def test_pictures_without_a_face_or_unreadable_are_refused(features):
    blank = cv2.imencode(".png", np.full((240, 240, 3), 180, np.uint8))[1].tobytes()
    refused(ErrorCode.NO_FACE, blank, features["biden"])
    refused(ErrorCode.CORRUPT_IMAGE, blank[:100], features["biden"])
    refused(ErrorCode.FILE_NOT_FOUND, "/nonexistent/face.jpg", features["biden"])


# -- interfaces -----------------------------------------------------------------------------


def test_cli_prints_json_and_codes(images, tmp_path, features, capsys, monkeypatch):
    monkeypatch.setattr("vigil.cli.main.configure_logging", lambda *_: None)  # see test_enroll
    feature_file = tmp_path / "biden.json"
    feature_file.write_text(features["biden"].model_dump_json())
    assert main(["compare", str(images / "obama2.jpg"), str(feature_file), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["match"] is False and result["b"]["kind"] == "feature"
    nan_file = tmp_path / "nan.json"
    nan_file.write_text(json.dumps(raw_feature(np.full(128, np.nan))))
    assert main(["compare", str(feature_file), str(nan_file), "--json"]) == 1
    assert json.loads(capsys.readouterr().out)["error"]["code"] == "invalid_feature"
    assert main(["compare", str(feature_file), str(feature_file), "--far", "1e-4"]) == 0
    assert capsys.readouterr().out.startswith("MATCH at FAR 0.0001")


def test_celery_task_returns_the_result_or_a_coded_error(images, features):
    jpeg = (images / "obama2.jpg").read_bytes()
    result = compare_tasks.compare.apply(args=[jpeg, features["biden"].model_dump()]).get()
    assert result["match"] is False and len(result["decisions"]) == 3
    failed = compare_tasks.compare.apply(args=[jpeg, raw_feature(np.ones(3))]).get()
    assert failed == {"error": {"code": "invalid_feature", "message": failed["error"]["message"]}}


# -- calibrated thresholds ------------------------------------------------------------------


def test_thresholds_file_is_calibrated_valid_and_monotonic():
    calibrated = Thresholds.model_validate_json(thresholds_path("face_resnet128").read_text())
    assert "PROVISIONAL" not in calibrated.method
    ordered = sorted(calibrated.thresholds, key=lambda t: t.far, reverse=True)
    assert [t.far for t in ordered] == [1e-3, 1e-4, 1e-5]
    distances = [t.distance for t in ordered]
    assert distances == sorted(distances, reverse=True) and len(set(distances)) == 3
    assert all(t.similarity == pytest.approx(similarity(t.distance), abs=1e-3) for t in ordered)
    assert calibrated.impostor_pairs * 1e-4 >= 10  # enough pairs for the empirical 1e-4
    assert calibrated.genuine_pairs > 1000


def test_model_card_reports_the_same_thresholds():
    card = CARD.read_text()
    section = card[card.index(SECTION_TITLE) :]
    calibrated = Thresholds.model_validate_json(thresholds_path("face_resnet128").read_text())
    for threshold in calibrated.thresholds:
        assert f"| {threshold.far:g} | {threshold.distance:.4f} |" in section
    assert str(calibrated.impostor_pairs) in section and "no identity-labelled" in section
    assert card.startswith("# face_resnet128.onnx")  # the rest of the card is kept


# -- how thresholds are made ----------------------------------------------------------------


def synthetic_pairs(seed: int = 0) -> Pairs:
    rng = np.random.default_rng(seed)
    return Pairs(
        genuine=rng.normal(0.4, 0.08, 5000),
        genuine_cross_photo=rng.normal(0.45, 0.08, 3000),
        genuine_originals=rng.normal(0.3, 0.05, 300),
        impostor=rng.normal(0.8, 0.07, 300_000),
        impostor_labelled=0,
    )


def test_thresholds_come_from_the_empirical_quantile_then_the_tail_fit():
    pairs = synthetic_pairs()
    loose, middle, tight = estimate(pairs)
    assert (loose.method, middle.method, tight.method) == (EMPIRICAL, EMPIRICAL, TAIL_MODEL)
    true_quantile = {
        1e-3: 0.8 - 3.0902 * 0.07,
        1e-4: 0.8 - 3.7190 * 0.07,
        1e-5: 0.8 - 4.2649 * 0.07,
    }
    for e in (loose, middle, tight):
        assert e.distance == pytest.approx(true_quantile[e.far], abs=0.01)
    assert 290 <= loose.impostors_accepted <= 300  # never more than FAR x pairs
    assert loose.distance > middle.distance > tight.distance
    assert 0 < tight.tar < middle.tar < loose.tar <= 1


def test_pairs_are_genuine_within_labelled_identities_and_never_between_unlabelled():
    def view(identity: str, source: str, labelled: bool, x: float) -> View:
        return View(identity, source, "original", labelled, np.array([x, 0.0]))

    views = [
        view("ann", "a1", True, 0.0),
        view("ann", "a2", True, 0.3),
        view("bob", "b1", True, 1.0),
        view("lfw1", "l1", False, 2.0),
        view("lfw2", "l2", False, 3.0),
    ]
    pairs = pair_distances(views)
    assert pairs.genuine.tolist() == pytest.approx([0.3])
    # ann-bob x2, and each unlabelled face against ann x2 and bob; never lfw1-lfw2
    assert sorted(pairs.impostor.tolist()) == pytest.approx(
        [0.7, 1.0, 1.0, 1.7, 2.0, 2.0, 2.7, 3.0]
    )
    assert pairs.impostor_labelled == 2
    assert closest_unlabelled(views) == (pytest.approx(1.0), "b1", "l1")


def test_card_section_is_replaced_not_duplicated():
    card = "# card\n\nintro\n\n## Measured\n\nfigures\n"
    once = replace_section(card, f"{SECTION_TITLE}\n\nfirst\n")
    twice = replace_section(once, f"{SECTION_TITLE}\n\nsecond\n")
    assert twice.count(SECTION_TITLE) == 1 and "second" in twice and "first" not in twice
    assert twice.startswith(card.rstrip("\n"))
    middle = "# card\n\n## Thresholds\n\nold\n\n## Later\n\nkept\n"
    assert replace_section(middle, f"{SECTION_TITLE}\n\nnew\n").endswith("## Later\n\nkept\n")
