"""The capture history: store, search by picture with filters, attribute and plate queries,
revisions, purge, restart, the writer role in the embedded pipeline, the CLI and Celery."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.support.synthetic_captures import face_capture as synthetic_capture
from vigil.api import analyze_image
from vigil.errors import ErrorCode, VigilError
from vigil.history.service import HistoryService
from vigil.schemas.analyze import AnalyzeOptions
from vigil.schemas.capture import Capture, CaptureEvent
from vigil.schemas.feature import Feature
from vigil.schemas.target import (
    ColourAttribute,
    FaceAttributes,
    PersonAttributes,
    Plate,
    TargetType,
    VehicleAttributes,
)

NOON = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
PHOTOS = ("obama.jpg", "obama2.jpg", "obama3.jpg", "biden.jpg", "grace_hopper.jpg")


@pytest.fixture(scope="module")
def faces(images: Path) -> dict[str, tuple[Feature, str]]:
    """Real features (and face crops) of the test photos, by file name."""
    found = {}
    for name in PHOTOS:
        result = analyze_image(
            images / name, AnalyzeOptions(types={"face"}, features=True, crops=True)
        )
        face = max(result.targets, key=lambda t: t.box.width * t.box.height)
        found[name] = (face.feature, face.crop_jpeg)
    return found


def make_capture(
    camera: str,
    track: int,
    at: datetime,
    kind: TargetType = TargetType.FACE,
    feature: Feature | None = None,
    crop: str | None = None,
    revision: int = 0,
    **attributes,
) -> Capture:
    """`capture.synthetic`'s face capture, turned into `kind` with attributes and a crop."""
    event = CaptureEvent.NEW if revision == 0 else CaptureEvent.UPDATE
    base = synthetic_capture(
        None if feature is None else feature.vector(),
        camera_id=camera,
        track_id=str(track),
        revision=revision,
        event=event,
        quality=0.8,
        start=at,
        **({} if feature is None else {"model": feature.model}),
    )
    label = attributes.pop("label", kind.value)
    target = base.target.model_copy(update={"type": kind, "label": label, **attributes})
    return base.model_copy(update={"target": target, "crop_jpeg": crop})


def face_capture(faces, name: str, camera: str, track: int, minutes: float, **extra) -> Capture:
    feature, crop = faces[name]
    at = NOON + timedelta(minutes=minutes)
    return make_capture(camera, track, at, feature=feature, crop=crop, **extra)


@pytest.fixture
def scene(faces) -> list[Capture]:
    """Obama three times (two cameras), Biden and Hopper once, a person and two vehicles."""
    red = ColourAttribute(name="red", fraction=0.7)
    return [
        face_capture(faces, "obama.jpg", "gate", 1, 0),
        face_capture(faces, "obama2.jpg", "lobby", 2, 30),
        face_capture(faces, "obama3.jpg", "gate", 3, 90),
        face_capture(faces, "biden.jpg", "gate", 4, 10, face=FaceAttributes(gender="male")),
        face_capture(faces, "grace_hopper.jpg", "lobby", 5, 40),
        make_capture(
            "lobby",
            6,
            NOON + timedelta(minutes=45),
            TargetType.PERSON,
            person=PersonAttributes(upper_colour=red),
        ),
        make_capture(
            "road",
            7,
            NOON + timedelta(minutes=50),
            TargetType.VEHICLE,
            label="car",
            vehicle=VehicleAttributes(
                vehicle_type="car", plate=Plate(text="AB-123-CD", confidence=0.9)
            ),
        ),
        make_capture(
            "road",
            8,
            NOON + timedelta(minutes=55),
            TargetType.VEHICLE,
            label="bus",
            vehicle=VehicleAttributes(vehicle_type="bus", plate=Plate(text="ZZ999", confidence=1)),
        ),
    ]


@pytest.fixture
def uri(tmp_path: Path) -> Path:
    return tmp_path / "history.db"


def ids(records) -> list[str]:
    return [record.capture_id for record in records]


def hit_ids(result) -> list[str]:
    return [hit.record.capture_id for hit in result.hits]


def test_search_by_picture_ranks_the_same_person_first(images, scene, uri):
    with HistoryService(uri) as history:
        assert history.add(scene) == len(scene)
        result = history.search(images / "obama.jpg", k=5)
    assert hit_ids(result)[0] == "gate/1" and set(hit_ids(result)[1:3]) == {"lobby/2", "gate/3"}
    distances = [hit.distance for hit in result.hits]
    assert distances == sorted(distances) and len(result.hits) == 5, "faces only, nearest first"
    assert [hit.match for hit in result.hits] == [True, True, True, False, False]
    best = result.hits[0]
    assert best.record.capture_id == "gate/1" and best.distance < 0.05, "the same photo"
    assert best.similarity > result.hits[3].similarity
    assert best.record.camera_id == "gate" and best.record.captured_at == NOON
    assert base64.b64decode(best.record.crop_jpeg)[:3] == b"\xff\xd8\xff", "with its crop"
    assert result.candidates == 5


