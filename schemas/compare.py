"""Contracts of 1:1 compare (`vigil.compare`) and bulk enrolment (`vigil.enroll`)."""

from __future__ import annotations

import math
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import Field

from vigil.schemas.base import VigilModel, utc_now
from vigil.schemas.errors import ErrorCode, VigilError
from vigil.schemas.feature import Feature
from vigil.schemas.geometry import Box

# -- the query face: which face of a picture compare, verify and search use ---------------

# Measured by `python -m tools.calibration.query_faces` (model card face_resnet128.md,
# "Query faces"): below these the genuine-accept rate at FAR 1e-3 falls away and the
# faces are smaller or poorer than any the thresholds were calibrated on.
QUERY_MIN_SIZE = 24
QUERY_MIN_QUALITY = 0.2
# An ID card's portrait is a photographed print: camera blur and JPEG on a small face cost
# more than the clean shrink above measures. From the model card's "photographed faces"
# table (same script): at FAR 1e-3 the genuine-accept rate of a face with camera blur
# (sigma 0.5-0.8 px) and JPEG 85 is 78-90 % at 32 px and 95.6-96.9 % from 40 px. The
# card's portrait is held to this unless the caller sets `min_size` itself.
CARD_PORTRAIT_MIN_SIZE = 40
# Without a named face, a second face this close in size to the largest is a rival:
# 201 px against 200 px is a coin toss, not "the largest face".
QUERY_DOMINANCE = 0.8


class QueryFaceOptions(VigilModel):
    """What a picture's face must be for its compare, verify or search answer to hold.

    The vocabulary is enrolment's (`EnrollOptions`); the defaults differ because a query
    is refused only where the calibrated FAR stops holding, not where a gallery photo
    stops being good.
    """

    min_size: int = Field(
        default=QUERY_MIN_SIZE,
        ge=0,
        le=10000,
        description="min face short side, px; a smaller face is refused (face_too_small)",
    )
    min_quality: float = Field(
        default=QUERY_MIN_QUALITY,
        ge=0,
        le=1,
        description="min face quality; a poorer face is refused (low_quality)",
    )
    dominance: float = Field(
        default=QUERY_DOMINANCE,
        gt=0,
        le=1,
        description="without a named face, a second face at least this fraction of the"
        " largest's short side makes the choice ambiguous (ambiguous_face)",
    )


FaceChoice = int | Box
FACE_CHOICE_HELP = (
    "the face to use: its index among the faces found, largest first (as ambiguous_face"
    " lists them), or its box 'x1,y1,x2,y2' (the detected face overlapping it most)"
)


def parse_face(value: Any) -> FaceChoice | None:
    """A named face from any wire form: None, an index (int or "2"), a Box, a dict of
    x1..y2, four numbers as a list or as "x1,y1,x2,y2". Anything else is invalid_options.

    One parser for library, CLI, Celery and HTTP, so each accepts the same spellings.
    """
    if value is None or isinstance(value, Box):
        return value
    if isinstance(value, str):
        parts = [part.strip() for part in value.strip().strip("[]").split(",")]
        value = parts[0] if len(parts) == 1 else parts
        if isinstance(value, str) and value.lstrip("-").isdigit():
            value = int(value)
    try:
        if isinstance(value, int) and not isinstance(value, bool):
            if value < 0:
                raise ValueError("an index is 0 or more")
            return value
        if isinstance(value, list | tuple) and len(value) == 4:
            value = dict(zip(("x1", "y1", "x2", "y2"), map(float, value), strict=True))
        if isinstance(value, dict):
            box = Box.model_validate(value)
            if not all(math.isfinite(v) for v in box.as_list()):
                raise ValueError("a box's corners must be finite numbers")
            return box
    except ValueError as exc:
        raise VigilError(ErrorCode.INVALID_OPTIONS, f"face {value!r}: {exc}") from None
    raise VigilError(
        ErrorCode.INVALID_OPTIONS, f"face {value!r}: give an index or a box x1,y1,x2,y2"
    )


def query_options(value: QueryFaceOptions | dict | None) -> QueryFaceOptions:
    """The options as given (a dict from JSON or Celery), checked; invalid_options if not."""
    if isinstance(value, QueryFaceOptions):
        return value
    try:
        return QueryFaceOptions.model_validate(value or {})
    except ValueError as exc:
        raise VigilError(ErrorCode.INVALID_OPTIONS, f"query face options: {exc}") from None


