"""The Milvus base of the stores built on it: connection, errors, collections, scans.

`uri` is a path to a `.db` file (Milvus Lite, embedded, the default) or
`http://host:port` (a Milvus server, for production and for several processes:
a Lite file can be opened by one process only, others get `store_unavailable`).

`MilvusBase` holds what every store shares and nothing of any one of them: the client,
the error mapping (`unavailable`), collection creation and loading, scans, and the Lite
write-buffer bound and flush pacing (`vigil.infra.lite_buffer`). A store names and creates
its own collections in `_ensure_collections`. `Mirrored` is the skeleton of the services
that serve reads from an in-memory mirror of such a store.

Times are stored as integer microseconds since the epoch (`to_us`, `from_us`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Generic, Self, TypeVar

import grpc
from pymilvus import MilvusClient
from pymilvus.exceptions import MilvusException

from vigil.infra.lite_buffer import FlushPacer, bound_write_buffer
from vigil.infra.rwlock import RWLock
from vigil.schemas.errors import ErrorCode, VigilError

WRITE_BATCH = 1000
# a server that has just restarted reloads the collections it held and replays its log before
# it answers queries: 50 s for a 4M-row group on 2 shared cores (docs/performance.md), more
# than one call's timeout; opening a collection waits this long for it to answer
READY_TIMEOUT = 600.0
SCAN_BATCH = 10_000  # each iterator page waits for a Milvus time tick (~0.3 s): few, big pages
SEARCH_PARAMS = {"HNSW": {"ef": 128}, "IVF_FLAT": {"nprobe": 32}, "FLAT": {}}
BUILD_PARAMS = {"HNSW": {"M": 16, "efConstruction": 200}, "IVF_FLAT": {"nlist": 1024}, "FLAT": {}}


class _NoSessionTsWarning(logging.Filter):
    """Lite and 2.3 servers return no iterator session ts; pymilvus warns on every scan."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "mvccTs" not in record.getMessage()


logging.getLogger("pymilvus.client.iterator.query_iterator").addFilter(_NoSessionTsWarning())
log = logging.getLogger(__name__)


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MICROSECOND = timedelta(microseconds=1)


def to_us(moment: datetime) -> int:
    return (moment - EPOCH) // MICROSECOND  # exact, unlike float timestamps


def from_us(value: int) -> datetime:
    return EPOCH + value * MICROSECOND


