"""`Keys`: a column of short strings (feature ids, person ids) with lookup, in numpy.

Why: a group of 10M members held its ids as Python strings in lists plus a dict from
id to row, ~200 B per row (2 GB at 10M) on top of the index. Here an id costs its
UTF-8 bytes in a fixed-width `S` array (32 B for the service's 32-hex feature ids),
plus a sorted copy and its positions for lookup (binary search, vectorised for many
keys at once): ~70 B per 32-hex id, and no Python object per row.

- Appends land in the column at once and in a small dict (`recent`); the dict is merged
  into the sorted copy when it outgrows `MERGE_MIN` or 1/32 of the column (a sorted
  insert: one O(n) copy, amortised), so a lookup is one binary search plus a dict probe.
- Readers (searches, pages, snapshots) never change a column: only appends, under the
  service's write lock, merge; the lookup is one attribute replaced whole.
- The width grows to the longest key seen (a copy of the column, once per new width).
  Keys must not end in NUL (numpy's `S` strips them); ids are printable text.
- Several positions may hold the same key (a feature removed, then added again by a
  journal replay): `find` returns them all and the caller keeps the live one.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

MERGE_MIN = 4096
MIN_CAPACITY = 64


def larger(capacity: int, needed: int) -> int:
    """The capacity to grow a column to: a quarter more (amortised O(1) appends without
    doubling a 10M-row group's columns for its next row), at least `needed`."""
    return max(needed, capacity + capacity // 4 + MIN_CAPACITY)


def encoded(keys: Iterable[str]) -> np.ndarray:
    """Keys as a fixed-width byte array (UTF-8), as wide as the longest."""
    raw = [key.encode() for key in keys]
    return np.array(raw, dtype=f"S{max((len(item) for item in raw), default=1) or 1}")


def inserted(
    lookup: tuple[np.ndarray, np.ndarray], keys: np.ndarray, positions: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """A new (sorted keys, positions) with `keys` at `positions` inserted in order."""
    stored, at_positions = lookup
    order = np.argsort(keys, kind="stable")
    at = np.searchsorted(stored, keys[order], side="right")
    return np.insert(stored, at, keys[order]), np.insert(at_positions, at, positions[order])


class Keys:
    """Append-only strings with positions; `find` maps keys back to positions."""

    def __init__(self, values: np.ndarray | None = None, capacity: int = MIN_CAPACITY) -> None:
        values = np.zeros(0, "S1") if values is None else values
        self.count = len(values)
        self.values = np.zeros(max(capacity, self.count, MIN_CAPACITY), values.dtype)
        self.values[: self.count] = values
        order = np.argsort(values, kind="stable")
        # (sorted keys, their positions): one attribute, replaced whole, so a reader
        # never pairs a new sorted copy with old positions
        self.lookup = (values[order], order.astype(np.int64))
        self.recent: dict[bytes, list[int]] = {}

    def __len__(self) -> int:
        return self.count

    @property
    def width(self) -> int:
        return self.values.dtype.itemsize

    @property
    def sorted(self) -> np.ndarray:
        return self.lookup[0]

    @property
    def positions(self) -> np.ndarray:
        return self.lookup[1]

    # -- writes ---------------------------------------------------------------------------

    def append(self, keys: list[str] | np.ndarray) -> np.ndarray:
        """Add keys at the end; their positions. A large block (a store scan, a bulk
        load) goes into the sorted copy at once, a few keys into `recent`."""
        block = keys if isinstance(keys, np.ndarray) else encoded(keys)
        if block.dtype.itemsize > self.width:
            self.values = self.values.astype(block.dtype)
            self.lookup = (self.sorted.astype(block.dtype), self.positions)
        start, stop = self.count, self.count + len(block)
        self.reserve(len(block))
        self.values[start:stop] = block
        self.count = stop
        positions = np.arange(start, stop)
        if len(block) >= MERGE_MIN:
            self.lookup = inserted(self.lookup, self.values[start:stop], positions)
            return positions
        for position, key in enumerate(self.values[start:stop].tolist(), start):
            self.recent.setdefault(key, []).append(position)
        if len(self.recent) > max(MERGE_MIN, len(self.sorted) // 32):
            self.merge()
        return positions

    def reserve(self, extra: int) -> None:
        """Room for `extra` more keys (a copy when the column must grow)."""
        if self.count + extra > len(self.values):
            bigger = np.zeros(larger(len(self.values), self.count + extra), self.values.dtype)
            bigger[: self.count] = self.values[: self.count]
            self.values = bigger

    def merge(self) -> None:
        """Fold the recent keys into the sorted copy (one sorted insert). The new lookup
        is in place before `recent` is emptied: a reader that takes `recent` first, then
        `lookup` (as `find` does) sees every key in one or the other."""
        if self.recent:
            self.lookup = self.combined()
            self.recent = {}

    def combined(self) -> tuple[np.ndarray, np.ndarray]:
        """The lookup with the recent keys folded in, without changing this column."""
        recent, lookup = self.recent, self.lookup
        if not recent:
            return lookup
        lists = list(recent.values())
        keys = np.repeat(np.array(list(recent), self.values.dtype), [len(p) for p in lists])
        return inserted(lookup, keys, np.array([p for plist in lists for p in plist], np.int64))

    # -- reads ----------------------------------------------------------------------------

    def key(self, position: int) -> str:
        return bytes(self.values[position]).decode()

    def keys(self, positions: np.ndarray) -> list[str]:
        return [item.decode() for item in self.values[positions].tolist()]

    def find(self, key: str) -> list[int]:
        """Every position holding `key` (none, usually one)."""
        raw = key.encode()
        if len(raw) > self.width or not raw or raw.endswith(b"\0"):
            return []
        recent = self.recent
        keys, positions = self.lookup
        probe = np.array(raw, self.values.dtype)
        left = int(np.searchsorted(keys, probe, side="left"))
        right = int(np.searchsorted(keys, probe, side="right"))
        return positions[left:right].tolist() + recent.get(raw, [])

    def find_many(self, keys: np.ndarray) -> np.ndarray:
        """The first position of each key (-1 where absent), for unique keys (members)."""
        recent = self.recent
        stored, positions = self.lookup
        at = np.searchsorted(stored, keys)
        found = np.full(len(keys), -1, np.int64)
        inside = np.flatnonzero(at < len(stored))
        hit = inside[stored[at[inside]] == keys[inside]]
        found[hit] = positions[at[hit]]
        if recent:
            for number in np.flatnonzero(found < 0).tolist():
                if got := recent.get(bytes(keys[number])):
                    found[number] = got[0]
        return found

    def ordered(self) -> np.ndarray:
        """Every position, in key order (without changing this column: readers call it)."""
        return self.combined()[1]

    def taken(self, positions: np.ndarray) -> Keys:
        """A new column of the keys at `positions`, in that order (for a compaction)."""
        return Keys(self.values[positions], capacity=len(positions))

    def arrays(self, prefix: str) -> dict[str, np.ndarray]:
        """The column and its lookup, for a snapshot (a load then sorts nothing)."""
        stored, positions = self.combined()
        return {
            prefix: self.values[: self.count],
            f"{prefix}.sorted": stored,
            f"{prefix}.positions": positions,
        }

    @classmethod
    def restored(cls, arrays: dict[str, np.ndarray], prefix: str, capacity: int) -> Keys:
        """The column `arrays(prefix)` saved, with room for `capacity` keys."""
        keys = cls.__new__(cls)
        values = arrays[prefix]
        keys.count = len(values)
        keys.values = np.zeros(max(capacity, keys.count, MIN_CAPACITY), values.dtype)
        keys.values[: keys.count] = values
        stored = arrays[f"{prefix}.sorted"].astype(values.dtype)
        positions = arrays[f"{prefix}.positions"].astype(np.int64)
        if len(stored) != keys.count or len(positions) != keys.count:
            raise ValueError(f"{prefix}: lookup of {len(stored)} keys for {keys.count}")
        keys.lookup = (stored, positions)
        keys.recent = {}
        return keys


class Texts:
    """Append-only strings of any length: one UTF-8 blob and end offsets (sources, ~their
    length + 8 B each, where a Python string costs ~50 B more)."""

    def __init__(self, blob: np.ndarray | None = None, ends: np.ndarray | None = None) -> None:
        self.blob = np.zeros(0, np.uint8) if blob is None else blob
        self.ends = np.zeros(0, np.int64) if ends is None else ends
        self.count = len(self.ends)

    def __len__(self) -> int:
        return self.count

    def append(self, texts: list[str]) -> None:
        encoded_texts = [text.encode() for text in texts]
        used = int(self.ends[self.count - 1]) if self.count else 0
        added = np.frombuffer(b"".join(encoded_texts), np.uint8)
        if used + added.size > self.blob.size:
            self.blob = np.resize(self.blob, larger(self.blob.size, used + added.size))
        self.blob[used : used + added.size] = added
        self.reserve(len(texts))
        lengths = np.array([len(item) for item in encoded_texts], np.int64)
        self.ends[self.count : self.count + len(texts)] = used + np.cumsum(lengths)
        self.count += len(texts)

    def reserve(self, extra: int) -> None:
        if self.count + extra > self.ends.size:
            self.ends = np.resize(self.ends, larger(self.ends.size, self.count + extra))

    def text(self, position: int) -> str:
        start = int(self.ends[position - 1]) if position else 0
        return self.blob[start : int(self.ends[position])].tobytes().decode()

    def taken(self, positions: np.ndarray) -> Texts:
        """The texts at `positions`, in that order, as a new column (one gather)."""
        ends = self.ends[: self.count]
        starts = np.r_[0, ends[:-1]][positions]
        lengths = ends[positions] - starts
        new_ends = np.cumsum(lengths)
        offsets = np.arange(int(new_ends[-1]) if len(new_ends) else 0) - np.repeat(
            new_ends - lengths - starts, lengths
        )
        return Texts(self.blob[offsets], new_ends.astype(np.int64))

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        used = int(self.ends[self.count - 1]) if self.count else 0
        return self.blob[:used], self.ends[: self.count]
