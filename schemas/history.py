"""Contracts of the capture history (`vigil.history.*` tasks, `vigil history` CLI).

Every capture is kept as one record per `capture_id` (its latest revision). A query
names the captures wanted by camera, time window, target type, attributes and plate;
a search adds a query feature and ranks the records by distance.

Times accept ISO-8601 (naive = UTC) or an age relative to now, `30m`, `1h`, `2d`,
so a CLI flag, a Celery argument and a Python call read the same way.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, Field, model_validator

from vigil.schemas.base import VigilModel
from vigil.schemas.capture import CaptureEvent
from vigil.schemas.target import TargetType
from vigil.schemas.threshold import DEFAULT_FAR, Threshold

MAX_K = 1000
MAX_LIMIT = 10_000
# Scalar attribute fields of a record, filterable by equality (a list means any of them).
ATTRIBUTE_KEYS = ("gender", "upper_colour", "lower_colour", "vehicle_type", "vehicle_colour")
UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}
AGE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")


def parse_age(text: str) -> timedelta:
    """`90s`, `30m`, `1h`, `2d`, `1w` as a duration; anything else is a ValueError."""
    found = AGE.match(text)
    if not found:
        raise ValueError(f"{text!r} is not a duration like 30m, 1h, 2d")
    return timedelta(seconds=float(found[1]) * UNITS[found[2]])


def parse_when(value: Any) -> Any:
    """A relative age (`1h` = one hour ago) or ISO-8601 text; naive times are UTC."""
    if isinstance(value, str) and AGE.match(value):
        return datetime.now(UTC) - parse_age(value)
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise ValueError(f"{value!r} is neither ISO-8601 nor an age like 1h") from None
    if isinstance(value, datetime) and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def _attribute_keys(value: dict[str, list[str]] | None) -> dict[str, list[str]] | None:
    unknown = sorted(set(value or {}) - set(ATTRIBUTE_KEYS))
    if unknown:
        raise ValueError(f"unknown attribute {unknown[0]!r}; known: {', '.join(ATTRIBUTE_KEYS)}")
    return value or None


def _listed(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: v if isinstance(v, list | tuple | set) else [v] for k, v in value.items()}
    return value


When = Annotated[datetime, BeforeValidator(parse_when)]
Attributes = Annotated[
    dict[str, Annotated[list[Annotated[str, Field(max_length=64)]], Field(min_length=1)]] | None,
    BeforeValidator(_listed),
    AfterValidator(_attribute_keys),
]


class HistoryQuery(VigilModel):
    """Which captures: every given condition must hold (AND); a list means any of its values."""

    cameras: list[str] | None = Field(default=None, min_length=1, max_length=1000)
    since: When | None = Field(default=None, description="inclusive; ISO-8601 or an age (1h)")
    until: When | None = Field(default=None, description="inclusive; ISO-8601 or an age")
    types: list[TargetType] | None = Field(default=None, min_length=1)
    attributes: Attributes = Field(default=None, description=f"keys: {', '.join(ATTRIBUTE_KEYS)}")
    plate: str | None = Field(
        default=None, min_length=1, max_length=32, description="plate text, or a part of it"
    )

    @model_validator(mode="after")
    def _window(self) -> HistoryQuery:
        if self.since and self.until and self.since > self.until:
            raise ValueError(f"since ({self.since}) is after until ({self.until})")
        return self


class HistorySearchOptions(VigilModel):
    k: int = Field(default=10, ge=1, le=MAX_K)
    far: float = Field(default=DEFAULT_FAR, gt=0, lt=1, description="false-accept rate")
    crops: bool = Field(default=True, description="carry each hit's crop")


class HistoryRecord(VigilModel):
    """One stored capture (its latest revision)."""

    capture_id: str
    camera_id: str
    track_id: str
    type: TargetType
    event: CaptureEvent
    revision: int = Field(ge=0)
    captured_at: datetime
    quality: float = Field(ge=0, le=1)
    age: float | None = None
    gender: str | None = None
    upper_colour: str | None = None
    lower_colour: str | None = None
    vehicle_type: str | None = None
    vehicle_colour: str | None = None
    plate: str | None = Field(default=None, description="plate text as read")
    parent_capture_id: str | None = None
    model: str | None = Field(default=None, description="feature model; None: no feature")
    crop_jpeg: str | None = Field(default=None, description="base64 JPEG (may be re-encoded)")


class HistoryHit(VigilModel):
    record: HistoryRecord
    distance: float = Field(ge=0, description="L2 distance between raw features")
    similarity: float = Field(ge=0, le=100, description="0-100, see models/scoring.py")
    match: bool = Field(description="distance within the threshold of the FAR asked")


class HistoryResult(VigilModel):
    """Past captures nearest to a query feature, nearest first."""

    hits: list[HistoryHit] = Field(default_factory=list)
    threshold: Threshold
    model: str
    candidates: int = Field(ge=0, description="stored captures that passed the filters")


class HistoryPage(VigilModel):
    """Captures matching an attribute / plate query, newest first."""

    records: list[HistoryRecord] = Field(default_factory=list)
    total: int = Field(ge=0, description="matching captures, of which `records` is the head")


class HistoryConfig(VigilModel):
    """`history:` in the pipeline configuration: store every capture for search."""

    uri: str | None = Field(
        default=None, description="Milvus Lite file or http://host:port ($VIGIL_HISTORY_URI)"
    )
    crops: str | None = Field(
        default=None,
        description="folder of the crops ($VIGIL_HISTORY_CROPS; default beside a Lite file,"
        " else ./vigil-history-crops); shared by every machine that searches",
    )
    retention_days: float | None = Field(
        default=None, gt=0, description="purge older captures (the writer, daily)"
    )
