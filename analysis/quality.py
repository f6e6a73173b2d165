"""Quality of one target's view, for filters and best-shot choice.

    score = detector^0.5 * size * sharpness^0.5 * pose * edge

Each part is in [0, 1]:
- detector: the detector's confidence;
- size: short box side / SATURATING_SIDE[type], capped at 1 (a 24-px face is poor, 80 px is plenty);
- sharpness: variance of the Laplacian of the grey crop resized to 64 px on its short
  side, squashed by v / (v + SHARPNESS_HALF) so a blurred crop is ~0.2 and a crisp one ~0.9;
- pose (faces only): cos(yaw) * cos(pitch), clipped, so a profile view scores near 0;
- edge: 0 when the box touches the frame edge (the object is cut), else 1. Frigate's rule
  "never take a box cut by the frame edge" becomes a zero score.
Detector confidence and sharpness are square-rooted: they are noisy and should steer,
not dominate.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from vigil.schemas.target import Quality, QualityParts, TargetType

SATURATING_SIDE = {TargetType.FACE: 80.0, TargetType.PERSON: 120.0, TargetType.VEHICLE: 120.0}
SHARPNESS_HALF = 60.0
EDGE_MARGIN = 2.0
FRONTAL_NOSE_DROP = 0.6
YAW_GAIN = 0.5


def crop(image: np.ndarray, box: np.ndarray) -> np.ndarray:
    """Crop a box from an image, clipped to the frame (may be empty)."""
    height, width = image.shape[:2]
    x1, y1, x2, y2 = (round(float(v)) for v in box)
    return image[max(0, y1) : min(height, y2), max(0, x1) : min(width, x2)]


def sharpness(region: np.ndarray) -> float:
    if region.size == 0 or min(region.shape[:2]) < 3:
        return 0.0
    grey = cv2.cvtColor(region, cv2.COLOR_BGR2GRAY) if region.ndim == 3 else region
    scale = 64.0 / min(grey.shape[:2])
    grey = cv2.resize(grey, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    variance = float(cv2.Laplacian(grey, cv2.CV_32F).var())
    return variance / (variance + SHARPNESS_HALF)


def edge_clear(box: np.ndarray, frame_width: int, frame_height: int) -> float:
    x1, y1, x2, y2 = (float(v) for v in box)
    cut = (
        x1 <= EDGE_MARGIN
        or y1 <= EDGE_MARGIN
        or x2 >= frame_width - EDGE_MARGIN
        or y2 >= frame_height - EDGE_MARGIN
    )
    return 0.0 if cut else 1.0


def pose_score(yaw: float | None, pitch: float | None) -> float:
    if yaw is None or pitch is None:
        return 1.0
    return max(
        0.0, math.cos(math.radians(min(abs(yaw), 90))) * math.cos(math.radians(min(abs(pitch), 90)))
    )


def assess(
    image: np.ndarray,
    box: np.ndarray,
    target_type: TargetType,
    detector_score: float,
    yaw: float | None = None,
    pitch: float | None = None,
) -> Quality:
    """Quality of `box` in `image` with every part, rounded for stable output."""
    height, width = image.shape[:2]
    short_side = min(float(box[2] - box[0]), float(box[3] - box[1]))
    parts = QualityParts(
        detector=round(min(1.0, max(0.0, detector_score)), 4),
        size=round(min(1.0, max(0.0, short_side / SATURATING_SIDE[target_type])), 4),
        sharpness=round(sharpness(crop(image, box)), 4),
        pose=round(pose_score(yaw, pitch), 4),
        edge=edge_clear(box, width, height),
    )
    score = (
        math.sqrt(parts.detector)
        * parts.size
        * math.sqrt(parts.sharpness)
        * parts.pose
        * parts.edge
    )
    return Quality(score=round(score, 4), parts=parts)


def framed_score(quality: Quality) -> float:
    """The score without its edge part, for a picture sent as a query.

    In a video frame a box touching the edge is a cut object; a query picture is
    framed by whoever sends it, and a face cropped to its box touches every edge
    while nothing of it is missing (such a crop scored 0 and was refused; with 5%
    margin it matched at 0.37). Size, sharpness, pose and the detector's confidence
    still count.
    """
    parts = quality.parts
    return round(
        math.sqrt(parts.detector) * parts.size * math.sqrt(parts.sharpness) * parts.pose, 4
    )


def pose_from_keypoints(keypoints: np.ndarray) -> tuple[float, float]:
    """Rough (yaw, pitch) in degrees from BlazeFace's eyes and nose, at no model cost.

    Used to rank views of a track on every frame; the face mesh gives the real pose
    once, on the best shot. Yaw: the nose's offset from the eye midpoint over half the
    eye distance (arcsine); pitch: the nose's drop below the eye line against the
    frontal ratio (about 0.6 of the eye distance). YAW_GAIN (0.5) matches the mesh's yaw
    on the portrait fixtures. Signs follow `vigil.models.face_mesh`.
    """
    points = np.asarray(keypoints, dtype=np.float64)
    right_eye, left_eye, nose = points[0], points[1], points[2]
    eye_mid = (right_eye + left_eye) / 2
    eye_distance = float(np.linalg.norm(left_eye - right_eye))
    if eye_distance < 1e-6:
        return 90.0, 0.0
    yaw_ratio = YAW_GAIN * (nose[0] - eye_mid[0]) / (eye_distance / 2)
    yaw = math.degrees(math.asin(max(-1.0, min(1.0, yaw_ratio))))
    drop = (nose[1] - eye_mid[1]) / eye_distance
    pitch = max(-90.0, min(90.0, float(FRONTAL_NOSE_DROP - drop) * 90.0))
    return yaw, pitch
