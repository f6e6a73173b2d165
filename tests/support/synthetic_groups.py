"""Synthetic face-like features with the structure that makes recall meaningful.

Real embeddings are not uniform noise: people fall into look-alike clusters, and
each person's photos scatter around the person. Three levels: photos of one
person ~0.3 apart (a match for the 128-D face model, threshold 0.6), look-alikes
~0.6, strangers ~1.5. Uniform noise would make every stranger nearly equidistant
in 128-D, so "the 10 nearest" would be ties and recall would measure nothing.
Used by tests and `bench/bench_search.py`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

CLUSTER_SPREAD = 1.0
PERSON_SPREAD = 0.4
PHOTO_SPREAD = 0.2


@dataclass(frozen=True)
class Population:
    """`people` centres, and the cluster of each person."""

    people: np.ndarray
    clusters: np.ndarray
    dim: int

    @classmethod
    def make(cls, count: int, dim: int = 128, per_cluster: int = 20, seed: int = 0) -> Population:
        rng = np.random.default_rng(seed)
        centres = gaussian(rng, (max(1, count // per_cluster), dim), CLUSTER_SPREAD)
        clusters = rng.integers(len(centres), size=count)
        people = centres[clusters] + gaussian(rng, (count, dim), PERSON_SPREAD)
        return cls(people=people.astype(np.float32), clusters=clusters, dim=dim)

    def photos(self, person: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """One photo of each person in `person` (indices)."""
        noise = gaussian(rng, (len(person), self.dim), PHOTO_SPREAD)
        return (self.people[person] + noise).astype(np.float32)


def gaussian(rng: np.random.Generator, shape: tuple[int, int], spread: float) -> np.ndarray:
    """Offsets whose expected length is `spread` (so two draws are ~spread*sqrt(2) apart)."""
    return rng.normal(size=shape) * (spread / math.sqrt(shape[1]))
