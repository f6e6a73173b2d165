"""The typed detection of the video pipeline (`FrameDetection`) and its wire form.

Detector, tracker and assembler pass `FrameDetection`s; only the Celery tasks
`vigil.frame.detect` / `vigil.capture.describe` carry dicts, whose keys and value types
are public API. A dict from another process may be hostile: it is refused with a coded
error naming the field, and the capture step dead-letters that frame and goes on.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from typing import Any

import cv2
import msgpack
import numpy as np
import pytest

from vigil.analysis.frame_detection import FrameDetection, detections_from_wire
from vigil.capture.worker import CaptureWorker
from vigil.infra.bus.memory import MemoryBus
from vigil.infra.topics.deadletter import DeadLetterTopic
from vigil.infra.topics.frames import FrameTopic
from vigil.schemas.camera import PipelineConfig
from vigil.schemas.capture import Capture, CaptureEvent
from vigil.schemas.errors import ErrorCode, VigilError
from vigil.schemas.frame import FrameMeta
from vigil.schemas.geometry import FrameSize
from vigil.schemas.target import Quality, TargetType
from vigil.tracking.tracker import Tracker

WIRE_KEYS = [
    "type",
    "label",
    "box",
    "score",
    "keypoints",
    "quality",
    "crop",
    "appearance",
    "crop_origin",
    "weak",
]


def quality(score: float = 0.8) -> dict[str, Any]:
    parts = {"detector": 0.9, "size": 1.0, "sharpness": 0.7, "pose": 0.95, "edge": 1.0}
    return {"score": score, "parts": parts}


def wire_face(x: float = 100.0, y: float = 80.0, side: float = 96.0) -> dict[str, Any]:
    """A face as `vigil.frame.detect` sends it (keypoints are float32 values widened)."""
    points = [[0.3, 0.4], [0.7, 0.4], [0.5, 0.6], [0.5, 0.75], [0.1, 0.45], [0.9, 0.45]]
    keypoints = (np.array(points) * side + [x, y]).astype(np.float32)
    look = np.random.default_rng(0).random(24).astype(np.float32)
    look /= look.sum()
    return {
        "type": "face",
        "label": "face",
        "box": [round(x, 2), round(y, 2), round(x + side, 2), round(y + side, 2)],
        "score": 0.9312,
        "keypoints": keypoints.round(2).tolist(),
        "quality": quality(),
        "crop": b"\xff\xd8jpeg\xff\xd9",
        "appearance": [round(float(v), 4) for v in look],
        "crop_origin": [float(round(x - 0.6 * side)), float(round(y - 0.6 * side))],
        "weak": False,
    }


def packed(value: Any) -> bytes:
    return msgpack.packb(value)


def test_the_wire_form_round_trips_byte_for_byte():
    wire = wire_face()
    detection = FrameDetection.from_wire(msgpack.unpackb(packed(wire)))
    assert detection.type is TargetType.FACE
    assert detection.box == tuple(wire["box"])
    assert isinstance(detection.quality, Quality) and detection.quality.parts.edge == 1.0
    assert detection.appearance is not None and detection.appearance.dtype == np.float32
    again = detection.to_wire()
    assert list(again) == WIRE_KEYS
    assert packed(again) == packed(wire)
    assert packed(FrameDetection.from_wire(again).to_wire()) == packed(wire)


def test_the_describe_task_gets_the_wire_form_without_the_crop():
    wire = wire_face()
    detection = FrameDetection.from_wire(wire)
    without = detection.to_wire(with_crop=False)
    assert packed(without) == packed({k: v for k, v in wire.items() if k != "crop"})
    assert FrameDetection.from_wire(without).crop is None


def test_optional_fields_may_be_absent_or_none():
    optional = ("crop", "keypoints", "appearance", "weak")
    wire = {k: v for k, v in wire_face().items() if k not in optional}
    wire = {**wire, "type": "person", "label": "person"}  # a face needs its keypoints
    detection = FrameDetection.from_wire({**wire, "unknown": "a newer worker's field"})
    assert (detection.crop, detection.keypoints, detection.appearance) == (None, None, None)
    assert detection.weak is False, "an older worker's detection is a sure one"
    assert detection.to_wire()["keypoints"] is None


def test_a_weak_detection_stays_weak_across_the_wire():
    detection = FrameDetection.from_wire({**wire_face(), "score": 0.41, "weak": True})
    assert detection.weak and detection.to_wire()["weak"] is True
    assert detection.in_frame().weak and detection.in_crop().weak


def test_in_crop_moves_the_box_and_keypoints_by_the_crop_origin():
    detection = FrameDetection.from_wire(wire_face(x=100.0, y=80.0, side=100.0))
    moved = detection.in_crop()
    origin = np.array(detection.crop_origin, np.float32)
    assert np.allclose(moved.box, np.array(detection.box, np.float32) - np.tile(origin, 2))
    assert moved.keypoints is not None
    assert np.allclose(moved.keypoints, np.array(detection.keypoints, np.float32) - origin)


def test_detect_frame_gives_what_the_wire_gives_back(images):
    """In one process or across Celery, the tracker sees the same detections."""
    from vigil.analysis.frame_analysis import detect_frame

    image = cv2.imread(str(images / "grace_hopper.jpg"))
    found = detect_frame(image, set(TargetType))
    assert {d.type for d in found} >= {TargetType.FACE, TargetType.PERSON}
    wire = msgpack.unpackb(packed([d.to_wire() for d in found]))
    back = detections_from_wire(wire)
    for before, after in zip(found, back, strict=True):
        for name in ("type", "label", "box", "score", "quality", "crop", "crop_origin", "weak"):
            assert getattr(before, name) == getattr(after, name), name
        assert before.keypoints == after.keypoints
        assert np.array_equal(before.appearance, after.appearance)
    assert packed([d.to_wire() for d in back]) == packed(wire)


HOSTILE = {
    "not-a-mapping": ([1, 2], "must be a mapping"),
    "no-box": ({"box": None}, "'box' is missing"),
    "no-quality": ({"quality": None}, "'quality' is missing"),
    "unknown-type": ({"type": "dragon"}, "'type' must be one of"),
    "type-not-text": ({"type": 3}, "'type' must be one of"),
    "label-not-text": ({"label": ["face"]}, "'label' must be a string"),
    "short-box": ({"box": [1.0, 2.0, 3.0]}, "'box' must be a list of 4 numbers"),
    "box-of-text": ({"box": ["1", "2", "3", "4"]}, "'box' must be a finite number"),
    "box-a-mapping": ({"box": {"x1": 1}}, "'box' must be a list of 4 numbers"),
    "nan-score": ({"score": float("nan")}, "'score' must be a finite number"),
    "bool-score": ({"score": True}, "'score' must be a finite number"),
    "huge-score": ({"score": 10**400}, "'score' must be a finite number"),
    "quality-text": ({"quality": "good"}, "'quality' must be a mapping"),
    "quality-no-parts": ({"quality": {"score": 0.5}}, "'quality.parts'"),
    "quality-out-of-range": ({"quality": quality(score=7.0)}, "'quality.score'"),
    "crop-text": ({"crop": "not bytes"}, "'crop' must be JPEG bytes"),
    "keypoints-flat": ({"keypoints": [1.0, 2.0]}, "'keypoints' must be a list of 2 numbers"),
    "face-without-keypoints": ({"keypoints": None}, "a face needs its 6 'keypoints'"),
    "face-with-three-keypoints": ({"keypoints": [[1, 2]] * 3}, "a face needs its 6 'keypoints'"),
    "appearance-text": ({"appearance": "red"}, "'appearance' must be a list"),
    "appearance-huge": ({"appearance": [0.5, 1e300]}, "too large for float32"),
    "origin-short": ({"crop_origin": [1.0]}, "'crop_origin' must be a list of 2 numbers"),
    "weak-text": ({"weak": "yes"}, "'weak' must be true or false"),
    "weak-number": ({"weak": 1}, "'weak' must be true or false"),
}


@pytest.mark.parametrize("label", sorted(HOSTILE))
def test_a_malformed_wire_detection_is_a_coded_error_naming_the_field(label):
    change, words = HOSTILE[label]
    if isinstance(change, dict):
        wire = {k: v for k, v in {**wire_face(), **change}.items() if v is not None}
    else:
        wire = change
    with pytest.raises(VigilError) as caught:
        FrameDetection.from_wire(wire)
    assert caught.value.code == ErrorCode.INVALID_OPTIONS
    assert "malformed detection" in caught.value.message and words in caught.value.message
    assert len(caught.value.message) < 200, "a hostile value is quoted short"


def test_a_malformed_result_names_the_detection_and_must_be_a_list():
    with pytest.raises(VigilError, match="must be a list"):
        detections_from_wire({"box": [1, 2, 3, 4]})
    with pytest.raises(VigilError, match=r"detection 1: malformed detection: 'score'"):
        detections_from_wire([wire_face(), {**wire_face(), "score": "high"}])


def test_the_tracker_hands_back_the_detections_it_was_given():
    tracker: Tracker[FrameDetection] = Tracker(confirm_at_start=True)
    first = FrameDetection.from_wire(wire_face(x=100.0))
    second = FrameDetection.from_wire(wire_face(x=104.0))
    step = tracker.update([first], 0.0)
    assert tracker.track(step.assigned[0]).detection is first
    step = tracker.update([second], 0.2)
    assert tracker.track(step.assigned[0]).detection is second


class Done:
    """A model step's result that is already there (or failed)."""

    def __init__(self, value: Any) -> None:
        self.value = value

    def get(self, timeout: float) -> Any:
        if isinstance(self.value, Exception):
            raise self.value
        return self.value


