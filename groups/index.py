"""The in-memory search index of one group: what searches read instead of Milvus.

Milvus Lite searches in time linear in the rows (~80 ms per 100k), so every
group's vectors are also held here, kept in sync by the service (store first,
then index) and rebuilt from the store on start.

- Exact float32 numpy (L2 on the raw vectors) while a group holds at most
  `exact_max` live rows (50k: ~3 ms a query); FAISS IVF-SQ8 (`ann.py`) above,
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
  encoding, off-lock) and `add()` (copies, under the write lock).
- Metadata filters are pre-filters: each metadata key is a dictionary-encoded
  int32 column aligned with the rows, so a filter is a vectorised row mask. A
  filter that leaves at most 2 x `exact_max` rows is answered exactly on those
  rows (recall 1: IVF loses recall under a selective filter, 0.86 at 10% of 1M
  even probing 10x the lists); a wider one goes to FAISS with the mask as an
  `IDSelectorBitmap` and the lists probed scaled by 1/share.
- Hits are distinct members (each member's closest feature): candidates are
  over-fetched until k members are found or the group is exhausted.

Not thread-safe by itself: the service holds a readers-writer lock around it.
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from vigil.groups.ann import DEFAULT_TARGET, Ann, Prepared
from vigil.groups.filters import NormalFilter, token
from vigil.infra.columns import MISSING, grown

EXACT_MAX = 50_000
FILTERED_EXACT_FACTOR = 2  # a filter leaving <= 100k rows is answered exactly on those rows
COMPACT_MIN_DEAD = 1024
COMPACT_FRACTION = 0.25
RETRAIN_GROWTH = 4
LISTS_PER_ROOT = 4  # inverted lists per sqrt(rows) (`ann.list_count`)
COPY_ROWS = 1 << 20  # rows copied at a time when compacting (bounded temporaries)


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
    """A row to add: one feature of one member, with the member's metadata."""

    feature_id: str
    person_id: str
    vector: np.ndarray
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Neighbour:
    feature_id: str
    person_id: str
    distance: float


@dataclass(frozen=True)
class Batch:
    """Entries ready to add: stacked, with their FAISS codes when the group has FAISS."""

    entries: list[Entry]
    block: np.ndarray
    prepared: Prepared | None


@dataclass
class State:
    """Everything a search reads; replaced whole by `install`."""

    vectors: np.ndarray
    sq_norms: np.ndarray
    alive: np.ndarray
    columns: dict[str, np.ndarray]
    feature_ids: list[str] = field(default_factory=list)
    person_ids: list[str] = field(default_factory=list)
    row_of: dict[str, int] = field(default_factory=dict)
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
        )

    @property
    def live(self) -> int:
        return self.rows - self.dead

    def reserve(self, extra: int) -> None:
        needed = self.rows + extra
        if needed <= len(self.alive):
            return
        capacity = max(needed, 2 * len(self.alive))
        self.vectors = grown_matrix(self.vectors, capacity)
        self.sq_norms = grown(self.sq_norms, capacity, 0.0)
        self.alive = grown(self.alive, capacity, False)
        self.columns = {key: grown(col, capacity, MISSING) for key, col in self.columns.items()}


