"""Milvus Lite's write buffer is flushed to disk by size, so small writes cannot pile up in
memory (the history writer grew ~45 kB per capture under Lite's 128 MiB default)."""

from __future__ import annotations

import numpy as np
import pytest
from milvus_lite.engine import collection

from vigil.capture.synthetic import face_capture
from vigil.groups.lite_buffer import DEFAULT_LIMIT_BYTES, LIMIT_ENV
from vigil.history.service import HistoryService

pytestmark = pytest.mark.integration


@pytest.fixture
def lite_limit(monkeypatch):
    """Restores the engine's limit after the test, whatever the test sets."""
    monkeypatch.setattr(collection, "MEMTABLE_MEMORY_LIMIT", collection.MEMTABLE_MEMORY_LIMIT)
    monkeypatch.delenv(LIMIT_ENV, raising=False)
    return monkeypatch


def parquet_files(tmp_path) -> list:
    return list((tmp_path / "history.db").rglob("*.parquet"))


def test_opening_a_lite_store_bounds_its_write_buffer(lite_limit, tmp_path):
    with HistoryService(tmp_path / "history.db"):
        assert collection.MEMTABLE_MEMORY_LIMIT == DEFAULT_LIMIT_BYTES


def test_single_row_writes_reach_parquet_once_over_the_limit(lite_limit, tmp_path):
    lite_limit.setenv(LIMIT_ENV, str(64 * 1024))
    rng = np.random.default_rng(0)
    with HistoryService(tmp_path / "history.db") as history:
        assert not parquet_files(tmp_path)
        for n in range(100):
            vector = rng.normal(size=128).astype(np.float32)
            history.add([face_capture(vector / np.linalg.norm(vector), track_id=str(n))])
        assert parquet_files(tmp_path), "the memtable was flushed"
        assert len(history.search(vector, k=1).hits) == 1
    with HistoryService(tmp_path / "history.db") as reopened:
        assert len(reopened) == 100
