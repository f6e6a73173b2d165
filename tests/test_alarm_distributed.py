"""Watchlist alarms on real processes: a video through `vigil ingest | capture | alarm`.

The same scenario as the embedded tests (tests/test_alarm.py), over the tansu broker,
a real `vigil worker` (Celery over Redis) and a Milvus Lite watchlist opened by the
`vigil alarm` process: the enrolled person walking past raises exactly one alert.
"""

from __future__ import annotations

import json
import time
import uuid

import pytest

from tests.conftest import stop
from tests.synthetic_video import moving_faces_frames, write_video
from tests.test_alarm import WATCHLIST, face_patch
from tests.test_pipeline_distributed import read_until, vigil_process
from vigil.alarm.worker import ALARM_GROUP
from vigil.api import analyze_image
from vigil.groups.service import GroupService
from vigil.infra.bus.kafka import KafkaBus
from vigil.infra.topics.alerts import AlertTopic
from vigil.infra.topics.captures import CaptureTopic
from vigil.schemas.alert import AlertEvent
from vigil.schemas.analyze import AnalyzeOptions
from vigil.schemas.capture import CaptureEvent

pytestmark = pytest.mark.integration


def test_an_enrolled_person_walking_past_raises_one_alert(
    images, tmp_path, distributed_env, kafka_bootstrap
):
    groups_uri = tmp_path / "watchlists.db"
    with GroupService(groups_uri) as service:  # closed (file released) before the alarm opens it
        service.create_group(WATCHLIST)
        [face] = analyze_image(
            images / "obama.jpg", AnalyzeOptions(types={"face"}, features=True)
        ).targets
        service.add_member(WATCHLIST, "obama", [face.feature])
    video = write_video(
        moving_faces_frames([face_patch(images, "obama2.jpg")], frames=40),
        tmp_path / "walk.mkv",
        fps=5,
    )
    prefix = f"a{uuid.uuid4().hex[:6]}"
    topics = {name: f"{prefix}.{name}" for name in ("frames", "captures", "deadletter", "alerts")}
    config = tmp_path / "cameras.json"
    config.write_text(
        json.dumps(
            {
                "cameras": [{"id": "door", "url": str(video), "types": ["face"], "pace": "fast"}],
                "watchlists": [{"group": WATCHLIST, "far": 0.001}],
                "groups_uri": str(groups_uri),
                "topics": topics,
            }
        )
    )
    bus = KafkaBus(kafka_bootstrap, session_timeout_ms=6000, heartbeat_interval_ms=1000)
    logs = tmp_path / "logs"
    logs.mkdir()
    processes = [
        vigil_process([role, str(config)], distributed_env, (logs / f"{role}.log").open("w"))
        for role in ("alarm", "capture", "ingest")
    ]
    try:
        captures = read_until(
            bus,
            CaptureTopic(topics["captures"]),
            lambda found: any(c.event == CaptureEvent.END for c in found),
        )
        assert captures, (logs / "capture.log").read_text()
        track = {c.capture_id for c in captures}
        deadline = time.monotonic() + 60  # until the alarm has committed every capture
        while sum(bus.committed(topics["captures"], ALARM_GROUP).values()) < len(captures):
            assert time.monotonic() < deadline, (logs / "alarm.log").read_text()
            assert processes[0].poll() is None, (logs / "alarm.log").read_text()
            time.sleep(0.5)
        alerts = read_until(bus, AlertTopic(topics["alerts"]), lambda found: False, deadline=5)
    finally:
        for process in processes:
            stop(process, timeout=20)
    assert len(track) == 1, "one walk, one face track"
    news = [a for a in alerts if a.event == AlertEvent.NEW]
    assert len(news) == 1 and news[0].person_id == "obama", (logs / "alarm.log").read_text()
    assert news[0].capture_id in track and news[0].camera_id == "door"
    assert all(a.alert_id == news[0].alert_id for a in alerts), "updates only, no second alert"
    assert len(alerts) <= 2, "one alert, with an update at most"
