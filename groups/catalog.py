"""The in-memory mirror of one group: its registry record, members and search index.

Reads (get, list, search) are served from here; the service changes it only
after Milvus accepted the same change, holding the write lock.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from vigil.groups.index import EXACT_MAX, Batch, Entry, GroupIndex
from vigil.groups.snapshot import pack, unpack
from vigil.groups.store import FeatureRow, GroupRecord
from vigil.infra.milvus import from_us, to_us
from vigil.schemas.feature import Feature
from vigil.schemas.groups import FeatureGroup, Member, MemberFeature, MemberPage


@dataclass
class MemberState:
    metadata: dict[str, Any]
    features: dict[str, MemberFeature] = field(default_factory=dict)


@dataclass
class GroupState:
    record: GroupRecord
    exact_max: int = EXACT_MAX
    members: dict[str, MemberState] = field(default_factory=dict)
    index: GroupIndex | None = None
    storage: Path | None = None  # the snapshot folder: the index's vectors are mapped there
    seq: int = 0  # the last journal entry reflected here
    loaded: str = "new"  # how the mirror was built: new, store scan, snapshot (+ replay)
    _order: list[str] | None = None

    def __post_init__(self) -> None:
        if self.record.dim and self.index is None:
            self.index = GroupIndex(self.record.dim, self.exact_max, self.storage)

    @property
    def name(self) -> str:
        return self.record.name

    @property
    def feature_count(self) -> int:
        return len(self.index) if self.index else 0

    def summary(self) -> FeatureGroup:
        record = self.record
        return FeatureGroup(
            name=record.name,
            description=record.description,
            model=record.model or None,
            dim=record.dim or None,
            member_count=len(self.members),
            feature_count=self.feature_count,
            created_at=record.created_at,
            metadata=record.metadata,
        )

    def member(self, person_id: str, vectors: bool = False) -> Member:
        state = self.members[person_id]
        ordered = sorted(state.features.values(), key=lambda info: info.feature_id)
        features = [  # copies: callers may change what they get without touching the mirror
            info.model_copy(update={"vector": self._feature(info) if vectors else None})
            for info in ordered
        ]
        return Member(
            group=self.name, person_id=person_id, metadata=state.metadata, features=features
        )

    def _feature(self, info: MemberFeature) -> Feature | None:
        if self.index is None:
            return None
        return Feature.from_vector(self.index.vector(info.feature_id), info.model)

    def page(self, offset: int, limit: int) -> MemberPage:
        if self._order is None:
            self._order = sorted(self.members)
        items = [self.member(person_id) for person_id in self._order[offset : offset + limit]]
        return MemberPage(items=items, total=len(self.members), offset=offset, limit=limit)

    def rows_of(self, person_id: str, metadata: dict[str, Any]) -> list[FeatureRow]:
        """The stored rows of a member, rewritten with `metadata` (for an upsert)."""
        assert self.index is not None
        return [
            FeatureRow(
                feature_id=fid,
                person_id=person_id,
                model=info.model,
                vector=self.index.vector(fid),
                metadata=metadata,
                quality=info.quality,
                source=info.source,
                created_at=info.created_at,
            )
            for fid, info in self.members[person_id].features.items()
        ]

    # -- changes (write lock held) --------------------------------------------------------

    def bind_model(self, model: str, dim: int) -> None:
        self.record = replace(self.record, model=model, dim=dim)
        if self.index is None:
            self.index = GroupIndex(dim, self.exact_max, self.storage)

    def prepare(self, rows: list[FeatureRow]) -> Batch:
        """The index's share of `add_rows`, done before the write lock (FAISS encoding)."""
        assert self.index is not None
        return self.index.prepare(
            [Entry(row.feature_id, row.person_id, row.vector, row.metadata) for row in rows]
        )

    def add_rows(self, rows: Iterable[FeatureRow], batch: Batch | None = None) -> None:
        """Add stored rows; a row's metadata becomes its member's (the newest wins).
        `batch`, from `prepare(rows)`, saves the index's work under the lock."""
        assert self.index is not None
        entries = []
        for row in rows:
            state = self.members.setdefault(row.person_id, MemberState(row.metadata))
            state.metadata = row.metadata
            state.features[row.feature_id] = MemberFeature(
                feature_id=row.feature_id,
                model=row.model,
                quality=row.quality,
                source=row.source,
                created_at=row.created_at,
            )
            entries.append(Entry(row.feature_id, row.person_id, row.vector, row.metadata))
        self.index.add(batch or entries)
        self._order = None

    def set_metadata(self, person_id: str, metadata: dict[str, Any]) -> None:
        state = self.members[person_id]
        state.metadata = metadata
        if self.index is not None:
            self.index.set_metadata(list(state.features), metadata)

    def remove_member(self, person_id: str) -> None:
        self.drop_features(list(self.members[person_id].features))

    def drop_features(self, feature_ids: list[str]) -> None:
        """Remove features; a member left without any is removed."""
        assert self.index is not None
        for feature_id in feature_ids:
            if feature_id not in self.index:
                continue
            person_id = self.index.state.person_ids[self.index.state.row_of[feature_id]]
            member = self.members[person_id]
            member.features.pop(feature_id, None)
            if not member.features:
                del self.members[person_id]
        self.index.remove(feature_ids)
        self._order = None

    # -- snapshots (`snapshot.py`): what the index does not hold ---------------------------

    def snapshot_arrays(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """Per index row: quality, creation time, source and member metadata (as an index
        into a table of distinct metadata, stored in the meta)."""
        assert self.index is not None
        index = self.index.state
        quality = np.full(index.rows, np.nan, np.float64)
        created = np.zeros(index.rows, np.int64)
        sources = [""] * index.rows
        tables: dict[str, int] = {}
        metadata = np.full(index.rows, -1, np.int32)
        for member in self.members.values():
            code = tables.setdefault(json.dumps(member.metadata, sort_keys=True), len(tables))
            for feature_id, info in member.features.items():
                row = index.row_of[feature_id]
                quality[row] = np.nan if info.quality is None else info.quality
                created[row] = to_us(info.created_at)
                sources[row] = info.source or ""
                metadata[row] = code
        source_blob, source_ends = pack(sources)
        arrays: dict[str, np.ndarray] = {
            "quality": quality,
            "created_us": created,
            "metadata": metadata,
            "source_blob": source_blob,
            "source_ends": source_ends,
        }
        return arrays, {"member_metadata": list(tables)}

    def restore(self, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> None:
        """Members from a loaded snapshot's arrays (the index is already restored)."""
        assert self.index is not None
        index = self.index.state
        tables = [json.loads(text) for text in meta["member_metadata"]]
        sources = unpack(arrays["source_blob"], arrays["source_ends"])
        quality, created, metadata = arrays["quality"], arrays["created_us"], arrays["metadata"]
        model = self.record.model
        for row in np.flatnonzero(index.alive[: index.rows]).tolist():
            person_id = index.person_ids[row]
            member = self.members.get(person_id)
            if member is None:
                member = self.members[person_id] = MemberState(tables[metadata[row]])
            feature_id = index.feature_ids[row]
            member.features[feature_id] = MemberFeature.model_construct(
                feature_id=feature_id,
                model=model,
                quality=None if np.isnan(quality[row]) else float(quality[row]),
                source=sources[row] or None,
                created_at=from_us(int(created[row])),
            )
        self._order = None
