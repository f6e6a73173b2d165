"""`GroupService`: feature groups and k:N search, the library API behind tasks and CLI.

Milvus (`store.py`) is the system of record; every read and search is served
from the in-memory mirror (`catalog.py`, `index.py`) rebuilt from Milvus when
the service starts. A change goes to Milvus first and reaches memory only once
Milvus accepted it, so a failed write leaves both as they were.

Concurrency (`vigil.infra.milvus.Mirrored`, shared with the history): writers are
serialised by a mutex (Milvus I/O and index builds run under it only); memory
changes and reads take a readers-writer lock, so a search sees each group either
before or after a concurrent change, never half. Searches are micro-batched
(`batcher.py`): the queries of all threads that arrive while a batch runs are answered
by the next one, under one read lock, with one FAISS call and one re-rank per group
(`GroupIndex.search_many`). So a write waits for at most the batch running, and holds
the write lock for the copies only (FAISS codes are made before, `GroupState.prepare`);
searches queued meanwhile wait for that copy. The mirror belongs to this
process: with a Milvus server shared by several processes, send all group writes
to one of them (or call `reload()`).

Fast start (`snapshots`, a folder; `VIGIL_GROUPS_SNAPSHOTS`): each group's index is
snapshotted there (`snapshot.py`) beside a store checkpoint, the sequence number of the
group's change journal (`GroupStore.journal`, written before every feature change).
On start a group is loaded from its snapshot, the journal entries after it replayed
(the rows they name re-read from the store), and the result checked against the store:
no gap in the journal, the same row count, a sample of rows equal. Anything else, and
the group is rebuilt from a store scan and snapshotted afresh; `GroupState.loaded`
says which happened. Snapshots are written by `snapshot()`, on `close()`, and after a
rebuild (a scan or a FAISS retraining), whose files they reuse.
"""

from __future__ import annotations

import json
import logging
import os
import random
import unicodedata
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from vigil.analysis.faces import face_targets, query_face, usable_faces
from vigil.groups import snapshot
from vigil.groups.ann import DEFAULT_TARGET
from vigil.groups.batcher import Batcher
from vigil.groups.catalog import GroupState
from vigil.groups.filters import NormalFilter, normalize
from vigil.groups.index import EXACT_MAX, Neighbour
from vigil.groups.store import FeatureRow, GroupRecord, GroupStore, new_ids
from vigil.infra.milvus import Mirrored
from vigil.models.scoring import similarity, threshold_for
from vigil.schemas.compare import QueryFaceOptions, parse_face, query_options
from vigil.schemas.errors import ErrorCode, VigilError
from vigil.schemas.feature import Feature
from vigil.schemas.geometry import Box
from vigil.schemas.groups import (
    FeatureGroup,
    GivenGroupName,
    Member,
    MemberFeature,
    MemberPage,
    Metadata,
    PersonId,
    SearchHit,
    SearchQuery,
    SearchResult,
)
from vigil.schemas.validate import as_vector, checked

if TYPE_CHECKING:
    from vigil.analysis.pictures import ImageSource

URI_ENV = "VIGIL_GROUPS_URI"
SNAPSHOTS_ENV = "VIGIL_GROUPS_SNAPSHOTS"
DEFAULT_URI = "vigil-groups.db"
MAX_PAGE = 1000
SAMPLE_ROWS = 32  # rows compared with the store when a snapshot is loaded
JOURNAL_KEEP = 1000  # without snapshots, the journal is trimmed every this many entries

log = logging.getLogger(__name__)


def default_uri() -> str:
    return os.environ.get(URI_ENV) or DEFAULT_URI


def nfc(name: str) -> str:
    return unicodedata.normalize("NFC", name)


def picture_features(
    pictures: Sequence[ImageSource],
) -> tuple[list[Feature], list[float | None]]:
    """The feature and quality of each picture's largest face (NO_FACE, decoder codes)."""
    features: list[Feature] = []
    qualities: list[float | None] = []
    for picture in pictures:
        [face] = face_targets(picture, largest_only=True)
        assert face.feature is not None  # face_targets returns only faces with one
        features.append(face.feature)
        qualities.append(face.quality.score)
    return features, qualities


@dataclass(frozen=True)
class Pending:
    """A validated search waiting for its micro-batch."""

    model: str
    vector: np.ndarray
    query: SearchQuery
    filter: NormalFilter | None
    box: Box | None


