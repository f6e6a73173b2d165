"""Pydantic v2 contracts for every message that crosses a process (see docs/schemas.md)."""

from vigil.schemas.analyze import (
    AnalyzeOptions,
    AnalyzeRequest,
    AnalyzeResponse,
    Attribute,
    ImageResult,
)
from vigil.schemas.base import SCHEMA_VERSION, VigilMessage, VigilModel
from vigil.schemas.errors import ErrorInfo
from vigil.schemas.feature import Feature
from vigil.schemas.geometry import Box, FrameSize, Point
from vigil.schemas.target import (
    ColourAttribute,
    FaceAttributes,
    PersonAttributes,
    Plate,
    Pose,
    Quality,
    QualityParts,
    Target,
    TargetType,
    VehicleAttributes,
)

__all__ = [
    "SCHEMA_VERSION",
    "AnalyzeOptions",
    "AnalyzeRequest",
    "AnalyzeResponse",
    "Attribute",
    "Box",
    "ColourAttribute",
    "ErrorInfo",
    "FaceAttributes",
    "Feature",
    "FrameSize",
    "ImageResult",
    "PersonAttributes",
    "Plate",
    "Point",
    "Pose",
    "Quality",
    "QualityParts",
    "Target",
    "TargetType",
    "VehicleAttributes",
    "VigilMessage",
    "VigilModel",
]
