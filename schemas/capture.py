"""Captures on `vigil.captures`: one best shot per track, with new/update/end events.

`message_id` is derived from (capture_id, revision), so a capture re-published
after a crash or replay carries the same id and consumers de-duplicate by it.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from pydantic import Field, model_validator

from vigil.schemas.base import VigilMessage
from vigil.schemas.geometry import FrameSize
from vigil.schemas.target import Target

CAPTURE_NAMESPACE = uuid.UUID("5b1f3f5e-8a34-4c5e-9d7b-6a0c1d2e3f40")


class CaptureEvent(StrEnum):
    NEW = "new"
    UPDATE = "update"
    END = "end"


def capture_message_id(capture_id: str, revision: int) -> uuid.UUID:
    return uuid.uuid5(CAPTURE_NAMESPACE, f"{capture_id}#{revision}")


class Capture(VigilMessage):
    """The best shot of one tracked face, person or vehicle."""

    capture_id: str = Field(description="camera_id/track_id; stable for the track's life")
    event: CaptureEvent
    revision: int = Field(ge=0, description="0 for new, +1 per update and for end")
    camera_id: str
    track_id: str
    target: Target = Field(description="best shot: box, quality, attributes, feature")
    crop_jpeg: str | None = Field(default=None, description="base64 JPEG of the best shot")
    frame_index: int = Field(ge=0, description="source frame index of the best shot")
    source_time: float = Field(ge=0, description="stream seconds of the best shot")
    captured_at: datetime = Field(
        description="UTC time of the best shot frame. One clock for captured_at, first_seen"
        " and last_seen: live sources, the wall clock when the frame was decoded; files, the"
        " time the file's analysis started plus the frame's position in the file"
    )
    frame_size: FrameSize
    first_seen: datetime = Field(description="UTC time of the track's first frame (same clock)")
    last_seen: datetime = Field(description="UTC time of the track's last frame (same clock)")
    frames_seen: int = Field(ge=1, description="detections associated with the track")
    parent_capture_id: str | None = Field(
        default=None, description="faces: the capture of the person this face belongs to"
    )

    @model_validator(mode="before")
    @classmethod
    def _stable_id(cls, values: dict) -> dict:
        if isinstance(values, dict) and "message_id" not in values and "capture_id" in values:
            values = dict(values)
            values["message_id"] = capture_message_id(
                values["capture_id"], values.get("revision", 0)
            )
        return values
