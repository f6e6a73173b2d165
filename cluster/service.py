"""`cluster_faces`: face captures of a window -> identities. The library API behind task and CLI.

Works on arrays (records + a float32 matrix), so it does not care where captures
come from: the history (`cluster_history`), a capture JSON Lines archive
(`vigil.cluster.sources`), or a test.

>>> result = cluster_faces(records, vectors, ClusterOptions(far=1e-4))
>>> result.clusters[0].representative.capture_id
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

import numpy as np

from vigil.cluster.graph import knn_graph
from vigil.cluster.whispers import chinese_whispers, connected_components, merge_supported
from vigil.schemas.cluster import (
    Cluster,
    ClusterMember,
    ClusterMethod,
    ClusterOptions,
    ClusterRequest,
    ClusterResult,
)
from vigil.schemas.errors import ErrorCode, VigilError

if TYPE_CHECKING:  # opened only where asked: clustering arrays needs no store
    from vigil.history.service import HistoryService

FACE_MODEL = "face_resnet128"
CLUSTER_NAMESPACE = uuid.UUID("0c6f4a52-1f0e-4d8a-9b57-3c1f6f2a7e11")


class FaceRecord(Protocol):
    """What clustering reads of a capture (`HistoryRecord` and `FaceCapture` both fit)."""

    @property
    def capture_id(self) -> str: ...
    @property
    def camera_id(self) -> str: ...
    @property
    def captured_at(self) -> datetime: ...
    @property
    def quality(self) -> float: ...


@dataclass(frozen=True)
class Labelled:
    labels: np.ndarray
    edges: int
    graph_ms: float
    cluster_ms: float


def link_distance(options: ClusterOptions, model: str) -> tuple[float, float | None]:
    """(distance, FAR): the hand-set distance, else the model's calibrated one at `far`."""
    if options.threshold is not None:
        return options.threshold, None
    from vigil.models.scoring import threshold_for

    threshold = threshold_for(model, options.far)
    return threshold.distance, threshold.far


def checked_vectors(vectors: np.ndarray, count: int) -> np.ndarray:
    array = np.asarray(vectors, dtype=np.float32)
    if array.ndim != 2 or len(array) != count or (count and array.shape[1] == 0):
        raise VigilError(
            ErrorCode.INVALID_FEATURE,
            f"expected {count} feature rows, got an array of shape {array.shape}",
        )
    bad = np.flatnonzero(~np.isfinite(array).all(axis=1))
    if bad.size:
        raise VigilError(ErrorCode.INVALID_FEATURE, f"feature row {bad[0]} has NaN or inf")
    return array


def label(vectors: np.ndarray, distance: float, options: ClusterOptions) -> Labelled:
    """A cluster label per row (the row number of one member of its cluster)."""
    started = time.perf_counter()
    graph = knn_graph(vectors, distance, options.k, options.mutual)
    linked = time.perf_counter()
    if options.method == ClusterMethod.COMPONENTS:
        labels = connected_components(graph)
    else:
        labels = merge_supported(graph, chinese_whispers(graph))
    done = time.perf_counter()
    return Labelled(labels, graph.edges, 1000 * (linked - started), 1000 * (done - linked))


def cluster_id(first_capture_id: str) -> str:
    """Stable across runs and increments: a cluster keeps its oldest member."""
    return "c-" + uuid.uuid5(CLUSTER_NAMESPACE, first_capture_id).hex[:16]


def member(record: FaceRecord) -> ClusterMember:
    return ClusterMember(
        capture_id=record.capture_id,
        camera_id=record.camera_id,
        captured_at=record.captured_at,
        quality=record.quality,
    )


def build_cluster(records: Sequence[FaceRecord]) -> Cluster:
    """A cluster of `records` (oldest first)."""
    best = max(records, key=lambda r: r.quality)  # max keeps the oldest of equal quality
    return Cluster(
        cluster_id=cluster_id(records[0].capture_id),
        size=len(records),
        representative=member(best),
        members=[r.capture_id for r in records],
        cameras=sorted({r.camera_id for r in records}),
        first_seen=records[0].captured_at,
        last_seen=records[-1].captured_at,
    )


def group(records: Sequence[FaceRecord], labels: np.ndarray) -> list[list[int]]:
    """Row numbers per label, each list oldest first, largest list first."""
    by_time = sorted(range(len(records)), key=lambda i: (records[i].captured_at, i))
    rows: dict[int, list[int]] = {}
    for index in by_time:
        rows.setdefault(int(labels[index]), []).append(index)
    return sorted(rows.values(), key=lambda r: (-len(r), records[r[0]].captured_at))


def unique_ids(records: Sequence[FaceRecord]) -> None:
    seen: set[str] = set()
    for record in records:
        if record.capture_id in seen:
            raise VigilError(ErrorCode.DUPLICATE, f"capture {record.capture_id!r} given twice")
        seen.add(record.capture_id)


def cluster_faces(
    records: Sequence[FaceRecord],
    vectors: np.ndarray,
    options: ClusterOptions | None = None,
    model: str = FACE_MODEL,
) -> ClusterResult:
    """Group face captures into identities; `vectors[i]` is the feature of `records[i]`."""
    options = options or ClusterOptions()
    distance, far = link_distance(options, model)
    vectors = checked_vectors(vectors, len(records))
    unique_ids(records)
    labelled = label(vectors, distance, options)
    groups = group(records, labelled.labels)
    listed = [build_cluster([records[i] for i in g]) for g in groups if len(g) >= options.min_size]
    return ClusterResult(
        clusters=listed,
        captures=len(records),
        unlisted=len(records) - sum(c.size for c in listed),
        edges=labelled.edges,
        method=options.method,
        distance=distance,
        far=far,
        model=model,
        graph_ms=round(labelled.graph_ms, 2),
        cluster_ms=round(labelled.cluster_ms, 2),
    )


def cluster_history(request: ClusterRequest, uri: str | None = None) -> ClusterResult:
    """Cluster the face captures of the history (Milvus) that `request` selects."""
    from vigil.history.service import HistoryService

    with HistoryService(uri) as history:
        return cluster_store(request, history)


def cluster_store(request: ClusterRequest, history: HistoryService) -> ClusterResult:
    """The same, over a history service the caller holds open (`vigil serve`'s)."""
    records, vectors = history.faces(request.cameras, request.since, request.until)
    return cluster_faces(records, vectors, request.options(), model_of(records))


def model_of(records: Sequence[FaceRecord]) -> str:
    """The features' model family; refuses a mix (their distances are not comparable)."""
    models = {getattr(r, "model", None) or FACE_MODEL for r in records}
    names = {m.split("@", 1)[0] for m in models}
    if len(names) > 1:
        raise VigilError(ErrorCode.FEATURE_MISMATCH, f"features of several models: {sorted(names)}")
    return names.pop() if names else FACE_MODEL
