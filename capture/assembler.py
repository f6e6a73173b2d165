"""Builds the Capture message of one track event from its best shot and description."""

from __future__ import annotations

import base64
from typing import Any

from vigil.schemas.capture import Capture
from vigil.schemas.geometry import Box, Point
from vigil.schemas.target import Target
from vigil.tracking.camera_tracking import CaptureWork


def capture_id(camera_id: str, track_id: str) -> str:
    return f"{camera_id}/{track_id}"


def assemble(work: CaptureWork, description: dict[str, Any] | None) -> Capture:
    shot, meta, info = work.shot.detection, work.shot.meta, work.info
    keypoints = shot.keypoints
    target = Target.model_validate(
        {
            "id": 0,
            "type": info.target_type,
            "label": shot.label,
            "box": Box.from_xyxy(shot.box),
            "score": min(1.0, shot.score),
            "quality": shot.quality.model_copy(deep=True),  # the Capture's own, not the shot's
            "keypoints": [Point(x=x, y=y) for x, y in keypoints] if keypoints else None,
            **(description or {}),
        }
    )
    parent = capture_id(meta.camera_id, info.parent_track) if info.parent_track else None
    return Capture(
        capture_id=capture_id(meta.camera_id, info.track_id),
        event=work.event,
        revision=work.revision,
        camera_id=meta.camera_id,
        track_id=info.track_id,
        target=target,
        crop_jpeg=base64.b64encode(shot.crop).decode() if shot.crop else None,
        frame_index=meta.frame_index,
        source_time=meta.source_time,
        captured_at=meta.captured_at,
        frame_size=meta.size,
        first_seen=info.first_seen.captured_at,
        last_seen=info.last_seen.captured_at,
        frames_seen=max(1, info.frames_seen),
        parent_capture_id=parent,
    )
