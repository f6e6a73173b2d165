"""Match thresholds tied to false-accept rates: the data, shared by every result that
reports a decision (compare, verify, search, history). Calibrated values and the
distance-to-similarity mapping live with the model, in `models/scoring.py`.
"""

from __future__ import annotations

from pydantic import Field

from vigil.schemas.base import VigilModel

DEFAULT_FAR = 1e-3


class Threshold(VigilModel):
    far: float = Field(gt=0, lt=1, description="false-accept rate this threshold is set for")
    distance: float = Field(gt=0, description="match when L2 distance <= this")
    similarity: float = Field(ge=0, le=100, description="match when similarity >= this")


class Thresholds(VigilModel):
    """Calibrated thresholds of one model, with the provenance of the calibration."""

    model: str
    thresholds: list[Threshold] = Field(min_length=1)
    method: str = Field(description="how the thresholds were derived")
    genuine_pairs: int = Field(ge=0)
    impostor_pairs: int = Field(ge=0)

    def at(self, far: float = DEFAULT_FAR) -> Threshold:
        """The threshold for `far` (the nearest calibrated FAR that is not looser)."""
        eligible = [t for t in self.thresholds if t.far <= far * (1 + 1e-9)]
        if not eligible:
            known = ", ".join(f"{t.far:g}" for t in self.thresholds)
            raise ValueError(f"no threshold calibrated at FAR <= {far:g} (known: {known})")
        return max(eligible, key=lambda t: t.far)