# -- compare ------------------------------------------------------------------------------


class Decision(VigilModel):
    """The verdict at one calibrated false-accept rate."""

    far: float = Field(gt=0, lt=1, description="false-accept rate of this threshold")
    threshold_distance: float = Field(gt=0, description="match when distance <= this")
    threshold_similarity: float = Field(ge=0, le=100, description="match when similarity >= this")
    match: bool


class ComparedFace(VigilModel):
    """Where one side's feature came from."""

    kind: Literal["picture", "feature"]
    box: Box | None = Field(default=None, description="pictures: the face used")
    index: int | None = Field(
        default=None,
        ge=0,
        description="pictures: the face's index among those found, largest first",
    )
    faces_found: int | None = Field(default=None, ge=1, description="pictures: faces it holds")
    quality: float | None = Field(default=None, ge=0, le=1, description="pictures: face quality")


class CompareResult(VigilModel):
    """Distance, 0-100 similarity and the decision at each calibrated FAR."""

    model: str = Field(description="name@version of the features compared")
    distance: float = Field(ge=0, description="L2 distance between the raw features")
    similarity: float = Field(ge=0, le=100, description="0-100, see vigil.models.scoring")
    far: float = Field(gt=0, lt=1, description="the FAR `match` is decided at")
    match: bool = Field(description="same person at `far`")
    decisions: list[Decision] = Field(description="one per calibrated FAR, loosest first")
    a: ComparedFace
    b: ComparedFace


# -- bulk enrolment -----------------------------------------------------------------------


class EnrollOptions(VigilModel):
    """Filters a portrait must pass to be enrolled."""

    min_size: int = Field(default=40, ge=0, le=10000, description="min face short side, px")
    min_quality: float = Field(default=0.3, ge=0, le=1, description="min face quality")
    duplicate_distance: float = Field(
        default=0.15,
        ge=0,
        le=0.5,
        description="a face this close (L2) to an enrolled one is the same photo",
    )
    dominance: float = Field(
        default=0.5,
        gt=0,
        le=1,
        description="a second face at least this fraction of the largest's size makes the"
        " photo ambiguous (multiple_faces)",
    )


class RejectReason(StrEnum):
    """Why a file was not enrolled (stable codes, listed in the README)."""

    UNREADABLE = "unreadable"
    NO_FACE = "no_face"
    MULTIPLE_FACES = "multiple_faces"
    TOO_SMALL = "too_small"
    LOW_QUALITY = "low_quality"
    DUPLICATE = "duplicate"
    CONFLICT = "conflict"
    REFUSED = "refused"


class EnrollStatus(StrEnum):
    ENROLLED = "enrolled"
    REJECTED = "rejected"
    SKIPPED = "skipped"


class FileAnalysis(VigilModel):
    """What a worker found in one file: the face to enrol, or why there is none."""

    reason: RejectReason | None = None
    detail: str = ""
    feature: Feature | None = None
    box: Box | None = None
    quality: float | None = Field(default=None, ge=0, le=1)
    faces: int = Field(default=0, ge=0, description="faces detected, any size")


class EnrollRecord(VigilModel):
    """One line of the enrolment report, which is also the journal a re-run resumes from."""

    file: str = Field(description="absolute path")
    sha256: str | None = Field(default=None, description="of the file's bytes; None if unread")
    group: str
    person_id: str
    status: EnrollStatus
    reason: RejectReason | None = None
    detail: str = ""
    feature_id: str | None = None
    at: datetime = Field(default_factory=utc_now)


class EnrollSummary(VigilModel):
    """Counts of one enrolment run (files skipped as already done included)."""

    group: str
    source: str
    report: str
    files: int = Field(ge=0, description="files found in the input")
    enrolled: int = 0
    rejected: int = 0
    skipped: int = 0
    reasons: dict[RejectReason, int] = Field(default_factory=dict)
    members_created: int = 0
    remaining: int = Field(default=0, ge=0, description="left for a later run (max_files, stop)")
    elapsed_s: float = 0.0
    images_per_s: float = 0.0
    interrupted: bool = False
