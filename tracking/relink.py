"""Dormant tracks: confirmed tracks lost too long for motion matching, kept a while longer.

A dormant track is matched again (same id) by a new, otherwise unmatched detection
that is near enough for the time elapsed, of a similar size, and looks alike
(`appearance.similarity`). This joins the pieces of one pedestrian who stood behind
a sign post or was missed by the detector for a few seconds, so one walk past the
camera stays one capture. A dormant track that nobody claims within `seconds` ends.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vigil.analysis.appearance import similarity
from vigil.tracking.assignment import linear_assignment

# Gates: how far a dormant object may have moved (box heights per second, plus one
# height), how much its size may change, and how alike it must look.
MAX_SPEED_HEIGHTS = 1.0
SIZE_RATIO = 1.6
MIN_SIMILARITY = 0.6
NO_MATCH = 1e6


@dataclass
class Candidate:
    """What the gate needs of a detection: its box and appearance."""

    box: np.ndarray
    appearance: np.ndarray | None


def centre(box: np.ndarray) -> np.ndarray:
    return np.array([(box[0] + box[2]) / 2, (box[1] + box[3]) / 2], dtype=np.float64)


def height(box: np.ndarray) -> float:
    return max(1.0, float(box[3] - box[1]))


def plausible(last_box: np.ndarray, box: np.ndarray, elapsed: float) -> bool:
    reach = height(last_box) * (1.0 + MAX_SPEED_HEIGHTS * max(0.0, elapsed))
    ratio = height(box) / height(last_box)
    near = float(np.linalg.norm(centre(box) - centre(last_box))) <= reach
    return near and 1 / SIZE_RATIO <= ratio <= SIZE_RATIO


def relink_pairs(
    dormant: list[tuple[np.ndarray, np.ndarray | None, float]],
    candidates: list[Candidate],
    now: float,
) -> list[tuple[int, int]]:
    """Best (dormant index, candidate index) pairs that pass every gate.

    `dormant` holds (last box, appearance, last time) per dormant track.
    """
    if not dormant or not candidates:
        return []
    cost = np.full((len(dormant), len(candidates)), NO_MATCH)
    for row, (last_box, look, last_time) in enumerate(dormant):
        for col, candidate in enumerate(candidates):
            alike = similarity(look, candidate.appearance)
            if alike >= MIN_SIMILARITY and plausible(last_box, candidate.box, now - last_time):
                cost[row, col] = 1.0 - alike
    return [(r, c) for r, c in linear_assignment(cost) if cost[r, c] < NO_MATCH]
