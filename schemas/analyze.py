"""Request options and results of the Image API (`vigil.image.analyze`)."""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field, field_serializer

from vigil.schemas.base import VigilMessage, VigilModel
from vigil.schemas.errors import ErrorInfo
from vigil.schemas.geometry import FrameSize
from vigil.schemas.target import Target, TargetType


class Attribute(StrEnum):
    """Attributes that can be asked for; each belongs to one target type."""

    AGE = "age"
    GENDER = "gender"
    POSE = "pose"
    CLOTHING = "clothing"
    VEHICLE_TYPE = "vehicle_type"
    VEHICLE_COLOUR = "vehicle_colour"
    PLATE = "plate"


ALL_TYPES = frozenset(TargetType)
ALL_ATTRIBUTES = frozenset(Attribute)
DEFAULT_MAX_PIXELS = 50_000_000
# The most a remote client (a Celery task) may ask for: it may lower max_pixels, not raise
# it, since it is the worker's memory and time. Library callers may raise it (to 400 MP).
CLIENT_MAX_PIXELS = DEFAULT_MAX_PIXELS


class AnalyzeOptions(VigilModel):
    """What to look for and what to return. Defaults: everything, no features, no crops."""

    types: frozenset[TargetType] = Field(default=ALL_TYPES, min_length=1)
    attributes: frozenset[Attribute] = Field(default=ALL_ATTRIBUTES)
    features: bool = Field(default=False, description="return face feature vectors")
    crops: bool = Field(default=False, description="return each target's crop as base64 JPEG")
    min_size: int = Field(default=0, ge=0, le=10000, description="min short box side, pixels")
    min_quality: float = Field(default=0.0, ge=0, le=1, description="min overall quality")
    max_pixels: int = Field(
        default=DEFAULT_MAX_PIXELS, gt=0, le=400_000_000, description="refuse larger images (bombs)"
    )

    @field_serializer("types", "attributes")
    def _sorted(self, values: frozenset[StrEnum]) -> list[str]:
        return sorted(value.value for value in values)

    def clamped(self, ceiling: int = CLIENT_MAX_PIXELS) -> AnalyzeOptions:
        """These options for a remote client: max_pixels lowered to `ceiling`, never raised."""
        if self.max_pixels <= ceiling:
            return self
        return self.model_copy(update={"max_pixels": ceiling})


class ImageResult(VigilModel):
    """The outcome for one image: its targets, or an error naming what was wrong."""

    source: str = Field(description="file path or a label for in-memory images")
    size: FrameSize | None = None
    targets: list[Target] = Field(default_factory=list)
    error: ErrorInfo | None = None
    elapsed_ms: float = Field(default=0.0, ge=0)

    @property
    def ok(self) -> bool:
        return self.error is None


class AnalyzeRequest(VigilMessage):
    """Body of a `vigil.image.analyze` task when sent as one message."""

    options: AnalyzeOptions = Field(default_factory=AnalyzeOptions)


class AnalyzeResponse(VigilMessage):
    """A batch of results, in request order; one bad image never hides the others."""

    results: list[ImageResult]
    model_versions: dict[str, str] = Field(default_factory=dict)
