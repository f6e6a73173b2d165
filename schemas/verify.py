"""Contract of identity verification (`vigil verify`, task `vigil.verify`).

A live face (a picture, or a camera/video watched for a time limit) is checked against
an ID photo at a calibrated false-accept rate. `no_face` is its own answer: "nobody
showed up" must not read as "somebody else showed up".
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field

from vigil.schemas.base import VigilModel
from vigil.schemas.compare import ComparedFace
from vigil.schemas.id_card import IdCard
from vigil.schemas.liveness import LivenessResult


class VerifyDecision(StrEnum):
    MATCH = "match"  # a live face reached the threshold
    NO_MATCH = "no_match"  # faces were seen, none reached it
    NO_FACE = "no_face"  # no usable face in the picture / before the source ended or timed out


class VerifyEnd(StrEnum):
    """Why a verification stopped looking."""

    MATCHED = "matched"
    PICTURE = "picture"  # a single picture: looked once
    TIMEOUT = "timeout"
    SOURCE_ENDED = "source_ended"


class VerifyResult(VigilModel):
    """The verdict, the best similarity seen, the threshold used and how long it took."""

    decision: VerifyDecision
    ended: VerifyEnd
    similarity: float | None = Field(
        default=None, ge=0, le=100, description="best 0-100 similarity seen; None: no face"
    )
    distance: float | None = Field(default=None, ge=0, description="L2 distance of that face")
    threshold_similarity: float = Field(ge=0, le=100, description="match when similarity >= this")
    threshold_distance: float = Field(gt=0, description="match when distance <= this")
    far: float = Field(gt=0, lt=1, description="false-accept rate of the threshold")
    model: str = Field(description="name@version of the face features")
    source: str = Field(description="the picture or video source (credentials removed)")
    elapsed_s: float = Field(ge=0, description="from the start, ID photo included")
    frames: int = Field(ge=0, description="pictures or sampled frames examined")
    faces: int = Field(ge=0, description="live faces compared")
    id_face: ComparedFace = Field(description="the ID photo's face used (named, or the largest)")
    face: ComparedFace | None = Field(default=None, description="the live face compared best")
    crop_jpeg: str | None = Field(default=None, description="base64 JPEG of that face")
    card: IdCard | None = Field(
        default=None, description="--id-card: the card read (its portrait is `id_face`)"
    )
    record: str | None = Field(
        default=None, description="--record: the audit record written for this attempt"
    )
    liveness: LivenessResult | None = Field(
        default=None, description="the liveness challenge and its decision; None: not asked"
    )

    @property
    def match(self) -> bool:
        return self.decision == VerifyDecision.MATCH

    @property
    def passed(self) -> bool:
        """A match, and live when liveness was asked: what a kiosk should accept."""
        return self.match and (self.liveness is None or self.liveness.live)
