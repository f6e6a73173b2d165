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

from typing import Any

import numpy as np

from vigil.analysis.face_gate import MIN_ATTRIBUTE_FACE
from vigil.analysis.frame_analysis import describer, detection_in_crop
from vigil.analysis.image_decoder import decode_image
from vigil.models.types import Detection

SAME_FACE_L2 = 0.45
FEATURE_KEY = "face_feature"


class FaceIdentity:
    """Callable `(a, b) -> bool` for `Tracker(verify=...)`; detections carry `extra["item"]`."""

    def __init__(self) -> None:
        self.computed = 0  # features computed, for the harness's cost figures

    def feature(self, detection: Detection) -> np.ndarray | None:
        if FEATURE_KEY in detection.extra:
            return detection.extra[FEATURE_KEY]
        item: dict[str, Any] | None = detection.extra.get("item")
        vector = None
        if item is not None and item.get("crop") and item.get("keypoints") is not None:
            x1, y1, x2, y2 = item["box"]
            if min(x2 - x1, y2 - y1) >= MIN_ATTRIBUTE_FACE:
                crop = decode_image(item["crop"])
                vector = describer().embedder.embed(crop, [detection_in_crop(item)])[0]
                self.computed += 1
        detection.extra[FEATURE_KEY] = vector
        return vector

    def __call__(self, a: Detection, b: Detection) -> bool:
        first, second = self.feature(a), self.feature(b)
        if first is None or second is None:
            return False
        return float(np.linalg.norm(first - second)) < SAME_FACE_L2
