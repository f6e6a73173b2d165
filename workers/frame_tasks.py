"""Celery tasks of the video pipeline. Names are public API:

- `vigil.frame.detect(jpeg, types, min_size)` -> list of detections with quality and crop;
- `vigil.capture.describe(crop_jpeg, detection, attributes, features)` -> Target fields.

Both take and return msgpack-friendly values only (bytes, lists, dicts): a detection
crosses as `FrameDetection.to_wire()` and is read back with `from_wire`, here and where
the capture step receives the results (capture/worker.py), nowhere else.
"""

from __future__ import annotations

from typing import Any

from vigil.analysis.detection import MAX_FOCUS
from vigil.analysis.frame_analysis import describe_shot, detect_frame
from vigil.analysis.frame_detection import FrameDetection, focus_from_wire
from vigil.analysis.image_decoder import decode_image
from vigil.infra import metrics
from vigil.infra.celery_app import app
from vigil.schemas.analyze import Attribute
from vigil.schemas.target import TargetType
from vigil.workers.resubmit import RetriedTask


@app.task(name="vigil.frame.detect")
def detect(
    jpeg: bytes, types: list[str], min_size: int = 0, focus: list | None = None
) -> list[dict[str, Any]]:
    """Detect faces, persons and vehicles on one JPEG frame.

    `focus` (optional): [x1, y1, x2, y2] boxes where faces are expected between key
    frames; with persons asked for too, small faces are searched only there and in
    head regions (analysis/detection.py). Left out, the whole frame is searched.
    """
    with metrics.MODEL_LATENCY.labels(model="detect_frame").time():
        boxes = focus_from_wire(focus, MAX_FOCUS)
        image = decode_image(jpeg)
        found = detect_frame(image, {TargetType(t) for t in types}, min_size, boxes)
        return [detection.to_wire() for detection in found]


@app.task(name="vigil.capture.describe")
def describe(
    crop_jpeg: bytes, detection: dict[str, Any], attributes: list[str], features: bool
) -> dict[str, Any]:
    """Attributes and face feature of one best shot (its crop and the detection in it).

    A malformed `detection` is refused with `VigilError(invalid_options)` naming the field.
    """
    shot = FrameDetection.from_wire(detection)
    with metrics.MODEL_LATENCY.labels(model=f"describe_{shot.type.value}").time():
        crop = decode_image(crop_jpeg)
        return describe_shot(crop, shot, {Attribute(a) for a in attributes}, features)


def submit_detect(args: list, name: str) -> RetriedTask:
    """`CaptureWorker.detect_step` on Celery: a frame's detection, queued for any worker
    and sent again when its result is late (workers/resubmit.py)."""
    return RetriedTask(lambda: detect.apply_async(args=args), name=name)


def submit_describe(args: list, name: str) -> RetriedTask:
    """`CaptureWorker.describe_step` on Celery: a best shot's description."""
    return RetriedTask(lambda: describe.apply_async(args=args), name=name)
