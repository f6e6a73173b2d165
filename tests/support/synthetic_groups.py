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
from collections.abc import Iterator
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


BLOCK = 65_536


@dataclass(frozen=True)
class StreamedPopulation:
    """The same three-level structure as `Population`, generated block by block.

    `Population.make(10_000_000)` would hold ~15 GB of float64 intermediates; here only
    the cluster centres (count / per_cluster rows) and each person's cluster are kept,
    and person `i`'s centre is drawn from a generator seeded by (seed, block of i), so
    any block (to store) or any people (to query) can be regenerated alike.
    """

    centres: np.ndarray
    clusters: np.ndarray
    dim: int
    seed: int

    @classmethod
    def make(
        cls, count: int, dim: int = 128, per_cluster: int = 20, seed: int = 0
    ) -> StreamedPopulation:
        rng = np.random.default_rng(seed)
        centres = gaussian(rng, (max(1, count // per_cluster), dim), CLUSTER_SPREAD)
        clusters = rng.integers(len(centres), size=count)
        return cls(centres.astype(np.float32), clusters, dim, seed)

    def __len__(self) -> int:
        return len(self.clusters)

    def people(self, block: int) -> np.ndarray:
        """Centres of the people of one block (persons block*BLOCK onwards)."""
        start = block * BLOCK
        stop = min(len(self), start + BLOCK)
        rng = np.random.default_rng([self.seed, block])
        offsets = gaussian(rng, (stop - start, self.dim), PERSON_SPREAD).astype(np.float32)
        return self.centres[self.clusters[start:stop]] + offsets

    def blocks(self, rng: np.random.Generator) -> Iterator[np.ndarray]:
        """One photo of every person, in order, a block at a time."""
        for block in range(math.ceil(len(self) / BLOCK)):
            people = self.people(block)
            yield people + gaussian(rng, people.shape, PHOTO_SPREAD).astype(np.float32)

    def photos(self, person: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """One new photo of each person in `person` (indices), e.g. queries."""
        out = np.empty((len(person), self.dim), np.float32)
        for block in np.unique(person // BLOCK):
            chosen = np.flatnonzero(person // BLOCK == block)
            out[chosen] = self.people(int(block))[person[chosen] - block * BLOCK]
        return out + gaussian(rng, out.shape, PHOTO_SPREAD).astype(np.float32)


SYNTHETIC_MODEL = "face_resnet128@synthetic"


def photo_features(population: Population, person: int, count: int, seed: int) -> list:
    """`count` new photos of one enrolled person as Features of SYNTHETIC_MODEL: the same
    person and seed give the same photos."""
    from vigil.schemas.feature import Feature

    rng = np.random.default_rng([seed, person])
    vectors = population.photos(np.full(count, person), rng)
    return [Feature.from_vector(v, SYNTHETIC_MODEL) for v in vectors]
