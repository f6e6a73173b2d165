"""Dead letters: a message that could not be processed, with the reason, never silently lost."""

from __future__ import annotations

from pydantic import Field

from vigil.schemas.base import VigilMessage, VigilModel


class DeadLetter(VigilMessage):
    stage: str = Field(description="which step failed: tracker, sink.webhook, alarm, ...")
    reason: str = Field(description="what was wrong, for a person")
    error_code: str | None = None
    topic: str | None = Field(default=None, description="topic the original came from")
    partition: int | None = None
    offset: int | None = None
    key: str | None = None
    payload_excerpt: str | None = Field(
        default=None, description="first bytes of the original payload (base64 when binary)"
    )
    payload_size: int | None = None


class ReplaySummary(VigilModel):
    """What `vigil deadletters replay` did (printed as JSON for machines)."""

    read: int = Field(description="dead letters read")
    matched: int = Field(description="of those, the ones the filters selected")
    replayed: int = Field(description="originals published again")
    gone: int = Field(description="originals no longer on their topic (retention)")
    unreplayable: int = Field(description="letters naming no original (or unreadable letters)")
    dry_run: bool = False
