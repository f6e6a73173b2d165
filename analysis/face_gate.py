"""When a detected face is worth a capture, and when it can carry attributes.

Measured on the capture-accuracy harness and the face-size sweep
(`bench/bench_face_sizes.py`, table in docs/performance.md):
- below MIN_CAPTURE_FACE px (short box side) BlazeFace's boxes are mostly on hair,
  ears or texture, and a person could not tell who it is: no capture;
- below MIN_ATTRIBUTE_FACE px age, gender and the face feature drift far from their
  values on the same face seen large: the capture is published without them;
- a face mesh presence below MIN_PRESENCE means the mesh does not see a face in the
  crop: the capture is published flagged, without attributes.
Both go into `FaceAttributes.withheld`. They apply to captures, which nobody asked
for one by one; the Image API answers what it is asked on the face it was given.
"""

from __future__ import annotations

import numpy as np

from vigil.schemas.target import FaceWithheld

MIN_CAPTURE_FACE = 20
MIN_ATTRIBUTE_FACE = 32
MIN_PRESENCE = 0.5


def withheld(box: np.ndarray, presence: float) -> FaceWithheld | None:
    """Why a face may not carry age, gender and a feature, or None when it may."""
    x1, y1, x2, y2 = (float(v) for v in box[:4])
    if min(x2 - x1, y2 - y1) < MIN_ATTRIBUTE_FACE:
        return FaceWithheld.TOO_SMALL
    if presence < MIN_PRESENCE:
        return FaceWithheld.NOT_A_FACE
    return None
