"""The focused face search: between key frames, with persons on, small faces are looked
for only where a track or motion says (analysis/detection.py, CameraTracking.face_focus)."""

from __future__ import annotations

from datetime import UTC, datetime

import cv2
import numpy as np
import pytest

from bench import capture_scenes
from tests.support.face_windows import counted_windows
from vigil.analysis import detection
from vigil.analysis.detection import FOCUSED_FRAME_MIN_FACE, Detectors
from vigil.analysis.frame_detection import FrameDetection
from vigil.models.types import iou_matrix
from vigil.schemas.camera import CameraConfig
from vigil.schemas.errors import ErrorCode, VigilError
from vigil.schemas.frame import MAX_MOTION_BOXES, FrameMeta
from vigil.schemas.geometry import Box, FrameSize
from vigil.schemas.target import TargetType
from vigil.tracking.camera_tracking import (
    BUSY_FULL_SEARCH_SECONDS,
    FOCUS_REACH,
    FULL_SEARCH_SECONDS,
    CameraTracking,
)
from vigil.workers import frame_tasks

FACE_AND_PERSON = {TargetType.FACE, TargetType.PERSON}


@pytest.fixture(scope="module")
def wall() -> np.ndarray:
    """A frame of the pan scene: 14 faces of 24-64 px on a wall, no real person."""
    return capture_scenes.pan().frames[0]


def small_faces(found) -> list[np.ndarray]:
    return [f.box for f in found.faces if min(f.width, f.height) < FOCUSED_FRAME_MIN_FACE - 8]


def test_without_focus_the_whole_frame_is_searched_for_small_faces(wall):
    found = Detectors().detect(wall, FACE_AND_PERSON)
    assert len(small_faces(found)) >= 2


def test_an_empty_focus_searches_small_faces_nowhere_but_finds_large_ones(wall, monkeypatch):
    calls = counted_windows(monkeypatch)
    whole = Detectors().detect(wall, FACE_AND_PERSON)
    whole_calls, calls[0] = calls[0], 0
    focused = Detectors().detect(wall, FACE_AND_PERSON, focus=[])
    assert calls[0] < whole_calls / 2, (calls[0], whole_calls)
    large = [f for f in whole.faces if min(f.width, f.height) >= FOCUSED_FRAME_MIN_FACE + 8]
    assert large and all(any(np.abs(f.box - g.box).max() < 8 for g in focused.faces) for f in large)


def test_a_focus_box_brings_back_the_small_face_inside_it(wall):
    whole = Detectors().detect(wall, FACE_AND_PERSON)
    target = small_faces(whole)[0]
    x1, y1, x2, y2 = target
    around = np.array([x1 - 4, y1 - 4, x2 + 4, y2 + 4], np.float32)  # motion at its edges
    focused = Detectors().detect(wall, FACE_AND_PERSON, focus=[around])
    assert any(np.abs(f.box - target).max() < 6 for f in focused.faces)


def test_faces_only_is_focused_too_by_tracks_and_motion(wall, monkeypatch):
    calls = counted_windows(monkeypatch)
    whole = Detectors().detect(wall, {TargetType.FACE})
    whole_calls, calls[0] = calls[0], 0
    Detectors().detect(wall, {TargetType.FACE}, focus=[])
    assert calls[0] < whole_calls / 2, (calls[0], whole_calls)
    target = small_faces(whole)[0]
    x1, y1, x2, y2 = target
    around = np.array([x1 - 4, y1 - 4, x2 + 4, y2 + 4], np.float32)  # motion at its edges
    focused = Detectors().detect(wall, {TargetType.FACE}, focus=[around])
    assert any(np.abs(f.box - target).max() < 6 for f in focused.faces)


def test_a_persons_own_motion_is_not_searched_twice():
    person = detection.Detection(
        box=np.array([100, 50, 160, 250], np.float32), score=0.9, label="person"
    )
    small = detection.Detection(
        box=np.array([100, 50, 130, 80], np.float32), score=0.9, label="person"
    )
    assert detection.explained(np.array([95, 60, 165, 255], np.float32), [person])
    assert not detection.explained(np.array([300, 60, 340, 100], np.float32), [person])
    # a "person" too small to be one (a face taken for a person) explains nothing
    assert not detection.explained(np.array([98, 48, 132, 82], np.float32), [small])


