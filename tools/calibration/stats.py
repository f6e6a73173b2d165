"""Genuine and impostor distance distributions, and thresholds at stated false-accept rates.

A threshold t accepts a pair when its L2 distance <= t, so FAR(t) is the share of
impostor pairs at or below t. Where the impostor pairs are numerous enough for
at least `MIN_TAIL_PAIRS` of them to fall below the threshold, t is the empirical
quantile (half-way between the last accepted and the first refused impostor);
else it comes from a normal model fitted to the lower tail of the impostor
distances (least squares on the normal probability plot of the lowest
`TAIL_FRACTION` of pairs), extrapolated to the FAR. Tighter FARs never get a
looser threshold.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

from tools.calibration.data import ORIGINAL, View

FARS = (1e-3, 1e-4, 1e-5)
MIN_TAIL_PAIRS = 10
TAIL_FRACTION = 0.05
EMPIRICAL = "empirical quantile"
TAIL_MODEL = "normal lower-tail fit"


@dataclass(frozen=True)
class Pairs:
    """Distances of every genuine and impostor pair of views."""

    genuine: np.ndarray
    genuine_cross_photo: np.ndarray  # genuine pairs from two different pictures
    genuine_originals: np.ndarray  # ... and neither of them augmented
    impostor: np.ndarray
    impostor_labelled: int  # impostor pairs with a labelled identity on both sides


@dataclass(frozen=True)
class TailFit:
    """Impostor distance ~ Normal(mean, scale) in its lower tail."""

    mean: float
    scale: float

    def quantile(self, far: float) -> float:
        return self.mean + self.scale * NormalDist().inv_cdf(far)


@dataclass(frozen=True)
class Estimate:
    far: float
    distance: float
    method: str
    empirical: float | None  # the empirical quantile where pairs allow it
    fitted: float  # what the tail model says
    tar: float  # genuine pairs accepted
    tar_cross_photo: float
    tar_originals: float
    impostors_accepted: int


def pair_distances(views: list[View]) -> Pairs:
    vectors = np.stack([v.vector for v in views]).astype(np.float64)
    squared = np.sum(vectors**2, axis=1)
    gram = squared[:, None] + squared[None, :] - 2 * vectors @ vectors.T
    distances = np.sqrt(np.clip(gram, 0, None))
    identity = np.array([v.identity for v in views])
    source = np.array([v.source for v in views])
    labelled = np.array([v.labelled for v in views])
    original = np.array([v.augment == ORIGINAL for v in views])
    upper = np.triu(np.ones_like(distances, dtype=bool), k=1)
    same = identity[:, None] == identity[None, :]
    both = labelled[:, None] & labelled[None, :]
    either = labelled[:, None] | labelled[None, :]
    genuine = upper & same & both
    cross = genuine & (source[:, None] != source[None, :])
    impostor = upper & ~same & either
    return Pairs(
        genuine=distances[genuine],
        genuine_cross_photo=distances[cross],
        genuine_originals=distances[cross & original[:, None] & original[None, :]],
        impostor=distances[impostor],
        impostor_labelled=int(np.count_nonzero(impostor & both)),
    )


def closest_unlabelled(views: list[View]) -> tuple[float, str, str] | None:
    """The nearest (distance, labelled photo, unlabelled face), both unaugmented.

    A check on the assumption that no unlabelled face shows a labelled person:
    one that did would sit at a genuine distance from that person's photos.
    """
    labelled = [v for v in views if v.labelled and v.augment == ORIGINAL]
    unlabelled = [v for v in views if not v.labelled and v.augment == ORIGINAL]
    if not labelled or not unlabelled:
        return None
    a = np.stack([v.vector for v in labelled]).astype(np.float64)
    b = np.stack([v.vector for v in unlabelled]).astype(np.float64)
    distances = np.linalg.norm(a[:, None, :] - b[None, :, :], axis=2)
    i, j = np.unravel_index(int(np.argmin(distances)), distances.shape)
    return float(distances[i, j]), labelled[i].source, unlabelled[j].source


def fit_lower_tail(impostor: np.ndarray) -> TailFit:
    ordered = np.sort(impostor)
    count = ordered.size
    fitted = min(count, max(MIN_TAIL_PAIRS * 5, int(count * TAIL_FRACTION)))
    positions = (np.arange(1, fitted + 1) - 0.5) / count
    z = np.array([NormalDist().inv_cdf(p) for p in positions])
    scale, mean = np.polyfit(z, ordered[:fitted], 1)
    return TailFit(mean=float(mean), scale=float(scale))


def empirical_threshold(ordered: np.ndarray, far: float) -> float | None:
    """Half-way between the k-th and (k+1)-th smallest impostor, k = floor(n * far)."""
    allowed = int(np.floor(ordered.size * far))
    if allowed < MIN_TAIL_PAIRS:
        return None
    return float((ordered[allowed - 1] + ordered[allowed]) / 2)


def accept_rate(distances: np.ndarray, threshold: float) -> float:
    return float(np.mean(distances <= threshold)) if distances.size else 0.0


def floor4(distance: float) -> float:
    """Stored with 4 decimals, rounded down so that rounding never loosens the FAR."""
    return math.floor(distance * 1e4) / 1e4


def estimate(pairs: Pairs, fars: tuple[float, ...] = FARS) -> list[Estimate]:
    ordered = np.sort(pairs.impostor)
    tail = fit_lower_tail(ordered)
    result: list[Estimate] = []
    ceiling = float("inf")
    for far in sorted(fars, reverse=True):
        empirical = empirical_threshold(ordered, far)
        fitted = tail.quantile(far)
        distance = floor4(min(ceiling, empirical if empirical is not None else fitted))
        ceiling = distance
        result.append(
            Estimate(
                far=far,
                distance=distance,
                method=EMPIRICAL if empirical is not None else TAIL_MODEL,
                empirical=empirical,
                fitted=fitted,
                tar=accept_rate(pairs.genuine, distance),
                tar_cross_photo=accept_rate(pairs.genuine_cross_photo, distance),
                tar_originals=accept_rate(pairs.genuine_originals, distance),
                impostors_accepted=int(np.count_nonzero(pairs.impostor <= distance)),
            )
        )
    return result
