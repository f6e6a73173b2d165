"""Frames on `vigil.frames`: JPEG bytes as the Kafka value, this envelope in a header.

Frames that need no detection (a static scene between key frames) travel as
light ticks without pixels, so the tracker still sees time pass.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from vigil.schemas.base import VigilMessage
from vigil.schemas.geometry import Box, FrameSize

MAX_MOTION_BOXES = 32  # an ingestor sends at most this many moving regions per frame


class FrameMeta(VigilMessage):
    camera_id: str = Field(min_length=1, max_length=128)
    stream_id: str = Field(
        min_length=1, max_length=32, description="chosen by the ingestor at start; new per run"
    )
    frame_index: int = Field(ge=0, description="index of the decoded frame in the source")
    sequence: int = Field(ge=0, description="index among frames published for this camera")
    source_time: float = Field(ge=0, description="seconds since the stream start (PTS)")
    captured_at: datetime = Field(description="UTC wall clock when decoded")
    size: FrameSize
    motion: list[Box] = Field(default_factory=list, description="moving regions, frame pixels")
    motion_fraction: float = Field(default=0.0, ge=0, le=1, description="share of pixels moving")
    keyframe: bool = Field(default=False, description="periodic full detection requested")
    still: bool = Field(
        default=False,
        description="a key frame of a scene where nothing moved since the last detection:"
        " sent without pixels, it is tracked with that detection's results",
    )
    has_image: bool = Field(default=True, description="false for a tick without pixels")
    end_of_stream: bool = Field(default=False, description="the source ended (files)")
    dropped_before: int = Field(default=0, ge=0, description="frames dropped since the last one")