def test_motion_where_faceless_walkers_move_is_theirs():
    """Walkers too small to show a 16-px face (vtest.avi: 80-110 px) explain the parts of
    their motion (legs, a step behind them) and a blob of several of them; a box reaching
    well outside them is searched, and a tall "person" (a wall of faces gives NanoDet
    some) explains nothing by reach."""
    walker = detection.Detection(
        box=np.array([100, 100, 130, 190], np.float32), score=0.9, label="person"
    )
    other = detection.Detection(
        box=np.array([150, 110, 178, 196], np.float32), score=0.9, label="person"
    )
    tall = detection.Detection(
        box=np.array([300, 100, 420, 508], np.float32), score=0.4, label="person"
    )
    walkers = [walker, other]
    assert not any(detection.may_show_face(p, 16, 576) for p in walkers)
    assert detection.explained(np.array([95, 150, 150, 192], np.float32), walkers, walkers)
    assert detection.explained(np.array([95, 100, 185, 195], np.float32), walkers, walkers)
    assert not detection.explained(np.array([95, 100, 260, 200], np.float32), walkers, walkers)
    assert not detection.explained(np.array([95, 150, 150, 192], np.float32), walkers)
    face_on_the_wall = np.array([330, 120, 394, 184], np.float32)
    assert not detection.explained(face_on_the_wall, [tall], [])
    square = np.array([0, 0, 10, 10], np.float32)
    assert detection.covered_share(square, np.stack([walker.box])) == 0.0


# -- which boxes the capture step sends ------------------------------------------------


def meta(keyframe=False, motion=((10, 10, 50, 60),), fraction=0.02, at=0.6) -> FrameMeta:
    return FrameMeta(
        camera_id="cam",
        stream_id="s",
        frame_index=3,
        sequence=3,
        source_time=at,
        captured_at=datetime(2026, 1, 1, tzinfo=UTC),
        size=FrameSize(width=640, height=480),
        keyframe=keyframe,
        motion=[Box.from_xyxy(b) for b in motion],
        motion_fraction=fraction,
    )


def tracking(types=(TargetType.FACE, TargetType.PERSON)) -> CameraTracking:
    return CameraTracking(CameraConfig(id="cam", url="x.mp4", types=list(types)))


def face_at(x: float, y: float, side: float) -> FrameDetection:
    points = [
        [x + side * a, y + side * b]
        for a, b in ((0.3, 0.4), (0.7, 0.4), (0.5, 0.6), (0.5, 0.75), (0.1, 0.45), (0.9, 0.45))
    ]
    return FrameDetection.from_wire(
        {
            "type": "face",
            "label": "face",
            "box": [x, y, x + side, y + side],
            "score": 0.95,
            "keypoints": points,
            "quality": {
                "score": 0.8,
                "parts": {
                    "detector": 0.9,
                    "size": 1.0,
                    "sharpness": 0.7,
                    "pose": 0.95,
                    "edge": 1.0,
                },
            },
            "crop_origin": [0.0, 0.0],
        }
    )


def test_key_frames_and_cameras_without_faces_search_everything():
    assert tracking().face_focus(meta(keyframe=True)) is None
    unfocused = CameraConfig(id="cam", url="x.mp4", focused_face_search=False)
    assert CameraTracking(unfocused).face_focus(meta()) is None
    assert tracking().face_focus(meta()) is not None
    assert tracking((TargetType.FACE,)).face_focus(meta()) is not None
    assert tracking((TargetType.PERSON,)).face_focus(meta()) is None


@pytest.mark.parametrize(
    "motion, fraction",
    [((), 0.0), (((1, 1, 9, 9),) * MAX_MOTION_BOXES, 0.1), (((0, 0, 600, 400),), 0.6)],
    ids=["no-motion-known", "as-many-boxes-as-sent", "most-of-the-frame-moves"],
)
def test_unknown_or_wide_motion_searches_everything(motion, fraction):
    assert tracking().face_focus(meta(motion=motion, fraction=fraction)) is None


def test_focus_holds_the_motion_and_every_live_face_track_grown():
    camera = tracking()
    camera.on_frame(meta(keyframe=True), [face_at(200, 100, 30)])
    focus = camera.face_focus(meta())
    assert focus is not None
    assert [10, 10, 50, 60] in focus
    reach = FOCUS_REACH * 30
    assert [200 - reach, 100 - reach, 230 + reach, 130 + reach] in focus


# -- the detect task's wire -----------------------------------------------------------


def jpeg(image: np.ndarray) -> bytes:
    return cv2.imencode(".jpg", image)[1].tobytes()


@pytest.mark.parametrize(
    "focus, words",
    [
        ("everywhere", "focus must be a list of boxes"),
        ([[1, 2, 3]], "'focus' must be a list of 4 numbers"),
        ([[1, 2, 3, float("nan")]], "'focus' must be a finite number"),
        ([[0, 0, 1, 1]] * (detection.MAX_FOCUS + 1), "at most 64"),
    ],
)
def test_a_malformed_focus_is_a_coded_error(focus, words):
    with pytest.raises(VigilError) as refused:
        frame_tasks.detect(jpeg(np.zeros((64, 64, 3), np.uint8)), ["face", "person"], 0, focus)
    assert refused.value.code == ErrorCode.INVALID_OPTIONS
    assert words in refused.value.message


def test_the_detect_task_with_and_without_focus(wall):
    data = jpeg(wall)
    everything = frame_tasks.detect(data, ["face", "person"], 0)
    focused = frame_tasks.detect(data, ["face", "person"], 0, [])
    faces = lambda found: [d for d in found if d["type"] == "face"]  # noqa: E731
    assert len(faces(focused)) < len(faces(everything))


