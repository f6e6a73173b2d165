"""Plain in-process result types shared by the model modules.

Model modules take OpenCV-style images (BGR, uint8, HxWx3) and return these;
the pydantic messages in `vigil.schemas` are built from them at the API edge.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class Detection:
    """One detected object in image pixel coordinates.

    `box` is float32 [x1, y1, x2, y2]. `label` is "face" or a COCO class name
    ("person", "bicycle", "car", "motorcycle", "bus", "truck"). `keypoints` is
    float32 (6, 2) for faces: right eye, left eye, nose tip, mouth, right ear,
    left ear (the subject's right/left); None otherwise. `weak`: scored under the
    detector's threshold, asked for by a tracker, which may let it continue a track
    (ByteTrack's low-score boxes); it is no result on its own.
    """

    box: np.ndarray
    score: float
    label: str
    keypoints: np.ndarray | None = None
    extra: dict = field(default_factory=dict)
    weak: bool = False

    @property
    def appearance(self) -> np.ndarray | None:
        """The look descriptor a caller put in `extra["appearance"]` for the tracker."""
        return self.extra.get("appearance")

    @property
    def width(self) -> float:
        return float(self.box[2] - self.box[0])

    @property
    def height(self) -> float:
        return float(self.box[3] - self.box[1])


def face_keypoints(detection: Detection) -> np.ndarray:
    """A face detection's (6, 2) keypoints; ValueError when it has none (not a face's)."""
    if detection.keypoints is None:
        raise ValueError(f"a {detection.label!r} detection without keypoints is not a face's")
    return detection.keypoints


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise IoU between (N,4) and (M,4) boxes in x1,y1,x2,y2 form."""
    a = np.asarray(a, dtype=np.float32).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float32).reshape(-1, 4)
    x1 = np.maximum(a[:, None, 0], b[None, :, 0])
    y1 = np.maximum(a[:, None, 1], b[None, :, 1])
    x2 = np.minimum(a[:, None, 2], b[None, :, 2])
    y2 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-9), 0.0)


def weak_apart(
    weak: list[Detection], sure: np.ndarray, iou: float, contained: float
) -> list[Detection]:
    """The `weak` detections, marked weak, that touch none of the (M,4) `sure` boxes: that
    overlap none by more than `iou`, nor lie inside one (or hold one) by more than
    `contained` of the smaller box's area. A weak box touching a sure one is that
    object's other box, or more of a pattern the detector refused."""
    for detection in weak:
        detection.weak = True
    boxes = np.asarray([d.box for d in weak], dtype=np.float32).reshape(-1, 4)
    sure = np.asarray(sure, dtype=np.float32).reshape(-1, 4)
    if not len(boxes) or not len(sure):
        return weak
    touching = (iou_matrix(boxes, sure) > iou) | (overlap_of_smaller(boxes, sure) > contained)
    near = np.asarray(touching.any(axis=1), dtype=bool)
    return [d for d, drop in zip(weak, near, strict=True) if not drop]


def overlap_of_smaller(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise intersection over the smaller box's area between (N,4) and (M,4) boxes."""
    a = np.asarray(a, dtype=np.float32).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float32).reshape(-1, 4)
    width = np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0])
    height = np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1])
    inter = np.clip(width, 0, None) * np.clip(height, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    smaller = np.minimum(area_a[:, None], area_b[None, :])
    return np.where(smaller > 0, inter / np.maximum(smaller, 1e-9), 0.0)


def nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float) -> list[int]:
    """Greedy non-maximum suppression; returns kept indices, best score first."""
    order = list(np.argsort(-np.asarray(scores)))
    keep: list[int] = []
    boxes = np.asarray(boxes, dtype=np.float32).reshape(-1, 4)
    while order:
        best = order.pop(0)
        keep.append(int(best))
        if not order:
            break
        overlaps = iou_matrix(boxes[best : best + 1], boxes[order])[0]
        order = [idx for idx, ov in zip(order, overlaps, strict=True) if ov <= iou_threshold]
    return keep
