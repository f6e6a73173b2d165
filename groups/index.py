"""The in-memory search index of one group: what searches read instead of Milvus.

Milvus Lite searches in time linear in the rows (~80 ms per 100k), so every
group's vectors are also held here, kept in sync by the service (store first,
then index) and rebuilt from the store on start.

- Exact float32 numpy (L2 on the raw vectors) while a group holds at most
  `exact_max` live rows (50k: ~3 ms a query); FAISS IVF-PQ fast-scan (`ann.py`) above,
  its candidates re-ranked with exact distances from the matrix kept here. The
  caller picks the recall (`target`): `fast`, `balanced` (the default) or `exact`
  (brute force over the allowed rows, whatever the size).
- The matrix is in memory, or, given `storage` (a folder: the group's snapshot
  folder, `snapshot.py`), a memory-mapped file there: 512 B per 128-D row that the
  kernel pages in for the few rows a search re-ranks, and that a snapshot reuses
  as it is (rows are only ever appended to it).
- Rows are appended; a removed row becomes a tombstone, masked out of every
  search at once (FAISS keeps its code until compaction), so row numbers double
  as FAISS ids. When tombstones pile up, or the group crosses the exact/FAISS
  line, or grows 4x past the rows FAISS was trained on, `rebuilt()` makes a
  compacted state off-lock and `install()` swaps it in (copy-on-write for the
  heavy work). An add is split likewise: `prepare()` (FAISS list assignment and
  encoding, column growth, off-lock) and `add()` (copies, under the write lock).
- Everything else about a row or member is a column too (`State`): feature and
  person ids as fixed-width bytes with a sorted lookup (`keys.py`), each member's
  rows as a chain, quality, times, sources. No Python object per row or member:
  the catalog (`catalog.py`) reads members from these columns.
- Metadata filters are pre-filters: each metadata key is a dictionary-encoded
  int32 column aligned with the rows, so a filter is a vectorised row mask. A
  filter that leaves at most 2 x `exact_max` rows is answered exactly on those
  rows (recall 1: IVF loses recall under a selective filter, 0.86 at 10% of 1M
  even probing 10x the lists); a wider one goes to FAISS with the mask as an
  `IDSelectorBitmap` and the lists probed scaled by 1/share.
- Hits are distinct members (each member's closest feature): candidates are
  over-fetched until k members are found or the group is exhausted.
- Many queries are searched at once (`search_many`, what the service's micro-batches
  call): one FAISS call or matrix product, one vectorised re-rank; one query is a
  batch of one, so both give the same answers.

Not thread-safe by itself: the service holds a readers-writer lock around it.
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from vigil.groups.ann import DEFAULT_TARGET, Ann, Prepared, group_codec
from vigil.groups.filters import NormalFilter, token
from vigil.groups.keys import Keys, Texts, encoded, larger
from vigil.infra.columns import MISSING, grown

EXACT_MAX = 50_000
FILTERED_EXACT_FACTOR = 2  # a filter leaving <= 100k rows is answered exactly on those rows
COMPACT_MIN_DEAD = 1024
COMPACT_FRACTION = 0.25
RETRAIN_GROWTH = 4
LISTS_PER_ROOT = 4  # inverted lists per sqrt(rows) (`ann.list_count`)
COPY_ROWS = 1 << 20  # rows copied at a time when compacting (bounded temporaries)
EXACT_SCORES = 1 << 23  # scores (rows x queries) computed at a time on the numpy paths


def new_matrix(storage: Path | None, rows: int, dim: int) -> np.ndarray:
    """A zeroed (rows, dim) float32 matrix: in memory, or a fresh mapped file in `storage`."""
    if storage is None:
        return np.zeros((rows, dim), np.float32)
    storage.mkdir(parents=True, exist_ok=True)
    path = storage / f"vectors-{uuid.uuid4().hex[:12]}.f32"
    with path.open("wb") as file:
        file.truncate(rows * dim * 4)
    return np.memmap(path, np.float32, "r+", shape=(rows, dim))


def map_matrix(path: Path, dim: int) -> np.ndarray:
    """An existing vector file, mapped for reading and appending."""
    return np.memmap(path, np.float32, "r+", shape=(path.stat().st_size // (4 * dim), dim))


def grown_matrix(matrix: np.ndarray, rows: int) -> np.ndarray:
    """`matrix` with room for `rows`: a mapped file is extended in place (its rows stay)."""
    if isinstance(matrix, np.memmap):
        matrix.flush()
        path = Path(str(matrix.filename))
        os.truncate(path, rows * matrix.shape[1] * 4)
        return np.memmap(path, np.float32, "r+", shape=(rows, matrix.shape[1]))
    return grown(matrix, rows, 0.0)


@dataclass(frozen=True)
class Entry:
    """A row to add: one feature of one member, with the member's metadata and the
    feature's details (kept as columns for the catalog)."""

    feature_id: str
    person_id: str
    vector: np.ndarray
    metadata: dict[str, Any] = field(default_factory=dict)
    quality: float | None = None
    created_us: int = 0
    source: str | None = None