def test_camera_and_time_filters_are_honoured(images, scene, uri):
    with HistoryService(uri) as history:
        history.add(scene)
        query = images / "obama2.jpg"
        on_gate = history.search(query, cameras=["gate"])
        assert set(hit_ids(on_gate)) == {"gate/1", "gate/3", "gate/4"}
        window = history.search(
            query, since=NOON + timedelta(minutes=5), until=NOON + timedelta(minutes=60)
        )
        assert set(hit_ids(window)) == {"lobby/2", "gate/4", "lobby/5"}
        assert hit_ids(window)[0] == "lobby/2"
        both = history.search(
            query, cameras=["gate"], since=(NOON + timedelta(minutes=60)).isoformat()
        )
        assert hit_ids(both) == ["gate/3"]
        assert history.search(query, cameras=["nowhere"]).hits == []


def test_attribute_and_plate_queries(scene, uri):
    with HistoryService(uri) as history:
        history.add(scene)
        red = history.query(attributes={"upper_colour": "red"})
        assert ids(red.records) == ["lobby/6"] and red.total == 1
        assert ids(history.query(attributes={"gender": ["male", "female"]}).records) == ["gate/4"]
        assert ids(history.query(plate="ab123").records) == ["road/7"], "normalised, contained"
        assert history.query(plate="AB-123-CD").records[0].plate == "AB-123-CD"
        vehicles = history.query(types=["vehicle"], cameras=["road"])
        assert ids(vehicles.records) == ["road/8", "road/7"], "newest first"
        lobby = history.query(cameras=["lobby"], until=NOON + timedelta(minutes=42), limit=1)
        assert ids(lobby.records) == ["lobby/5"] and lobby.total == 2


def test_a_later_revision_replaces_the_capture_and_an_older_one_is_ignored(faces, uri):
    first = face_capture(faces, "biden.jpg", "gate", 1, 0)
    later = face_capture(faces, "obama.jpg", "gate", 1, 5, revision=2)
    with HistoryService(uri) as history:
        assert history.add([first]) == 1
        assert history.add([later]) == 1
        assert history.add([first]) == 0, "a replayed older revision changes nothing"
        [record] = history.get(["gate/1"])
        assert record.revision == 2 and record.captured_at == NOON + timedelta(minutes=5)
        assert len(history) == 1
        result = history.search(faces["obama.jpg"][0], k=3)
        assert hit_ids(result) == ["gate/1"] and result.hits[0].distance < 1e-4


def test_purge_and_reopen_rebuild_the_mirror(images, scene, uri):
    with HistoryService(uri) as history:
        history.add(scene)
        assert history.purge(NOON + timedelta(minutes=20)) == 2  # gate/1 and gate/4
    with HistoryService(uri) as reopened:
        assert len(reopened) == len(scene) - 2
        remaining = set(ids(reopened.query(limit=100).records))
        assert "gate/1" not in remaining and "gate/4" not in remaining and "lobby/2" in remaining
        result = reopened.search(images / "obama.jpg", k=2)
        assert hit_ids(result) and hit_ids(result)[0] in {"lobby/2", "gate/3"}


def test_refresh_takes_in_rows_another_writer_stored(faces, scene, uri):
    """Two services on one store (as two processes on a Milvus server): a reader's mirror
    catches up with rows and revisions the writer stored after the reader opened."""
    with HistoryService(uri) as writer:
        writer.add(scene[:2])
        reader = HistoryService(uri)  # the same Lite server, in-process
        assert len(reader) == 2
        writer.add([*scene[2:], face_capture(faces, "biden.jpg", "gate", 1, 3, revision=1)])
        assert len(reader) == 2 and reader.refresh() == len(scene) - 2 + 1
        assert len(reader) == len(scene) and reader.refresh() == 0, "nothing new twice"
        [record] = reader.get(["gate/1"], crops=False)
        assert record.revision == 1 and record.crop_jpeg is None
    reader.close()


def test_faces_returns_time_ordered_records_and_vectors(scene, faces, uri):
    with HistoryService(uri) as history:
        history.add(scene)
        records, vectors = history.faces(cameras=["gate"])
    assert ids(records) == ["gate/1", "gate/4", "gate/3"]
    assert vectors.dtype == np.float32 and vectors.shape == (3, 128)
    np.testing.assert_allclose(vectors[0], faces["obama.jpg"][0].vector(), atol=1e-6)


