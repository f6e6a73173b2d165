"""A valid face `Capture` around any feature vector, for benchmarks and unit tests.

Consumers of the captures topic (alarm, history, clustering) are measured and
tested at volumes no video could produce in time; this builds the message they
would receive, with every field the contract requires.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np

from vigil.schemas.capture import Capture, CaptureEvent
from vigil.schemas.feature import Feature
from vigil.schemas.geometry import Box, FrameSize
from vigil.schemas.target import Quality, QualityParts, Target

FACE_MODEL = "face_resnet128@v1"
EPOCH = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def face_capture(
    vector: np.ndarray | None,
    *,
    camera_id: str = "cam",
    track_id: str = "1",
    seconds: float = 0.0,
    revision: int = 0,
    event: CaptureEvent = CaptureEvent.NEW,
    quality: float = 0.6,
    model: str = FACE_MODEL,
    start: datetime = EPOCH,
) -> Capture:
    """A face capture of `camera_id`/`track_id` taken `seconds` after `start`."""
    parts = QualityParts(detector=1, size=1, sharpness=1, pose=1, edge=1)
    feature = None if vector is None else Feature.from_vector(vector, model)
    target = Target(
        id=0,
        type="face",
        label="face",
        box=Box(x1=0, y1=0, x2=50, y2=50),
        score=0.9,
        quality=Quality(score=quality, parts=parts),
        feature=feature,
    )
    moment = start + timedelta(seconds=seconds)
    return Capture(
        capture_id=f"{camera_id}/{track_id}",
        event=event,
        revision=revision,
        camera_id=camera_id,
        track_id=track_id,
        target=target,
        frame_index=0,
        source_time=seconds,
        captured_at=moment,
        frame_size=FrameSize(width=640, height=360),
        first_seen=moment,
        last_seen=moment,
        frames_seen=1,
    )
