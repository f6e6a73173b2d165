"""Conventions every Vigil message follows: a schema version, a unique id, UTC times.

Consumers de-duplicate by `message_id` and refuse a major version they do not know.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field, field_validator

SCHEMA_VERSION = "1.0"
SCHEMA_MAJOR = SCHEMA_VERSION.split(".")[0]


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

    @field_validator("schema_version")
    @classmethod
    def _known_major(cls, value: str) -> str:
        """A new major version changes meaning, so guessing at it would misread the message."""
        major, dot, minor = value.partition(".")
        if not (dot and value.isascii() and major.isdigit() and minor.isdigit()):
            raise ValueError(f"schema_version {value[:20]!r} is not major.minor")
        if major.lstrip("0") != SCHEMA_MAJOR.lstrip("0"):
            raise ValueError(
                f"schema_version {value[:20]} is of major version {major[:8]}; this consumer knows"
                f" {SCHEMA_MAJOR}.x only"
            )
        return value
