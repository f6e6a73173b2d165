"""A store opened beside a Milvus server that has just restarted waits for it to answer.

A restarted server reloads the collections it held before it answers queries (50 s for a
4M-row group on 2 cores, `bench/bench_search_restart.py`); a service starting meanwhile
failed its first journal read after the 30 s call timeout, with a raw gRPC error. Here a
stub client plays the recovering server.
"""

from __future__ import annotations

from typing import Any

import grpc
import pytest
from pymilvus.exceptions import MilvusException

from vigil.errors import ErrorCode, VigilError
from vigil.infra import milvus
from vigil.infra.milvus import MilvusBase, unavailable


class Recovering:
    """A server's client whose queries time out `failures` times, then answer."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.queries = 0
        self.loaded: list[str] = []

    def has_collection(self, name: str) -> bool:
        return True

    def load_collection(self, name: str) -> None:
        self.loaded.append(name)

    def query(self, name: str, **kwargs: Any) -> list[dict]:
        self.queries += 1
        if self.queries <= self.failures:
            raise MilvusException(message="deadline exceeded")
        return [{"count(*)": 0}]


def opened(monkeypatch: pytest.MonkeyPatch, client: Recovering, ready_timeout: float) -> MilvusBase:
    monkeypatch.setattr(milvus, "MilvusClient", lambda uri, timeout: client)
    monkeypatch.setattr(milvus.time, "sleep", lambda seconds: None)
    return MilvusBase("http://milvus.invalid:19530", timeout=1, ready_timeout=ready_timeout)


def test_opening_a_collection_waits_until_the_server_answers(monkeypatch: pytest.MonkeyPatch):
    client = Recovering(failures=3)
    store = opened(monkeypatch, client, ready_timeout=600)
    assert store._open("vigil_group_journal")
    assert client.loaded == ["vigil_group_journal"] and client.queries == 4
    assert store._open("vigil_group_journal") and client.queries == 4  # once per process


def test_a_server_that_never_answers_is_unavailable(monkeypatch: pytest.MonkeyPatch):
    store = opened(monkeypatch, Recovering(failures=10**9), ready_timeout=0)
    with pytest.raises(VigilError) as caught, unavailable("open the journal"):
        store._open("vigil_group_journal")
    assert caught.value.code == ErrorCode.STORE_UNAVAILABLE


def test_a_grpc_error_is_store_unavailable():
    class Deadline(grpc.RpcError):
        pass

    with pytest.raises(VigilError) as caught, unavailable("read the journal"):
        raise Deadline("deadline exceeded")
    assert caught.value.code == ErrorCode.STORE_UNAVAILABLE