def test_bad_input_gets_coded_errors_and_changes_nothing(faces, scene, uri):
    short = Feature.from_vector(np.ones(8, np.float32), "face_resnet128@x")
    with HistoryService(uri) as history:
        history.add(scene)
        before = len(history)
        bad = face_capture(faces, "obama.jpg", "gate", 99, 0)
        bad.target.feature = short
        with pytest.raises(VigilError) as refused:
            history.add([scene[0], bad])
        assert refused.value.code == ErrorCode.FEATURE_MISMATCH and len(history) == before
        cases = [
            ({"query": short}, ErrorCode.FEATURE_MISMATCH),
            (
                {"query": faces["obama.jpg"][0], "attributes": {"hat": "red"}},
                ErrorCode.INVALID_OPTIONS,
            ),
            (
                {"query": faces["obama.jpg"][0], "since": NOON, "until": NOON - timedelta(1)},
                ErrorCode.INVALID_OPTIONS,
            ),
            ({"query": faces["obama.jpg"][0], "k": 0}, ErrorCode.INVALID_OPTIONS),
            ({"query": faces["obama.jpg"][0], "since": "yesterday"}, ErrorCode.INVALID_OPTIONS),
        ]
        for kwargs, code in cases:
            with pytest.raises(VigilError) as error:
                history.search(**kwargs)
            assert error.value.code == code, kwargs
        with pytest.raises(VigilError) as blank:
            history.search(cv2.imencode(".png", np.full((64, 64, 3), 200, np.uint8))[1].tobytes())
        assert blank.value.code == ErrorCode.NO_FACE
        with pytest.raises(VigilError) as plate:
            history.query(plate="--")
        assert plate.value.code == ErrorCode.INVALID_OPTIONS
        assert len(history) == before


# -- the writer role -----------------------------------------------------------------------


def test_writer_stores_captures_and_dead_letters_the_bad_ones(faces, uri):
    import threading

    from vigil.history.writer import HistoryWriter
    from vigil.infra.bus.memory import MemoryBus
    from vigil.infra.config import parse_config
    from vigil.infra.topics.captures import CaptureTopic
    from vigil.infra.topics.deadletter import DeadLetterTopic
    from vigil.workers.pipeline import prepare_topics

    config = parse_config(f'cameras: [{{id: gate, url: "x.mp4"}}]\nhistory: {{uri: "{uri}"}}')
    bus = MemoryBus()
    prepare_topics(bus, config, partitions=1)
    producer, topic = bus.producer(), CaptureTopic()
    good = face_capture(faces, "obama.jpg", "gate", 1, 0)
    wrong = face_capture(faces, "biden.jpg", "gate", 2, 1)
    wrong.target.feature = Feature.from_vector(np.ones(8, np.float32), "face_resnet128@x")
    topic.send(producer, good)
    producer.send(topic.name, b"{not json", key="gate")
    topic.send(producer, wrong)
    topic.send(producer, good.model_copy(update={"revision": 1, "event": CaptureEvent.END}))
    with HistoryService(uri) as history:
        writer = HistoryWriter(bus, config, history)
        writer.run(threading.Event(), idle_timeout=0.5)
        writer.close()
        [record] = history.get(["gate/1", "gate/2"])
        assert (record.capture_id, record.event, record.revision) == ("gate/1", "end", 1)
    assert bus.committed(topic.name, "vigil-history") == {0: 4}, "all consumed and committed"
    letters = [
        DeadLetterTopic().decode(r) for r in bus.consumer(["vigil.deadletter"], "t").poll(0.1)
    ]
    assert sorted(letter.error_code for letter in letters) == ["feature_mismatch", "undecodable"]


def test_embedded_pipeline_fills_the_history_and_a_picture_finds_the_capture(images, tmp_path):
    from tests.synthetic_video import moving_faces_frames, write_video
    from tests.test_alarm import face_patch
    from vigil.infra.bus.memory import MemoryBus
    from vigil.infra.config import parse_config
    from vigil.workers.pipeline import run_all

    frames = moving_faces_frames([face_patch(images, "obama2.jpg")], frames=30)
    video = write_video(frames, tmp_path / "walk.mkv", fps=5)
    uri = tmp_path / "history.db"
    config = parse_config(
        f"""
cameras:
  - {{id: door, url: "{video}", types: [face], fps: null, pace: fast}}
history: {{uri: "{uri}"}}
"""
    )
    started = datetime.now(UTC)
    summary = run_all(MemoryBus(), config)
    captured = {capture.capture_id for capture in summary.captures}
    assert captured, "the face was captured"
    with HistoryService(uri) as history:
        assert len(history) == len(captured)
        result = history.search(images / "obama.jpg", cameras=["door"], since=started)
        assert result.hits and result.hits[0].match
        best = result.hits[0].record
        assert best.capture_id in captured and best.camera_id == "door" and best.crop_jpeg
        final = max(
            (c for c in summary.captures if c.capture_id == best.capture_id),
            key=lambda c: c.revision,
        )
        assert best.revision == final.revision, "the last revision is the one kept"
        earlier = history.search(images / "obama.jpg", until=started - timedelta(minutes=1))
        assert earlier.hits == [] and earlier.candidates == 0, "nothing before the run"


