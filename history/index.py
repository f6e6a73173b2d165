"""The in-memory mirror of the capture history: what searches and queries read.

Milvus Lite needs 0.5-2.5 s to search 1M rows, so the rows are also held here as
numpy columns (dictionary-encoded strings, float32 vectors) and rebuilt from
Milvus on start. The layout exploits that captures arrive nearly in time order:

- `main` holds rows sorted by capture time, so a time window is a contiguous slice
  found by binary search; the camera, type, attribute and model conditions are
  vectorised masks over that slice only, and distances are exact numpy on the
  slice's rows (recall 1: no approximate index, whose recall drops under filters).
  A one-hour window of 1M captures spread over 30 days is ~1.4k rows: well under
  a millisecond of arithmetic.
- New rows go to a small `tail` in arrival order (searched with a full mask); when
  it fills, it is merged: the tail rows are sorted and merged into `main` from the
  first position they reach, so the usual nearly-ordered arrival rewrites only the
  end of `main`, not all of it.
- A replaced revision or a purged row is a tombstone (`alive` false), dropped at
  the next merge that reaches it; a purge or many tombstones compact everything.

Vectors are float32 (512 MB per 1M rows): numpy has no fast float16 matrix product,
so half precision would trade memory for a conversion on every wide search, and
exact float32 distances feed the similarity scores directly.

Not thread-safe by itself: the service holds a readers-writer lock around it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from vigil.infra.columns import MISSING, grown
from vigil.schemas.capture import CaptureEvent
from vigil.schemas.history import ATTRIBUTE_KEYS
from vigil.schemas.target import TargetType

TAIL_MAX = 8192
COMPACT_FRACTION = 0.25
TAIL = 1 << 40  # `where` values at or above this are tail rows
CODED = ("camera_id", "model", *ATTRIBUTE_KEYS)  # strings held as int32 codes
OBJECTS = ("capture_id", "track_id", "plate", "parent_capture_id")  # held as Python str
FIXED: dict[str, Sequence[str]] = {"type": list(TargetType), "event": list(CaptureEvent)}


def plate_key(text: str | None) -> str:
    """Plates compare by letters and digits only, upper case: 'ab-123 cd' is 'AB123CD'."""
    return "".join(c for c in (text or "").upper() if c.isalnum())


@dataclass
class Segment:
    """Aligned columns with spare capacity; rows [0, size) are in use."""

    dim: int
    columns: dict[str, np.ndarray] = field(default_factory=dict)
    size: int = 0
    dead: int = 0

    def __post_init__(self) -> None:
        if not self.columns:
            self.columns = empty_columns(self.dim, 64)

    def __getitem__(self, name: str) -> np.ndarray:
        return self.columns[name][: self.size]

    def reserve(self, extra: int) -> None:
        capacity = len(self.columns["time"])
        if self.size + extra > capacity:
            capacity = max(self.size + extra, 2 * capacity)
            self.columns = {
                name: grown(column, capacity, fill_of(name))
                for name, column in self.columns.items()
            }

    def put(self, start: int, block: dict[str, np.ndarray]) -> None:
        """Write `block` at rows [start, start + n) and make that the end of the segment."""
        count = len(block["time"])
        self.size = start
        self.reserve(count)
        for name, column in self.columns.items():
            column[start : start + count] = block[name]
        self.size = start + count

    def take(self, rows: np.ndarray) -> dict[str, np.ndarray]:
        return {name: column[rows] for name, column in self.columns.items()}


def fill_of(name: str) -> Any:
    return {"alive": False, "age": np.nan, "vector": 0.0, "sq_norm": 0.0}.get(
        name, None if name in OBJECTS else MISSING
    )


def empty_columns(dim: int, capacity: int) -> dict[str, np.ndarray]:
    columns = {
        "time": np.zeros(capacity, np.int64),
        "alive": np.zeros(capacity, bool),
        "revision": np.zeros(capacity, np.int32),
        "quality": np.zeros(capacity, np.float32),
        "age": np.full(capacity, np.nan, np.float32),
        "type": np.full(capacity, MISSING, np.int8),
        "event": np.full(capacity, MISSING, np.int8),
        "sq_norm": np.zeros(capacity, np.float32),
        "vector": np.zeros((capacity, dim), np.float32),
    }
    columns.update({name: np.full(capacity, MISSING, np.int32) for name in CODED})
    columns.update({name: np.full(capacity, None, object) for name in OBJECTS})
    return columns


@dataclass(frozen=True)
class Selection:
    """Encoded conditions; None means any. Codes that match nothing are empty lists."""

    since_us: int | None = None
    until_us: int | None = None
    cameras: list[int] | None = None
    types: list[int] | None = None
    attributes: dict[str, list[int]] = field(default_factory=dict)
    models: list[int] | None = None  # only rows with a feature of one of these models
    plate: str | None = None  # `plate_key` text contained in the row's plate


class HistoryIndex:
    """Capture rows of one vector dimension, sorted by time, with their filter columns."""

    def __init__(self, dim: int = 128) -> None:
        self.dim = dim
        self.main = Segment(dim)
        self.tail = Segment(dim)
        self.where: dict[str, int] = {}
        self.codes: dict[str, dict[str, int]] = {name: {} for name in CODED}
        self.values: dict[str, list[str]] = {name: [] for name in CODED}

    def __len__(self) -> int:
        return len(self.where)

    def __contains__(self, capture_id: str) -> bool:
        return capture_id in self.where

    # -- encoding -------------------------------------------------------------------------

    def code(self, name: str, value: str | None) -> int:
        if name in FIXED:
            return FIXED[name].index(value) if value in FIXED[name] else MISSING
        if not value:
            return MISSING
        codes = self.codes[name]
        if value not in codes:
            codes[value] = len(codes)
            self.values[name].append(value)
        return codes[value]

    def known(self, name: str, values: Iterable[str]) -> list[int]:
        """Codes of the values already seen (an unseen value matches no row)."""
        if name in FIXED:
            return [FIXED[name].index(v) for v in values if v in FIXED[name]]
        return [self.codes[name][v] for v in values if v in self.codes[name]]

    def decode(self, name: str, code: int) -> str | None:
        if code == MISSING:
            return None
        return FIXED[name][code] if name in FIXED else self.values[name][code]

    def fields(self, segment: Segment, row: int) -> dict[str, Any]:
        """A row as `HistoryRecord` fields (times in microseconds, no crop)."""
        columns = segment.columns
        age = float(columns["age"][row])
        fields = {name: columns[name][row] for name in OBJECTS}
        fields.update({name: self.decode(name, int(columns[name][row])) for name in CODED})
        fields.update({name: self.decode(name, int(columns[name][row])) for name in FIXED})
        fields.update(
            captured_us=int(columns["time"][row]),
            revision=int(columns["revision"][row]),
            quality=float(columns["quality"][row]),
            age=None if np.isnan(age) else age,
        )
        return fields

    def block(self, rows: list[dict[str, Any]]) -> dict[str, np.ndarray]:
        """Columns of stored rows (the Milvus row dicts: '' and -1 mean none)."""
        vectors = np.asarray([row["vector"] for row in rows], np.float32).reshape(-1, self.dim)
        featured = np.array([bool(row["has_feature"]) for row in rows])
        vectors[~featured] = 0.0
        block = {
            "time": np.array([row["captured_us"] for row in rows], np.int64),
            "alive": np.ones(len(rows), bool),
            "revision": np.array([row["revision"] for row in rows], np.int32),
            "quality": np.array([row["quality"] for row in rows], np.float32),
            "age": np.array([row["age"] if row["age"] >= 0 else np.nan for row in rows], "f4"),
            "sq_norm": np.einsum("ij,ij->i", vectors, vectors),
            "vector": vectors,
        }
        for name in FIXED:
            block[name] = np.array([self.code(name, row[name]) for row in rows], np.int8)
        for name in CODED:
            block[name] = np.array([self.code(name, row[name]) for row in rows], np.int32)
        block["model"][~featured] = MISSING
        for name in OBJECTS:
            column = np.empty(len(rows), object)
            column[:] = [row[name] or None for row in rows]
            block[name] = column
        return block

    # -- writes (caller holds the write lock) ---------------------------------------------

    def revision(self, capture_id: str) -> int | None:
        place = self.where.get(capture_id)
        if place is None:
            return None
        segment, row = self.locate(place)
        return int(segment.columns["revision"][row])

    def add(self, rows: list[dict[str, Any]]) -> None:
        """Add stored rows; a row replaces the stored one of its capture_id."""
        rows = list({row["capture_id"]: row for row in rows}.values())  # the last one wins
        if not rows:
            return
        self.remove([row["capture_id"] for row in rows])
        block = self.block(rows)
        start = self.tail.size
        self.tail.put(start, block)
        for offset, capture_id in enumerate(block["capture_id"]):
            self.where[capture_id] = TAIL + start + offset
        if self.tail.size >= TAIL_MAX:
            self.merge()

    def remove(self, capture_ids: Iterable[str]) -> int:
        removed = 0
        for capture_id in capture_ids:
            place = self.where.pop(capture_id, None)
            if place is not None:
                segment, row = self.locate(place)
                segment.columns["alive"][row] = False
                segment.dead += 1
                removed += 1
        return removed

    def purge(self, before_us: int) -> int:
        """Drop rows captured before `before_us`; returns how many."""
        old = [
            capture_id
            for segment in (self.main, self.tail)
            for capture_id in segment["capture_id"][
                segment["alive"] & (segment["time"] < before_us)
            ]
        ]
        removed = self.remove(old)
        if removed:
            self.merge(compact=True)
        return removed

    def merge(self, compact: bool = False) -> None:
        """Move the tail into `main`, re-sorting `main` only from where the tail reaches."""
        main, tail = self.main, self.tail
        if compact or main.dead > COMPACT_FRACTION * max(main.size, 1):
            start = 0
        elif tail.size:
            start = int(np.searchsorted(main["time"], tail["time"].min(), side="right"))
        else:
            return
        rows = np.concatenate([np.arange(start, main.size), TAIL + np.arange(tail.size)])
        alive = np.concatenate([main["alive"][start:], tail["alive"]])
        times = np.concatenate([main["time"][start:], tail["time"]])
        rows = rows[alive][np.argsort(times[alive], kind="stable")]
        from_main, from_tail = rows[rows < TAIL], rows[rows >= TAIL] - TAIL
        moved = {
            name: np.empty((len(rows), *column.shape[1:]), column.dtype)
            for name, column in main.columns.items()
        }
        order = np.concatenate([np.flatnonzero(rows < TAIL), np.flatnonzero(rows >= TAIL)])
        for name in moved:
            parts = np.concatenate([main.columns[name][from_main], tail.columns[name][from_tail]])
            moved[name][order] = parts
        main.dead -= int(np.count_nonzero(~main["alive"][start:]))
        main.put(start, moved)
        for row, capture_id in enumerate(moved["capture_id"], start):
            self.where[capture_id] = row
        self.tail = Segment(self.dim)

    def locate(self, place: int) -> tuple[Segment, int]:
        return (self.tail, place - TAIL) if place >= TAIL else (self.main, place)

    # -- reads (caller holds the read lock) -----------------------------------------------

    def parts(self, selection: Selection) -> list[tuple[Segment, int, np.ndarray]]:
        """Per segment (start, mask): the rows passing `selection` are start + nonzero(mask)."""
        found = []
        for segment in (self.main, self.tail):
            if segment is self.main:
                times = segment["time"]
                start = (
                    0
                    if selection.since_us is None
                    else int(np.searchsorted(times, selection.since_us))
                )
                stop = (
                    segment.size
                    if selection.until_us is None
                    else int(np.searchsorted(times, selection.until_us, side="right"))
                )
                mask = segment["alive"][start:stop].copy()
            else:
                start, stop = 0, segment.size
                mask = segment["alive"].copy()
                if selection.since_us is not None:
                    mask &= segment["time"] >= selection.since_us
                if selection.until_us is not None:
                    mask &= segment["time"] <= selection.until_us
            if mask.size:
                self._narrow(segment, start, stop, mask, selection)
                found.append((segment, start, mask))
        return found

    def _narrow(
        self, segment: Segment, start: int, stop: int, mask: np.ndarray, selection: Selection
    ) -> None:
        def keep(name: str, codes: list[int] | None) -> None:
            if codes is None:
                return
            if not codes:
                mask[:] = False
                return
            column = segment.columns[name][start:stop]
            mask[:] &= column == codes[0] if len(codes) == 1 else np.isin(column, codes)

        keep("camera_id", selection.cameras)
        keep("type", selection.types)
        keep("model", selection.models)
        for name, codes in selection.attributes.items():
            keep(name, codes)
        if selection.plate is not None:
            rows = np.flatnonzero(mask)
            plates = segment.columns["plate"][start:stop][rows]
            wanted = [selection.plate in plate_key(plate) for plate in plates]
            mask[:] = False
            mask[rows[np.asarray(wanted, bool)]] = True

    def count(self, selection: Selection) -> int:
        return sum(int(np.count_nonzero(mask)) for _, _, mask in self.parts(selection))

    def nearest(
        self, query: np.ndarray, k: int, selection: Selection
    ) -> tuple[list[tuple[Segment, int, float]], int]:
        """The k rows nearest `query` (segment, row, L2 distance), and how many passed."""
        query = np.asarray(query, np.float32).reshape(self.dim)
        fetch = k + 16  # scores lose a little precision; re-rank a few extra exactly
        candidates: list[tuple[Segment, np.ndarray]] = []
        allowed = 0
        for segment, start, mask in self.parts(selection):
            count = int(np.count_nonzero(mask))
            allowed += count
            if not count:
                continue
            if count > mask.size // 2:  # dense: the contiguous slice, refused rows at inf
                rows = None
                block = segment.columns["vector"][start : start + mask.size]
                scores = segment.columns["sq_norm"][start : start + mask.size] - 2.0 * (
                    block @ query
                )
                scores[~mask] = np.inf
            else:
                rows = start + np.flatnonzero(mask)
                block = np.take(segment.columns["vector"], rows, axis=0)
                scores = segment.columns["sq_norm"][rows] - 2.0 * (block @ query)
            best = np.argpartition(scores, fetch - 1)[:fetch] if fetch < scores.size else None
            best = np.arange(scores.size) if best is None else best
            best = best[np.isfinite(scores[best])]
            candidates.append((segment, (start + best) if rows is None else rows[best]))
        ranked = []
        for segment, rows in candidates:
            distances = np.linalg.norm(segment.columns["vector"][rows] - query, axis=1)
            ranked += [(segment, int(r), float(d)) for r, d in zip(rows, distances, strict=True)]
        ranked.sort(key=lambda hit: hit[2])
        return ranked[:k], allowed

    def newest(self, selection: Selection, limit: int) -> tuple[list[tuple[Segment, int]], int]:
        """The `limit` newest rows passing `selection`, newest first, and how many passed."""
        picked: list[tuple[int, Segment, int]] = []
        total = 0
        for segment, start, mask in self.parts(selection):
            rows = start + np.flatnonzero(mask)
            total += rows.size
            if segment is not self.main:  # main is in time order already
                rows = rows[np.argsort(segment.columns["time"][rows], kind="stable")]
            rows = rows[::-1][:limit]
            picked += [(int(segment.columns["time"][r]), segment, int(r)) for r in rows]
        picked.sort(key=lambda item: item[0], reverse=True)
        return [(segment, row) for _, segment, row in picked[:limit]], total

    def ordered(self, selection: Selection) -> tuple[list[tuple[Segment, int]], np.ndarray]:
        """Every row passing `selection`, oldest first, with its vector (float32 copies)."""
        pieces = [(s, start + np.flatnonzero(mask)) for s, start, mask in self.parts(selection)]
        times = np.concatenate(
            [s.columns["time"][rows] for s, rows in pieces] or [np.zeros(0, np.int64)]
        )
        vectors = np.concatenate(
            [s.columns["vector"][rows] for s, rows in pieces] or [np.zeros((0, self.dim), "f4")]
        )
        places = [(s, int(row)) for s, rows in pieces for row in rows]
        order = np.argsort(times, kind="stable")
        return [places[i] for i in order], vectors[order]
