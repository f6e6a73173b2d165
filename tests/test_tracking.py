"""Tracker, assignment, motion model and best-shot selection.

Synthetic detections exercise each behaviour in isolation; the last tests run the
real face detector on synthetic footage of two real faces walking across a scene.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from tests.synthetic_video import (
    FIXTURES,
    crop_around,
    face_boxes,
    moving_faces_frames,
    write_video,
)
from vigil.models.types import Detection, iou_matrix
from vigil.tracking import BestShotSelector, Tracker, TrackerStep
from vigil.tracking.assignment import linear_assignment, match_by_iou
from vigil.tracking.motion import BoxKalman

FPS = 5.0
PERSON = (60.0, 120.0)  # width, height of a synthetic walker's box


def walk(start: tuple[float, float], velocity: tuple[float, float], frames: int) -> np.ndarray:
    """(frames, 4) boxes of a PERSON-sized walker starting at top-left `start`, px per frame."""
    steps = np.arange(frames, dtype=np.float32)[:, None]
    top_left = np.asarray(start, np.float32) + steps * np.asarray(velocity, np.float32)
    return np.hstack([top_left, top_left + np.asarray(PERSON, np.float32)])


def det(box: np.ndarray, score: float = 0.9, label: str = "person") -> Detection:
    return Detection(box=np.asarray(box, np.float32), score=score, label=label)


def feed(tracker: Tracker, frames: Sequence[Sequence[Detection]]) -> list[TrackerStep]:
    """Run the tracker over detection frames sampled at FPS."""
    return [tracker.update(dets, index / FPS) for index, dets in enumerate(frames)]


def ids_of(steps: list[TrackerStep], index: int = 0) -> list[int | None]:
    """Track id given to detection `index` in each step (None where it had no id)."""
    return [step.assigned.get(index) for step in steps]


def ended_ids(steps: list[TrackerStep]) -> list[int]:
    return [track.track_id for step in steps for track in step.ended]


def centre_x(box: np.ndarray) -> float:
    return float(box[0] + box[2]) / 2


# --- tracker ---------------------------------------------------------------------------


def test_single_walker_keeps_one_id_over_50_frames() -> None:
    rng = np.random.default_rng(1)
    boxes = walk((20, 100), (10, 1), 50) + rng.normal(0, 1.5, (50, 4)).astype(np.float32)
    tracker = Tracker(first_id=7)
    steps = feed(tracker, [[det(box)] for box in boxes])
    assert set(ids_of(steps)) == {7}
    assert [step.confirmed_now for step in steps[:3]] == [[], [7], []]
    assert ended_ids(steps) == []
    [track] = tracker.finish()
    assert (track.track_id, track.hits, track.confirmed) == (7, 50, True)
    assert track.first_time == 0.0 and track.last_time == pytest.approx(49 / FPS)


@pytest.mark.parametrize("gap", [1, 3, 5])
def test_misses_up_to_max_misses_keep_the_id(gap: int) -> None:
    boxes = walk((20, 100), (12, 0), 30)
    frames = [[] if 10 <= i < 10 + gap else [det(box)] for i, box in enumerate(boxes)]
    tracker = Tracker(max_misses=5)
    steps = feed(tracker, frames[: 10 + gap])
    [track] = tracker.active()
    assert track.misses == gap and track.detection is None
    assert centre_x(track.box) > centre_x(boxes[9]) + 6 * gap  # predicted on along its path
    steps += [tracker.update(dets, i / FPS) for i, dets in enumerate(frames) if i >= 10 + gap]
    assert set(ids_of(steps)) - {None} == {track.track_id}
    assert ended_ids(steps) == []


def test_a_longer_miss_ends_the_track_and_a_new_id_follows() -> None:
    boxes = walk((20, 100), (12, 0), 30)
    frames = [[] if 10 <= i < 16 else [det(box)] for i, box in enumerate(boxes)]
    steps = feed(Tracker(max_misses=5), frames)
    first = steps[0].assigned[0]
    assert [len(step.ended) for step in steps[10:16]] == [0, 0, 0, 0, 0, 1]
    [ended] = steps[15].ended
    assert (ended.track_id, ended.misses) == (first, 6)
    assert steps[16].assigned[0] > first


def test_max_lost_seconds_ends_a_track_before_max_misses() -> None:
    boxes = walk((20, 100), (12, 0), 10)
    frames = [[det(box)] for box in boxes[:4]] + [[]] * 6
    steps = feed(Tracker(max_misses=50, max_lost_seconds=0.5), frames)
    # last hit at 0.6 s; 1.2 s is the first detection frame more than 0.5 s later
    assert [len(step.ended) for step in steps[4:]] == [0, 0, 1, 0, 0, 0]


def cross(hide_the_back_one: bool, seed: int) -> bool:
    """Two walkers meet head-on, boxes jittering; True when both keep their ids throughout.

    The walker starting on the left is in front; the other may vanish while they overlap.
    """
    frames = 50
    left = walk((40, 100), (10, 0), frames)
    right = walk((540, 110), (-10, 0), frames)
    overlaps = [float(iou_matrix(a, b)[0, 0]) for a, b in zip(left, right, strict=True)]
    assert sum(o > 0.3 for o in overlaps) >= 3  # they really overlap for a few frames
    rng = np.random.default_rng(seed)
    left, right = (b + rng.normal(0, 2, b.shape).astype(np.float32) for b in (left, right))
    detections = [
        [det(a)] if hide_the_back_one and overlap > 0.3 else [det(a), det(b)]
        for a, b, overlap in zip(left, right, overlaps, strict=True)
    ]
    tracker = Tracker()
    steps = feed(tracker, detections)
    left_id, right_id = steps[0].assigned[0], steps[0].assigned[1]
    return (
        set(ids_of(steps, 0)) == {left_id}
        and set(ids_of(steps, 1)) - {None} == {right_id}
        and centre_x(tracker.track(left_id).box) > 500  # the left starter ends on the right
        and centre_x(tracker.track(right_id).box) < 140
    )


@pytest.mark.parametrize("hide_the_back_one", [False, True])
def test_crossing_walkers_keep_their_ids(hide_the_back_one: bool) -> None:
    # Without seen-last-frame tracks matching before lost ones, seed 27 swaps when hidden.
    swapped = [seed for seed in range(30) if not cross(hide_the_back_one, seed)]
    assert swapped == []


def test_low_score_detection_continues_a_track_but_never_starts_one() -> None:
    boxes = walk((20, 100), (12, 0), 12)
    tracker = Tracker(high_threshold=0.5, low_threshold=0.25)
    lonely = feed(tracker, [[det(box, score=0.4)] for box in boxes[:3]])
    assert all(not step.assigned for step in lonely) and tracker.active() == []
    scores = [0.9, 0.9, 0.9, 0.4, 0.3, 0.4, 0.3, 0.9, 0.1, 0.9]
    steps = [
        tracker.update([det(box, score)], (i + 3) / FPS)
        for i, (box, score) in enumerate(zip(boxes[2:], scores, strict=True))
    ]
    first = steps[0].assigned[0]
    assert ids_of(steps) == [first] * 8 + [None, first]  # below low_threshold: ignored
    assert tracker.track(first).hits == 9


def test_tentative_tracks_end_silently() -> None:
    tracker = Tracker(confirm_hits=2)
    steps = feed(tracker, [[det([100, 100, 160, 220])], []])
    assert steps[0].assigned == {0: 1}
    assert steps[1].dropped == [1] and tracker.active() == []  # dropped at its first miss
    assert all(step.confirmed_now == [] and step.ended == [] for step in steps)
    tracker.update([det([300, 100, 360, 220])], 2.0)
    assert tracker.finish() == []  # a tentative track does not end visibly either


def test_a_confirmed_track_takes_its_detection_before_a_tentative_one() -> None:
    """A detection between a confirmed track and a newer tentative one goes to the former."""
    tracker = Tracker()
    still = np.array([100, 100, 160, 220], np.float32)
    shift = np.array([1, 0, 1, 0], np.float32)
    feed(tracker, [[det(still)], [det(still)], [det(still), det(still + 45 * shift)]])
    established, newcomer = (track.track_id for track in tracker.active())
    between = det(still + 30 * shift)  # IoU 0.33 with the confirmed box, 0.6 with the new one
    step = tracker.update([between], 3 / FPS)
    assert step.assigned == {0: established}
    assert [track.track_id for track in tracker.active()] == [established] != [newcomer]


def test_tick_ends_tracks_by_time_only() -> None:
    tracker = Tracker(max_lost_seconds=2.0)
    feed(tracker, [[det(box)] for box in walk((20, 100), (0, 0), 3)])  # last hit at 0.4 s
    assert tracker.tick(1.0) == [] and tracker.tick(2.3) == []
    [track] = tracker.active()
    assert track.misses == 0  # ticks are not detection frames
    ended = tracker.tick(2.5)
    assert [t.track_id for t in ended] == [track.track_id] and tracker.active() == []


def test_a_track_lost_too_long_is_not_matched_again() -> None:
    """Without tick() calls in between, update() still honours max_lost_seconds."""
    tracker = Tracker(max_lost_seconds=2.0)
    box = np.array([100, 100, 160, 220], np.float32)
    first = feed(tracker, [[det(box)], [det(box)]])[0].assigned[0]
    step = tracker.update([det(box)], 3.0)
    assert [track.track_id for track in step.ended] == [first]
    assert step.assigned[0] != first


def test_stationary_flag() -> None:
    rng = np.random.default_rng(2)
    still = walk((200, 100), (0, 0), 10) + rng.uniform(-1, 1, (10, 4)).astype(np.float32)
    moving = walk((20, 100), (10, 0), 10)
    tracker = Tracker()
    steps = feed(tracker, [[det(a), det(b)] for a, b in zip(still, moving, strict=True)])
    still_track = tracker.track(steps[-1].assigned[0])
    moving_track = tracker.track(steps[-1].assigned[1])
    assert still_track.stationary and not moving_track.stationary


def test_label_is_the_score_weighted_majority() -> None:
    boxes = walk((20, 100), (5, 0), 6)
    labels = ["car", "truck", "car", "truck", "car", "truck"]
    scores = [0.9, 0.6, 0.9, 0.6, 0.9, 0.6]
    tracker = Tracker()
    feed(tracker, [[det(b, s, label)] for b, s, label in zip(boxes, scores, labels, strict=True)])
    assert [track.label for track in tracker.active()] == ["car"]


def test_timestamps_must_not_go_backwards() -> None:
    tracker = Tracker()
    tracker.update([], 1.0)
    with pytest.raises(ValueError, match="before"):
        tracker.update([], 0.5)


# --- assignment and motion ----------------------------------------------------------------


def test_hungarian_matches_brute_force() -> None:
    rng = np.random.default_rng(3)
    for rows, cols in itertools.product(range(1, 5), repeat=2):
        cost = rng.integers(0, 4, (rows, cols)).astype(float)  # small ints: many ties
        pairs = linear_assignment(cost)
        assert len(pairs) == min(rows, cols)
        assert len({r for r, _ in pairs}) == len({c for _, c in pairs}) == len(pairs)
        short, long_ = sorted((rows, cols))
        square = cost if rows <= cols else cost.T
        best = min(
            sum(square[i, p[i]] for i in range(short))
            for p in itertools.permutations(range(long_), short)
        )
        assert sum(cost[r, c] for r, c in pairs) == best


def test_match_by_iou_maximises_the_total_not_the_first_pair() -> None:
    # greedy would take (0, 0) and leave row 1 with 0.1, below the gate
    assert sorted(match_by_iou(np.array([[0.9, 0.8], [0.85, 0.1]]), 0.2)) == [(0, 1), (1, 0)]
    # one strong pair beats two weak ones, as with lapjv's cost_limit
    assert match_by_iou(np.array([[0.9, 0.3], [0.3, 0.0]]), 0.2) == [(0, 0)]
    assert match_by_iou(np.zeros((0, 3)), 0.2) == []


def test_kalman_learns_the_velocity() -> None:
    boxes = walk((0, 0), (10, 4), 8)  # 50 px/s right, 20 px/s down at 5 fps
    motion = BoxKalman(boxes[0])
    for box in boxes[1:]:
        motion.predict(1 / FPS)
        motion.update(box)
    predicted = motion.predict(2 / FPS)  # two frames ahead
    assert np.abs(predicted - (boxes[-1] + [20, 8, 20, 8])).max() < 3


# --- best shot -------------------------------------------------------------------------------


def test_higher_quality_replaces_the_best() -> None:
    selector = BestShotSelector(min_gain=0.05)
    assert selector.offer(1, 0.50, 1000, False, "a", 0.0)
    assert not selector.offer(1, 0.53, 1000, False, "b", 0.2)
    assert selector.offer(1, 0.55, 1000, False, "c", 0.4)
    assert selector.best(1).payload == "c"


def test_an_edge_cut_view_never_replaces_a_clean_one() -> None:
    selector = BestShotSelector()
    selector.offer(1, 0.5, 1000, False, "clean", 0.0)
    assert not selector.offer(1, 0.95, 3000, True, "cut", 0.2)
    assert selector.best(1).payload == "clean"


def test_an_edge_cut_view_is_a_fallback_until_a_clean_one_comes() -> None:
    selector = BestShotSelector()
    assert selector.offer(1, 0.9, 1000, True, "cut", 0.0)
    assert not selector.offer(1, 0.92, 1000, True, "cut2", 0.2)
    assert selector.offer(1, 0.96, 1000, True, "cut3", 0.4)
    assert selector.best(1).edge_cut
    assert selector.offer(1, 0.3, 500, False, "clean", 0.6)
    assert not selector.best(1).edge_cut


def test_a_ten_percent_larger_view_replaces_unless_clearly_worse() -> None:
    selector = BestShotSelector(min_area_gain=0.10, area_quality_tolerance=0.02)
    selector.offer(1, 0.5, 1000, False, "a", 0.0)
    assert not selector.offer(1, 0.5, 1050, False, "b", 0.2)
    assert not selector.offer(1, 0.4, 1500, False, "blurred", 0.4)
    assert selector.offer(1, 0.49, 1100, False, "c", 0.6)
    assert selector.best(1).payload == "c"


def test_should_update_needs_a_clear_gain_and_the_interval() -> None:
    selector = BestShotSelector(min_gain=0.05, update_gain=0.10, min_update_interval=1.0)
    selector.offer(1, 0.5, 1000, False, "a", 0.0)
    assert not selector.should_update(1, 5.0)  # nothing published yet: 'new' is the caller's
    selector.mark_published(1, 0.0)
    selector.offer(1, 0.56, 1000, False, "b", 0.2)
    assert not selector.should_update(1, 2.0)  # better, but not clearly
    selector.offer(1, 0.62, 1000, False, "c", 0.4)
    assert not selector.should_update(1, 0.5)  # too soon
    assert selector.should_update(1, 1.0)
    selector.mark_published(1, 1.0)
    assert not selector.should_update(1, 9.0)


def test_should_update_when_a_clean_view_replaces_a_published_cut_one() -> None:
    selector = BestShotSelector()
    selector.offer(1, 0.9, 1000, True, "cut", 0.0)
    selector.mark_published(1, 0.0)
    selector.offer(1, 0.5, 1000, False, "clean", 0.2)
    assert selector.should_update(1, 1.0)


def test_unpublished_better_and_forget() -> None:
    selector = BestShotSelector()
    assert not selector.unpublished_better(1)
    selector.offer(1, 0.5, 1000, False, "a", 0.0)
    assert selector.unpublished_better(1)
    selector.mark_published(1, 0.0)
    assert not selector.unpublished_better(1)
    selector.offer(1, 0.51, 1000, False, "rejected", 0.2)
    assert not selector.unpublished_better(1)
    selector.offer(1, 0.7, 1000, False, "better", 0.4)
    assert selector.unpublished_better(1)
    selector.forget(1)
    assert len(selector) == 0 and selector.best(1) is None
    with pytest.raises(KeyError):
        selector.mark_published(1, 1.0)


# --- real detections on synthetic footage ----------------------------------------------------


@pytest.fixture(scope="module")
def face_detector():
    from vigil.models.face_detector import FaceDetector

    return FaceDetector()


@pytest.fixture(scope="module")
def face_patches(face_detector) -> list[np.ndarray]:
    """~90 px crops (1.6x the face box) of two different people."""
    patches = []
    for name in ("obama.jpg", "biden.jpg"):
        photo = cv2.imread(str(FIXTURES / "images" / name))
        assert photo is not None, f"missing fixture {name}"
        [face] = face_detector.detect(photo)
        patches.append(crop_around(photo, face.box, scale=1.6, side=90))
    return patches


def test_two_walking_faces_give_exactly_two_tracks(face_detector, face_patches) -> None:
    frames = moving_faces_frames(face_patches, frames=40)
    truth = face_boxes(face_patches, frames=40)
    tracker = Tracker()
    confirmed: list[int] = []
    owner: dict[int, set[int]] = {}  # track id -> faces whose true box held its detection
    for index, frame in enumerate(frames):
        detections = face_detector.detect(frame)
        step = tracker.update(detections, index / FPS)
        assert step.ended == []
        confirmed += step.confirmed_now
        for det_index, track_id in step.assigned.items():
            box = detections[det_index].box
            inside = iou_matrix(box, truth[index])[0] > 0.2
            owner.setdefault(track_id, set()).update(np.flatnonzero(inside).tolist())
    assert len(confirmed) == 2
    assert sorted(owner[track_id] for track_id in confirmed) == [{0}, {1}]
    assert sorted(track.track_id for track in tracker.finish()) == sorted(confirmed)


def test_write_video_round_trips(tmp_path: Path, face_patches) -> None:
    frames = moving_faces_frames(face_patches, frames=10, seed=4)
    path = write_video(frames, tmp_path / "walk.mp4", fps=FPS)
    with av.open(str(path)) as container:
        decoded = [frame.to_ndarray(format="bgr24") for frame in container.decode(video=0)]
    assert len(decoded) == len(frames) and decoded[0].shape == (360, 640, 3)
    error = np.abs(decoded[5].astype(int) - frames[5].astype(int)).mean()
    assert error < 8  # lossy, but the faces must survive for end-to-end tests