# -- CLI and Celery --------------------------------------------------------------------------


def test_cli_search_query_and_purge(images, scene, uri, tmp_path, capsys):
    from vigil.cli.main import main

    with HistoryService(uri) as history:
        history.add(scene)
    store = ["--store", str(uri)]
    crops = tmp_path / "crops"
    search = ["history", "search", str(images / "obama2.jpg"), "--camera", "gate", "--k", "2"]
    assert main([*search, "--crops", str(crops), "--json", *store]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["hits"][0]["record"]["capture_id"] in {"gate/1", "gate/3"}
    assert "crop_jpeg" not in result["hits"][0]["record"]
    assert sorted(path.name for path in crops.iterdir()) == ["gate_1.jpg", "gate_3.jpg"]
    assert main([*search, *store]) == 0
    assert "MATCH" in capsys.readouterr().out
    query = ["history", "query", "--attribute", "vehicle_type=bus", "--plate", "zz 999"]
    assert main([*query, "--json", *store]) == 0
    assert [r["capture_id"] for r in json.loads(capsys.readouterr().out)["records"]] == ["road/8"]
    assert main(["history", "query", "--attribute", "hat=red", "--json", *store]) == 2
    assert json.loads(capsys.readouterr().out)["error"]["code"] == "invalid_options"
    older = (NOON + timedelta(minutes=20)).isoformat()
    assert main(["history", "purge", "--older-than", older, "--json", *store]) == 0
    assert json.loads(capsys.readouterr().out)["purged"] == 2


def test_history_tasks_on_a_real_worker(faces, scene, redis_url, tmp_path):
    """`vigil.history.*` through Redis and a `vigil worker` process that owns the store."""
    from tests.support.processes import stop
    from vigil.infra.celery_app import create_app
    from vigil.infra.settings import Settings

    uri = tmp_path / "history.db"
    with HistoryService(uri) as history:  # closed before the worker opens the Lite file
        history.add(scene)
    env = dict(
        os.environ,
        VIGIL_CELERY_BROKER=f"{redis_url}/4",
        VIGIL_CELERY_BACKEND=f"{redis_url}/5",
        VIGIL_CELERY_EAGER="false",
        VIGIL_HISTORY_URI=str(uri),
    )
    command = [sys.executable, "-m", "vigil.cli.main", "worker", "--pool", "solo"]
    with (tmp_path / "worker.log").open("w") as log:
        worker = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    client = create_app(
        Settings(
            celery_broker=env["VIGIL_CELERY_BROKER"], celery_backend=env["VIGIL_CELERY_BACKEND"]
        )
    )
    try:
        feature = faces["obama3.jpg"][0].model_dump()
        found = client.send_task(
            "vigil.history.search", args=[feature], kwargs={"k": 3, "cameras": ["gate"]}
        ).get(timeout=120)
        assert found["hits"][0]["record"]["capture_id"] == "gate/3"
        assert found["hits"][0]["record"]["crop_jpeg"] and found["hits"][0]["match"]
        plate = client.send_task("vigil.history.query", kwargs={"plate": "AB123"}).get(timeout=60)
        assert [r["capture_id"] for r in plate["records"]] == ["road/7"]
        bad = client.send_task("vigil.history.search", args=[feature], kwargs={"since": "soon"})
        assert bad.get(timeout=60)["error"]["code"] == "invalid_options"
        purged = client.send_task("vigil.history.purge", kwargs={"older_than": "2024-05-01T12:20"})
        assert purged.get(timeout=60)["purged"] == 2
    finally:
        stop(worker, timeout=20)


def test_beat_schedule_purges_only_when_a_retention_is_set():
    from vigil.infra.retention import beat_schedule

    assert beat_schedule({}) == {}
    [entry] = beat_schedule({"VIGIL_HISTORY_RETENTION_DAYS": "30"}).values()
    assert entry["task"] == "vigil.history.purge" and entry["kwargs"] == {"retention_days": 30.0}
