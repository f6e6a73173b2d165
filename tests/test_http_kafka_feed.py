"""The Kafka path of the live feed, against a real Kafka-protocol broker (tansu).

`KafkaBus.tail` places a reader at the end of a topic for the event streams of
`vigil serve`; with VIGIL_BUS=kafka the server runs no cameras and only reads the topics
that `vigil ingest` / `vigil alarm` processes elsewhere publish to. What must hold: an
alert published once a stream is open reaches its SSE client, nothing older is replayed,
and a SIGTERM ends the open stream and the server promptly.
"""

from __future__ import annotations

import json
import signal
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import KAFKA_TEST_TIMEOUTS
from tests.support.api_keys import bearer, new_key
from tests.support.processes import free_port, start_vigil_serve, stop, wait_healthy
from tests.test_alert_sinks import make_alert
from vigil.infra.bus.kafka import KafkaBus
from vigil.infra.topics.alerts import AlertTopic
from vigil.schemas.camera import PipelineConfig

pytestmark = pytest.mark.timeout(60)
WAIT_S = 10.0


def poll_values(consumer, count: int, timeout: float = WAIT_S) -> list[bytes]:
    """What the consumer reads until it has `count` records, or `timeout` passed."""
    values: list[bytes] = []
    deadline = time.monotonic() + timeout
    while len(values) < count and time.monotonic() < deadline:
        values += [record.value for record in consumer.poll(timeout=0.2)]
    return values


def test_tail_reads_what_is_published_once_it_returns_and_nothing_older(kafka_bootstrap):
    """No gap: a record sent right after `tail` returns is read (the end offsets are
    looked up inside `tail`, not at the first poll, which would skip it)."""
    bus = KafkaBus(kafka_bootstrap)
    topic = f"tail-{uuid.uuid4().hex[:8]}"
    bus.ensure_topics([topic], partitions=2)
    producer = bus.producer()
    try:
        producer.send(topic, b"older", key="a")
        producer.flush(WAIT_S)
        consumer = bus.tail([topic])
        try:
            producer.send(topic, b"new-a", key="a")
            producer.send(topic, b"new-b", key="b")
            producer.flush(WAIT_S)
            values = poll_values(consumer, 2)
            values += poll_values(consumer, 1, timeout=0.5)  # nothing else comes
        finally:
            consumer.close()
    finally:
        producer.close()
        bus.close()
    assert sorted(values) == [b"new-a", b"new-b"]


def sse_events(lines: Iterator[str]) -> Iterator[dict[str, str]]:
    """Events of a text/event-stream, each as its fields; comments as {"comment": text}."""
    fields: dict[str, str] = {}
    for line in lines:
        if line.startswith(":"):
            yield {"comment": line[1:].strip()}
        elif line:
            name, _, value = line.partition(":")
            fields[name] = value.removeprefix(" ")
        elif fields:
            yield fields
            fields = {}


def test_vigil_serve_on_kafka_streams_a_new_alert_and_stops_promptly(
    tmp_path: Path, kafka_bootstrap
):
    port = free_port()
    key = new_key(tmp_path / "keys.json")
    env = {"VIGIL_BUS": "kafka", "VIGIL_KAFKA_BOOTSTRAP": kafka_bootstrap, **KAFKA_TEST_TIMEOUTS}
    log = (tmp_path / "serve.log").open("w")
    process = start_vigil_serve(port, tmp_path, log, env)
    bus = KafkaBus(kafka_bootstrap)
    producer = bus.producer()
    topic = AlertTopic(PipelineConfig.model_construct(cameras=[]).topics.alerts)
    older, alert = make_alert(person="older"), make_alert(person="kafka")
    try:
        wait_healthy(port, process)
        topic.send(producer, older)  # before the stream: not replayed
        producer.flush(WAIT_S)
        url = f"http://127.0.0.1:{port}/v1/alerts/stream"
        with httpx.stream("GET", url, headers=bearer(key), timeout=WAIT_S) as response:
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            events = sse_events(response.iter_lines())
            # the stream's first comment comes once the feed is placed at the topic's end
            assert next(events) == {"comment": "alerts from now on"}
            topic.send(producer, alert)
            producer.flush(WAIT_S)
            event = next(e for e in events if "data" in e)
            began = time.monotonic()
            process.send_signal(signal.SIGTERM)
            rest = list(events)  # until the server ends the stream
            ended = time.monotonic() - began
        assert process.wait(timeout=WAIT_S) == 0
        stopped = time.monotonic() - began
    finally:
        producer.close()
        bus.close()
        stop(process)
        log.close()
    assert event["event"] == "alert" and event["id"] == alert.alert_id
    assert json.loads(event["data"]) == json.loads(alert.model_dump_json())
    assert not [e for e in rest if "data" in e]  # the older alert was not replayed
    assert ended < 5 and stopped < 10
