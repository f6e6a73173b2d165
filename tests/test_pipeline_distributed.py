"""The capture pipeline as separate processes over a real Kafka-protocol broker and Celery.

`vigil ingest`, `vigil capture` and `vigil sink` run as their own processes with
`VIGIL_BUS=kafka`; models run in a real `vigil worker` (Celery over Redis).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid

import pytest

from tests.conftest import VIDEOS, stop
from vigil.infra.bus.base import next_offsets
from vigil.infra.bus.kafka import KafkaBus
from vigil.infra.topics.captures import CaptureTopic
from vigil.infra.topics.deadletter import DeadLetterTopic
from vigil.schemas.capture import CaptureEvent

pytestmark = pytest.mark.integration
DEADLINE = 180


def vigil_process(args: list[str], env: dict, log) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "vigil.cli.main", *args],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def read_until(bus: KafkaBus, topic, done, deadline: float = DEADLINE) -> list:
    consumer = bus.consumer([topic.name], f"test-{uuid.uuid4().hex[:8]}")
    messages = []
    try:
        end = time.monotonic() + deadline
        while time.monotonic() < end and not done(messages):
            records = consumer.poll(timeout=0.5)
            messages += [topic.decode(r) for r in records]
            consumer.commit(next_offsets(records))
    finally:
        consumer.close()
    return messages


@pytest.fixture
def pipeline(tmp_path, distributed_env, kafka_bootstrap):
    prefix = f"t{uuid.uuid4().hex[:6]}"
    topics = {name: f"{prefix}.{name}" for name in ("frames", "captures", "deadletter", "alerts")}
    config = {
        "cameras": [
            {
                "id": "carphone",
                "url": str(VIDEOS / "carphone_pristine.mp4"),
                "types": ["face"],
                "pace": "fast",
            }
        ],
        "outputs": {"disk": str(tmp_path / "out")},
        "topics": topics,
    }
    path = tmp_path / "cameras.json"
    path.write_text(json.dumps(config))
    bus = KafkaBus(kafka_bootstrap, session_timeout_ms=6000, heartbeat_interval_ms=1000)
    logs = (tmp_path / "logs").resolve()
    logs.mkdir()
    processes = []

    def start(role: str) -> subprocess.Popen:
        handle = (logs / f"{role}.log").open("w")
        process = vigil_process([role, str(path)], distributed_env, handle)
        processes.append(process)
        return process

    yield {
        "start": start,
        "bus": bus,
        "topics": topics,
        "config": path,
        "logs": logs,
        "out": tmp_path / "out",
    }
    for process in processes:
        stop(process, timeout=20)


def test_separate_processes_turn_a_video_into_one_face_capture(pipeline):
    capture = pipeline["start"]("capture")
    pipeline["start"]("sink")
    ingest = pipeline["start"]("ingest")
    captures_topic = CaptureTopic(pipeline["topics"]["captures"])

    def ended(messages) -> bool:
        return any(m.event == CaptureEvent.END for m in messages)

    captures = read_until(pipeline["bus"], captures_topic, ended)
    assert ingest.wait(timeout=60) == 0, (pipeline["logs"] / "ingest.log").read_text()
    assert capture.poll() is None, "the capture step keeps running"
    ids = {c.capture_id for c in captures}
    assert len(ids) == 1, (pipeline["logs"] / "capture.log").read_text()
    events = [c.event for c in captures]
    assert events[0] == CaptureEvent.NEW and events[-1] == CaptureEvent.END
    final = captures[-1]
    assert final.target.feature is not None and final.target.feature.dim == 128
    assert final.camera_id == "carphone"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not list(pipeline["out"].rglob("*.jsonl")):
        time.sleep(0.2)
    assert list(pipeline["out"].rglob("*.jsonl")), "the sink process wrote the captures to disk"


def test_malformed_frame_goes_to_dead_letter_and_capture_continues(pipeline):
    pipeline["start"]("capture")
    bus, topics = pipeline["bus"], pipeline["topics"]
    bus.ensure_topics(list(topics.values()), partitions=4)
    producer = bus.producer()
    producer.send(topics["frames"], b"\xff\xd8 not a frame", key="carphone")
    producer.send(topics["frames"], b"x", key="carphone", headers={"vigil-meta": b"{broken"})
    producer.flush(10)
    letters = read_until(bus, DeadLetterTopic(topics["deadletter"]), lambda m: len(m) >= 2)
    reasons = [letter.reason for letter in letters]
    assert len(letters) == 2, reasons
    assert any("no vigil-meta header" in r for r in reasons)
    assert any("bad frame header" in r for r in reasons)
    assert all(letter.stage == "capture" and letter.topic == topics["frames"] for letter in letters)
    pipeline["start"]("ingest")
    captures = read_until(
        bus, CaptureTopic(topics["captures"]), lambda m: any(c.event == "end" for c in m)
    )
    assert captures, "frames after the bad ones are still processed"
