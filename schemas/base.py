"""Conventions every Vigil message follows: a schema version, a unique id, UTC times.

Consumers de-duplicate by `message_id` and refuse a major version they do not know.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field

SCHEMA_VERSION = "1.0"


def utc_now() -> datetime:
    return datetime.now(UTC)


class VigilModel(BaseModel):
    """Strict base: unknown fields are rejected so a typo in a request is an error, not a no-op."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class VigilMessage(VigilModel):
    """Base of every message that crosses a process boundary."""

    schema_name: ClassVar[str] = "message"

    schema_version: str = Field(default=SCHEMA_VERSION, description="major.minor of the contract")
    message_id: uuid.UUID = Field(default_factory=uuid.uuid4, description="unique; for de-dup")
    created_at: datetime = Field(default_factory=utc_now, description="UTC, ISO-8601")
