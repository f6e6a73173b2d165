"""Incremental clustering: place new captures in the clusters of a saved `ClusterState`.

A new capture joins the cluster of its nearest exemplar when within the link
distance (the nearest-member rule the graph was built on); captures that join
no cluster are clustered among themselves (graph + whispers) into new clusters,
so two sightings of a newcomer in one batch still become one identity.

Exemplars: up to `MAX_EXEMPLARS` members per cluster, a member being added only
when no exemplar lies within `EXEMPLAR_GAP` of it, so they span the cluster's
spread (poses, cameras) and the state stays small however large clusters grow.
Searches reuse the groups' in-memory index (`vigil.groups.index`), cluster id as
the person id.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from pydantic import ValidationError

from vigil.cluster.service import (
    FACE_MODEL,
    FaceRecord,
    build_cluster,
    checked_vectors,
    group,
    label,
    link_distance,
    member,
    unique_ids,
)
from vigil.groups.index import Entry, GroupIndex
from vigil.infra.files import write_atomic
from vigil.schemas.cluster import (
    Assignment,
    AssignResult,
    ClusterEntry,
    ClusterOptions,
    ClusterState,
    Exemplar,
)
from vigil.schemas.errors import ErrorCode, VigilError
from vigil.schemas.feature import Feature

MAX_EXEMPLARS = 16
EXEMPLAR_GAP = 0.25


def exemplars(
    records: Sequence[FaceRecord], vectors: np.ndarray, rows: list[int], model: str
) -> list[Exemplar]:
    """Best quality first, skipping members within `EXEMPLAR_GAP` of one already kept."""
    kept: list[int] = []
    for row in sorted(rows, key=lambda r: -records[r].quality):
        gaps = np.linalg.norm(vectors[kept] - vectors[row], axis=1) if kept else [np.inf]
        if np.min(gaps) > EXEMPLAR_GAP:
            kept.append(row)
            if len(kept) == MAX_EXEMPLARS:
                break
    return [
        Exemplar(capture_id=records[r].capture_id, feature=Feature.from_vector(vectors[r], model))
        for r in kept
    ]


def new_entries(
    records: Sequence[FaceRecord], vectors: np.ndarray, labels: np.ndarray, model: str
) -> list[ClusterEntry]:
    return [
        ClusterEntry(
            cluster=build_cluster([records[i] for i in rows]),
            exemplars=exemplars(records, vectors, rows, model),
        )
        for rows in group(records, labels)
    ]


def empty_state(options: ClusterOptions | None = None, model: str = FACE_MODEL) -> ClusterState:
    """A state with no cluster yet: the first `assign` clusters its captures from scratch."""
    distance, _ = link_distance(options or ClusterOptions(), model)
    return ClusterState(model=model, distance=distance)


def index_of(state: ClusterState, dim: int) -> GroupIndex:
    index = GroupIndex(dim)
    index.add(
        [
            Entry(x.capture_id, entry.cluster.cluster_id, x.feature.vector())
            for entry in state.entries
            for x in entry.exemplars
        ]
    )
    return index


def joined(entry: ClusterEntry, record: FaceRecord) -> None:
    """Add `record` to the cluster of `entry` (in place)."""
    cluster = entry.cluster
    best = cluster.representative
    entry.cluster = cluster.model_copy(
        update={
            "size": cluster.size + 1,
            "members": [*cluster.members, record.capture_id],
            "cameras": sorted({*cluster.cameras, record.camera_id}),
            "first_seen": min(cluster.first_seen, record.captured_at),
            "last_seen": max(cluster.last_seen, record.captured_at),
            "representative": member(record) if record.quality > best.quality else best,
        }
    )


def assign(
    state: ClusterState,
    records: Sequence[FaceRecord],
    vectors: np.ndarray,
    options: ClusterOptions | None = None,
) -> AssignResult:
    """Place `records` in `state` (updated in place); already known captures are skipped."""
    vectors = checked_vectors(vectors, len(records))
    unique_ids(records)
    dims = {x.feature.dim for entry in state.entries for x in entry.exemplars[:1]}
    if len(records) and dims - {vectors.shape[1]}:
        raise VigilError(
            ErrorCode.FEATURE_MISMATCH,
            f"features of {vectors.shape[1]} values; the state holds {sorted(dims)}",
        )
    entries = {entry.cluster.cluster_id: entry for entry in state.entries}
    known = {capture: e.cluster.cluster_id for e in state.entries for capture in e.cluster.members}
    index = index_of(state, vectors.shape[1]) if len(records) else None
    assignments: list[Assignment] = []
    left: list[int] = []
    for row in sorted(range(len(records)), key=lambda i: records[i].captured_at):
        record = records[row]
        if record.capture_id in known:
            assignments.append(
                Assignment(
                    capture_id=record.capture_id,
                    cluster_id=known[record.capture_id],
                    new_cluster=False,
                )
            )
            continue
        assert index is not None  # built above whenever there are records
        hits = index.search(vectors[row], 1) if len(index) else []
        if not hits or hits[0].distance > state.distance:
            left.append(row)
            continue
        entry = entries[hits[0].person_id]
        joined(entry, record)
        if hits[0].distance > EXEMPLAR_GAP and len(entry.exemplars) < MAX_EXEMPLARS:
            entry.exemplars.append(
                Exemplar(
                    capture_id=record.capture_id,
                    feature=Feature.from_vector(vectors[row], state.model),
                )
            )
            index.add([Entry(record.capture_id, hits[0].person_id, vectors[row])])
        assignments.append(
            Assignment(
                capture_id=record.capture_id,
                cluster_id=hits[0].person_id,
                new_cluster=False,
                distance=round(hits[0].distance, 4),
            )
        )
    created = newcomers(state, [records[i] for i in left], vectors[left], options)
    assignments += created
    return AssignResult(
        assignments=assignments,
        clusters=len(state.entries),
        created=len({a.cluster_id for a in created}),
    )


def newcomers(
    state: ClusterState,
    records: Sequence[FaceRecord],
    vectors: np.ndarray,
    options: ClusterOptions | None,
) -> list[Assignment]:
    """Cluster the captures no cluster took, at the state's distance; append the new clusters."""
    if not records:
        return []
    options = (options or ClusterOptions()).model_copy(update={"threshold": state.distance})
    labels = label(vectors, state.distance, options).labels
    added = new_entries(records, vectors, labels, state.model)
    state.entries += added
    return [
        Assignment(capture_id=capture, cluster_id=entry.cluster.cluster_id, new_cluster=True)
        for entry in added
        for capture in entry.cluster.members
    ]


def load_state(path: Path) -> ClusterState:
    try:
        return ClusterState.model_validate_json(path.read_bytes())
    except OSError as exc:
        raise VigilError(ErrorCode.FILE_NOT_FOUND, f"{path}: {exc.strerror}") from None
    except (ValidationError, json.JSONDecodeError) as exc:
        raise VigilError(ErrorCode.INVALID_OPTIONS, f"{path}: not a cluster state: {exc}") from None


def save_state(path: Path, state: ClusterState) -> None:
    """Atomically (write and rename): a crash never leaves half a state."""
    write_atomic(path, state.model_dump_json(exclude_none=True).encode())
