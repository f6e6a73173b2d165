"""Feature vectors on the wire: float32, base64 in JSON, tagged with the model that made them.

The model tag is what stops a feature from one network being compared with
another's: the distances would be meaningless, so mixing is refused.
"""

from __future__ import annotations

import base64
import math

import numpy as np
from pydantic import Field, field_validator, model_validator

from vigil.schemas.base import VigilModel


class Feature(VigilModel):
    """A feature vector with its model name and version (e.g. `face_resnet128@dlib-resnet29-v1`)."""

    model: str = Field(description="model name@version that produced the vector")
    dim: int = Field(gt=0, le=65536)
    data: str = Field(description="base64 of little-endian float32 values")

    @field_validator("data")
    @classmethod
    def _base64(cls, value: str) -> str:
        try:
            base64.b64decode(value, validate=True)
        except ValueError as exc:
            raise ValueError(f"feature data is not valid base64: {exc}") from None
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Feature:
        raw = base64.b64decode(self.data)
        if len(raw) != 4 * self.dim:
            raise ValueError(
                f"feature data holds {len(raw) // 4} float32 values but dim is {self.dim}"
            )
        vector = np.frombuffer(raw, dtype="<f4")
        if not np.all(np.isfinite(vector)):
            raise ValueError("feature contains NaN or infinite values")
        return self

    @classmethod
    def from_vector(cls, vector: np.ndarray, model: str) -> Feature:
        array = np.ascontiguousarray(np.asarray(vector, dtype="<f4").ravel())
        return cls(
            model=model, dim=int(array.size), data=base64.b64encode(array.tobytes()).decode()
        )

    def vector(self) -> np.ndarray:
        return np.frombuffer(base64.b64decode(self.data), dtype="<f4").astype(np.float32)

    def norm(self) -> float:
        return math.sqrt(float(np.dot(self.vector(), self.vector())))
