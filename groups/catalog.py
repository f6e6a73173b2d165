"""The in-memory mirror of one group: its registry record, members and search index.

Reads (get, list, search) are served from here; the service changes it only
after Milvus accepted the same change, holding the write lock.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from vigil.groups.index import EXACT_MAX, Batch, Entry, GroupIndex
from vigil.groups.store import FeatureRow, GroupRecord
from vigil.infra.milvus import from_us, to_us
from vigil.schemas.feature import Feature
from vigil.schemas.groups import FeatureGroup, Member, MemberFeature, MemberPage


@dataclass
class GroupState:
    """One group: its registry record and its columns (`index.State`), read as members.

    Column-based: members and features are rows of numpy columns in the index's state
    (ids, chains of a member's rows, quality, times, sources) and a table of the
    distinct member metadata, not a Python object each: a 10M-member group costs
    ~100 B a feature and ~50 B a member here (docs/performance.md), where objects cost
    ~1 KB. Members and features are built as pydantic objects only for what a caller
    asks (a member, a page, the k hits of a search).
    """

    record: GroupRecord
    exact_max: int = EXACT_MAX
    index: GroupIndex | None = None
    storage: Path | None = None  # the snapshot folder: the index's vectors are mapped there
    seq: int = 0  # the last journal entry reflected here
    loaded: str = "new"  # how the mirror was built: new, store scan, snapshot (+ replay)
    metadata_table: list[dict[str, Any]] = field(default_factory=lambda: [{}])
    _metadata_codes: dict[str, int] = field(default_factory=lambda: {"{}": 0})
    _order: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.record.dim and self.index is None:
            self.index = GroupIndex(self.record.dim, self.exact_max, self.storage)

    @property
    def name(self) -> str:
        return self.record.name

    @property
    def feature_count(self) -> int:
        return len(self.index) if self.index else 0

    @property
    def member_count(self) -> int:
        return self.index.state.members if self.index else 0

    def summary(self) -> FeatureGroup:
        record = self.record
        return FeatureGroup(
            name=record.name,
            description=record.description,
            model=record.model or None,
            dim=record.dim or None,
            member_count=self.member_count,
            feature_count=self.feature_count,
            created_at=record.created_at,
            metadata=record.metadata,
        )

    # -- members --------------------------------------------------------------------------

    def code(self, person_id: str) -> int | None:
        """The member's code, None if the group has no such member."""
        return None if self.index is None else self.index.state.member(person_id)

    def metadata(self, code: int) -> dict[str, Any]:
        assert self.index is not None
        return self.metadata_table[int(self.index.state.member_meta[code])]

    def feature_ids(self, code: int) -> list[str]:
        assert self.index is not None
        state = self.index.state
        return state.feature_ids.keys(np.array(state.rows_of(code), np.int64))

    def member(self, person_id: str, vectors: bool = False) -> Member:
        code = self.code(person_id)
        assert code is not None and self.index is not None
        state, model = self.index.state, self.record.model
        rows = np.array(state.rows_of(code), np.int64)
        ids = state.feature_ids.keys(rows)
        quality, created = state.details["quality"][rows], state.details["created_us"][rows]
        features = []
        for position in sorted(range(len(rows)), key=ids.__getitem__):
            row = int(rows[position])
            vector = Feature.from_vector(self.index.vector(row), model) if vectors else None
            features.append(
                MemberFeature.model_construct(  # from validated columns: no re-validation
                    feature_id=ids[position],
                    model=model,
                    quality=None if np.isnan(quality[position]) else float(quality[position]),
                    source=state.sources.text(row) or None,
                    created_at=from_us(int(created[position])),
                    vector=vector,
                )
            )
        return Member(
            group=self.name, person_id=person_id, metadata=self.metadata(code), features=features
        )

    def page(self, offset: int, limit: int) -> MemberPage:
        assert self.index is not None or not offset
        if self._order is None:
            self._order = self.index.state.live_members() if self.index else np.zeros(0, np.int64)
        codes = self._order[offset : offset + limit]
        names = self.index.state.person_ids.keys(codes) if self.index else []
        items = [self.member(person_id) for person_id in names]
        return MemberPage(items=items, total=len(self._order), offset=offset, limit=limit)

    def rows_of(self, person_id: str, metadata: dict[str, Any]) -> list[FeatureRow]:
        """The stored rows of a member, rewritten with `metadata` (for an upsert)."""
        assert self.index is not None
        member = self.member(person_id)
        state = self.index.state
        return [
            FeatureRow(
                feature_id=info.feature_id,
                person_id=person_id,
                model=info.model,
                vector=self.index.vector(row),
                metadata=metadata,
                quality=info.quality,
                source=info.source,
                created_at=info.created_at,
            )
            for info in member.features
            if (row := state.row(info.feature_id)) is not None
        ]

    # -- changes (write lock held) --------------------------------------------------------

    def bind_model(self, model: str, dim: int) -> None:
        self.record = replace(self.record, model=model, dim=dim)
        if self.index is None:
            self.index = GroupIndex(dim, self.exact_max, self.storage)

    def _metadata_code(self, metadata: dict[str, Any]) -> int:
        text = json.dumps(metadata, sort_keys=True)
        code = self._metadata_codes.get(text)
        if code is None:
            code = self._metadata_codes[text] = len(self.metadata_table)
            self.metadata_table.append(metadata)
        return code

    def prepare(self, rows: list[FeatureRow]) -> Batch:
        """The index's share of `add_rows`, done before the write lock (FAISS encoding)."""
        assert self.index is not None
        return self.index.prepare(
            [
                Entry(
                    row.feature_id,
                    row.person_id,
                    row.vector,
                    row.metadata,
                    row.quality,
                    to_us(row.created_at),
                    row.source,
                )
                for row in rows
            ]
        )

    def add_rows(self, rows: list[FeatureRow], batch: Batch | None = None) -> None:
        """Add stored rows; a row's metadata becomes its member's (the newest wins).
        `batch`, from `prepare(rows)`, saves the index's work under the lock."""
        assert self.index is not None
        metas = [self._metadata_code(row.metadata) for row in rows]
        self.index.add(batch or self.prepare(rows), metas)
        self._order = None

    def set_metadata(self, person_id: str, metadata: dict[str, Any]) -> None:
        code = self.code(person_id)
        assert code is not None and self.index is not None
        state = self.index.state
        state.member_meta[code] = self._metadata_code(metadata)
        self.index.set_metadata(state.rows_of(code), metadata)

    def remove_member(self, person_id: str) -> None:
        code = self.code(person_id)
        assert code is not None
        self.drop_features(self.feature_ids(code))

    def drop_features(self, feature_ids: list[str]) -> None:
        """Remove features; a member left without any is removed."""
        assert self.index is not None
        self.index.remove(feature_ids)
        self._order = None

    # -- snapshots (`snapshot.py`): what the index does not hold ---------------------------

    def snapshot_arrays(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """The table of distinct member metadata (the columns are the index's)."""
        tables = [json.dumps(metadata, sort_keys=True) for metadata in self.metadata_table]
        return {}, {"member_metadata": tables}

    def restore(self, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> None:
        """The metadata table of a loaded snapshot (the index is already restored)."""
        self.metadata_table = [json.loads(text) for text in meta["member_metadata"]]
        self._metadata_codes = {text: code for code, text in enumerate(meta["member_metadata"])}
        self._order = None
