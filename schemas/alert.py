"""Alerts on `vigil.alerts`: a watchlist member recognised on a camera's track.

One alert per (track, watchlist, person): `alert_id` names that triple and
`message_id` is derived from (alert_id, revision), so an alert re-emitted after a
crash or a redelivered capture carries the same id and is dropped by consumers.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from pydantic import Field, model_validator

from vigil.schemas.base import VigilMessage, VigilModel

ALERT_NAMESPACE = uuid.UUID("0c1a6f1e-27b4-4a8e-9d56-3a1f0e7b9c21")


class AlertEvent(StrEnum):
    NEW = "new"  # first decision for this (track, watchlist, person)
    UPDATE = "update"  # a clearly better match of the same person on the same track


class AlertCandidate(VigilModel):
    person_id: str
    similarity: float = Field(ge=0, le=100)
    distance: float = Field(ge=0)


def alert_message_id(alert_id: str, revision: int) -> uuid.UUID:
    return uuid.uuid5(ALERT_NAMESPACE, f"{alert_id}#{revision}")


class Alert(VigilMessage):
    """A watchlist hit, decided over the whole track (quality-weighted vote)."""

    alert_id: str = Field(description="capture_id/watchlist/person_id: one per track and person")
    event: AlertEvent
    revision: int = Field(ge=0, description="0 for new, +1 per update")
    watchlist: str
    person_id: str
    person_metadata: dict[str, str | int | float | bool] = Field(default_factory=dict)
    similarity: float = Field(ge=0, le=100, description="best similarity on this track, 0-100")
    distance: float = Field(ge=0)
    threshold_similarity: float = Field(ge=0, le=100)
    threshold_distance: float = Field(ge=0)
    far: float = Field(gt=0, lt=1, description="false-accept rate of the threshold")
    votes: float = Field(ge=0, description="quality-weighted votes of the track for this person")
    candidates: list[AlertCandidate] = Field(default_factory=list, description="top-k")
    capture_id: str
    track_id: str
    camera_id: str
    captured_at: datetime = Field(description="UTC time of the capture that decided it")
    crop_jpeg: str | None = Field(default=None, description="base64 JPEG of the capture")
    model: str = Field(description="feature model name@version")

    @model_validator(mode="before")
    @classmethod
    def _stable_id(cls, values: dict) -> dict:
        if isinstance(values, dict) and "message_id" not in values and "alert_id" in values:
            values = dict(values)
            values["message_id"] = alert_message_id(values["alert_id"], values.get("revision", 0))
        return values


class Acknowledgement(VigilModel):
    """An operator saw an alert and dealt with it (`vigil serve`: POST /v1/alerts/.../ack)."""

    at: datetime = Field(description="UTC")
    by: str = Field(description="the API key's id and name: who acknowledged")
    note: str = Field(default="", max_length=1000)


class AlertEntry(VigilModel):
    """An alert a server heard of, and its acknowledgement once there is one."""

    alert: Alert
    acknowledgement: Acknowledgement | None = None


class AlertPage(VigilModel):
    """Alerts newest first (by the time they were decided), and how many matched."""

    alerts: list[AlertEntry] = Field(default_factory=list)
    total: int = Field(ge=0)
