"""A `vigil alarm` process SIGKILLed mid-batch and restarted: no duplicate, no missing alert.

Real face features from the fixture photos travel as captures over the tansu broker;
the watchlist lives in a Milvus Lite file. The expected alerts come from the same
alarm worker run uninterrupted in this process (MemoryBus) on the same captures.
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
from datetime import timedelta

import pytest

from tests.conftest import KAFKA_TEST_TIMEOUTS, stop
from tests.test_outputs import DAY, make_capture
from vigil.alarm.worker import ALARM_GROUP, RECORD_DELAY_ENV, AlarmWorker
from vigil.analysis.faces import face_targets
from vigil.groups.service import GroupService
from vigil.infra.bus.kafka import KafkaBus
from vigil.infra.bus.memory import MemoryBus
from vigil.infra.topics.alerts import AlertTopic
from vigil.infra.topics.captures import CaptureTopic
from vigil.schemas.alert import Alert, AlertEvent
from vigil.schemas.camera import PipelineConfig
from vigil.schemas.capture import Capture, CaptureEvent
from vigil.workers.pipeline import TOPIC_PARTITIONS, prepare_topics

pytestmark = pytest.mark.integration
WATCHLIST = "wanted"
ENROLLED = {"obama": "obama.jpg", "biden": "biden.jpg"}
# (camera, person in the watchlist or None, photo of the track): enrolled and strangers mixed
TRACKS = [
    ("cam-a", "obama", "obama2.jpg"),
    ("cam-b", None, "grace_hopper.jpg"),
    ("cam-a", "biden", "biden.jpg"),
    ("cam-b", "obama", "obama3.jpg"),
    ("cam-a", None, "grace_hopper.jpg"),
    ("cam-b", "biden", "biden.jpg"),
    ("cam-a", "obama", "obama3.jpg"),
    ("cam-b", "obama", "obama2.jpg"),
]
EVENTS = (CaptureEvent.NEW, CaptureEvent.UPDATE, CaptureEvent.END)
DELAY_S = 0.25  # per capture in the first process: 24 captures take ~6 s, the kill lands inside
DEADLINE_S = 150


def track_captures(images) -> list[Capture]:
    """Three captures (new, update, end) per track, each carrying the photo's real face."""
    faces = {photo: face_targets(images / photo)[0] for _, _, photo in TRACKS}
    captures = []
    for number, (camera, _, photo) in enumerate(TRACKS):
        start = DAY + timedelta(seconds=10 * number)
        for revision, event in enumerate(EVENTS):
            capture = make_capture(
                camera_id=camera,
                track_id=str(number),
                revision=revision,
                event=event,
                captured_at=start + timedelta(seconds=revision),
            )
            captures.append(capture.model_copy(update={"target": faces[photo]}))
    return captures


def uninterrupted_alerts(config: PipelineConfig, groups: GroupService, captures) -> list[Alert]:
    """What the alarm raises on these captures when nothing goes wrong (the oracle)."""
    bus = MemoryBus()
    prepare_topics(bus, config)
    producer = bus.producer()
    for capture in captures:
        CaptureTopic(config.topics.captures).send(producer, capture)
    alerts: list[Alert] = []
    worker = AlarmWorker(bus, config, groups, on_alert=alerts.append)
    try:
        worker.run(threading.Event(), idle_timeout=0.5)
    finally:
        worker.close()
    assert worker.captures_seen == len(captures)
    return alerts


