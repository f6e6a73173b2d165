"""The video capture pipeline end to end, embedded (in-process bus, eager Celery)."""

from __future__ import annotations

import shutil

import cv2
import pytest

from tests.synthetic_video import crop_around, moving_faces_frames, write_video
from vigil.infra.bus.memory import MemoryBus
from vigil.infra.config import single_camera_config
from vigil.models.face_detector import FaceDetector
from vigil.outputs.disk import read_captures
from vigil.schemas.capture import CaptureEvent
from vigil.schemas.target import TargetType
from vigil.workers.pipeline import run_all


def run_video(path, tmp_path=None, **camera):
    config = single_camera_config(str(path), camera_id="cam-test", pace="fast", **camera)
    if tmp_path is not None:
        config.outputs.disk = tmp_path / "captures"
    return run_all(MemoryBus(), config)


def tracks(summary, target_type: TargetType) -> dict[str, list]:
    result: dict[str, list] = {}
    for capture in summary.captures:
        if capture.target.type == target_type:
            result.setdefault(capture.capture_id, []).append(capture)
    return result


@pytest.fixture(scope="module")
def carphone(tmp_path_factory):
    from tests.conftest import VIDEOS

    out = tmp_path_factory.mktemp("carphone")
    return run_video(VIDEOS / "carphone_pristine.mp4", out, types=["face"]), out


def test_carphone_gives_one_face_capture_with_feature(carphone):
    summary, _ = carphone
    faces = tracks(summary, TargetType.FACE)
    assert len(faces) == 1, {k: [c.event for c in v] for k, v in faces.items()}
    [events] = faces.values()
    assert events[0].event == CaptureEvent.NEW and events[-1].event == CaptureEvent.END
    assert [c.revision for c in events] == list(range(len(events)))
    assert len(events) <= 4, "updates only for clearly better shots"
    final = events[-1]
    assert final.target.feature is not None and final.target.feature.dim == 128
    assert final.target.face.gender == "male"
    assert final.crop_jpeg and final.frames_seen >= 5
    assert final.first_seen <= final.last_seen


def test_captures_reach_disk_sink(carphone):
    summary, out = carphone
    files = list((out / "captures" / "cam-test").glob("captures-*.jsonl"))
    assert len(files) == 1
    written = list(read_captures(files[0]))
    assert [c.message_id for c in written] == [c.message_id for c in summary.captures]
    assert list((out / "captures" / "cam-test" / "crops").glob("*.jpg"))


@pytest.fixture(scope="module")
def two_faces_video(images, tmp_path_factory):
    detector = FaceDetector()
    patches = []
    for name in ("obama.jpg", "biden.jpg"):
        photo = cv2.imread(str(images / name))
        [face] = detector.detect(photo)
        patches.append(crop_around(photo, face.box))
    path = (
        tmp_path_factory.mktemp("synthetic") / "two_faces.avi"
    )  # frame count in header: a cut is detectable
    write_video(moving_faces_frames(patches, frames=40), path, fps=5, codec="mpeg4")
    return path


def test_two_moving_faces_give_two_face_tracks(two_faces_video):
    summary = run_video(two_faces_video, types=["face"], fps=None)
    faces = tracks(summary, TargetType.FACE)
    assert len(faces) == 2
    ends = [events[-1] for events in faces.values()]
    assert all(e.event == CaptureEvent.END for e in ends)
    genders = sorted(e.target.face.gender for e in ends)
    assert genders == ["male", "male"]
    distance = ends[0].target.feature.vector() - ends[1].target.feature.vector()
    assert float((distance**2).sum() ** 0.5) > 0.6, "two different people"


def test_truncated_file_keeps_captures_found_before_the_cut(images, two_faces_video, tmp_path):
    data = two_faces_video.read_bytes()
    truncated = tmp_path / "truncated.avi"
    shutil.copy(two_faces_video, truncated)
    truncated.write_bytes(data[: int(len(data) * 0.7)])
    summary = run_video(truncated, types=["face"], fps=None)
    assert "cam-test" in summary.errors, "the cut must be reported"
    assert tracks(summary, TargetType.FACE), "captures before the cut are kept"
    assert all(
        events[-1].event == CaptureEvent.END for events in tracks(summary, TargetType.FACE).values()
    )


def test_still_scene_is_detected_only_on_key_frames(images, tmp_path):
    """Motion gating: a face that never moves costs a key frame every 2 s, one capture."""
    photo = cv2.imread(str(images / "grace_hopper.jpg"))
    [face] = FaceDetector().detect(photo)
    still = moving_faces_frames([crop_around(photo, face.box)], frames=2)[0]
    path = write_video([still] * 100, tmp_path / "still.avi", fps=5, codec="mpeg4")
    summary = run_video(path, types=["face"], fps=None, keyframe_interval=2.0)
    assert summary.frames_published + summary.frames_ticks == 100
    assert summary.frames_published <= 15, "only key frames carry pixels"
    faces = tracks(summary, TargetType.FACE)
    assert len(faces) == 1, "a still face is one track, not one per key frame"


def test_pipeline_counts_its_work_in_prometheus_metrics(carphone):
    from vigil.infra.metrics import render

    text = render().decode()
    assert 'vigil_captures_total{camera="cam-test",event="end",type="face"}' in text
    assert 'vigil_frames_analysed_total{camera="cam-test"}' in text
    assert 'vigil_source_state{camera="cam-test",vigil_source_state="stopped"} 1.0' in text


def test_two_cameras_from_one_config_keep_their_tracks_apart(two_faces_video):
    from tests.conftest import VIDEOS
    from vigil.infra.config import parse_config

    config = parse_config(
        f"""
cameras:
  - {{id: car, url: "{VIDEOS / "carphone_pristine.mp4"}", types: [face], pace: fast}}
  - {{id: walk, url: "{two_faces_video}", types: [face], pace: fast, fps: null}}
"""
    )
    summary = run_all(MemoryBus(), config)
    by_camera: dict[str, set[str]] = {}
    for capture in summary.captures:
        assert capture.capture_id.startswith(capture.camera_id + "/")
        by_camera.setdefault(capture.camera_id, set()).add(capture.capture_id)
    assert {camera: len(ids) for camera, ids in by_camera.items()} == {"car": 1, "walk": 2}