def test_the_capture_step_dead_letters_a_malformed_result_and_goes_on():
    config = PipelineConfig.model_validate({"cameras": [{"id": "cam", "url": "unused.mp4"}]})
    topics = config.topics
    bus = MemoryBus(partitions=1)
    bus.ensure_topics([topics.frames, topics.captures, topics.deadletter, topics.alerts], 1)
    results = {
        0: [wire_face(x=100.0)],
        1: [{k: v for k, v in wire_face(x=102.0).items() if k != "label"}],  # hostile
        2: [wire_face(x=104.0)],
    }
    producer = bus.producer()
    for sequence in results:
        meta = FrameMeta(
            camera_id="cam",
            stream_id="s1",
            frame_index=sequence,
            sequence=sequence,
            source_time=sequence / 5,
            captured_at=datetime(2026, 1, 1, 12, tzinfo=UTC),
            size=FrameSize(width=640, height=480),
            has_image=True,
            end_of_stream=sequence == 2,
        )
        FrameTopic(topics.frames).publish(producer, meta, f"jpeg {sequence}".encode())
    described: list[list] = []
    captures: list[Capture] = []

    def detect_step(args: list, name: str) -> Done:
        return Done(results[int(name.rsplit("#", 1)[1])])

    def describe_step(args: list, name: str) -> Done:
        described.append(args)
        return Done({})

    worker = CaptureWorker(
        bus,
        config,
        detect_step=detect_step,
        describe_step=describe_step,
        on_capture=captures.append,
    )
    try:
        worker.run(threading.Event(), idle_timeout=0.3)
    finally:
        worker.close()

    reader = bus.consumer([topics.deadletter], "test-reader")
    letters = [DeadLetterTopic().decode(r) for r in reader.poll(timeout=0.2, max_records=10)]
    assert [(letter.offset, letter.error_code) for letter in letters] == [(1, "detect_failed")]
    assert "'label' is missing" in letters[0].reason
    assert [c.event for c in captures] == [CaptureEvent.NEW, CaptureEvent.END]
    assert captures[0].target.box.as_list() == results[0][0]["box"]
    crop, detection, _, _ = described[0]
    assert crop == results[0][0]["crop"]
    assert packed(detection) == packed({k: v for k, v in results[0][0].items() if k != "crop"})