@pytest.mark.parametrize(
    "box, shows",
    [
        ((100, 100, 140, 200), False),  # a whole body 100 px tall: its face is under 16 px
        ((100, 100, 150, 240), True),  # 140 px: a 16-px face fits
        ((100, 100, 180, 180), True),  # not a whole body (seated, hidden): always searched
        ((100, 380, 140, 479), True),  # cut by the frame's bottom edge: may be larger
    ],
)
def test_a_head_region_is_searched_only_where_a_face_of_16_px_fits(box, shows):
    person = detection.Detection(box=np.array(box, np.float32), score=0.9, label="person")
    assert detection.may_show_face(person, 16, image_height=480) is shows


def test_a_still_key_frame_looks_only_where_faces_are():
    camera = tracking()
    assert camera.face_focus(meta(keyframe=True, motion=(), at=0.0)) is None  # first: all
    camera.on_frame(meta(keyframe=True, motion=(), at=0.0), [face_at(200, 100, 30)])
    still = camera.face_focus(meta(keyframe=True, motion=(), at=2.0))
    assert still is not None and len(still) == 1  # the face track's reach only
    assert camera.face_focus(meta(at=2.2)) is not None  # something moved ...
    assert camera.face_focus(meta(keyframe=True, motion=(), at=4.0)) is None  # ... so all
    assert camera.face_focus(meta(keyframe=True, motion=(), at=6.0)) is not None
    late = 4.0 + FULL_SEARCH_SECONDS
    assert camera.face_focus(meta(keyframe=True, motion=(), at=late)) is None  # due
    assert camera.face_focus(meta(keyframe=True, motion=(), at=1.0)) is None  # restarted


def test_a_busy_scenes_key_frames_search_everything_every_other_time():
    """Key frames 2 s apart in a scene that keeps moving: the whole frame every
    BUSY_FULL_SEARCH_SECONDS, the key frames between searched like the moving frames."""
    camera = tracking()
    assert BUSY_FULL_SEARCH_SECONDS == 4.0
    assert camera.face_focus(meta(keyframe=True, at=0.0)) is None
    for at in (0.2, 0.4, 1.8):
        assert camera.face_focus(meta(at=at)) is not None
    between = camera.face_focus(meta(keyframe=True, at=2.0))
    assert between == camera.face_focus(meta(at=2.2))  # the motion box, as moving frames
    assert camera.face_focus(meta(keyframe=True, at=4.0)) is None  # due: the whole frame
    camera.face_focus(meta(at=4.2))
    assert camera.face_focus(meta(keyframe=True, at=6.0)) is not None
    assert camera.face_focus(meta(keyframe=True, at=8.0)) is None


def test_a_region_inside_a_larger_one_is_searched_once():
    head = np.array([110, 60, 150, 100], np.float32)
    motion = np.array([90, 40, 200, 300], np.float32)
    apart = np.array([400, 40, 440, 80], np.float32)
    kept = detection.uncontained([head, motion, apart])
    assert [r.tolist() for r in kept] == [motion.tolist(), apart.tolist()]
    # two equal regions: the first is kept; half inside another: both are searched
    twin = motion.copy()
    assert len(detection.uncontained([motion, twin])) == 1
    half = np.array([150, 40, 260, 300], np.float32)
    assert len(detection.uncontained([motion, half])) == 2


def test_between_key_frames_the_frame_is_tiled_for_40_px_faces_only(monkeypatch):
    frame = np.zeros((1080, 1920, 3), np.uint8)
    calls = counted_windows(monkeypatch)
    Detectors().detect(frame, FACE_AND_PERSON, focus=[])
    assert calls[0] == 17  # 93 for 16-px faces; the tiles, not the whole-image window


def test_a_close_up_face_across_the_tiles_seam_is_found_through_its_track(images):
    """The 40-px net has no whole-image window: a face wider than its tiles' overlap
    (328 px at 768x576) is found where the caller looks, here its live track's box."""
    portrait = cv2.imread(str(images / "obama.jpg"))
    [face] = Detectors().detect(portrait, {TargetType.FACE}).faces
    cx, cy = (face.box[:2] + face.box[2:]) / 2
    half = int(0.75 * max(face.width, face.height))
    crop = portrait[int(cy) - half : int(cy) + half, int(cx) - half : int(cx) + half]
    frame = np.zeros((576, 768, 3), np.uint8)
    frame[:, 96:672] = cv2.resize(crop, (576, 576), interpolation=cv2.INTER_AREA)
    [key] = Detectors().detect(frame, {TargetType.FACE}).faces  # a key frame: every window
    assert key.width > 328 and key.box[0] < 220 and key.box[2] > 548  # across both tiles
    track = key.box + np.array([-5, -5, 5, 5], np.float32)
    [again] = Detectors().detect(frame, {TargetType.FACE}, focus=[track]).faces
    assert iou_matrix(again.box, key.box[None]).max() > 0.9
