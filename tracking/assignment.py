"""Optimal one-to-one matching of tracks to detections (pure numpy; scipy is not available).

Greedy matching on IoU takes the single best pair first and can then strand a track
whose only good detection was taken; in crowds (two people walking side by side) that
swaps ids. The Hungarian algorithm finds the assignment with the best total instead,
and a few dozen tracks per camera cost well under a millisecond.
"""

from __future__ import annotations

import numpy as np


def linear_assignment(cost: np.ndarray) -> list[tuple[int, int]]:
    """Minimum-cost assignment of a rectangular (N, M) cost matrix; returns (row, col) pairs.

    Shortest-augmenting-path Hungarian method with row/column potentials, O(N^2 M) for
    N <= M (the matrix is transposed otherwise); the inner loop over columns is numpy.
    Every row of the shorter side is assigned.
    """
    cost = np.asarray(cost, dtype=np.float64)
    if cost.ndim != 2:
        raise ValueError(f"cost must be 2-D, got shape {cost.shape}")
    if cost.size == 0:
        return []
    if cost.shape[0] > cost.shape[1]:
        return sorted((row, col) for col, row in linear_assignment(cost.T))
    rows, cols = cost.shape
    u = np.zeros(rows + 1)  # row potentials (1-based; 0 is the virtual start)
    v = np.zeros(cols + 1)  # column potentials
    owner = np.zeros(cols + 1, dtype=np.int64)  # row assigned to each column, 0 = free
    for row in range(1, rows + 1):
        owner[0] = row
        way = np.zeros(cols + 1, dtype=np.int64)
        slack = np.full(cols + 1, np.inf)
        used = np.zeros(cols + 1, dtype=bool)
        col = 0
        while owner[col] != 0:
            used[col] = True
            current = owner[col]
            free = ~used[1:]
            reduced = cost[current - 1] - u[current] - v[1:]
            better = free & (reduced < slack[1:])
            slack[1:][better] = reduced[better]
            way[1:][better] = col
            nearest = int(np.argmin(np.where(free, slack[1:], np.inf))) + 1
            delta = slack[nearest]
            u[owner[used]] += delta
            v[used] -= delta
            slack[1:][free] -= delta
            col = nearest
        while col != 0:  # flip the augmenting path back to the start
            previous = way[col]
            owner[col] = owner[previous]
            col = previous
    return [(int(owner[col]) - 1, col - 1) for col in range(1, cols + 1) if owner[col] != 0]


def match_by_iou(iou: np.ndarray, min_iou: float) -> list[tuple[int, int]]:
    """(row, col) pairs maximising the summed margin `iou - min_iou` over pairs above `min_iou`.

    This is what ByteTrack gets from `lap.lapjv(..., cost_limit)`: a pair is made only
    when it beats leaving both sides unmatched, so one strong match is preferred to two
    weak ones. Clipping margins at zero turns it into a plain full assignment whose
    zero-margin pairs are then dropped.
    """
    iou = np.asarray(iou, dtype=np.float64)
    if iou.size == 0:
        return []
    margin = np.clip(iou - min_iou, 0.0, None)
    pairs = linear_assignment(-margin)
    return [(row, col) for row, col in pairs if margin[row, col] > 0]
