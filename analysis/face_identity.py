"""Are two face detections the same person? Asked by the tracker before it re-acquires
a face track after a gap, so a newcomer standing where someone else stood is not
continued as that person (one capture, two identities).

The answer comes from the face feature of each detection's crop (the crop the detect
step already ships with every detection), computed only when asked and kept on the
detection. A face too small to carry a reliable feature (below MIN_ATTRIBUTE_FACE)
gets no answer but "no": a track is then split rather than joined to a stranger.

SAME_FACE_L2 is stricter than dlib's 0.6 (its rule for large, frontal photos):
measured on the harness's group scenes (`bench/capture_scenes.py`), the same face
across frames stayed within 0.35 at 56 px and within 0.59 at 32-40 px, while two
different people came as close as 0.53. Splitting is the cheaper error.
"""

from __future__ import annotations

from weakref import WeakKeyDictionary

import numpy as np

from vigil.analysis.face_gate import MIN_ATTRIBUTE_FACE
from vigil.analysis.frame_analysis import describer
from vigil.analysis.frame_detection import FrameDetection
from vigil.analysis.image_decoder import decode_image

SAME_FACE_L2 = 0.45


class FaceIdentity:
    """Callable `(a, b) -> bool` for `Tracker(verify=...)` on the capture step's detections."""

    def __init__(self) -> None:
        self.computed = 0  # features computed, for the harness's cost figures
        # each detection's feature (or None), kept while the detection lives
        self.features: WeakKeyDictionary[FrameDetection, np.ndarray | None] = WeakKeyDictionary()

    def feature(self, detection: FrameDetection) -> np.ndarray | None:
        if detection in self.features:
            return self.features[detection]
        vector = None
        if (
            detection.crop
            and detection.keypoints is not None
            and min(detection.width, detection.height) >= MIN_ATTRIBUTE_FACE
        ):
            crop = decode_image(detection.crop)
            vector = describer().embedder.embed(crop, [detection.in_crop()])[0]
            self.computed += 1
        self.features[detection] = vector
        return vector

    def __call__(self, a: FrameDetection, b: FrameDetection) -> bool:
        first, second = self.feature(a), self.feature(b)
        if first is None or second is None:
            return False
        return float(np.linalg.norm(first - second)) < SAME_FACE_L2