@pytest.fixture
def setup(images, tmp_path, kafka_bootstrap):
    prefix = f"k{uuid.uuid4().hex[:6]}"
    config = PipelineConfig.model_validate(
        {
            "cameras": [{"id": "cam-a", "url": "unused.mp4"}, {"id": "cam-b", "url": "unused.mp4"}],
            "watchlists": [{"group": WATCHLIST, "cooldown": 0}],
            "groups_uri": str(tmp_path / "watchlists.db"),
            "topics": {n: f"{prefix}.{n}" for n in ("frames", "captures", "deadletter", "alerts")},
        }
    )
    captures = track_captures(images)
    with GroupService(config.groups_uri) as groups:  # closed before the alarm opens the file
        groups.create_group(WATCHLIST)
        for person, photo in ENROLLED.items():
            [face] = face_targets(images / photo)
            groups.add_member(WATCHLIST, person, [face.feature])
        expected = uninterrupted_alerts(config, groups, captures)
    path = tmp_path / "alarm.json"
    path.write_text(config.model_dump_json())
    bus = KafkaBus(kafka_bootstrap, session_timeout_ms=6000, heartbeat_interval_ms=1000)
    bus.ensure_topics(
        [
            config.topics.captures,
            config.topics.alerts,
            config.topics.deadletter,
            config.topics.frames,
        ],
        TOPIC_PARTITIONS,
    )
    env = {
        **os.environ,
        "VIGIL_BUS": "kafka",
        "VIGIL_KAFKA_BOOTSTRAP": kafka_bootstrap,
        **KAFKA_TEST_TIMEOUTS,
        "VIGIL_KAFKA_MAX_POLL_INTERVAL_MS": "15000",  # a batch takes ~6 s; rejoins stay short
    }
    processes: list[subprocess.Popen] = []

    def start_alarm(name: str, delay: float) -> subprocess.Popen:
        log = (tmp_path / f"{name}.log").open("w")
        process = subprocess.Popen(
            [sys.executable, "-m", "vigil.cli.main", "alarm", str(path)],
            env={**env, RECORD_DELAY_ENV: str(delay)},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        processes.append(process)
        return process

    yield {
        "config": config,
        "captures": captures,
        "expected": expected,
        "bus": bus,
        "start_alarm": start_alarm,
        "logs": tmp_path,
    }
    for process in processes:
        stop(process, timeout=20)


def committed(bus: KafkaBus, config: PipelineConfig) -> int:
    return sum(bus.committed(config.topics.captures, ALARM_GROUP).values())


def wait_for(condition, what: str, logs) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while not condition():
        if time.monotonic() > deadline:
            text = "\n".join(p.read_text()[-3000:] for p in sorted(logs.glob("*.log")))
            pytest.fail(f"not within {DEADLINE_S}s: {what}\n{text}")
        time.sleep(0.2)


def test_alarm_killed_mid_batch_and_restarted_gives_each_alert_exactly_once(setup):
    config, bus, captures = setup["config"], setup["bus"], setup["captures"]
    expected = setup["expected"]
    enrolled_tracks = {(c, str(n), p) for n, (c, p, _) in enumerate(TRACKS) if p is not None}
    assert {(a.camera_id, a.track_id, a.person_id) for a in expected} == enrolled_tracks
    assert all(a.event == AlertEvent.NEW for a in expected)

    topic = AlertTopic(config.topics.alerts)
    first = setup["start_alarm"]("first", DELAY_S)
    producer = bus.producer()
    for capture in captures:
        CaptureTopic(config.topics.captures).send(producer, capture)
    producer.flush(30)
    producer.close()
    log = setup["logs"] / "first.log"

    def an_alert_was_sent() -> bool:
        assert first.poll() is None, log.read_text()
        return "alert new" in log.read_text()

    wait_for(an_alert_was_sent, "a first alert", setup["logs"])
    time.sleep(DELAY_S)  # the alert reaches the broker (linger 2 ms) while the batch goes on
    first.send_signal(signal.SIGKILL)
    first.wait(10)
    before_restart = topic.read_all(bus)
    assert 1 <= len(before_restart) < len(expected), "killed mid-stream, after an alert"
    assert committed(bus, config) < len(captures), "killed before its batch was committed"

    setup["start_alarm"]("restarted", 0.0)
    wait_for(
        lambda: committed(bus, config) == len(captures),
        "the restarted alarm committed every capture",
        setup["logs"],
    )
    alerts = topic.read_all(bus)
    keys = [(a.alert_id, a.revision) for a in alerts]
    assert len(keys) == len(set(keys)), f"duplicate alerts: {sorted(keys)}"
    assert len({a.message_id for a in alerts}) == len(alerts)
    assert sorted(keys) == sorted((a.alert_id, a.revision) for a in expected), json.dumps(
        sorted(keys)
    )
    by_id = {a.alert_id: a for a in alerts}
    for want in expected:
        got = by_id[want.alert_id]
        assert (got.person_id, got.capture_id, got.event) == (
            want.person_id,
            want.capture_id,
            want.event,
        )
        assert got.similarity == pytest.approx(want.similarity)
