"""Pairwise precision and recall of a clustering against known identities.

Pairwise because it is what a user feels: precision is the share of "these two
captures are the same person" claims that are right, recall the share of true
same-person pairs that were found. Counted from the contingency table of
(cluster, identity), so 100k captures cost a sort, not 5e9 pairs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class PairScores:
    precision: float
    recall: float
    f1: float
    predicted_pairs: int  # pairs put in one cluster
    true_pairs: int  # pairs of one identity
    correct_pairs: int  # both

    def __str__(self) -> str:
        return f"pairwise P {self.precision:.4f} R {self.recall:.4f} F1 {self.f1:.4f}"


def pairs(counts: np.ndarray) -> int:
    counts = counts.astype(np.int64)
    return int(np.sum(counts * (counts - 1) // 2))


def group_sizes(labels: np.ndarray) -> np.ndarray:
    return np.unique(labels, return_counts=True)[1]


def pairwise_scores(predicted: np.ndarray, truth: np.ndarray) -> PairScores:
    """Scores of cluster labels `predicted` against identity labels `truth` (any hashables).

    With no pair on a side the ratio is 1 (nothing claimed, nothing missed).
    """
    predicted, truth = np.asarray(predicted), np.asarray(truth)
    if predicted.shape != truth.shape or predicted.ndim != 1:
        raise ValueError(f"label arrays differ in shape: {predicted.shape} vs {truth.shape}")
    _, cluster = np.unique(predicted, return_inverse=True)
    _, identity = np.unique(truth, return_inverse=True)
    cells = np.stack([cluster.ravel(), identity.ravel()], axis=1)
    correct = pairs(np.unique(cells, axis=0, return_counts=True)[1]) if cells.size else 0
    claimed, actual = pairs(group_sizes(cluster)), pairs(group_sizes(identity))
    precision = correct / claimed if claimed else 1.0
    recall = correct / actual if actual else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return PairScores(precision, recall, f1, claimed, actual, correct)