@dataclass(frozen=True)
class Neighbour:
    feature_id: str
    person_id: str
    distance: float
    member: int = -1  # the member's code in the `State` searched


@dataclass(frozen=True)
class Batch:
    """Entries ready to add, made off-lock: stacked vectors, their FAISS codes when the
    group has FAISS, and the ids encoded; `add` then only copies."""

    entries: list[Entry]
    block: np.ndarray
    prepared: Prepared | None
    feature_ids: np.ndarray
    person_ids: list[str]


# per-row columns of the catalog's (`catalog.py`): filled from `Entry`, carried through
# growth, compaction and snapshots with the index's own
ROW_DETAILS = {"quality": (np.float64, np.nan), "created_us": (np.int64, 0)}


@dataclass
class State:
    """Everything a search reads, as columns; replaced whole by `install`.

    Rows (features): vectors, norms, tombstones (`alive`), metadata filter codes
    (`columns`), feature ids (`feature_ids`), the member's code (`person`), the member's
    previous row (`next_row`, -1 ends it: each member's rows form a chain from its
    newest), quality, creation time and source. Members (by code): person ids
    (`person_ids`), newest row (`first_row`), live rows (`live_rows`; 0: gone) and
    metadata (`member_meta`, a code into the catalog's table of distinct metadata).
    """

    vectors: np.ndarray
    sq_norms: np.ndarray
    alive: np.ndarray
    columns: dict[str, np.ndarray]
    details: dict[str, np.ndarray]
    feature_ids: Keys
    person: np.ndarray
    next_row: np.ndarray
    sources: Texts
    person_ids: Keys
    first_row: np.ndarray
    live_rows: np.ndarray
    member_meta: np.ndarray
    rows: int = 0
    dead: int = 0
    ann: Ann | None = None

    @classmethod
    def empty(cls, dim: int, capacity: int = 64, storage: Path | None = None) -> State:
        return cls(
            vectors=new_matrix(storage, capacity, dim),
            sq_norms=np.zeros(capacity, np.float32),
            alive=np.zeros(capacity, bool),
            columns={},
            details={key: np.full(capacity, fill, t) for key, (t, fill) in ROW_DETAILS.items()},
            feature_ids=Keys(capacity=capacity),
            person=np.full(capacity, -1, np.int32),
            next_row=np.full(capacity, -1, np.int32),
            sources=Texts(),
            person_ids=Keys(),
            first_row=np.zeros(0, np.int32),
            live_rows=np.zeros(0, np.int32),
            member_meta=np.zeros(0, np.int32),
        )

    @property
    def live(self) -> int:
        return self.rows - self.dead

    @property
    def members(self) -> int:
        return int(np.count_nonzero(self.live_rows))

    def reserve(self, extra: int) -> None:
        needed = self.rows + extra
        if needed <= len(self.alive):
            return
        capacity = larger(len(self.alive), needed)
        self.vectors = grown_matrix(self.vectors, capacity)
        self.sq_norms = grown(self.sq_norms, capacity, 0.0)
        self.alive = grown(self.alive, capacity, False)
        self.person = grown(self.person, capacity, -1)
        self.next_row = grown(self.next_row, capacity, -1)
        self.columns = {key: grown(col, capacity, MISSING) for key, col in self.columns.items()}
        self.details = {
            key: grown(col, capacity, ROW_DETAILS[key][1]) for key, col in self.details.items()
        }

    def reserve_members(self, count: int) -> None:
        if count <= len(self.first_row):
            return
        capacity = larger(len(self.first_row), count)
        self.first_row = grown(self.first_row, capacity, -1)
        self.live_rows = grown(self.live_rows, capacity, 0)
        self.member_meta = grown(self.member_meta, capacity, 0)

    # -- lookups --------------------------------------------------------------------------

    def row(self, feature_id: str) -> int | None:
        """The live row of a feature id, if any."""
        for row in self.feature_ids.find(feature_id):
            if row < self.rows and self.alive[row]:
                return row
        return None

    def member(self, person_id: str) -> int | None:
        """The code of a member with live rows, if any."""
        for code in self.person_ids.find(person_id):
            if self.live_rows[code]:
                return code
        return None

    def member_code(self, person_id: str) -> int | None:
        """The code of a person ever added (live or gone: a code is reused)."""
        found = self.person_ids.find(person_id)
        return found[0] if found else None

    def rows_of(self, code: int) -> list[int]:
        """A member's live rows, newest first."""
        rows, row = [], int(self.first_row[code])
        while row >= 0:
            if self.alive[row]:
                rows.append(row)
            row = int(self.next_row[row])
        return rows

    def live_members(self) -> np.ndarray:
        """Codes of the members with live rows, ordered by person id."""
        ordered = self.person_ids.ordered()
        return ordered[self.live_rows[ordered] > 0]


