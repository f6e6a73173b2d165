"""468-point face mesh (MediaPipe face_landmark) and the head pose read from it.

Head pose comes from the mesh's own 3D points rather than solvePnP: the mesh
already gives depth (weak perspective, z in the same pixel units as x and y),
so no camera focal length has to be guessed and no generic 3D face has to fit
this face. The face plane is spanned by the outer eye corners and the mouth
corners, four points that lie at nearly the same depth on a real face, so a
frontal face reads yaw = pitch = 0 without a calibration offset (a plane
through forehead and chin reads 4-9 degrees of pitch on frontal portraits).

Sign convention (degrees, from the camera's point of view):
  yaw   > 0: the subject turned to their own left (nose towards image right);
  pitch > 0: the subject looks up (nose towards image top);
  roll  > 0: the eye line turned counter-clockwise in the image (the subject's
             left eye higher, head tilted towards their right shoulder).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from vigil.models.face_aligner import warp_chip
from vigil.models.runtime import session
from vigil.models.types import Detection, face_keypoints

MODEL = "face_mesh_468"
INPUT_SIZE = 192
CROP_SCALE = 1.5  # crop side / longer face-box side, as the mesh was trained
# Mesh indices (the subject's right/left).
RIGHT_EYE_OUTER, LEFT_EYE_OUTER = 33, 263
MOUTH_RIGHT, MOUTH_LEFT = 61, 291


@dataclass
class FacePose:
    """Head pose in degrees, face presence probability and the mesh in image pixels.

    `landmarks` is (468, 3): x, y in image pixels, z relative depth in the same units
    (smaller is nearer the camera).
    """

    yaw: float
    pitch: float
    roll: float
    presence: float
    landmarks: np.ndarray


def head_pose(landmarks: np.ndarray) -> tuple[float, float, float]:
    """(yaw, pitch, roll) in degrees from mesh landmarks, in the module's sign convention."""
    points = np.asarray(landmarks, dtype=np.float64)
    eye_line = points[LEFT_EYE_OUTER] - points[RIGHT_EYE_OUTER]
    roll = math.atan2(-eye_line[1], eye_line[0])
    # Undo roll first, so a tilted head's yaw does not leak into pitch.
    cos, sin = math.cos(roll), math.sin(roll)
    level = points @ np.array([[cos, sin, 0], [-sin, cos, 0], [0, 0, 1]])
    across = level[LEFT_EYE_OUTER] - level[RIGHT_EYE_OUTER]
    down = (
        level[MOUTH_RIGHT] + level[MOUTH_LEFT] - level[RIGHT_EYE_OUTER] - level[LEFT_EYE_OUTER]
    ) / 2
    forward = -np.cross(across, down)  # x right, y down, z away: the face plane's normal
    yaw = math.atan2(forward[0], -forward[2])
    pitch = math.atan2(-forward[1], math.hypot(forward[0], forward[2]))
    return math.degrees(yaw), math.degrees(pitch), math.degrees(roll)


def crop_matrix(detection: Detection) -> np.ndarray:
    """2x3 image->crop transform: face-box centred, 1.5x its longer side, eyes level."""
    x1, y1, x2, y2 = (float(v) for v in detection.box)
    keypoints = face_keypoints(detection)
    right_eye, left_eye = keypoints[0], keypoints[1]
    angle = math.atan2(left_eye[1] - right_eye[1], left_eye[0] - right_eye[0])
    scale = INPUT_SIZE / (CROP_SCALE * max(x2 - x1, y2 - y1))
    cos, sin = math.cos(angle) * scale, math.sin(angle) * scale
    linear = np.array([[cos, sin], [-sin, cos]])  # rotate by -angle, then scale
    centre = np.array([(x1 + x2) / 2, (y1 + y2) / 2])
    shift = INPUT_SIZE / 2 - linear @ centre
    return np.hstack([linear, shift[:, None]])


class FaceMesh:
    """Face mesh, presence score and head pose for detected faces."""

    def __init__(self) -> None:
        self._session = session(MODEL)

    def estimate(self, image: np.ndarray, detections: Sequence[Detection]) -> list[FacePose]:
        """One FacePose per detection, in order (the model takes one face per call)."""
        return [self._estimate_one(image, detection) for detection in detections]

    def _estimate_one(self, image: np.ndarray, detection: Detection) -> FacePose:
        matrix = crop_matrix(detection)
        crop = warp_chip(image, matrix, INPUT_SIZE)
        blob = cv2.dnn.blobFromImage(crop, 1 / 255, swapRB=True)
        mesh, presence_logit = self._session.run({self._session.input_name: blob})
        crop_points = mesh.reshape(468, 3).astype(np.float64)
        inverse = cv2.invertAffineTransform(matrix)
        landmarks = np.empty_like(crop_points)
        landmarks[:, :2] = crop_points[:, :2] @ inverse[:, :2].T + inverse[:, 2]
        landmarks[:, 2] = crop_points[:, 2] * math.sqrt(abs(np.linalg.det(inverse[:, :2])))
        yaw, pitch, roll = head_pose(landmarks)
        logit = float(np.clip(presence_logit.ravel()[0], -80, 80))
        return FacePose(
            yaw=yaw,
            pitch=pitch,
            roll=roll,
            presence=1.0 / (1.0 + math.exp(-logit)),
            landmarks=landmarks.astype(np.float32),
        )
