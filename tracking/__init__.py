"""Per-camera tracking: keep identities across detection frames and each track's best view.

`Tracker` (ByteTrack-style, one per camera and target type) turns detections into
tracks; `BestShotSelector` keeps each track's best view and says when to publish it.
"""

from vigil.tracking.best_shot import BestShotSelector, Shot
from vigil.tracking.tracker import Track, Tracker, TrackerStep

__all__ = ["BestShotSelector", "Shot", "Track", "Tracker", "TrackerStep"]