class GroupIndex:
    """Vectors of one group (all of one model and dimension) and their metadata columns."""

    def __init__(self, dim: int, exact_max: int = EXACT_MAX, storage: Path | None = None) -> None:
        self.dim = dim
        self.exact_max = exact_max
        self.storage = storage
        self.state = State.empty(dim, storage=storage)
        self.codes: dict[str, dict[tuple[str, Any], int]] = {}

    def __len__(self) -> int:
        return self.state.live

    def __contains__(self, feature_id: str) -> bool:
        return feature_id in self.state.row_of

    @property
    def kind(self) -> str:
        return "exact" if self.state.ann is None else "faiss-ivf"

    # -- writes (caller holds the write lock) ---------------------------------------------

    def prepare(self, entries: list[Entry]) -> Batch:
        """Stack and (with FAISS) assign and encode entries; reads only, so no lock needed
        beyond keeping other writers out until `add`."""
        block = np.zeros((len(entries), self.dim), np.float32)
        for row, entry in enumerate(entries):
            block[row] = np.asarray(entry.vector, np.float32).reshape(self.dim)
        ann = self.state.ann
        if not entries:
            return Batch(entries, block, None)
        return Batch(entries, block, None if ann is None else ann.prepare(block))

    def add(self, entries: list[Entry] | Batch) -> None:
        batch = entries if isinstance(entries, Batch) else self.prepare(entries)
        if not batch.entries:
            return
        state, entries, block = self.state, batch.entries, batch.block
        start, stop = state.rows, state.rows + len(entries)
        state.reserve(len(entries))
        state.vectors[start:stop] = block
        state.sq_norms[start:stop] = np.einsum("ij,ij->i", block, block)
        state.alive[start:stop] = True
        for row, entry in enumerate(entries, start):
            state.feature_ids.append(entry.feature_id)
            state.person_ids.append(entry.person_id)
            state.row_of[entry.feature_id] = row
        state.rows = stop
        for row, entry in enumerate(entries, start):
            self._encode(state, row, entry.metadata)
        if state.ann is not None:
            rows = np.arange(start, stop)
            if batch.prepared is not None and batch.prepared.ann is state.ann:
                state.ann.append(batch.prepared, rows)
            else:  # prepared before a rebuild, or without FAISS then
                state.ann.add(block, rows)

    def remove(self, feature_ids: list[str]) -> None:
        state = self.state
        rows = np.array([state.row_of.pop(f) for f in feature_ids if f in state.row_of], int)
        if not rows.size:
            return
        state.alive[rows] = False  # every search masks it from now on; FAISS until compaction
        state.dead += rows.size

    def set_metadata(self, feature_ids: list[str], metadata: dict[str, Any]) -> None:
        for feature_id in feature_ids:
            self._encode(self.state, self.state.row_of[feature_id], metadata)

    def _encode(self, state: State, row: int, metadata: dict[str, Any]) -> None:
        for key in metadata.keys() - state.columns.keys():
            state.columns[key] = np.full(len(state.alive), MISSING, np.int32)
        for key, column in state.columns.items():
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
        """A compacted copy of the live rows, with FAISS trained if the group is large.

        Reads the current state only, so searches may run meanwhile; the caller must
        keep other writers out until `install`.
        """
        old = self.state
        keep = np.flatnonzero(old.alive[: old.rows])
        new = State.empty(self.dim, max(64, keep.size), self.storage)
        for start in range(0, keep.size, COPY_ROWS):
            new.vectors[start : start + COPY_ROWS] = old.vectors[keep[start : start + COPY_ROWS]]
        new.sq_norms[: keep.size] = old.sq_norms[keep]
        new.alive[: keep.size] = True
        new.columns = {
            key: grown(col[keep], len(new.alive), MISSING) for key, col in old.columns.items()
        }
        new.feature_ids = [old.feature_ids[row] for row in keep]
        new.person_ids = [old.person_ids[row] for row in keep]
        new.row_of = {feature_id: row for row, feature_id in enumerate(new.feature_ids)}
        new.rows = int(keep.size)
        if new.rows > self.exact_max:
            new.ann = Ann(new.vectors[: new.rows], codec="SQ8", per_root=LISTS_PER_ROOT)
        return new

    def install(self, state: State) -> None:
        self.state = state

    # -- reads (caller holds the read lock) -----------------------------------------------

    def vector(self, feature_id: str) -> np.ndarray:
        return self.state.vectors[self.state.row_of[feature_id]].copy()

    def search(
        self,
        query: np.ndarray,
        k: int,
        filter: NormalFilter | None = None,
        target: str = DEFAULT_TARGET,
    ) -> list[Neighbour]:
        """The k nearest distinct members, nearest first, among rows passing `filter`.

        `target` (`ann.TARGETS`): `exact` scans every allowed row; `fast` and `balanced`
        ask FAISS (when the group has it) with fewer or more lists probed.
        """
        state = self.state
        query = np.asarray(query, np.float32).reshape(self.dim)
        mask = state.alive[: state.rows]
        if filter:
            mask = mask & self._mask(state, filter)
        allowed = int(np.count_nonzero(mask)) if filter else state.live
        fetch = min(allowed, max(2 * k, k + 16))
        while fetch:
            rows, exhausted = self._candidates(
                state, query, fetch, mask, allowed, bool(filter), target
            )
            hits = self._distinct(state, query, rows, k)
            if len(hits) >= k or fetch >= allowed:
                return hits
            if exhausted:  # the lists probed hold too few rows (or members): ask every row
                target = "exact"
                continue
            fetch = min(allowed, 4 * fetch)
        return []

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
        query: np.ndarray,
        fetch: int,
        mask: np.ndarray,
        allowed: int,
        filtered: bool,
        target: str,
    ) -> tuple[np.ndarray, bool]:
        """Candidate rows by approximate order (exact order on the numpy paths), and whether
        FAISS ran out of rows in the lists it probed (asking for more would not help).
        Unfiltered, FAISS may return tombstones: they are dropped here."""
        ann = None if target == "exact" else state.ann
        if (
            ann is not None
            and allowed > self.exact_max
            and (not filtered or allowed > FILTERED_EXACT_FACTOR * self.exact_max)
        ):
            share = allowed / max(state.live, 1)
            found = ann.search(query, fetch, mask if filtered else None, share, target)[0]
            found = found[found >= 0]
            return found[state.alive[found]], found.size < fetch
        if allowed < state.rows // 4:  # selective filter: gather the few rows
            rows = np.flatnonzero(mask)
            gathered = np.take(state.vectors, rows, axis=0)  # faster than fancy indexing
            scores = state.sq_norms[rows] - 2.0 * (gathered @ query)
        else:
            rows = None
            scores = state.sq_norms[: state.rows] - 2.0 * (state.vectors[: state.rows] @ query)
            if allowed < state.rows:
                scores[~mask] = np.inf
        best = (
            np.argpartition(scores, fetch - 1)[:fetch]
            if fetch < scores.size
            else np.arange(scores.size)
        )
        best = best[np.argsort(scores[best])]
        return (best if rows is None else rows[best]), False

    @staticmethod
    def _distinct(state: State, query: np.ndarray, rows: np.ndarray, k: int) -> list[Neighbour]:
        """Exact distances of the candidates; each member's nearest, k members at most."""
        distances = np.sqrt(np.sum((state.vectors[rows] - query) ** 2, axis=1))
        hits: list[Neighbour] = []
        seen: set[str] = set()
        for position in np.argsort(distances, kind="stable"):
            row = int(rows[position])
            person = state.person_ids[row]
            if person in seen:
                continue
            seen.add(person)
            hits.append(Neighbour(state.feature_ids[row], person, float(distances[position])))
            if len(hits) == k:
                break
        return hits
