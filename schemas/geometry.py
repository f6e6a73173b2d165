"""Boxes and points in pixels of the frame they were found in."""

from __future__ import annotations

from collections.abc import Iterable

from pydantic import Field, model_validator

from vigil.schemas.base import VigilModel


class Box(VigilModel):
    """Axis-aligned box in pixels, x1 < x2 and y1 < y2, origin top-left."""

    x1: float
    y1: float
    x2: float
    y2: float

    @model_validator(mode="after")
    def _ordered(self) -> Box:
        if self.x2 < self.x1 or self.y2 < self.y1:
            raise ValueError(f"box corners out of order: {self.as_list()}")
        return self

    @classmethod
    def from_xyxy(cls, values: Iterable[float]) -> Box:
        x1, y1, x2, y2 = (round(float(v), 2) for v in values)
        return cls(x1=x1, y1=y1, x2=x2, y2=y2)

    def as_list(self) -> list[float]:
        return [self.x1, self.y1, self.x2, self.y2]

    @property
    def width(self) -> float:
        return self.x2 - self.x1

    @property
    def height(self) -> float:
        return self.y2 - self.y1


class Point(VigilModel):
    x: float
    y: float


class FrameSize(VigilModel):
    width: int = Field(gt=0)
    height: int = Field(gt=0)
