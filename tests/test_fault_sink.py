"""The sink commits only what it settled: a sink killed during an outage loses nothing.

Unit tests drive the SinkWorker over the in-process bus against a local receiver; the
kill test runs `vigil sink` as a process over the tansu broker, SIGKILLs it while every
capture is still queued for a failing receiver, restarts it, and counts what arrives.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable

import pytest

from tests.conftest import KAFKA_TEST_TIMEOUTS, stop
from tests.test_fault_webhook import FlakyReceiver, flaky  # noqa: F401  (fixture)
from tests.test_outputs import make_capture
from vigil.infra.bus.base import Bus
from vigil.infra.bus.kafka import KafkaBus
from vigil.infra.bus.memory import MemoryBus
from vigil.infra.topics.captures import CaptureTopic
from vigil.infra.topics.deadletter import DeadLetterTopic
from vigil.outputs.offsets import Origin, SettledOffsets
from vigil.outputs.sink_worker import SINK_GROUP, SinkWorker
from vigil.schemas.camera import PipelineConfig
from vigil.workers.pipeline import TOPIC_PARTITIONS, prepare_topics

WAIT_S = 20.0
CAPTURES = 12


def wait_until(condition: Callable[[], bool], what: str, timeout: float = WAIT_S) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"not within {timeout}s: {what}"
        time.sleep(0.05)


def sink_config(url: str, prefix: str = "vigil", **hook: object) -> PipelineConfig:
    webhook = {"url": url, "timeout": 1.0, "backoff_initial": 0.05, "backoff_max": 0.2, **hook}
    return PipelineConfig.model_validate(
        {
            "cameras": [{"id": "cam-1", "url": "unused.mp4"}],
            "outputs": {"webhook": webhook},
            "topics": {n: f"{prefix}.{n}" for n in ("frames", "captures", "deadletter", "alerts")},
        }
    )


def publish_captures(bus: Bus, config: PipelineConfig, count: int = CAPTURES) -> set[str]:
    """`count` captures on the captures topic, over two cameras; returns their message ids."""
    producer = bus.producer()
    captures = [make_capture(camera_id=f"cam-{n % 2}", track_id=str(n)) for n in range(count)]
    for capture in captures:
        CaptureTopic(config.topics.captures).send(producer, capture)
    producer.flush(30)
    producer.close()
    return {str(c.message_id) for c in captures}


def committed(bus: Bus, config: PipelineConfig) -> int:
    return sum(bus.committed(config.topics.captures, SINK_GROUP).values())


def dead_letters(bus: MemoryBus, config: PipelineConfig) -> list:
    topic = DeadLetterTopic(config.topics.deadletter)
    consumer = bus.consumer([topic.name], "test-reader")
    return [topic.decode(r) for r in consumer.poll(timeout=0.2, max_records=1000)]


class Running:
    """A SinkWorker polling in a thread, stopped and closed on exit."""

    def __init__(self, worker: SinkWorker) -> None:
        self.worker = worker
        self.stop = threading.Event()
        self.thread = threading.Thread(target=worker.run, args=(self.stop,), daemon=True)

    def __enter__(self) -> SinkWorker:
        self.thread.start()
        return self.worker

    def __exit__(self, *exc_info: object) -> None:
        self.stop.set()
        self.thread.join(WAIT_S)
        self.worker.close()


# --- the low-water mark ---------------------------------------------------------------


def test_commits_stop_below_the_oldest_record_in_flight():
    offsets = SettledOffsets()
    first, second, third = (Origin("t", 0, n) for n in range(3))
    for origin in (first, second, third):
        offsets.begin(origin)
    assert offsets.to_commit() == {("t", 0): 0}
    offsets.settle(second)  # out of order: nothing below it may be committed yet
    assert offsets.to_commit() == {}
    offsets.settle(first)
    assert offsets.to_commit() == {("t", 0): 2}
    offsets.settle(third)
    offsets.done(Origin("t", 1, 7))  # another partition, finished synchronously
    assert offsets.to_commit() == {("t", 0): 3, ("t", 1): 8}
    assert offsets.in_flight == 0
    assert offsets.seen(second) and not offsets.seen(Origin("t", 0, 3))


# --- the sink worker, in process ------------------------------------------------------


def test_full_queue_stops_reading_instead_of_dead_lettering(flaky):  # noqa: F811
    flaky.up()
    flaky.switch("slow")  # requests hang: both webhook threads stay busy
    config = sink_config(flaky.url, timeout=30.0, queue_size=2)
    bus = MemoryBus()
    prepare_topics(bus, config)
    ids = publish_captures(bus, config)
    with Running(SinkWorker(bus, config)) as worker:
        wait_until(lambda: len(flaky.attempts) == 2 and worker.webhook.room == 0, "a full queue")
        time.sleep(0.5)  # a reader that ignored the full queue would take more now
        assert worker.delivered == 4, "2 in flight + 2 queued, the rest left on the topic"
        assert committed(bus, config) == 0
        flaky.switch("ok")
        wait_until(lambda: committed(bus, config) == CAPTURES, "everything committed")
    assert set(flaky.accepted) == ids
    assert dead_letters(bus, config) == []


def test_closing_during_an_outage_leaves_the_backlog_to_the_next_sink(flaky):  # noqa: F811
    flaky.up()  # mode "error"
    config = sink_config(flaky.url, max_attempts=100, workers=CAPTURES)
    bus = MemoryBus()
    prepare_topics(bus, config)
    ids = publish_captures(bus, config)
    with Running(SinkWorker(bus, config, close_grace=0.3)):
        wait_until(lambda: set(flaky.attempts) == ids, "every capture attempted")
    assert committed(bus, config) == 0, "nothing was delivered: nothing may be committed"
    assert dead_letters(bus, config) == [], "a restart is not a delivery failure"

    flaky.switch("ok")
    with Running(SinkWorker(bus, config)):
        wait_until(lambda: committed(bus, config) == CAPTURES, "the next sink delivered all")
    assert set(flaky.accepted) == ids


def test_given_up_deliveries_are_committed_with_a_dead_letter_pointing_at_them(flaky):  # noqa: F811
    flaky.up()  # mode "error", for good
    config = sink_config(flaky.url, max_attempts=2)
    bus = MemoryBus()
    prepare_topics(bus, config)
    ids = publish_captures(bus, config)
    with Running(SinkWorker(bus, config)):
        wait_until(lambda: committed(bus, config) == CAPTURES, "every capture settled")
    letters = dead_letters(bus, config)
    topic = CaptureTopic(config.topics.captures)
    consumer = bus.consumer([topic.name], "test-replay")
    by_origin = {Origin.of(r): str(topic.decode(r).message_id) for r in consumer.poll(0.2, 1000)}
    assert {by_origin[Origin(d.topic, d.partition, d.offset)] for d in letters} == ids
    assert all("HTTP 500" in d.reason and flaky.url in d.reason for d in letters)


# --- `vigil sink` killed during an outage, over tansu -----------------------------------


@pytest.mark.integration
def test_sink_process_killed_during_an_outage_loses_no_capture(
    tmp_path,
    kafka_bootstrap,
    flaky,  # noqa: F811
):
    # "Down" behind a gateway: 503 for every POST, so the test sees each capture taken.
    flaky.error_status = 503
    flaky.up()
    prefix = f"s{uuid.uuid4().hex[:6]}"
    config = sink_config(flaky.url, prefix, max_attempts=100, workers=CAPTURES)
    path = tmp_path / "sink.json"
    path.write_text(config.model_dump_json())
    bus = KafkaBus(kafka_bootstrap, session_timeout_ms=6000, heartbeat_interval_ms=1000)
    prepare_topics(bus, config, TOPIC_PARTITIONS)
    ids = publish_captures(bus, config)
    env = {
        **os.environ,
        "VIGIL_BUS": "kafka",
        "VIGIL_KAFKA_BOOTSTRAP": kafka_bootstrap,
        **KAFKA_TEST_TIMEOUTS,
    }

    def start_sink(name: str) -> subprocess.Popen:
        with (tmp_path / f"{name}.log").open("w") as log:
            return subprocess.Popen(
                [sys.executable, "-m", "vigil.cli.main", "sink", str(path)],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def logs() -> str:
        return "\n".join(p.read_text()[-2000:] for p in sorted(tmp_path.glob("*.log")))

    first = start_sink("first")
    second = None
    try:
        wait_until(lambda: set(flaky.attempts) == ids, f"every capture attempted\n{logs()}", 60)
        assert committed(bus, config) == 0, "committed before delivery: a crash would lose them"
        first.send_signal(signal.SIGKILL)
        first.wait(10)

        flaky.switch("ok")
        second = start_sink("restarted")
        wait_until(
            lambda: committed(bus, config) == CAPTURES,
            f"the restarted sink delivered and committed every capture\n{logs()}",
            90,
        )
    finally:
        for process in (first, second):
            if process is not None:
                stop(process, timeout=20)
    assert set(flaky.accepted) == ids, json.dumps(sorted(ids - set(flaky.accepted)))
