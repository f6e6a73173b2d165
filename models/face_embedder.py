"""128-D face embeddings from dlib's ResNet-29 metric network (face_resnet128).

Embeddings are returned raw, not L2-normalised: dlib trained the net so that two
photos of one person lie within L2 0.6 of each other in this raw space, and
normalising would move that threshold.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from vigil.models.face_aligner import align_face
from vigil.models.runtime import model_version, session
from vigil.models.types import Detection, face_keypoints

CHIP_SIZE = 150
CHIP_PADDING = 0.25


class FaceEmbedder:
    """Aligns faces and embeds them in one batched model call."""

    MODEL = "face_resnet128"
    DIM = 128
    # Same person when the L2 distance between raw embeddings is below this (dlib's rule).
    SAME_PERSON_L2 = 0.6

    def __init__(self) -> None:
        self._session = session(self.MODEL)

    @property
    def model_version(self) -> str:
        return model_version(self.MODEL)

    def embed_chips(self, chips: Sequence[np.ndarray]) -> np.ndarray:
        """(N, 128) float32 raw embeddings of 150-px BGR chips aligned with padding 0.25.

        The graph subtracts the mean and scales itself, so it takes RGB in 0..255.
        """
        if len(chips) == 0:
            return np.zeros((0, self.DIM), dtype=np.float32)
        blob = cv2.dnn.blobFromImages(list(chips), 1.0, (CHIP_SIZE, CHIP_SIZE), swapRB=True)
        (embeddings,) = self._session.run({self._session.input_name: blob})
        return embeddings.astype(np.float32)

    def embed(self, image: np.ndarray, detections: Sequence[Detection]) -> np.ndarray:
        """(N, 128) raw embeddings of the detected faces, in the order given."""
        chips = [align_face(image, face_keypoints(d), CHIP_SIZE, CHIP_PADDING) for d in detections]
        return self.embed_chips(chips)