def quote(value: str) -> str:
    """A Milvus expression string literal."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


@contextmanager
def unavailable(action: str) -> Iterator[None]:
    """Any Milvus or transport failure becomes `store_unavailable`, naming what was tried."""
    try:
        yield
    except VigilError:
        raise
    except (MilvusException, grpc.RpcError, OSError, RuntimeError) as exc:
        # grpc.RpcError: pymilvus lets a deadline exceeded in a query iterator's set-up through
        raise VigilError(ErrorCode.STORE_UNAVAILABLE, f"{action}: {exc}") from exc


class MilvusBase:
    """A Milvus (Lite file or server) connection; subclasses own the collections."""

    SERVER_INDEX = "HNSW"  # a server collection's vector index unless one is named

    def __init__(
        self,
        uri: str | Path,
        index_type: str | None = None,
        timeout: float = 30.0,
        ready_timeout: float = READY_TIMEOUT,
    ):
        self.uri = str(uri)
        self.ready_timeout = ready_timeout
        self.is_server = self.uri.startswith(("http://", "https://", "tcp://", "unix:"))
        self.index_type = index_type or (self.SERVER_INDEX if self.is_server else "FLAT")
        self.timeout = timeout
        self._loaded: set[str] = set()
        if not self.is_server:
            Path(self.uri).parent.mkdir(parents=True, exist_ok=True)
            bound_write_buffer()
        with unavailable(f"cannot open Milvus at {self.uri} (a Lite file is one process's)"):
            self.client = MilvusClient(self.uri, timeout=timeout)
            self._pacer = None if self.is_server else FlushPacer(self.client.flush)
            self._ensure_collections()

    def _ensure_collections(self) -> None:
        """Create or load the store's own collections (run by `__init__`, errors mapped)."""

    def close(self) -> None:
        """Close, and stop this process's embedded Lite server so another process may open
        the file (pymilvus keeps it running until exit otherwise)."""
        with unavailable("close"):
            self.client.close()
        if not self.is_server:
            from milvus_lite.server_manager import server_manager_instance

            with unavailable("release the Milvus Lite file"):
                server_manager_instance.release_server(self.uri)

    def _written(self, collection: str) -> None:
        """Count a write call: Lite is flushed every few hundred (`lite_buffer`)."""
        if self._pacer is not None:
            self._pacer.written(collection)

    # -- schema ---------------------------------------------------------------------------

    def _create(self, name: str, fields: Callable[[Any], None], vector: str, index: str) -> None:
        """Collection, then index without waiting (Lite cannot report index progress), load."""
        schema = self.client.create_schema(auto_id=False, enable_dynamic_field=False)
        fields(schema)
        self.client.create_collection(name, schema=schema, consistency_level="Strong")
        params = self.client.prepare_index_params()
        params.add_index(vector, index_type=index, metric_type="L2", params=BUILD_PARAMS[index])
        self.client.create_index(name, params, sync=False)
        self.client.load_collection(name)
        self._loaded.add(name)

    def _open(self, name: str) -> bool:
        """Load an existing collection once per process (a reopened Lite file starts released)."""
        if name in self._loaded:
            return True
        if not self.client.has_collection(name):
            return False
        self.client.load_collection(name)
        self._wait_queryable(name)
        self._loaded.add(name)
        return True

    def _wait_queryable(self, name: str) -> None:
        """Wait until a loaded server collection answers a query (a count), retrying calls
        that time out for up to `ready_timeout`: a server that has just restarted answers
        only once it has reloaded its collections, and without this wait the first reads
        of a service starting beside it failed after `timeout` (bench_search_restart, 4M)."""
        if not self.is_server:
            return
        deadline = time.monotonic() + self.ready_timeout
        while True:
            try:
                self.client.query(name, filter="", output_fields=["count(*)"], timeout=self.timeout)
                return
            except (MilvusException, grpc.RpcError) as exc:
                if time.monotonic() >= deadline:
                    raise
                log.warning("Milvus collection %s not answering yet (%s); waiting", name, exc)
                time.sleep(1)

    # -- reads ----------------------------------------------------------------------------

    def _scan(
        self, collection: str, fields: list[str], filter: str = ""
    ) -> Iterator[list[dict[str, Any]]]:
        """Rows passing a Milvus filter, in `SCAN_BATCH` pages (callers map the errors)."""
        iterator = self.client.query_iterator(
            collection,
            batch_size=SCAN_BATCH,
            filter=filter,
            output_fields=fields,
            timeout=self.timeout,
        )
        try:
            while batch := iterator.next():
                yield batch
        finally:
            iterator.close()


S = TypeVar("S", bound=MilvusBase)


class Mirrored(Generic[S]):
    """A service whose system of record is a Milvus store and whose reads use a mirror.

    Write then mirror: a change goes to Milvus first and reaches memory only once Milvus
    accepted it, so a failed write leaves both as they were. Writers are serialised by
    `_writer` (Milvus I/O and slow rebuilds run under it only); memory changes take
    `_rw.write()` and reads `_rw.read()`, so a reader sees a change whole or not at all.
    The mirror belongs to this process.
    """

    def __init__(self, store: S) -> None:
        self.store = store
        self._writer = threading.Lock()
        self._rw = RWLock()

    def _start(self) -> None:
        """Build the mirror (end of a subclass's `__init__`); on failure release the store,
        so a Lite file is free for the caller's next attempt."""
        try:
            self.reload()
        except BaseException:
            self.store.close()
            raise

    def reload(self) -> None:
        """Rebuild the mirror from Milvus."""
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        self.store.close()
