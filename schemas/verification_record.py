"""Contract of the audit record of one verification attempt (`vigil verify --record DIR`).

An auditor must be able to see, long after the fact, what was compared with what and
why the answer was what it was: both faces (as crops), the similarity, the decision at
every calibrated false-accept rate (not only the one the caller asked for), the full
`VerifyResult` (so what a later version adds to it, liveness evidence for one, is
recorded without a change here), the card's text when an ID document was used, and
the model versions. Inputs are named by their labels (a path, a redacted URL), never
by their secrets.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import ClassVar, Literal

from pydantic import Field

from vigil.schemas.base import SCHEMA_VERSION, VigilModel, utc_now
from vigil.schemas.compare import Decision
from vigil.schemas.verify import VerifyResult


class RecordInputs(VigilModel):
    """What was verified against what, by label."""

    reference_kind: Literal["id_photo", "id_card"]
    reference: str = Field(description="the ID photo or card picture (a path or a placeholder)")
    live: str = Field(description="the picture or video source (credentials removed)")


class VerificationRecord(VigilModel):
    """One verification attempt, as written to `<attempt_id>.json`."""

    schema_name: ClassVar[str] = "verification_record"

    schema_version: str = Field(default=SCHEMA_VERSION, description="major.minor of the contract")
    attempt_id: uuid.UUID = Field(default_factory=uuid.uuid4, description="the file's name")
    at: datetime = Field(default_factory=utc_now, description="when the attempt ended, UTC")
    inputs: RecordInputs
    reference_crop_jpeg: str | None = Field(
        default=None, description="base64 JPEG of the reference face (ID photo or card portrait)"
    )
    live_crop_jpeg: str | None = Field(
        default=None, description="base64 JPEG of the live face compared best; None: no face"
    )
    similarity: float | None = Field(default=None, ge=0, le=100, description="best 0-100")
    distance: float | None = Field(default=None, ge=0, description="its L2 distance")
    decisions: list[Decision] = Field(
        default_factory=list,
        description="match or not at every calibrated FAR, loosest first; empty: no live face",
    )
    result: VerifyResult = Field(description="the answer returned to the caller, whole")
    card_text: list[str] | None = Field(
        default=None, description="--id-card: the card's text lines, top to bottom"
    )
    models: dict[str, str] = Field(description="name -> name@version of every model used")
