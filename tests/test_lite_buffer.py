"""Milvus Lite's write buffer is flushed to disk by size and by write calls, so small writes
cannot pile up in memory (the history writer grew ~45 kB per capture under Lite's own
128 MiB limit)."""

from __future__ import annotations

import numpy as np
import pytest
from milvus_lite.engine import collection

from tests.support.synthetic_captures import face_capture
from vigil.history.service import HistoryService
from vigil.infra.lite_buffer import DEFAULT_LIMIT_BYTES, FLUSH_EVERY_ENV, LIMIT_ENV, FlushPacer

pytestmark = pytest.mark.integration


@pytest.fixture
def lite_env(monkeypatch):
    """Restores the engine's limit after the test, whatever the test sets."""
    monkeypatch.setattr(collection, "MEMTABLE_MEMORY_LIMIT", collection.MEMTABLE_MEMORY_LIMIT)
    monkeypatch.delenv(LIMIT_ENV, raising=False)
    monkeypatch.delenv(FLUSH_EVERY_ENV, raising=False)
    return monkeypatch


def parquet_files(tmp_path) -> list:
    return list((tmp_path / "history.db").rglob("*.parquet"))


def add_captures(history: HistoryService, count: int, start: int = 0) -> np.ndarray:
    """`count` captures, one `add` each (as the writer does); returns the last vector."""
    rng = np.random.default_rng(start)
    for n in range(start, start + count):
        vector = rng.normal(size=128).astype(np.float32)
        vector /= np.linalg.norm(vector)
        history.add([face_capture(vector, track_id=str(n))])
    return vector


def test_opening_a_lite_store_bounds_its_write_buffer(lite_env, tmp_path):
    with HistoryService(tmp_path / "history.db"):
        assert collection.MEMTABLE_MEMORY_LIMIT == DEFAULT_LIMIT_BYTES


def test_small_writes_reach_parquet_once_over_the_byte_limit(lite_env, tmp_path):
    lite_env.setenv(LIMIT_ENV, str(64 * 1024))
    lite_env.setenv(FLUSH_EVERY_ENV, "0")
    with HistoryService(tmp_path / "history.db") as history:
        assert not parquet_files(tmp_path)
        last = add_captures(history, 100)
        assert parquet_files(tmp_path), "the memtable was flushed"
        assert len(history.search(last, k=1).hits) == 1
    with HistoryService(tmp_path / "history.db") as reopened:
        assert len(reopened) == 100


def test_every_nth_write_call_flushes(lite_env, tmp_path):
    lite_env.setenv(FLUSH_EVERY_ENV, "10")
    with HistoryService(tmp_path / "history.db") as history:
        add_captures(history, 9)
        assert not parquet_files(tmp_path), "nine calls: still in memory"
        add_captures(history, 1, start=9)
        assert parquet_files(tmp_path), "the tenth call flushed"


def test_flush_pacer_counts_each_collection_apart():
    flushed: list[str] = []
    pacer = FlushPacer(flushed.append, every=2)
    for name in ["a", "b", "a", "a", "b", "a"]:
        pacer.written(name)
    assert flushed == ["a", "b", "a"]
    FlushPacer(flushed.append, every=0).written("c")
    assert "c" not in flushed, "0 turns it off"