@dataclass(frozen=True)
class NewMember:
    """One person of an `add_members` call: `add_member`'s arguments."""

    person_id: str
    features: Sequence[Feature | dict]
    metadata: dict[str, Any] | None = None
    sources: Sequence[str | None] | None = None
    qualities: Sequence[float | None] | None = None


@dataclass(frozen=True)
class PlannedMember:
    """A checked `NewMember`: its new rows and whether its stored rows need new metadata."""

    person_id: str
    rows: list[FeatureRow]
    metadata: dict[str, Any]
    rewrite: bool


# a request's hits before its result is built: (group, neighbour, member metadata)
Found = list[tuple[str, Neighbour, dict[str, Any]]]


class GroupService(Mirrored[GroupStore]):
    """Feature groups stored in Milvus (Lite file by default, server by URI), searched in memory."""

    def __init__(
        self,
        uri: str | Path | None = None,
        *,
        exact_max: int = EXACT_MAX,
        index_type: str | None = None,
        snapshots: str | Path | None = None,
        batching: bool = True,
    ) -> None:
        self.uri = str(uri or default_uri())
        self.batching = batching
        self.exact_max = exact_max
        folder = snapshots or os.environ.get(SNAPSHOTS_ENV)
        self.snapshots = Path(folder) if folder else None
        super().__init__(GroupStore(self.uri, index_type=index_type))
        self._groups: dict[str, GroupState] = {}
        self._batcher: Batcher[Pending, Found] = Batcher(self._search_batch)
        self._start()

    # -- start-up -------------------------------------------------------------------------

    def reload(self) -> None:
        """Rebuild every group's mirror and index from Milvus (done on start)."""
        with self._writer:
            groups = {record.name: self._load(record) for record in self.store.list_groups()}
            self.store.drop_orphans({state.record.group_id for state in groups.values()})
            with self._rw.write():
                self._groups = groups

    def _folder(self, record: GroupRecord) -> Path | None:
        return None if self.snapshots is None else self.snapshots / record.group_id

    def _load(self, record: GroupRecord) -> GroupState:
        folder = self._folder(record)
        if folder is not None and record.dim:
            try:
                return self._from_snapshot(record, folder)
            except snapshot.Stale as stale:
                log.warning("group %r: snapshot not used (%s); rebuilding", record.name, stale)
                reason = str(stale)
        else:
            reason = "no snapshots"
        if folder is not None:
            snapshot.clear(folder)
        state = GroupState(record, self.exact_max, storage=folder)
        state.seq = self.store.journal_head(record.group_id)
        if folder is None:  # entries are for snapshots; one left marks the high water
            self.store.trim_journal(record.group_id, state.seq)
        for rows in self.store.scan_features(record.group_id):
            if state.index is None:  # rows stored but the registry write was lost: repair
                state.bind_model(rows[0].model, rows[0].vector.size)
                self.store.put_group(state.record)
            state.add_rows(rows)
        state.loaded = f"store scan ({reason})"
        if not self._maintain(state):
            self._checkpoint(state)
        return state

    def _from_snapshot(self, record: GroupRecord, folder: Path) -> GroupState:
        """The group from its snapshot, brought up to date by the journal and checked
        against the store; `snapshot.Stale` if it does not match."""
        group_id = record.group_id
        loaded = snapshot.load(folder, record.dim, self.exact_max, {"group_id": group_id})
        state = GroupState(record, self.exact_max, index=loaded.index, storage=folder)
        state.restore(loaded.arrays, loaded.meta)
        state.seq = int(loaded.meta["seq"])
        entries = self.store.journal_since(group_id, state.seq)
        head = entries[-1].seq if entries else 0
        if head < state.seq or [e.seq for e in entries] != list(range(state.seq, head + 1)):
            raise snapshot.Stale(f"journal at {head}, snapshot at {state.seq}, or a gap")
        changed = list(dict.fromkeys(f for entry in entries[1:] for f in entry.feature_ids))
        if changed:  # the store's rows of every id named: re-added as stored, or gone
            stored = self.store.get_features(group_id, changed)
            state.drop_features(changed)
            if stored:
                state.add_rows(stored)
            state.seq = head
        stored_rows = self.store.count_features(group_id)
        if stored_rows != state.feature_count:
            raise snapshot.Stale(f"store holds {stored_rows} rows, snapshot {state.feature_count}")
        self._compare_sample(state)
        state.loaded = f"snapshot + {len(entries) - 1} journal entries"
        if changed and not self._maintain(state):
            self._checkpoint(state)
        return state

    def _compare_sample(self, state: GroupState) -> None:
        """Random rows of the loaded index must equal the store's (person and vector)."""
        assert state.index is not None
        index = state.index.state
        live = np.flatnonzero(index.alive[: index.rows])
        picked = live[random.sample(range(live.size), min(SAMPLE_ROWS, live.size))]
        ids = index.feature_ids.keys(picked)
        rows = self.store.get_features(state.record.group_id, ids)
        stored = {row.feature_id: row for row in rows}
        for feature_id, mine in zip(ids, picked.tolist(), strict=True):
            row = stored.get(feature_id)
            if (
                row is None
                or row.person_id != index.person_ids.key(int(index.person[mine]))
                or not np.array_equal(row.vector, index.vectors[mine])
            ):
                raise snapshot.Stale(f"row {feature_id} differs from the store")

    def _checkpoint(self, state: GroupState) -> None:
        """Snapshot a group (writer mutex held), then drop the journal entries it covers."""
        folder = self._folder(state.record)
        if folder is None or state.index is None:
            return
        arrays, meta = state.snapshot_arrays()
        checkpoint = {"group_id": state.record.group_id, "seq": state.seq, **meta}
        snapshot.save(folder, state.index, checkpoint, arrays)
        self.store.trim_journal(state.record.group_id, state.seq)

    def snapshot(self) -> None:
        """Snapshot every group now (searches go on; writes wait). Needs `snapshots`."""
        if self.snapshots is None:
            raise VigilError(ErrorCode.INVALID_OPTIONS, "no snapshot folder configured")
        with self._writer:
            for state in list(self._groups.values()):
                self._checkpoint(state)

    def close(self) -> None:
        """Snapshot (when configured), then release the store."""
        try:
            if self.snapshots is not None:
                self.snapshot()
        finally:
            super().close()

    def _journal(self, state: GroupState, op: str, feature_ids: list[str]) -> None:
        """Record a feature change before making it (writer mutex held): the journal a
        snapshot is replayed from. Without snapshots it is trimmed as it goes."""
        group_id = state.record.group_id
        state.seq = self.store.journal(group_id, state.seq + 1, op, feature_ids)
        if self.snapshots is None and state.seq % JOURNAL_KEEP == 0:
            self.store.trim_journal(group_id, state.seq)

    def _maintain(self, state: GroupState) -> bool:
        """Compact or switch exact/FAISS off the read lock, then swap (writer mutex held);
        with snapshots, the rebuilt index (in new files) is snapshotted. True if done."""
        index = state.index
        if index is None or not index.maintenance_due():
            return False
        rebuilt = index.rebuilt()  # the slow part (FAISS training): searches go on meanwhile
        with self._rw.write():
            index.install(rebuilt)
        self._checkpoint(state)
        return True

    # -- lookups --------------------------------------------------------------------------

    def _state(self, name: str) -> GroupState:
        """The group a caller names: its stored name exactly (one created before names were
        NFKC-folded stays reachable, to be renamed), else the NFKC-folded name."""
        if isinstance(name, str) and (state := self._groups.get(nfc(name))) is not None:
            return state
        name = checked(GivenGroupName, name, "group name")
        state = self._groups.get(name)
        if state is None:
            raise VigilError(ErrorCode.GROUP_NOT_FOUND, f"no group named {name!r}")
        return state

    @staticmethod
    def _person(state: GroupState, person_id: str) -> str:
        person_id = checked(PersonId, person_id, "person id")
        if state.code(person_id) is None:
            raise VigilError(
                ErrorCode.MEMBER_NOT_FOUND, f"no member {person_id!r} in group {state.name!r}"
            )
        return person_id

    @staticmethod
    def _code(state: GroupState, person_id: str) -> int:
        """The code of a member `_person` checked (writer mutex held: it stays)."""
        code = state.code(person_id)
        assert code is not None
        return code

    # -- groups ---------------------------------------------------------------------------

    def create_group(
        self, name: str, description: str = "", metadata: dict[str, Any] | None = None
    ) -> FeatureGroup:
        name = checked(GivenGroupName, name, "group name")  # fullwidth "ｓｔａｆｆ" is "staff"
        group = checked(
            FeatureGroup,
            {"name": name, "description": description, "metadata": metadata or {}},
            "group",
        )
        with self._writer:
            if group.name in self._groups:
                raise VigilError(ErrorCode.GROUP_EXISTS, f"a group named {group.name!r} exists")
            record = GroupRecord(
                group_id=uuid.uuid4().hex,
                name=group.name,
                description=group.description,
                created_at=group.created_at,
                metadata=group.metadata,
            )
            self.store.put_group(record)
            with self._rw.write():
                self._groups[group.name] = GroupState(
                    record, self.exact_max, storage=self._folder(record)
                )
            return self._groups[group.name].summary()

    def list_groups(self) -> list[FeatureGroup]:
        with self._rw.read():
            return [self._groups[name].summary() for name in sorted(self._groups)]

    def get_group(self, name: str) -> FeatureGroup:
        with self._rw.read():
            return self._state(name).summary()

    def rename_group(self, name: str, new_name: str) -> FeatureGroup:
        new_name = checked(GivenGroupName, new_name, "new group name")
        with self._writer:
            state = self._state(name)
            if new_name == state.name:
                return state.summary()
            if new_name in self._groups:
                raise VigilError(ErrorCode.GROUP_EXISTS, f"a group named {new_name!r} exists")
            old_name, record = state.name, replace(state.record, name=new_name)
            self.store.put_group(record)
            with self._rw.write():
                state.record = record
                self._groups[new_name] = self._groups.pop(old_name)
            return state.summary()

    def delete_group(self, name: str) -> None:
        with self._writer:
            state = self._state(name)
            self.store.delete_group(state.record.group_id)
            with self._rw.write():
                del self._groups[state.name]
            if (folder := self._folder(state.record)) is not None:
                snapshot.clear(folder)
                folder.rmdir()

    # -- members --------------------------------------------------------------------------

    def add_member(
        self,
        group: str,
        person_id: str,
        features: Sequence[Feature],
        metadata: dict[str, Any] | None = None,
        sources: Sequence[str | None] | None = None,
        *,
        qualities: Sequence[float | None] | None = None,
    ) -> Member:
        """Enrol a person, or append features to an existing one.

        All features must share the group's model and dimension (the first member
        fixes them). `metadata`, when given, replaces the member's; None keeps it.
        """
        [member] = self.add_members(
            group, [NewMember(person_id, features, metadata, sources, qualities)]
        )
        return member

    def add_members(self, group: str, members: Sequence[NewMember]) -> list[Member]:
        """`add_member` for several people at once: one journal entry and one store write
        for all their new features instead of two writes each.

        Why: a Milvus Lite write costs about 1.4 ms of the writing process's CPU whatever
        its size, which made the enrolling process the bottleneck of a bulk enrolment on
        two Celery workers. All or nothing: every member is checked before anything is
        written, and a refusal (bad id, metadata or feature) names the member. A person may
        appear once per call (send all their features in one entry).
        """
        with self._writer:
            state = self._state(group)
            planned = self._planned(state, members)
            if not planned:
                return []
            model, dim = planned[0].rows[0].model, planned[0].rows[0].vector.size
            group_id = state.record.group_id
            rows = [row for plan in planned for row in plan.rows]
            self.store.ensure_features(group_id, dim)
            self._journal(state, "add", [row.feature_id for row in rows])
            self.store.insert(group_id, rows)
            rewrites = [plan for plan in planned if plan.rewrite]
            for plan in rewrites:
                self._journal(state, "meta", state.feature_ids(self._code(state, plan.person_id)))
                rewritten = state.rows_of(plan.person_id, plan.metadata)
                self.store.insert(group_id, rewritten, upsert=True)
            if not state.record.model:
                self.store.put_group(replace(state.record, model=model, dim=dim))
                with self._rw.write():
                    state.bind_model(model, dim)
            batch = state.prepare(rows)  # FAISS encoding off the read lock
            with self._rw.write():
                for plan in rewrites:
                    state.set_metadata(plan.person_id, plan.metadata)
                state.add_rows(rows, batch)
            self._maintain(state)
            return [state.member(plan.person_id) for plan in planned]

    def _planned(self, state: GroupState, members: Sequence[NewMember]) -> list[PlannedMember]:
        """Each member's checked rows, or the refusal of the first that fails (writer mutex
        held, nothing written yet)."""
        planned: list[PlannedMember] = []
        seen: set[str] = set()
        held = (state.record.model, state.record.dim) if state.record.model else None
        for number, new in enumerate(members):
            try:
                person_id = checked(PersonId, new.person_id, "person id")
                if person_id in seen:
                    raise VigilError(
                        ErrorCode.INVALID_OPTIONS,
                        f"person {person_id!r} appears twice: send all its features in one entry",
                    )
                metadata = (
                    None if new.metadata is None else checked(Metadata, new.metadata, "metadata")
                )
                feature_model, vectors = self._one_model(new.features)
                self._check_model(state, feature_model, vectors[0].size, held)
                held = held or (feature_model, vectors[0].size)  # an empty group's first
                sources = self._per_feature(new.sources, len(vectors), "sources")
                qualities = self._per_feature(new.qualities, len(vectors), "qualities")
                existing = state.code(person_id)
                kept = {} if existing is None else state.metadata(existing)
                member_metadata = kept if metadata is None else metadata
                rows = self._new_rows(
                    person_id, feature_model, vectors, member_metadata, sources, qualities
                )
            except VigilError as exc:
                if len(members) == 1:
                    raise
                raise VigilError(
                    exc.code, f"member {number} of {len(members)}: {exc.message}"
                ) from exc
            rewrite = existing is not None and member_metadata != kept
            seen.add(person_id)
            planned.append(PlannedMember(person_id, rows, member_metadata, rewrite))
        return planned

    def add_member_pictures(
        self,
        group: str,
        person_id: str,
        pictures: Sequence[ImageSource],
        metadata: dict[str, Any] | None = None,
        sources: Sequence[str | None] | None = None,
    ) -> Member:
        """Enrol a person (or add photos) from pictures: the largest face of each.

        The group is looked up first, so a missing one costs no model call.
        """
        self.get_group(group)
        features, qualities = picture_features(pictures)
        return self.add_member(group, person_id, features, metadata, sources, qualities=qualities)

    @staticmethod
    def _one_model(features: Sequence[Feature | dict]) -> tuple[str, list[np.ndarray]]:
        """The vectors of valid features that all share one model and dimension."""
        checked_features = [as_vector(feature) for feature in features]
        if not checked_features:
            raise VigilError(ErrorCode.INVALID_FEATURE, "a member needs at least one feature")
        model, dim = checked_features[0][0], checked_features[0][1].size
        for other, vector in checked_features:
            if other != model or vector.size != dim:
                raise VigilError(
                    ErrorCode.FEATURE_MISMATCH,
                    f"features of {other} ({vector.size}-d) and {model} ({dim}-d) cannot mix",
                )
        return model, [vector for _, vector in checked_features]

    @staticmethod
    def _new_rows(
        person_id: str,
        model: str,
        vectors: list[np.ndarray],
        metadata: dict[str, Any],
        sources: list[str | None],
        qualities: list[float | None],
    ) -> list[FeatureRow]:
        """Validated rows with fresh, time-ordered feature ids."""
        now = datetime.now(UTC)
        rows = []
        for feature_id, vector, source, quality in zip(
            new_ids(len(vectors), now), vectors, sources, qualities, strict=True
        ):
            info = checked(
                MemberFeature,
                {"feature_id": feature_id, "model": model, "quality": quality, "source": source},
                "feature",
            )
            rows.append(
                FeatureRow(
                    feature_id=feature_id,
                    person_id=person_id,
                    model=model,
                    vector=vector,
                    metadata=metadata,
                    quality=info.quality,
                    source=info.source,
                    created_at=now,
                )
            )
        return rows

    @staticmethod
    def _per_feature(values: Sequence[Any] | None, count: int, what: str) -> list[Any]:
        if values is None:
            return [None] * count
        if len(values) != count:
            raise VigilError(
                ErrorCode.INVALID_OPTIONS, f"{len(values)} {what} for {count} features"
            )
        return list(values)

    @staticmethod
    def _check_model(
        state: GroupState, model: str, dim: int, held: tuple[str, int] | None = None
    ) -> None:
        """`model`/`dim` against what the group holds (`held`: what it will hold)."""
        held_model, held_dim = held or (state.record.model, state.record.dim)
        if held_model and (held_model != model or held_dim != dim):
            raise VigilError(
                ErrorCode.FEATURE_MISMATCH,
                f"group {state.record.name!r} holds {held_model} ({held_dim}-d) features;"
                f" got {model} ({dim}-d)",
            )

    def get_member(self, group: str, person_id: str, vectors: bool = False) -> Member:
        with self._rw.read():
            state = self._state(group)
            return state.member(self._person(state, person_id), vectors=vectors)

    def list_members(self, group: str, offset: int = 0, limit: int = 100) -> MemberPage:
        if not isinstance(offset, int) or offset < 0:
            raise VigilError(ErrorCode.INVALID_OPTIONS, f"offset must be >= 0, got {offset!r}")
        if not isinstance(limit, int) or not 1 <= limit <= MAX_PAGE:
            raise VigilError(
                ErrorCode.INVALID_OPTIONS, f"limit must be 1..{MAX_PAGE}, got {limit!r}"
            )
        with self._rw.read():
            return self._state(group).page(offset, limit)

    def update_member(self, group: str, person_id: str, metadata: dict[str, Any]) -> Member:
        """Replace a member's metadata (rewrites its rows in Milvus)."""
        metadata = checked(Metadata, metadata, "metadata")
        with self._writer:
            state = self._state(group)
            person_id = self._person(state, person_id)
            self._journal(state, "meta", state.feature_ids(self._code(state, person_id)))
            self.store.insert(
                state.record.group_id, state.rows_of(person_id, metadata), upsert=True
            )
            with self._rw.write():
                state.set_metadata(person_id, metadata)
            return state.member(person_id)

    def remove_member(self, group: str, person_id: str) -> None:
        with self._writer:
            state = self._state(group)
            person_id = self._person(state, person_id)
            feature_ids = state.feature_ids(self._code(state, person_id))
            self._journal(state, "remove", feature_ids)
            self.store.delete_features(state.record.group_id, feature_ids)
            with self._rw.write():
                state.remove_member(person_id)
            self._maintain(state)

    # -- search ---------------------------------------------------------------------------

    def search(
        self,
        feature: Feature,
        groups: list[str],
        k: int = 10,
        far: float = 1e-3,
        filter: dict[str, Any] | None = None,
        target: str = DEFAULT_TARGET,
    ) -> SearchResult:
        """Top-k members over `groups` with scores; 'match' when the best passes `far`.

        `target` trades speed for recall in large groups: `fast`, `balanced`, `exact`."""
        query = checked(
            SearchQuery, {"groups": groups, "k": k, "far": far, "target": target}, "search"
        )
        model, vector = as_vector(feature)
        return self._search(model, vector, query, normalize(filter))

    def search_image(
        self,
        image: ImageSource,
        groups: list[str],
        k: int = 10,
        far: float = 1e-3,
        filter: dict[str, Any] | None = None,
        all_faces: bool = False,
        target: str = DEFAULT_TARGET,
        options: QueryFaceOptions | dict | None = None,
        face: object = None,
    ) -> list[SearchResult]:
        """Search a picture's query face, or every face that passes the filters (`all_faces`).

        The query face is compare's (`vigil.analysis.faces.choose_query_face`): `face`
        (an index, largest first, or a box), else the largest unless another rivals it;
        `options` (min_size, min_quality, dominance) refuse a face for which the FAR
        would not hold. Raises VigilError: NO_FACE, FACE_TOO_SMALL, LOW_QUALITY,
        AMBIGUOUS_FACE, the decoder's codes, INVALID_OPTIONS (also for a face named
        together with all_faces). `target`: fast, balanced or exact (recall against
        speed in large groups).
        """
        asked = {"groups": groups, "k": k, "far": far, "all_faces": all_faces, "target": target}
        query = checked(SearchQuery, asked, "search")
        wanted = normalize(filter)
        filters, named = query_options(options), parse_face(face)
        if all_faces and named is not None:
            raise VigilError(
                ErrorCode.INVALID_OPTIONS, "search: name a face or all_faces, not both"
            )
        if all_faces:
            faces = face_targets(image, largest_only=False)
            chosen = [faces[i] for i in usable_faces(faces, filters)]
        else:
            faces, index = query_face(image, filters, named)
            chosen = [faces[index]]
        results = []
        for face in chosen:
            assert face.feature is not None  # face_targets returns only faces with one
            model, vector = as_vector(face.feature)
            results.append(self._search(model, vector, query, wanted, face.box))
        return results

    def _search(
        self,
        model: str,
        vector: np.ndarray,
        query: SearchQuery,
        filter: NormalFilter | None,
        box: Box | None = None,
    ) -> SearchResult:
        """One validated query, searched in a micro-batch with the queries of other
        threads (`batcher.py`); its own errors are raised here, in its caller only, and
        its result is built here, so the batch's thread hands the next batch on sooner.
        Without `batching` (the baseline of bench_search), each query is a batch of one
        run by its caller, concurrently with the others under the shared read lock."""
        request = Pending(model, vector, query, filter, box)
        if self.batching:
            return self._result(request, self._batcher.submit(request))
        [outcome] = self._search_batch([request])
        if isinstance(outcome, Exception):
            raise outcome
        return self._result(request, outcome)

    def _search_batch(self, requests: Sequence[Pending]) -> list[Found | Exception]:
        """Search a micro-batch under one read lock: requests for the same group, k,
        target and filter are one `search_many` (one FAISS call, one re-rank). A request
        that fails (unknown group, other model) is refused alone, with its code; if a
        grouped search fails, its requests are retried one by one, so a bad query costs
        only itself. Each request gets its hits in every group it named."""
        outcomes: list[Found | Exception] = [[] for _ in requests]
        with self._rw.read():
            jobs: dict[tuple[str, int, str, str], list[int]] = {}
            for number, request in enumerate(requests):
                try:
                    names = [state.name for state in self._searched(request)]
                except VigilError as exc:
                    outcomes[number] = exc
                    continue
                wanted = json.dumps(request.filter, sort_keys=True) if request.filter else ""
                for name in names:
                    key = (name, request.query.k, request.query.target, wanted)
                    jobs.setdefault(key, []).append(number)
            for (name, k, target, _), numbers in jobs.items():
                state = self._groups[name]
                assert state.index is not None  # `_searched` skips empty groups
                filter = requests[numbers[0]].filter
                try:
                    vectors = np.stack([requests[n].vector for n in numbers])
                    answers = state.index.search_many(vectors, k, filter, target)
                except Exception:  # retried alone: each gets its own outcome
                    answers = []
                    for number in numbers:
                        try:
                            answers += state.index.search_many(
                                requests[number].vector[None], k, filter, target
                            )
                        except Exception as exc:  # that caller's error
                            outcomes[number] = exc
                            answers.append([])
                metadata: dict[int, dict[str, Any]] = {}
                for number, neighbours in zip(numbers, answers, strict=True):
                    found = outcomes[number]
                    if isinstance(found, Exception):
                        continue
                    for n in neighbours:
                        if n.member not in metadata:
                            metadata[n.member] = state.metadata(n.member)
                        found.append((name, n, metadata[n.member]))
        return outcomes

    def _searched(self, request: Pending) -> list[GroupState]:
        """The non-empty groups a request searches (read lock held); raises its error."""
        states = []
        for name in dict.fromkeys(request.query.groups):
            state = self._state(name)
            if state.index is None:
                continue  # an empty group matches nothing, whatever the model
            self._check_model(state, request.model, request.vector.size)
            states.append(state)
        return states

    @staticmethod
    def _result(request: Pending, found: Found) -> SearchResult:
        """The k best hits over the groups searched, built from index values (valid by
        construction: no re-validation; a copy of each member's metadata)."""
        threshold = threshold_for(request.model, request.query.far)
        best_first = sorted(found, key=lambda hit: hit[1].distance)[: request.query.k]
        hits = [
            SearchHit.model_construct(
                group=group,
                person_id=n.person_id,
                feature_id=n.feature_id,
                distance=round(n.distance, 6),
                similarity=similarity(n.distance),
                metadata=dict(metadata),
            )
            for group, n, metadata in best_first
        ]
        best = hits[0] if hits and hits[0].distance <= threshold.distance else None
        return SearchResult.model_construct(
            hits=hits,
            best=best,
            decision="match" if best else "unknown",
            threshold=threshold,
            model=request.model,
            box=request.box,
        )
