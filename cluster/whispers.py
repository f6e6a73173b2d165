"""Graph clustering: Chinese whispers, and connected components as the baseline.

Connected components merge two people as soon as one chain of captures links
them (a blurred face halfway between two people is enough). Chinese whispers
(Biemann 2006, also dlib's face clustering) lets every capture adopt the label
carrying the most similarity among its neighbours, so a dense group keeps its
label and a thin bridge only decides for the bridge's own nodes.

Vectorised for 100k captures: each pass visits the nodes in a random order in
`BATCHES` slices; a slice is updated at once from the labels of the slices
before it (pure synchronous updates oscillate on bipartite pieces).
"""

from __future__ import annotations

import itertools

import numpy as np

from vigil.cluster.graph import Graph

ITERATIONS = 30
BATCHES = 16


def chinese_whispers(
    graph: Graph, iterations: int = ITERATIONS, seed: int = 0, batches: int = BATCHES
) -> np.ndarray:
    """A label per node (the id of one of its members); deterministic for a given `seed`."""
    nodes = graph.nodes
    labels = np.arange(nodes, dtype=np.int64)
    if not graph.edges:
        return labels
    source = np.concatenate([graph.src, graph.dst]).astype(np.int64)
    target = np.concatenate([graph.dst, graph.src]).astype(np.int64)
    weight = np.tile(graph.weights(), 2)
    rng = np.random.default_rng(seed)
    slices = min(batches, nodes)
    for _ in range(iterations):
        slice_of = np.empty(nodes, np.int64)
        slice_of[rng.permutation(nodes)] = np.arange(nodes) * slices // nodes
        edge_slice = slice_of[source]
        order = np.argsort(edge_slice, kind="stable")
        bounds = np.searchsorted(edge_slice[order], np.arange(slices + 1))
        changed = 0
        for start, stop in itertools.pairwise(bounds):
            edges = order[start:stop]
            changed += adopt(labels, source[edges], labels[target[edges]], weight[edges], nodes)
        if not changed:
            break
    return labels


def adopt(
    labels: np.ndarray, node: np.ndarray, offered: np.ndarray, weight: np.ndarray, nodes: int
) -> int:
    """Give each node the offered label of largest summed weight (ties: the smallest label)."""
    if not node.size:
        return 0
    keys, inverse = np.unique(node * nodes + offered, return_inverse=True)
    totals = np.bincount(inverse, weights=weight)
    who, label = keys // nodes, keys % nodes
    order = np.lexsort((label, -totals, who))
    first = order[np.r_[True, who[order][1:] != who[order][:-1]]]
    winners, chosen = who[first], label[first]
    changed = int(np.count_nonzero(labels[winners] != chosen))
    labels[winners] = chosen
    return changed


def connected_components(graph: Graph) -> np.ndarray:
    """A label per node: the smallest node id of its component (min-label propagation)."""
    labels = np.arange(graph.nodes, dtype=np.int64)
    src, dst = graph.src.astype(np.int64), graph.dst.astype(np.int64)
    while True:
        low = np.minimum(labels[src], labels[dst])
        before = labels.copy()
        np.minimum.at(labels, src, low)
        np.minimum.at(labels, dst, low)
        labels = labels[labels]  # pointer jumping: long chains settle in log steps
        if np.array_equal(labels, before):
            return labels


def merge_supported(
    graph: Graph, labels: np.ndarray, min_edges: int = 3, min_share: float = 0.2
) -> np.ndarray:
    """Join clusters linked by many edges: at least `min_edges`, and `min_share` per member
    of the smaller one. Whispers can leave one person as several dense sub-groups
    (one per camera or lighting); a bridge of single captures carries one or two edges
    and never passes. Each round joins disjoint pairs only, best linked first, and
    counts again: a small cluster sitting between two people joins one of them, and
    the other must then pass on its own links (no chaining through it).
    """
    labels = labels.copy()
    while True:
        clusters, dense = np.unique(labels, return_inverse=True)
        first, second, share = links(graph, dense, clusters.size, min_edges)
        passing = np.flatnonzero(share >= min_share)
        if not passing.size:
            return labels
        taken = np.zeros(clusters.size, bool)
        target = np.arange(clusters.size)
        for pair in passing[np.argsort(-share[passing], kind="stable")]:
            one, other = first[pair], second[pair]
            if not (taken[one] or taken[other]):
                taken[one] = taken[other] = True
                target[other] = one
        labels = clusters[target[dense]]


def links(
    graph: Graph, dense: np.ndarray, count: int, min_edges: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cluster pairs joined by at least `min_edges` edges, and edges per member of the smaller."""
    a, b = dense[graph.src], dense[graph.dst]
    cross = a != b
    low, high = np.minimum(a, b)[cross], np.maximum(a, b)[cross]
    keys, edges = np.unique(low * count + high, return_counts=True)
    keys, edges = keys[edges >= min_edges], edges[edges >= min_edges]
    first, second = keys // count, keys % count
    sizes = np.bincount(dense, minlength=count)
    return first, second, edges / np.minimum(sizes[first], sizes[second])
