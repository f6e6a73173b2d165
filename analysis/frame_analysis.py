"""The video pipeline's two model steps: detect on a frame, describe a best shot.

`detect_frame` runs on every sampled frame and stays cheap: detectors plus a
quality score (no mesh, no embedding), and a small crop of every detection so
the tracker can keep a track's best view without keeping frames. `describe_shot`
runs the expensive models once per published best shot, on that crop. Both speak
`FrameDetection` (analysis/frame_detection.py); the Celery tasks turn it into the
wire's dicts and back.
"""

from __future__ import annotations

from collections.abc import Collection
from functools import cache

import numpy as np

from vigil.analysis import quality
from vigil.analysis.appearance import descriptor
from vigil.analysis.description import Describer
from vigil.analysis.detection import Detectors
from vigil.analysis.frame_detection import FrameDetection, wire_values
from vigil.analysis.image_analyzer import encode_crop
from vigil.models.types import Detection
from vigil.schemas.analyze import Attribute
from vigil.schemas.target import TargetType

# Context kept around a detection in its crop: faces need room for alignment and the
# mesh (1.5x the box); bodies and vehicles only a little.
CROP_MARGIN = {TargetType.FACE: 0.6, TargetType.PERSON: 0.1, TargetType.VEHICLE: 0.1}
CROP_JPEG_QUALITY = 90


@cache
def detectors() -> Detectors:
    return Detectors(object_border=0.0)


@cache
def describer() -> Describer:
    return Describer()


def expanded(box: np.ndarray, margin: float, width: int, height: int) -> np.ndarray:
    x1, y1, x2, y2 = (float(v) for v in box)
    dx, dy = (x2 - x1) * margin, (y2 - y1) * margin
    return np.array(
        [max(0, x1 - dx), max(0, y1 - dy), min(width, x2 + dx), min(height, y2 + dy)],
        dtype=np.float32,
    ).round()


def frame_quality(image: np.ndarray, detection: Detection, target_type: TargetType):
    yaw = pitch = None
    if target_type == TargetType.FACE and detection.keypoints is not None:
        yaw, pitch = quality.pose_from_keypoints(detection.keypoints)
    return quality.assess(image, detection.box, target_type, detection.score, yaw, pitch)


def detect_frame(
    image: np.ndarray,
    types: Collection[TargetType],
    min_size: int = 0,
    focus: list[np.ndarray] | None = None,
) -> list[FrameDetection]:
    """Detections of one frame, each with quality, crop and appearance.

    `focus`: where faces are expected between key frames (`Detectors.detect`); None
    searches the whole frame. The weak detections (just under a detector's threshold)
    come too, marked: they only continue a track (`CameraTracking.usable`). Values are
    rounded as the wire carries them (`FrameDetection.to_wire`), so the tracker sees
    the same detections in one process as across Celery.
    """
    height, width = image.shape[:2]
    found = detectors().detect(image, types, min_face=min_size, focus=focus, weak=True)
    result = []
    for target_type in (TargetType.PERSON, TargetType.VEHICLE, TargetType.FACE):
        if target_type not in types:
            continue
        for detection in found.of(target_type):
            region = expanded(detection.box, CROP_MARGIN[target_type], width, height)
            look = appearance_list(image, detection.box)
            x1, y1, x2, y2 = (round(float(v), 2) for v in detection.box)
            result.append(
                FrameDetection(
                    type=target_type,
                    label=detection.label,
                    box=(x1, y1, x2, y2),
                    score=round(float(detection.score), 4),
                    quality=frame_quality(image, detection, target_type),
                    crop=encode_crop(image, region, CROP_JPEG_QUALITY),
                    crop_origin=(float(region[0]), float(region[1])),
                    keypoints=(
                        tuple(tuple(p) for p in detection.keypoints.round(2).tolist())
                        if detection.keypoints is not None
                        else None
                    ),
                    appearance=np.asarray(look, np.float32) if look else None,
                    weak=detection.weak,
                )
            )
    return result


def appearance_list(image: np.ndarray, box: np.ndarray) -> list[float] | None:
    look = descriptor(image, box)
    return None if look is None else wire_values(look)


def describe_shot(
    crop: np.ndarray, shot: FrameDetection, attributes: Collection[Attribute], features: bool
) -> dict:
    """Attributes (and the face feature) of one best shot, as Target fields (JSON-able).

    `crop` is the shot's crop (`shot.crop`, decoded), which `shot.crop_origin` places.
    """
    detection = shot.in_crop()
    target_type = shot.type
    describe = describer()
    if target_type == TargetType.FACE:
        [fields] = describe.faces(crop, [detection], attributes, features, gate=True)
    elif target_type == TargetType.PERSON:
        [fields] = describe.persons(crop, [detection], attributes)
    else:
        [fields] = describe.vehicles(crop, [detection], attributes)
    fields.pop("quality", None)  # the frame's quality (full-frame edge test) stays
    fields.pop("keypoints", None)
    return {
        name: value.model_dump(mode="json", exclude_none=True)
        if hasattr(value, "model_dump")
        else value
        for name, value in fields.items()
    }
