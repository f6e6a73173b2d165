"""The live routes of the HTTP API in one process: alert book, acknowledgement, cameras'
path checks, event streams that end, and the alert book read back after a restart."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.support.api_keys import bearer, new_key
from vigil.http.alert_book import AlertBook
from vigil.http.app import create_app
from vigil.infra.api_keys import Scope
from vigil.schemas.alert import Alert, AlertEvent


def alert(capture: str = "door/1.0.face1", revision: int = 0) -> Alert:
    return Alert(
        alert_id=f"{capture}/wanted/obama",
        event=AlertEvent.NEW if revision == 0 else AlertEvent.UPDATE,
        revision=revision,
        watchlist="wanted",
        person_id="obama",
        similarity=80.0 + revision,
        distance=0.4,
        threshold_similarity=70.5,
        threshold_distance=0.5273,
        far=0.001,
        votes=1.0,
        capture_id=capture,
        track_id=capture,
        camera_id="door",
        captured_at=datetime.now(UTC),
        model="face_resnet128@x",
    )


@pytest.fixture
def app(tmp_path: Path):
    media = tmp_path / "media"
    media.mkdir()
    (media / "clip.mkv").write_bytes(b"")
    key = new_key(tmp_path / "keys.json")
    reader = new_key(tmp_path / "keys.json", Scope.READ, name="reader")
    app = create_app(
        tmp_path / "groups.db",
        tmp_path / "history.db",
        keys_path=tmp_path / "keys.json",
        rate=0,
        alerts_path=tmp_path / "alerts.jsonl",
        source_dirs=[media],
        max_stream_s=0.5,
    )
    with TestClient(app) as client:
        yield client, bearer(key), bearer(reader), media
    app.state.live.close()
    app.state.stores.close()


def test_alerts_are_listed_and_acknowledged_once_heard_of(app, tmp_path):
    client, admin, reader, _ = app
    book: AlertBook = client.app.state.live.book
    book.add(alert())
    book.add(alert(revision=1))  # an update replaces it
    page = client.get("/v1/alerts", headers=reader).json()
    assert page["total"] == 1 and page["alerts"][0]["alert"]["revision"] == 1
    alert_id = page["alerts"][0]["alert"]["alert_id"]
    refused = client.post(f"/v1/alerts/{alert_id}/ack", headers=reader)
    assert (refused.status_code, refused.json()["code"]) == (403, "forbidden")
    done = client.post(f"/v1/alerts/{alert_id}/ack", headers=admin, json={"note": "guard sent"})
    assert done.status_code == 200 and done.json()["acknowledgement"]["note"] == "guard sent"
    assert client.get("/v1/alerts?unacknowledged=true", headers=reader).json()["total"] == 0
    missing = client.post("/v1/alerts/no/such/alert/ack", headers=admin)
    assert (missing.status_code, missing.json()["code"]) == (404, "alert_not_found")
    # a restarted server reads its book back: the alert and its acknowledgement
    again = AlertBook(tmp_path / "alerts.jsonl").recent()
    assert again.alerts[0].acknowledgement is not None and again.alerts[0].alert.revision == 1


def test_cameras_play_only_files_inside_the_source_dirs(app, tmp_path):
    client, admin, reader, media = app
    for url, code in [
        ("/etc/passwd", "path_not_allowed"),
        (str(media / ".." / "keys.json"), "path_not_allowed"),
        ("rtsp://10.0.0.1/stream", "path_not_allowed"),
        (str(media / "missing.mkv"), "file_not_found"),
    ]:
        answer = client.post("/v1/cameras", headers=admin, json={"id": "cam", "url": url})
        assert answer.json()["code"] == code, url
        assert answer.headers["content-type"] == "application/problem+json"
    refused = client.post("/v1/cameras", headers=reader, json={"id": "c", "url": "/x"})
    assert refused.json()["code"] == "forbidden"
    assert client.get("/v1/cameras", headers=reader).json() == []
    assert client.get("/v1/cameras/nope", headers=reader).json()["code"] == "camera_not_found"
    assert client.delete("/v1/cameras/nope", headers=admin).json()["code"] == "camera_not_found"


def test_an_event_stream_carries_alerts_and_ends(app):
    client, _, reader, _ = app
    feed = client.app.state.live.feed
    with client.stream("GET", "/v1/alerts/stream?seconds=5", headers=reader) as stream:
        assert stream.headers["content-type"].startswith("text/event-stream")
        feed.bus.producer().send("vigil.alerts", alert().model_dump_json().encode(), key="door")
        text = "".join(stream.iter_text())  # ends after the server's 0.5 s
    assert "event: alert\n" in text and '"person_id":"obama"' in text
    assert client.app.state.live.book.recent().total == 1


def test_the_console_is_served_with_a_strict_policy(app):
    client, *_ = app
    page = client.get("/console/")
    assert page.status_code == 200 and "console.js" in page.text
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert client.get("/", follow_redirects=False).headers["location"] == "/console/"
    assert client.get("/console/console.js").headers["content-type"].startswith("text/javascript")