def chains(person: np.ndarray, members: int) -> tuple[np.ndarray, np.ndarray]:
    """Each row's previous row of the same member (-1 for its first) and each member's
    newest row: the chains of rows as `State` keeps them, rebuilt after a compaction."""
    order = np.argsort(person, kind="stable")
    codes = person[order]
    same = np.flatnonzero(codes[1:] == codes[:-1]) + 1
    next_row = np.full(len(person), -1, np.int32)
    next_row[order[same]] = order[same - 1]
    last = np.r_[codes[1:] != codes[:-1], True] if len(codes) else np.zeros(0, bool)
    first_row = np.full(members, -1, np.int32)
    first_row[codes[last]] = order[last]
    return next_row, first_row


class GroupIndex:
    """Vectors of one group (all of one model and dimension) and their columns."""

    def __init__(self, dim: int, exact_max: int = EXACT_MAX, storage: Path | None = None) -> None:
        self.dim = dim
        self.exact_max = exact_max
        self.storage = storage
        self.state = State.empty(dim, storage=storage)
        self.codes: dict[str, dict[tuple[str, Any], int]] = {}

    def __len__(self) -> int:
        return self.state.live

    def __contains__(self, feature_id: str) -> bool:
        return self.state.row(feature_id) is not None

    @property
    def kind(self) -> str:
        return "exact" if self.state.ann is None else "faiss-ivf"

    # -- writes (caller holds the write lock) ---------------------------------------------

    def prepare(self, entries: list[Entry]) -> Batch:
        """Stack, encode ids and (with FAISS) assign and encode vectors, and grow the
        columns if they must grow (copies of rows no one writes meanwhile, swapped in
        whole): so `add` under the write lock only copies the batch in, even when a 10M
        row group's columns grow. No lock needed beyond keeping other writers out."""
        state = self.state
        state.reserve(len(entries))
        state.reserve_members(len(state.person_ids) + len(entries))
        state.feature_ids.reserve(len(entries))
        state.person_ids.reserve(len(entries))
        state.sources.reserve(len(entries))
        block = np.zeros((len(entries), self.dim), np.float32)
        for row, entry in enumerate(entries):
            block[row] = np.asarray(entry.vector, np.float32).reshape(self.dim)
        ann = self.state.ann
        prepared = None if ann is None or not entries else ann.prepare(block)
        feature_ids = encoded(entry.feature_id for entry in entries)
        return Batch(entries, block, prepared, feature_ids, [e.person_id for e in entries])

    def add(self, entries: list[Entry] | Batch, metas: list[int] | None = None) -> None:
        """Append rows. `metas`, one per entry, are codes in the catalog's table of member
        metadata: each row's becomes its member's (the newest wins); none: code 0."""
        batch = entries if isinstance(entries, Batch) else self.prepare(entries)
        if not batch.entries:
            return
        state, entries, block = self.state, batch.entries, batch.block
        start, stop = state.rows, state.rows + len(entries)
        state.reserve(len(entries))
        state.vectors[start:stop] = block
        state.sq_norms[start:stop] = np.einsum("ij,ij->i", block, block)
        state.alive[start:stop] = True
        state.feature_ids.append(batch.feature_ids)
        codes = self._members(state, batch.person_ids)
        rows = np.arange(start, stop)
        # chains: each row points to its member's previous row (in this batch or before)
        order = np.argsort(codes, kind="stable")
        ordered = codes[order]
        first = np.r_[True, ordered[1:] != ordered[:-1]]
        last = np.r_[ordered[1:] != ordered[:-1], True]
        previous = np.empty(len(rows), np.int64)
        previous[order[~first]] = rows[order[np.flatnonzero(~first) - 1]]
        previous[order[first]] = state.first_row[ordered[first]]
        state.person[start:stop] = codes
        state.next_row[start:stop] = previous
        state.first_row[ordered[last]] = rows[order[last]]
        meta = np.zeros(len(rows), np.int32) if metas is None else np.asarray(metas, np.int32)
        state.member_meta[ordered[last]] = meta[order[last]]  # the newest row's wins
        np.add.at(state.live_rows, codes, 1)
        state.details["quality"][start:stop] = [
            np.nan if entry.quality is None else entry.quality for entry in entries
        ]
        state.details["created_us"][start:stop] = [entry.created_us for entry in entries]
        for row, entry in zip(rows.tolist(), entries, strict=True):
            if entry.metadata:  # a new row's columns are MISSING already
                self._encode(state, row, entry.metadata, fresh=True)
        state.sources.append([entry.source or "" for entry in entries])
        state.rows = stop
        if state.ann is not None:
            rows = np.arange(start, stop)
            if batch.prepared is not None and batch.prepared.ann is state.ann:
                state.ann.append(batch.prepared, rows)
            else:  # prepared before a rebuild, or without FAISS then
                state.ann.add(block, rows)

    @staticmethod
    def _members(state: State, person_ids: list[str]) -> np.ndarray:
        """The member code of each row's person; new persons (and gone ones come back:
        their code is reused) get theirs."""
        unique, inverse = np.unique(encoded(person_ids), return_inverse=True)
        codes = state.person_ids.find_many(unique)
        missing = codes < 0
        if missing.any():
            codes[missing] = state.person_ids.append(unique[missing])
            state.reserve_members(len(state.person_ids))
        return codes[inverse.ravel()]

    def remove(self, feature_ids: list[str]) -> None:
        state = self.state
        found = [state.row(feature_id) for feature_id in feature_ids]
        rows = np.array(sorted({row for row in found if row is not None}), np.int64)
        if not rows.size:
            return
        state.alive[rows] = False  # every search masks it from now on; FAISS until compaction
        np.subtract.at(state.live_rows, state.person[rows], 1)
        state.dead += rows.size

    def set_metadata(self, rows: list[int], metadata: dict[str, Any]) -> None:
        for row in rows:
            self._encode(self.state, row, metadata)

    def _encode(
        self, state: State, row: int, metadata: dict[str, Any], fresh: bool = False
    ) -> None:
        """A row's metadata codes; `fresh`: a row never written (its codes are MISSING)."""
        for key in metadata.keys() - state.columns.keys():
            state.columns[key] = np.full(len(state.alive), MISSING, np.int32)
        for key, column in (
            ((key, state.columns[key]) for key in metadata) if fresh else state.columns.items()
        ):
            column[row] = self._code(key, metadata[key]) if key in metadata else MISSING

    def _code(self, key: str, value: Any) -> int:
        codes = self.codes.setdefault(key, {})
        return codes.setdefault(token(value), len(codes))

    # -- maintenance (heavy part off-lock, then a swap) -----------------------------------

    def maintenance_due(self) -> bool:
        state = self.state
        if state.dead >= max(COMPACT_MIN_DEAD, COMPACT_FRACTION * state.rows):
            return True
        if state.ann is None:
            return state.live > self.exact_max
        return (
            state.live < self.exact_max // 2 or state.live > RETRAIN_GROWTH * state.ann.trained_on
        )

    def rebuilt(self) -> State:
        """A compacted copy of the live rows and members, with FAISS trained if the group
        is large.

        Reads the current state only, so searches may run meanwhile; the caller must
        keep other writers out until `install`.
        """
        old = self.state
        keep = np.flatnonzero(old.alive[: old.rows])
        kept_members = np.flatnonzero(old.live_rows[: len(old.person_ids)] > 0)
        renumber = np.full(max(len(old.person_ids), 1), -1, np.int32)
        renumber[kept_members] = np.arange(kept_members.size, dtype=np.int32)
        new = State.empty(self.dim, max(64, keep.size), self.storage)
        for start in range(0, keep.size, COPY_ROWS):
            new.vectors[start : start + COPY_ROWS] = old.vectors[keep[start : start + COPY_ROWS]]
        new.sq_norms[: keep.size] = old.sq_norms[keep]
        new.alive[: keep.size] = True
        new.columns = {
            key: grown(col[keep], len(new.alive), MISSING) for key, col in old.columns.items()
        }
        new.details = {
            key: grown(col[keep], len(new.alive), ROW_DETAILS[key][1])
            for key, col in old.details.items()
        }
        new.feature_ids = old.feature_ids.taken(keep)
        new.sources = old.sources.taken(keep)
        new.person_ids = old.person_ids.taken(kept_members)
        new.reserve_members(kept_members.size)
        new.live_rows[: kept_members.size] = old.live_rows[kept_members]
        new.member_meta[: kept_members.size] = old.member_meta[kept_members]
        new.person[: keep.size] = renumber[old.person[keep]]
        new.next_row[: keep.size], new.first_row[: kept_members.size] = chains(
            new.person[: keep.size], kept_members.size
        )
        new.rows = int(keep.size)
        if new.rows > self.exact_max:
            new.ann = Ann(
                new.vectors[: new.rows], codec=group_codec(self.dim), per_root=LISTS_PER_ROOT
            )
        return new

    def install(self, state: State) -> None:
        self.state = state

    # -- reads (caller holds the read lock) -----------------------------------------------

    def vector(self, row: int) -> np.ndarray:
        return self.state.vectors[row].copy()

    def search(
        self,
        query: np.ndarray,
        k: int,
        filter: NormalFilter | None = None,
        target: str = DEFAULT_TARGET,
    ) -> list[Neighbour]:
        """The k nearest distinct members of one query (`search_many` of one)."""
        queries = np.asarray(query, np.float32).reshape(1, self.dim)
        return self.search_many(queries, k, filter, target)[0]

    def search_many(
        self,
        queries: np.ndarray,
        k: int,
        filter: NormalFilter | None = None,
        target: str = DEFAULT_TARGET,
    ) -> list[list[Neighbour]]:
        """For each query, the k nearest distinct members, nearest first, among rows
        passing `filter`.

        `target` (`ann.TARGETS`): `exact` scans every allowed row; `fast` and `balanced`
        ask FAISS (when the group has it) with fewer or more lists probed. All queries go
        through one FAISS call (or one matrix product) and one vectorised re-rank: the
        micro-batches of `batcher.py` cost one pass of Python, not one per query. Each
        query's answer is what it would get alone (FAISS scans each query's lists alike).
        """
        state = self.state
        queries = np.asarray(queries, np.float32).reshape(-1, self.dim)
        mask = state.alive[: state.rows]
        if filter:
            mask = mask & self._mask(state, filter)
        allowed = int(np.count_nonzero(mask)) if filter else state.live
        answers: list[list[Neighbour]] = [[] for _ in range(len(queries))]
        fetch = min(allowed, max(2 * k, k + 16))
        wanted = {target: np.arange(len(queries))}
        while fetch and wanted:
            again: dict[str, list[np.ndarray]] = {}
            for kind, which in wanted.items():
                rows, exhausted = self._candidates(
                    state, queries[which], fetch, mask, allowed, bool(filter), kind
                )
                found, distances, counts = self._distinct(state, queries[which], rows, k)
                done = (counts >= k) | (fetch >= allowed)
                for position in np.flatnonzero(done | (counts > 0)).tolist():
                    answers[int(which[position])] = self._neighbours(
                        state, found[position], distances[position], counts[position]
                    )
                # the lists probed hold too few rows (or members): ask every row
                again.setdefault("exact", []).append(which[~done & exhausted])
                again.setdefault(kind, []).append(which[~done & ~exhausted])
            wanted = {kind: np.concatenate(parts) for kind, parts in again.items()}
            wanted = {kind: which for kind, which in wanted.items() if which.size}
            fetch = min(allowed, 4 * fetch)
        return answers

    @staticmethod
    def _neighbours(
        state: State, rows: np.ndarray, distances: np.ndarray, count: int
    ) -> list[Neighbour]:
        rows = rows[:count]
        members = state.person[rows]
        return [
            Neighbour(feature_id, person_id, distance, member)
            for feature_id, person_id, distance, member in zip(
                state.feature_ids.keys(rows),
                state.person_ids.keys(members),
                distances[:count].tolist(),
                members.tolist(),
                strict=True,
            )
        ]

    def _mask(self, state: State, filter: NormalFilter) -> np.ndarray:
        mask = np.ones(state.rows, bool)
        for key, values in filter.items():
            codes = self.codes.get(key, {})
            wanted = [codes[token(v)] for v in values if token(v) in codes]
            column = state.columns.get(key)
            if column is None or not wanted:
                return np.zeros(state.rows, bool)
            stored = column[: state.rows]
            mask &= stored == wanted[0] if len(wanted) == 1 else np.isin(stored, wanted)
        return mask

    def _candidates(
        self,
        state: State,
        queries: np.ndarray,
        fetch: int,
        mask: np.ndarray,
        allowed: int,
        filtered: bool,
        target: str,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Candidate rows of each query by approximate order (exact order on the numpy
        paths), -1 padded, (queries, fetch); and per query whether FAISS ran out of rows
        in the lists it probed (asking for more would not help). Unfiltered, FAISS may
        return tombstones: they become -1 here."""
        ann = None if target == "exact" else state.ann
        if (
            ann is not None
            and allowed > self.exact_max
            and (not filtered or allowed > FILTERED_EXACT_FACTOR * self.exact_max)
        ):
            share = allowed / max(state.live, 1)
            count = fetch * ann.over_fetch  # coarse codes: more candidates, re-ranked
            found = ann.search(queries, count, mask if filtered else None, share, target)
            exhausted: np.ndarray = np.any(found < 0, axis=1)
            returned = found >= 0
            found[returned] = np.where(state.alive[found[returned]], found[returned], -1)
            return found, exhausted
        selective = allowed < state.rows // 4  # a selective filter: gather the few rows
        rows = np.flatnonzero(mask) if selective else None
        # the scores matrix is (rows, queries): bounded, the queries taken a few at a time
        step = max(1, EXACT_SCORES // max(allowed if selective else state.rows, 1))
        best = np.full((len(queries), fetch), -1, np.int64)
        for start in range(0, len(queries), step):
            block = queries[start : start + step]
            if rows is not None:
                gathered = np.take(state.vectors, rows, axis=0)  # faster than fancy indexing
                scores = state.sq_norms[rows, None] - 2.0 * (gathered @ block.T)
            else:
                scores = state.sq_norms[: state.rows, None] - 2.0 * (
                    state.vectors[: state.rows] @ block.T
                )
                if allowed < state.rows:
                    scores[~mask] = np.inf
            if fetch < len(scores):
                top = np.argpartition(scores, fetch - 1, axis=0)[:fetch]
            else:
                top = np.broadcast_to(np.arange(len(scores))[:, None], scores.shape)
            top = np.take_along_axis(top, np.argsort(np.take_along_axis(scores, top, 0), 0), 0)
            top = top.T[:, :fetch]
            best[start : start + len(block), : top.shape[1]] = top if rows is None else rows[top]
        return best, np.zeros(len(queries), bool)

    @staticmethod
    def _distinct(
        state: State, queries: np.ndarray, rows: np.ndarray, k: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Exact distances of the candidates; each member's nearest, k members at most.

        Vectorised over the queries: distances of every candidate, sorted per query, a
        member's first (nearest) occurrence kept (one `np.unique` over query x member
        keys), the first k kept. Returns per query the rows and distances of its hits,
        front-packed, and how many there are."""
        valid = rows >= 0
        safe = np.where(valid, rows, 0)
        gathered = state.vectors[safe.ravel()].reshape(*rows.shape, queries.shape[1])
        distances = np.sqrt(np.sum((gathered - queries[:, None, :]) ** 2, axis=2))
        distances[~valid] = np.inf
        order = np.argsort(distances, axis=1, kind="stable")
        rows = np.take_along_axis(safe, order, 1)
        distances = np.take_along_axis(distances, order, 1)
        valid = np.isfinite(distances)
        members = max(len(state.person_ids), 1)
        keys = np.arange(len(rows), dtype=np.int64)[:, None] * members + state.person[rows]
        keep = np.zeros(rows.size, bool)
        keep[np.unique(keys.ravel(), return_index=True)[1]] = True
        keep = keep.reshape(rows.shape) & valid
        keep &= np.cumsum(keep, axis=1) <= k
        counts = keep.sum(axis=1)
        packed = np.argsort(~keep, axis=1, kind="stable")  # kept first, in distance order
        return (
            np.take_along_axis(rows, packed, 1),
            np.take_along_axis(distances, packed, 1),
            counts,
        )
