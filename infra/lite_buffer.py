"""Milvus Lite's write buffer, bounded by what it costs in memory rather than in Arrow bytes.

Milvus Lite 3 is a Python engine: writes stay in a memtable of Arrow batches until the
batches' accounted size reaches `MILVUS_LITE_MEMTABLE_MEMORY_LIMIT_BYTES` (128 MiB by
default), then go to Parquet. The account counts Arrow buffers only, and a one-row write
costs ~15 kB of process memory for ~2 kB of account: the history writer (three
single-row upserts per capture) grew ~45 kB per capture and would have reached ~1 GB
before its first flush. At 2 MiB, single-row writes flush every ~950. Bulk writes (1000-row batches)
then flush every ~2k rows: 50k rows went in at 12.4k rows/s instead of 21.9k, and a
search of Lite itself took 71 ms instead of 708 (flushed segments are indexed; the
memtable is scanned row by row). Vigil searches its own in-memory indexes, not Lite.

The account still misses what dominates for small writes: each write call leaves Arrow
batches whose C++ and Python objects cost ~10 kB however few rows they hold. The history
writer writes a few rows per call, so 2 MiB of account was still ~2,500 calls and ~30 MB
of memory in a 30-minute soak, before any flush. `FlushPacer` also flushes every
`FLUSH_EVERY_WRITES` calls per collection, which bounds that part to ~3 MB; bulk writes
make few calls and are not affected.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field

LIMIT_ENV = "MILVUS_LITE_MEMTABLE_MEMORY_LIMIT_BYTES"
DEFAULT_LIMIT_BYTES = 2 * 2**20
FLUSH_EVERY_ENV = "VIGIL_LITE_FLUSH_EVERY"
FLUSH_EVERY_WRITES = 256  # 0 in the environment: only Lite's own byte limit flushes


def bound_write_buffer() -> int:
    """Apply the limit to this process's Lite engine (a value set in the environment wins)."""
    from milvus_lite.engine import collection

    limit = int(os.environ.get(LIMIT_ENV) or DEFAULT_LIMIT_BYTES)
    collection.MEMTABLE_MEMORY_LIMIT = limit  # read at every write, so later opens see it
    return limit


def flush_every() -> int:
    return int(os.environ.get(FLUSH_EVERY_ENV) or FLUSH_EVERY_WRITES)


@dataclass
class FlushPacer:
    """Calls `flush(collection)` once every `every` writes to that collection."""

    flush: Callable[[str], None]
    every: int = field(default_factory=lambda: flush_every())
    writes: dict[str, int] = field(default_factory=dict)

    def written(self, collection: str) -> None:
        if self.every <= 0:
            return
        count = self.writes.get(collection, 0) + 1
        if count >= self.every:
            self.flush(collection)
            count = 0
        self.writes[collection] = count
