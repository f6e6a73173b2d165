"""When a detected face is worth a capture, and when it can carry attributes.

Measured on the capture-accuracy harness and the face-size sweep
(`bench/bench_face_sizes.py`, table in docs/performance.md):
- below MIN_CAPTURE_FACE px (short box side) BlazeFace's boxes are mostly on hair,
  ears or texture, and a person could not tell who it is: no capture;
- below MIN_ATTRIBUTE_FACE px age, gender and the face feature drift far from their
  values on the same face seen large: the capture is published without them;
- a face mesh presence below MIN_PRESENCE means the mesh does not see a face in the
  crop: the capture is published flagged, without attributes.
"""

from __future__ import annotations

MIN_CAPTURE_FACE = 20
MIN_ATTRIBUTE_FACE = 32
MIN_PRESENCE = 0.5
