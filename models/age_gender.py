"""Age and gender from Cydral's dlib-trained nets (age_v1: 81 classes, gender_v1: 2).

Both nets take dlib chips with padding 0.2 (64 px for age, 32 px for gender);
every face of a frame goes through each net in one batched call.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from vigil.models.face_aligner import align_face
from vigil.models.runtime import Session, session
from vigil.models.types import Detection, face_keypoints

AGE_MODEL = "age_v1"
GENDER_MODEL = "gender_v1"
CHIP_PADDING = 0.2
AGE_SIZE = 64
GENDER_SIZE = 32
# dlib's RGB mean; the nets take (pixel - mean) / 256.
RGB_MEAN = (122.782, 117.001, 104.298)
# Class k means k years, except class 0, which stands for babies (0.25 years).
AGE_YEARS = np.concatenate([[0.25], np.arange(1, 81)]).astype(np.float32)
GENDERS = ("female", "male")  # order of gender_v1's two outputs


@dataclass
class AgeGender:
    """Estimated age in years (expectation over the age classes) and gender."""

    age: float
    gender: str  # "male" or "female"
    gender_confidence: float  # probability of `gender`, 0.5..1


class AgeGenderEstimator:
    """Age and gender for detected faces."""

    def __init__(self) -> None:
        self._age = session(AGE_MODEL)
        self._gender = session(GENDER_MODEL)

    def estimate(self, image: np.ndarray, detections: Sequence[Detection]) -> list[AgeGender]:
        """One AgeGender per detection, in order."""
        if not detections:
            return []
        ages = self._probabilities(self._age, image, detections, AGE_SIZE) @ AGE_YEARS
        genders = self._probabilities(self._gender, image, detections, GENDER_SIZE)
        best = genders.argmax(axis=1)
        return [
            AgeGender(age=float(age), gender=GENDERS[g], gender_confidence=float(p[g]))
            for age, g, p in zip(ages, best, genders, strict=True)
        ]

    @staticmethod
    def _probabilities(
        net: Session, image: np.ndarray, detections: Sequence[Detection], size: int
    ) -> np.ndarray:
        chips = [align_face(image, face_keypoints(d), size, CHIP_PADDING) for d in detections]
        blob = cv2.dnn.blobFromImages(chips, 1 / 256, (size, size), RGB_MEAN, swapRB=True)
        (probabilities,) = net.run({net.input_name: blob})
        return probabilities.astype(np.float32)
