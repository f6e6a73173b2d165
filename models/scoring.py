"""Distance to similarity, and the match thresholds tied to false-accept rates.

The face network's native score is the L2 distance between raw 128-D features
(same person below ~0.6, dlib's convention). Users get a 0-100 similarity:

    similarity = 100 / (1 + exp(SLOPE * (distance - MIDPOINT)))

with MIDPOINT = 0.6 (similarity 50 at dlib's threshold) and SLOPE = 12, so a
typical same-person distance (0.35) reads ~95 and a typical impostor (0.85) ~5.
The mapping is monotonic, so a threshold on one is a threshold on the other.

Decisions use thresholds calibrated at stated false-accept rates (FAR 1e-3,
1e-4, 1e-5), stored beside the model card in `<model>.thresholds.json` with how
they were derived (written by the developer tool `python -m tools.calibration`,
not installed); the Threshold models are data, in `schemas/threshold.py`.
"""

from __future__ import annotations

import json
import math
from functools import cache
from pathlib import Path

from vigil.models.registry import WEIGHTS_DIR
from vigil.schemas.errors import ErrorCode, VigilError
from vigil.schemas.threshold import Threshold, Thresholds

MIDPOINT = 0.6
SLOPE = 12.0


def similarity(distance: float) -> float:
    """0-100 similarity of an L2 distance (higher is more alike)."""
    exponent = max(-60.0, min(60.0, SLOPE * (float(distance) - MIDPOINT)))
    return round(100.0 / (1.0 + math.exp(exponent)), 3)


def distance_for(similarity_value: float) -> float:
    """Inverse of `similarity`: the L2 distance that gives this similarity."""
    value = min(max(float(similarity_value), 1e-9), 100.0 - 1e-9)
    return MIDPOINT + math.log(100.0 / value - 1.0) / SLOPE


def thresholds_path(model_name: str) -> Path:
    return WEIGHTS_DIR / f"{model_name}.thresholds.json"


@cache
def thresholds(model_name: str = "face_resnet128") -> Thresholds:
    return Thresholds.model_validate(json.loads(thresholds_path(model_name).read_text()))


def threshold_for(model: str, far: float) -> Threshold:
    """The calibrated threshold of the model family (`name` of `name@version`) at `far`."""
    name = model.split("@", 1)[0]
    try:
        return thresholds(name).at(far)
    except FileNotFoundError:
        raise VigilError(
            ErrorCode.INVALID_OPTIONS, f"no calibrated thresholds for model {name!r}"
        ) from None
    except ValueError as exc:
        raise VigilError(ErrorCode.INVALID_OPTIONS, str(exc)) from None
