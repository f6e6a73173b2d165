"""Capture accuracy, short form of `bench/bench_capture_accuracy.py` (issue 11's thresholds).

Generated scenes with exact ground truth (`bench/capture_scenes.py`), detected once by
the real detect step, tracked by Vigil's capture state and by the peer trackers on the
same detections, scored with py-motmetrics (`bench/capture_harness.py`).
"""

from __future__ import annotations

import pytest

from bench import capture_scenes
from bench.capture_harness import FOCUSED, Score, evaluate

PEERS_TO_MATCH = ("bytetrack", "ocsort", "norfair")


@pytest.fixture(scope="module")
def scores() -> dict[tuple[str, str], Score]:
    scenes = {
        "fast": capture_scenes.crossing(0.6),
        "faster": capture_scenes.crossing(1.0),
        "groups": capture_scenes.groups(1.0),
        "pan": capture_scenes.pan(),
    }
    for key, scene in scenes.items():
        scene.name = key
    results = evaluate(scenes.values(), ("vigil", FOCUSED, *PEERS_TO_MATCH), describe=True)
    return {(s.scene, s.tracker): s for s in results}


def test_every_face_crossing_at_0_6_widths_per_frame_is_captured(scores):
    vigil = scores["fast", "vigil"]
    assert vigil.identities == 5 and vigil.captured == 5, vigil


def test_nine_in_ten_faces_crossing_at_one_width_per_frame_are_captured(scores):
    vigil = scores["faster", "vigil"]
    assert vigil.identities >= 4 and vigil.recall >= 0.9, vigil


def test_a_group_replacing_another_is_never_merged_into_its_tracks(scores):
    vigil = scores["groups", "vigil"]
    assert vigil.merges == 0 and vigil.captured == vigil.identities == 6, vigil


def test_a_pan_over_a_wall_of_faces_captures_each_face_once(scores):
    vigil = scores["pan", "vigil"]
    assert vigil.recall >= 0.95, vigil
    assert vigil.owed_captures == vigil.captured, "a face captured more than once"


@pytest.mark.parametrize("scene", ["fast", "faster", "groups", "pan"])
def test_no_merge_no_false_capture_no_small_face(scores, scene):
    vigil = scores[scene, "vigil"]
    assert vigil.merges == 0 and vigil.false_captures == 0, vigil
    assert vigil.per_identity <= 1.1, vigil
    assert vigil.small_captures == 0 and vigil.small_attributes == 0, vigil


@pytest.mark.parametrize("scene", ["fast", "faster", "groups", "pan"])
@pytest.mark.parametrize("peer", PEERS_TO_MATCH)
def test_vigil_idf1_is_at_least_the_peers(scores, scene, peer):
    vigil, other = scores[scene, "vigil"], scores[scene, peer]
    assert vigil.idf1 >= other.idf1 - 1e-9, (vigil, other)


@pytest.mark.parametrize("scene", ["fast", "faster", "groups", "pan"])
def test_the_focused_face_search_loses_nothing(scores, scene):
    """With persons on, small faces are searched only where tracks and motion say between
    key frames (analysis/detection.py); every figure must match the whole-frame search."""
    whole, focused = scores[scene, "vigil"], scores[scene, FOCUSED]
    assert focused.captured == whole.captured and focused.identities == whole.identities
    assert focused.idf1 >= whole.idf1 - 0.005, (whole, focused)
    assert focused.merges == 0 and focused.false_captures == 0, focused
    assert focused.per_identity <= 1.1 and focused.small_captures == 0, focused
