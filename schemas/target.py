"""A target is one face, person or vehicle found in a picture or frame."""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field

from vigil.schemas.base import VigilModel
from vigil.schemas.feature import Feature
from vigil.schemas.geometry import Box, Point


class TargetType(StrEnum):
    FACE = "face"
    PERSON = "person"
    VEHICLE = "vehicle"


class QualityParts(VigilModel):
    """Each part in [0, 1], 1 best. See `vigil.analysis.quality` for how each is computed."""

    detector: float = Field(ge=0, le=1, description="detector confidence")
    size: float = Field(ge=0, le=1, description="short box side against the size that saturates")
    sharpness: float = Field(ge=0, le=1, description="variance of Laplacian, squashed")
    pose: float = Field(ge=0, le=1, description="faces: frontalness from yaw/pitch; else 1")
    edge: float = Field(ge=0, le=1, description="1 when the box is clear of the frame edge, else 0")


class Quality(VigilModel):
    score: float = Field(ge=0, le=1, description="overall quality used by filters and best-shot")
    parts: QualityParts


class ColourAttribute(VigilModel):
    name: str = Field(description="palette colour name, see README 'Colour palette'")
    fraction: float = Field(ge=0, le=1, description="share of the region's votes")


class Pose(VigilModel):
    yaw: float = Field(description="degrees; positive = subject turned to their left")
    pitch: float = Field(description="degrees; positive = looking up")
    roll: float = Field(
        description="degrees; positive = eye line turned counter-clockwise in the image"
    )


class FaceWithheld(StrEnum):
    """Why a face's age, gender and feature were left out (see analysis/face_gate.py)."""

    TOO_SMALL = "too_small"  # below MIN_ATTRIBUTE_FACE px: they would not be its own
    NOT_A_FACE = "not_a_face"  # the face mesh sees no face in the box


class FaceAttributes(VigilModel):
    """Age, gender, pose and mesh presence of a face.

    `withheld` says why age, gender and the feature are absent although asked for: a
    face too small to carry them, or a box the face mesh does not take for a face
    (treat such a target as unconfirmed).
    """

    age: float | None = Field(default=None, description="estimated age in years")
    gender: str | None = Field(default=None, description="'male' or 'female'")
    gender_confidence: float | None = Field(default=None, ge=0, le=1)
    pose: Pose | None = None
    presence: float | None = Field(default=None, ge=0, le=1, description="face-mesh face score")
    withheld: FaceWithheld | None = Field(
        default=None, description="why age, gender and feature were left out"
    )


class PersonAttributes(VigilModel):
    upper_colour: ColourAttribute | None = None
    lower_colour: ColourAttribute | None = None


class Plate(VigilModel):
    text: str
    confidence: float = Field(ge=0, le=1)
    box: Box | None = Field(default=None, description="plate box in frame pixels")


class PlateMissing(StrEnum):
    """Why a vehicle's plate was asked for but not returned."""

    VEHICLE_TOO_SMALL = "vehicle_too_small"
    NO_TEXT = "no_text"
    NOT_PLATE_LIKE = "not_plate_like"


class VehicleAttributes(VigilModel):
    """Vehicle type, colour and plate, each present only when asked for.

    `alternative_type` is set when the detector reported the same vehicle under a
    second class as well (COCO splits vans and pickups between car and truck, small
    two-wheelers between bicycle and motorcycle): the target keeps the better-scoring
    class, this is the other one. `plate_missing` says why `plate` is absent when
    plates were asked for.
    """

    vehicle_type: str | None = Field(default=None, description="car, bus, truck, motorcycle, ...")
    alternative_type: str | None = Field(
        default=None, description="runner-up vehicle type the detector gave the same vehicle"
    )
    alternative_score: float | None = Field(
        default=None, ge=0, le=1, description="detector confidence of `alternative_type`"
    )
    colour: ColourAttribute | None = None
    plate: Plate | None = None
    plate_missing: PlateMissing | None = Field(
        default=None,
        description="why no plate: vehicle_too_small (box under 120 px wide, OCR not tried),"
        " no_text (no text line read), not_plate_like (text read, none shaped like a plate)",
    )


class Target(VigilModel):
    """One face, person or vehicle with its box, quality and optional attributes and feature."""

    id: int = Field(ge=0, description="index of this target within its image or frame")
    type: TargetType
    label: str = Field(
        description="detector class: face, person, car, bus, truck, ...; 'plate' for a"
        " vehicle target made from a plate close-up (a picture with no vehicle found whose"
        " whole area reads as a plate; its box is the whole picture, its score the OCR's)"
    )
    box: Box
    score: float = Field(ge=0, le=1, description="detector confidence")
    quality: Quality
    keypoints: list[Point] | None = Field(
        default=None, description="faces: right eye, left eye, nose, mouth, right ear, left ear"
    )
    parent_id: int | None = Field(
        default=None, description="faces: id of the person target this face belongs to"
    )
    face: FaceAttributes | None = None
    person: PersonAttributes | None = None
    vehicle: VehicleAttributes | None = None
    feature: Feature | None = None
    crop_jpeg: str | None = Field(default=None, description="base64 JPEG of the box, if asked")
