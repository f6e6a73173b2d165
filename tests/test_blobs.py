"""Which Celery configurations send pictures beside their messages, and what a worker accepts."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from vigil.errors import ErrorCode, VigilError
from vigil.infra import blobs


def conf(broker: str, backend: str, eager: bool = False) -> SimpleNamespace:
    return SimpleNamespace(broker_url=broker, result_backend=backend, task_always_eager=eager)


@pytest.mark.parametrize(
    ("broker", "backend", "expected"),
    [
        ("redis://h:6379/0", "redis://h:6379/1", "redis://h:6379/0"),
        ("amqp://guest@h//", "rediss://h:6380/1", "rediss://h:6380/1"),
        ("amqp://guest@h//", "rpc://", None),
        ("memory://", "cache+memory://", None),
    ],
)
def test_blobs_live_in_the_first_redis_of_broker_and_backend(broker, backend, expected):
    assert blobs.blob_url(broker, backend) == expected
    store = blobs.store_for(conf(broker, backend))
    assert (store.url if store else None) == expected


def test_an_eager_app_sends_no_blobs():
    assert blobs.store_for(conf("redis://h:6379/0", "redis://h:6379/1", eager=True)) is None


@pytest.mark.parametrize(
    ("value", "reference"),
    [
        ({"blob": "vigil:blob:ab"}, True),
        ({"blob": "vigil:blob:ab", "extra": 1}, False),
        ({"blob": 3}, False),
        (b"\xff\xd8 jpeg bytes", False),
        ("/data/portrait.jpg", False),
    ],
)
def test_only_a_lone_blob_key_is_a_reference(value, reference):
    assert blobs.is_reference(value) is reference


@pytest.mark.parametrize("value", [{"blob": "vigil:blob:ab"}, {"feature": [0.1]}])
def test_a_worker_refuses_a_reference_it_cannot_read_and_passes_bytes_and_paths(value):
    amqp = conf("amqp://guest@h//", "rpc://")
    assert blobs.picture(b"bytes", amqp) == b"bytes"
    assert blobs.picture("/data/a.jpg", amqp) == "/data/a.jpg"
    with pytest.raises(VigilError) as refused:
        blobs.picture(value, amqp)
    assert refused.value.code is ErrorCode.INVALID_OPTIONS
