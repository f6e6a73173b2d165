"""The in-memory mirror of one group: its registry record, members and search index.

Reads (get, list, search) are served from here; the service changes it only
after Milvus accepted the same change, holding the write lock.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from vigil.groups.index import EXACT_MAX, Entry, GroupIndex
from vigil.groups.store import FeatureRow, GroupRecord
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
    _order: list[str] | None = None

    def __post_init__(self) -> None:
        if self.record.dim and self.index is None:
            self.index = GroupIndex(self.record.dim, self.exact_max)

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
            self.index = GroupIndex(dim, self.exact_max)

    def add_rows(self, rows: Iterable[FeatureRow]) -> None:
        """Add stored rows; a row's metadata becomes its member's (the newest wins)."""
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
        self.index.add(entries)
        self._order = None

    def set_metadata(self, person_id: str, metadata: dict[str, Any]) -> None:
        state = self.members[person_id]
        state.metadata = metadata
        if self.index is not None:
            self.index.set_metadata(list(state.features), metadata)

    def remove_member(self, person_id: str) -> None:
        state = self.members.pop(person_id)
        if self.index is not None:
            self.index.remove(list(state.features))
        self._order = None
