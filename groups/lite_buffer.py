"""Milvus Lite's write buffer, bounded by what it costs in memory rather than in Arrow bytes.

Milvus Lite 3 is a Python engine: writes stay in a memtable of Arrow batches until the
batches' accounted size reaches `MILVUS_LITE_MEMTABLE_MEMORY_LIMIT_BYTES` (128 MiB by
default), then go to Parquet. The account counts Arrow buffers only, and a one-row write
costs ~15 kB of process memory for ~2 kB of account: the history writer (three
single-row upserts per capture) grew ~45 kB per capture and would have reached ~1 GB
before its first flush. 2 MiB bounds that to ~30 MB. Bulk writes (1000-row batches)
then flush every ~2k rows: 50k rows went in at 12.4k rows/s instead of 21.9k, and a
search of Lite itself took 71 ms instead of 708 (flushed segments are indexed; the
memtable is scanned row by row). Vigil searches its own in-memory indexes, not Lite.
"""

from __future__ import annotations

import os

LIMIT_ENV = "MILVUS_LITE_MEMTABLE_MEMORY_LIMIT_BYTES"
DEFAULT_LIMIT_BYTES = 2 * 2**20


def bound_write_buffer() -> int:
    """Apply the limit to this process's Lite engine (a value set in the environment wins)."""
    from milvus_lite.engine import collection

    limit = int(os.environ.get(LIMIT_ENV) or DEFAULT_LIMIT_BYTES)
    collection.MEMTABLE_MEMORY_LIMIT = limit  # read at every write, so later opens see it
    return limit
