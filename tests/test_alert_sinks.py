"""Alerts delivered to the configured sinks: disk (JSON Lines + crop) and a signed webhook."""

from __future__ import annotations

import base64
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.synthetic_video import moving_faces_frames, write_video
from tests.test_alarm import WATCHLIST, face_patch, groups_uri  # noqa: F401  (fixture)
from tests.test_outputs import SECRET, Receiver
from vigil.errors import ErrorCode, VigilError
from vigil.infra.bus.memory import MemoryBus
from vigil.infra.config import parse_config
from vigil.infra.topics.alerts import AlertTopic
from vigil.infra.topics.deadletter import DeadLetterTopic
from vigil.outputs.disk import read_captures
from vigil.outputs.signing import verify
from vigil.outputs.sink_worker import ALERT_SINK_GROUP, ALERT_STREAM, SinkWorker
from vigil.outputs.webhook import EVENT_ID_HEADER
from vigil.schemas.alert import Alert, AlertEvent
from vigil.schemas.camera import PipelineConfig
from vigil.workers.pipeline import RunSummary, prepare_topics, run_all

SECRET_ENV = "VIGIL_TEST_ALERT_SECRET"
JPEG = b"\xff\xd8\xff\xe0alert-crop\xff\xd9"


def make_alert(person: str = "obama", revision: int = 0) -> Alert:
    return Alert(
        alert_id=f"door/3/{WATCHLIST}/{person}",
        event=AlertEvent.NEW if revision == 0 else AlertEvent.UPDATE,
        revision=revision,
        watchlist=WATCHLIST,
        person_id=person,
        similarity=91.5,
        distance=0.4,
        threshold_similarity=80.0,
        threshold_distance=0.48,
        far=1e-3,
        votes=0.8,
        capture_id="door/3",
        track_id="3",
        camera_id="door",
        captured_at=datetime(2024, 5, 6, 12, 0, tzinfo=UTC),
        crop_jpeg=base64.b64encode(JPEG).decode(),
        model="face_resnet128@1",
    )


def config_with(alerts: dict, url: str = "unused.mp4", extra: dict | None = None) -> PipelineConfig:
    return PipelineConfig.model_validate(
        {"cameras": [{"id": "door", "url": url}], "outputs": {"alerts": alerts}, **(extra or {})}
    )


# --- the sink worker on the alerts stream ---------------------------------------------------


def test_alert_sink_worker_archives_alerts_and_dead_letters_garbage(tmp_path):
    config = config_with({"disk": str(tmp_path / "alerts")})
    bus = MemoryBus()
    prepare_topics(bus, config)
    producer = bus.producer()
    topic = AlertTopic(config.topics.alerts)
    first, second = make_alert("obama"), make_alert("biden")
    topic.send(producer, first)
    producer.send(config.topics.alerts, b"{not an alert", key="door")
    topic.send(producer, second)
    worker = SinkWorker(bus, config, ALERT_STREAM)
    try:
        worker.run(threading.Event(), idle_timeout=0.3)
    finally:
        worker.close()

    assert worker.group == ALERT_SINK_GROUP and worker.delivered == 2
    [path] = (tmp_path / "alerts" / "door").glob("alerts-*.jsonl")
    assert path.name == "alerts-2024-05-06.jsonl"
    assert list(read_captures(path, Alert)) == [first, second]
    crops = sorted(p.name for p in (path.parent / "crops").iterdir())
    assert crops == [f"3-{WATCHLIST}-biden-0-new.jpg", f"3-{WATCHLIST}-obama-0-new.jpg"]
    [letter] = dead_letters(bus, config)
    assert letter.stage == "sink.alerts" and letter.error_code == "undecodable"


def dead_letters(bus: MemoryBus, config: PipelineConfig) -> list:
    consumer = bus.consumer([config.topics.deadletter], "test-reader")
    topic = DeadLetterTopic(config.topics.deadletter)
    try:
        return [topic.decode(record) for record in consumer.poll(timeout=0.5, max_records=100)]
    finally:
        consumer.close()


def test_capture_outputs_do_not_start_an_alert_sink(tmp_path):
    config = PipelineConfig.model_validate(
        {"cameras": [{"id": "door", "url": "x.mp4"}], "outputs": {"disk": str(tmp_path)}}
    )
    assert config.outputs.configured and not config.outputs.alerts.configured
    worker = SinkWorker(MemoryBus(), config, ALERT_STREAM)
    worker.close()
    assert worker.consumer is None and worker.sinks == []


def test_missing_alert_webhook_secret_is_refused(monkeypatch):
    monkeypatch.delenv(SECRET_ENV, raising=False)
    config = config_with({"webhook": {"url": "http://127.0.0.1:9/x", "secret_env": SECRET_ENV}})
    with pytest.raises(VigilError, match=SECRET_ENV) as refused:
        SinkWorker(MemoryBus(), config, ALERT_STREAM)
    assert refused.value.code == ErrorCode.INVALID_OPTIONS


# --- an embedded alarm run with both alert sinks --------------------------------------------


@pytest.fixture(scope="module")
def alarm_run(
    images,
    groups_uri,  # noqa: F811  (the fixture imported above)
    tmp_path_factory,
) -> Iterator[tuple[RunSummary, Receiver, Path]]:
    """One embedded run of an enrolled face walking past, alert sinks on disk and a webhook."""
    root = tmp_path_factory.mktemp("alert-sinks")
    frames = moving_faces_frames([face_patch(images, "obama2.jpg")], frames=40)
    video = write_video(frames, root / "walk.mkv", fps=5)
    server = Receiver()
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    config = parse_config(
        f"""
cameras:
  - {{id: door, url: "{video}", types: [face], fps: null, pace: fast}}
watchlists:
  - {{group: {WATCHLIST}, far: 0.001}}
groups_uri: "{groups_uri}"
outputs:
  alerts:
    disk: "{root / "alerts"}"
    webhook: {{url: "{server.url}", secret_env: {SECRET_ENV}, timeout: 5}}
"""
    )
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv(SECRET_ENV, SECRET)
            summary = run_all(MemoryBus(), config)
        yield summary, server, root / "alerts"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


def test_embedded_alarm_writes_each_alert_to_disk_with_its_crop(alarm_run):
    summary, _, folder = alarm_run
    assert [a.event for a in summary.alerts][:1] == [AlertEvent.NEW]
    paths = sorted((folder / "door").glob("alerts-*.jsonl"))  # one per day: a run may span two
    assert paths
    written = [alert for path in paths for alert in read_captures(path, Alert)]
    assert written == summary.alerts
    new = written[0]
    assert new.person_id == "obama" and new.watchlist == WATCHLIST
    crop = folder / "door" / "crops" / f"{new.track_id}-{WATCHLIST}-obama-0-new.jpg"
    assert crop.read_bytes()[:2] == b"\xff\xd8"


def test_embedded_alarm_posts_signed_alerts_that_verify(alarm_run):
    summary, server, _ = alarm_run
    assert server.wait_for(len(summary.alerts))  # delivery is asynchronous to the run
    assert len(server.received) == len(summary.alerts) >= 1
    for (headers, body), alert in zip(server.received, summary.alerts, strict=True):
        assert verify(body, headers, SECRET.encode())
        assert not verify(body, headers, b"another-secret")
        assert headers[EVENT_ID_HEADER] == str(alert.message_id)
        assert Alert.model_validate_json(body) == alert
