"""Still key frames (FrameMeta.still): in a scene where nothing moves, a key frame reuses
the last detection instead of sending pixels; past `still_recheck` seconds the scene is
detected again only if its picture changed since that detection (too slowly for motion);
motion or a lighting change brings the next key frame back."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from pathlib import Path

import cv2
import numpy as np

from vigil.analysis.frame_detection import FrameDetection
from vigil.capture.ingestor import CameraIngestor
from vigil.infra.bus.memory import MemoryBus
from vigil.infra.topics.frames import FrameTopic
from vigil.schemas.camera import CameraConfig, TopicNames
from vigil.schemas.frame import FrameMeta
from vigil.schemas.geometry import FrameSize
from vigil.schemas.target import TargetType
from vigil.tracking.camera_tracking import CameraTracking

FPS = 5


def scene(
    path: Path, seconds: float, moving: tuple[float, float] | None = None, creeping: bool = False
) -> Path:
    """A textured still frame; a white square crosses it between `moving` seconds;
    `creeping`: a patch brightens by one grey level a frame (5 a second), too slowly for
    the motion gate, whose background follows it ~9 levels behind its 25-level threshold."""
    base = np.random.default_rng(0).integers(0, 255, (240, 320, 3), np.uint8)
    base = cv2.GaussianBlur(base, (9, 9), 0)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), FPS, (320, 240))
    for index in range(int(seconds * FPS)):
        frame = base.copy()
        at = index / FPS
        if moving and moving[0] <= at < moving[1]:
            x = int(40 + 200 * (at - moving[0]) / (moving[1] - moving[0]))
            frame[100:160, x : x + 60] = 255
        if creeping:
            frame[40:120, 40:120] = 30 + index
        writer.write(frame)
    writer.release()
    return path


def key_frames(path: Path, **camera) -> list[FrameMeta]:
    # nothing consumes the frames here: a lag bound below their count would stall the file
    config = CameraConfig(
        id="cam", url=str(path), pace="fast", fps=None, max_lag_frames=10_000, **camera
    )
    bus = MemoryBus()
    ingestor = CameraIngestor(config, bus, TopicNames(), stop=threading.Event())
    ingestor.run()
    assert ingestor.error is None
    reader = bus.consumer(["vigil.frames"], "test-reader")
    frames = [FrameTopic().decode(r) for r in reader.poll(0.2, max_records=1000)]
    for meta, jpeg in frames:
        assert (jpeg is not None) == meta.has_image
        assert not (meta.still and meta.has_image)
    return [meta for meta, _ in frames if meta.keyframe]


def test_an_unchanged_scene_is_detected_once(tmp_path):
    keys = key_frames(scene(tmp_path / "still.avi", 25), keyframe_interval=2, still_recheck=10)
    detected = [round(m.source_time) for m in keys if m.has_image]
    assert detected == [0]  # the same picture would get the same answer: no recheck
    assert all(m.still for m in keys if not m.has_image)
    assert len(keys) == 13  # one every 2 s, as before: the trackers still see time pass


def test_a_change_too_slow_for_motion_is_detected_again_every_still_recheck(tmp_path):
    video = scene(tmp_path / "creeping.avi", 25, creeping=True)
    keys = key_frames(video, keyframe_interval=2, still_recheck=10)
    detected = [round(m.source_time) for m in keys if m.has_image]
    assert detected == [0, 10, 20]
    assert all(m.still for m in keys if not m.has_image)


def test_motion_brings_the_next_key_frame_back(tmp_path):
    video = scene(tmp_path / "moving.avi", 14, moving=(5.0, 6.0))
    keys = key_frames(video, keyframe_interval=2, still_recheck=10)
    detected = [round(m.source_time) for m in keys if m.has_image]
    assert detected[:2] == [0, 6], detected  # 2 and 4 still; 6 after the motion
    assert [round(m.source_time) for m in keys if m.still] == [2, 4, 8, 10, 12]


def test_still_recheck_zero_detects_every_key_frame(tmp_path):
    keys = key_frames(scene(tmp_path / "still.avi", 9), keyframe_interval=2, still_recheck=0)
    assert keys and all(m.has_image and not m.still for m in keys)


def parked_car() -> FrameDetection:
    return FrameDetection.from_wire(
        {
            "type": "vehicle",
            "label": "car",
            "box": [100.0, 120.0, 260.0, 200.0],
            "score": 0.9,
            "quality": {
                "score": 0.8,
                "parts": {"detector": 0.9, "size": 1.0, "sharpness": 0.7, "pose": 1.0, "edge": 1.0},
            },
            "crop_origin": [0.0, 0.0],
        }
    )


def frame_meta(at: float, **fields) -> FrameMeta:
    return FrameMeta(
        camera_id="cam",
        stream_id="s",
        frame_index=int(at * FPS),
        sequence=int(at * FPS),
        source_time=at,
        captured_at=datetime(2026, 1, 1, tzinfo=UTC),
        size=FrameSize(width=320, height=240),
        keyframe=True,
        **fields,
    )


def test_a_parked_car_keeps_one_track_through_still_key_frames():
    camera = CameraTracking(CameraConfig(id="cam", url="x.mp4", types=[TargetType.VEHICLE]))
    events = camera.on_frame(frame_meta(0.0), [parked_car()])
    for second in range(2, 60, 2):  # a minute of still key frames, no detector run
        events += camera.on_still_frame(frame_meta(float(second), still=True, has_image=False))
    kinds = [w.event.value for w in events]
    assert kinds.count("new") == 1 and "end" not in kinds, kinds
    events = []
    for second in range(60, 70, 2):  # the car drove off: detections come back empty
        events += camera.on_frame(frame_meta(float(second)), [])
    assert [w.event.value for w in events].count("end") == 1
