"""Contract of the liveness check (`vigil verify --liveness`): challenge, evidence, decision.

An active challenge-response check: the subject is asked for one action (blink, turn
the head to their own left or right, open the mouth), chosen at random per session,
and has a time limit to do it. The result carries what was asked, what was measured
on every examined frame and the decision with its reason, so a refusal can be
explained and audited.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field

from vigil.schemas.base import VigilModel


class Challenge(StrEnum):
    """The action asked for. Left and right are the subject's own (yaw sign, face_mesh)."""

    BLINK = "blink"
    TURN_LEFT = "turn_left"  # nose towards the image's right: yaw rises
    TURN_RIGHT = "turn_right"  # nose towards the image's left: yaw falls
    MOUTH_OPEN = "mouth_open"


PROMPTS: dict[Challenge, str] = {
    Challenge.BLINK: "Look at the camera, then blink",
    Challenge.TURN_LEFT: "Look at the camera, then turn your head to your left",
    Challenge.TURN_RIGHT: "Look at the camera, then turn your head to your right",
    Challenge.MOUTH_OPEN: "Look at the camera, then open your mouth",
}


class LivenessDecision(StrEnum):
    LIVE = "live"  # the asked action was seen, on a non-flat face
    NOT_LIVE = "not_live"  # evidence against: a flat picture turned, a face swapped
    TIMEOUT = "timeout"  # a face was seen but the action not within the time limit
    NO_FACE = "no_face"  # no usable face to watch


class LivenessFrame(VigilModel):
    """What was measured on one examined frame (the largest face)."""

    t: float = Field(ge=0, description="seconds since the first examined frame")
    face: bool = Field(description="a face of the minimum size was found")
    box: list[float] | None = Field(default=None, description="[x1, y1, x2, y2] px")
    ear_left: float | None = Field(default=None, ge=0, description="eye aspect ratio, mesh")
    ear_right: float | None = Field(default=None, ge=0, description="eye aspect ratio, mesh")
    eye_open: float | None = Field(
        default=None, ge=0, description="eye openness from the eye pixels (iris darkness)"
    )
    mar: float | None = Field(default=None, ge=0, description="mouth aspect ratio, inner lips")
    yaw: float | None = Field(default=None, description="degrees, > 0: subject's left")
    pitch: float | None = Field(default=None, description="degrees, > 0: looking up")
    sharpness: float | None = Field(
        default=None, ge=0, description="face detail (Laplacian variance at 96 px); blur lowers it"
    )
    nonplanar: float | None = Field(
        default=None,
        ge=0,
        description="mesh residual after the best homography from the baseline mesh,"
        " per eye distance (a flat picture: the mesh's noise only)",
    )
    jaw_drop: float | None = Field(
        default=None,
        ge=0,
        description="lower lip and chin off the upper face's homography, per eye distance",
    )


class LivenessResult(VigilModel):
    """The decision, why, and the evidence behind it."""

    challenge: Challenge
    prompt: str = Field(description="what the subject was asked")
    chosen_by: str = Field(description="'random' (per session) or 'caller'")
    decision: LivenessDecision
    reason: str = Field(description="why, in words (the rule and the values that decided)")
    timeout_s: float = Field(gt=0, description="time limit for the action")
    elapsed_s: float = Field(ge=0, description="first examined frame to the decision")
    baseline: dict[str, float] = Field(
        default_factory=dict,
        description="the session's neutral values (median of its first frames)",
    )
    peak: dict[str, float] = Field(
        default_factory=dict, description="the strongest values of the action seen"
    )
    frames: list[LivenessFrame] = Field(default_factory=list, description="every examined frame")

    @property
    def live(self) -> bool:
        return self.decision == LivenessDecision.LIVE
