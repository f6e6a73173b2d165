"""Large task payloads beside the Celery message, not in it (the claim-check pattern).

A portrait of ~300 KB sent as a task argument is copied and re-encoded several times
on its way: kombu's Redis transport wraps the (msgpack) body in base64 inside a JSON
envelope, the worker's prefork parent decodes it, writes a second JSON copy into the
broker's unacked hash and pipes the body to its child. On a 2-core host measured
with `bench/bench_enroll.py --celery`, that parent cost as much CPU as a third of a
worker and held two workers to x1.54 of one. A blob instead goes once into Redis
under a random key (`put`), the message carries `{"blob": key}`, and the worker
reads it (`get`). The sender deletes the blob once the task's result is in
(`drop`), not the worker: a task re-delivered after its worker died mid-way (acks_late)
still finds its bytes.

Blobs live in the Celery broker's Redis, or the result backend's when only that one
is Redis; both sides derive the store from their own Celery settings, so a message
never names a server to connect to. With neither on Redis (RabbitMQ and the rpc
backend, or `memory://` in-process) there is no store and bytes travel in the
message as before. A blob left behind (its task never ran) expires after `TTL_S`.
"""

from __future__ import annotations

import threading
import uuid
from typing import Any

from vigil.infra.safe_read import IMAGE_LIMIT
from vigil.schemas.errors import ErrorCode, VigilError

PREFIX = "vigil:blob:"
TTL_S = 3600  # longer than any task waits in a queue the enrolment window bounds
REDIS_SCHEMES = ("redis://", "rediss://")

_clients: dict[str, Any] = {}
_clients_lock = threading.Lock()


def blob_url(broker: str | None, backend: str | None) -> str | None:
    """The Redis that holds blobs for this Celery configuration, or None (inline bytes)."""
    for url in (broker, backend):
        if isinstance(url, str) and url.startswith(REDIS_SCHEMES):
            return url
    return None


def is_reference(value: object) -> bool:
    """A task argument that names a blob: {"blob": key} and nothing else."""
    return isinstance(value, dict) and set(value) == {"blob"} and isinstance(value["blob"], str)


class BlobStore:
    """Bytes under random keys in one Redis, kept until their sender drops them or TTL_S."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.client = _client(url)

    def put(self, data: bytes) -> dict[str, str]:
        """Store `data`; the reference to send in its place."""
        key = PREFIX + uuid.uuid4().hex
        self.client.set(key, data, ex=TTL_S)
        return {"blob": key}

    def get(self, reference: dict[str, str], limit: int = IMAGE_LIMIT) -> bytes:
        """The bytes of `reference`; a coded error when they are gone or over `limit`
        (checked before they are read: anyone who can write the broker can write a blob)."""
        key = _key(reference)
        size = self.client.strlen(key)
        if size > limit:
            raise VigilError(
                ErrorCode.IMAGE_TOO_LARGE, f"blob of {size:,} bytes, over the limit of {limit:,}"
            )
        data = self.client.get(key) if size else None
        if data is None:
            raise VigilError(
                ErrorCode.EMPTY_INPUT,
                f"blob {key[len(PREFIX) :]} is gone: its sender dropped it, or it is older"
                f" than {TTL_S} s",
            )
        return bytes(data)

    def drop(self, *references: dict[str, str]) -> None:
        """Delete blobs (the sender, once their task's result is in)."""
        if references:
            self.client.delete(*(_key(reference) for reference in references))


def _key(reference: dict[str, str]) -> str:
    key = reference["blob"]
    if not key.startswith(PREFIX):  # a message may not read other keys of the broker
        raise VigilError(ErrorCode.INVALID_OPTIONS, "a blob reference names no Vigil blob")
    return key


def store_for(conf: Any) -> BlobStore | None:
    """The blob store of a Celery app's configuration (`app.conf`); None for inline bytes."""
    if getattr(conf, "task_always_eager", False):
        return None
    url = blob_url(conf.broker_url, conf.result_backend)
    return BlobStore(url) if url else None


def _client(url: str) -> Any:
    """One connection pool per URL per process (redis-py resets it after a fork)."""
    import redis

    with _clients_lock:
        if url not in _clients:
            _clients[url] = redis.Redis.from_url(url, socket_timeout=30, socket_connect_timeout=10)
        return _clients[url]


def picture(value: bytes | str | dict[str, str], conf: Any) -> bytes | str:
    """A task's picture argument with a blob reference replaced by its bytes; bytes and
    paths as they are. `conf`: the worker's Celery configuration (`app.conf`)."""
    if isinstance(value, bytes | str):
        return value
    if not is_reference(value):
        raise VigilError(ErrorCode.INVALID_OPTIONS, 'a picture is bytes, a path or {"blob": key}')
    store = store_for(conf)
    if store is None:
        raise VigilError(
            ErrorCode.INVALID_OPTIONS,
            "a blob reference was sent, but this worker's broker and backend are not Redis",
        )
    return store.get(value)
