"""One bad record never stops a sink: names the docs allow are archived, what an output
still refuses is dead-lettered with its offset, and the next record is delivered.

DiskSink names: any person id the watchlists accept (128 characters of any script, which
escaped takes up to 1152 bytes), an empty camera id and a crop that is not base64 are
archived. The sink worker: a record an output raises on (a camera folder the disk refuses)
is dead-lettered and committed, in process and in a real `vigil sink` over tansu.
"""

from __future__ import annotations

import base64
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest

from tests.conftest import KAFKA_TEST_TIMEOUTS
from tests.support.processes import stop
from tests.test_alert_sinks import make_alert
from tests.test_fault_sink import wait_until
from tests.test_outputs import make_capture
from vigil.infra.bus.base import Bus
from vigil.infra.bus.kafka import KafkaBus
from vigil.infra.bus.memory import MemoryBus
from vigil.infra.topics.alerts import AlertTopic
from vigil.infra.topics.captures import CaptureTopic
from vigil.infra.topics.deadletter import DeadLetterTopic
from vigil.outputs.disk import EMPTY_PART, MAX_NAME_BYTES, DiskSink, file_part, read_captures
from vigil.outputs.sink_worker import ALERT_SINK_GROUP, SINK_GROUP, SinkWorker
from vigil.schemas.alert import Alert
from vigil.schemas.camera import PipelineConfig
from vigil.schemas.capture import Capture
from vigil.schemas.deadletter import DeadLetter
from vigil.workers.pipeline import TOPIC_PARTITIONS, drain, prepare_topics

pytestmark = pytest.mark.timeout(180)

ALLOWED_PERSON_IDS = {
    "cjk-17": "张" * 17,  # 153 bytes escaped: refused before, over the old 150 limit
    "cjk-128": "张" * 128,  # 1152 bytes escaped
    "cyrillic-26": "Ж" * 26,
    "cyrillic-128": "Ж" * 128,
    "emoji-128": "😀" * 128,
    "mixed-128": "José 😀 محمد " * 9 + "e\u0301" * 2,
}
BLOCKED = "blocked"  # a camera whose folder is a file: the disk refuses its captures


def names_under(root: Path) -> list[str]:
    return [path.name for path in root.rglob("*")]


# --- DiskSink: every allowed id names a file ---------------------------------------------


@pytest.mark.parametrize("person", ALLOWED_PERSON_IDS.values(), ids=ALLOWED_PERSON_IDS.keys())
def test_any_allowed_person_id_is_archived_with_its_crop(tmp_path, person):
    alert = make_alert(person=person).model_copy(update={"watchlist": "w" * 64})
    sink = DiskSink(tmp_path / "alerts", kind="alerts")
    path = sink.deliver(alert)
    sink.close()

    [written] = read_captures(path, Alert)
    assert written == alert, "the crop reads back from its file"
    assert all(len(name.encode()) <= MAX_NAME_BYTES for name in names_under(tmp_path))
    [crop] = (path.parent / "crops").iterdir()
    assert crop.name.endswith("-0-new.jpg") and crop.name.startswith("3-" + "w" * 64)


def test_long_ids_sharing_a_prefix_keep_apart_and_short_names_do_not_change(tmp_path):
    sink = DiskSink(tmp_path, kind="alerts")
    people = ["张" * 127 + "一", "张" * 127 + "二", "张" * 128]
    track = "t" * 200  # track, watchlist and person too long together, each fitting alone
    for person in people:
        alert = make_alert(person=person).model_copy(update={"track_id": track})
        sink.deliver(alert)
    sink.deliver(make_alert(person="obama"))
    sink.close()

    crops = sorted(p.name for p in (tmp_path / "door" / "crops").iterdir())
    assert len(crops) == 4, crops
    assert "3-wanted-obama-0-new.jpg" in crops, "a name that fits is unchanged"
    assert all(len(name) <= MAX_NAME_BYTES for name in crops)
    written = list(read_captures(tmp_path / "door" / "alerts-2024-05-06.jsonl", Alert))
    assert sorted(a.person_id for a in written) == sorted([*people, "obama"])


def test_shortened_names_never_equal_another_ids_full_name():
    long_id = "Ж" * 60  # 360 bytes escaped
    short = file_part(long_id)
    assert len(short) <= 150 and "~" in short
    assert file_part(short) != short, "'~' is escaped in an id, so no id is named `short`"
    assert file_part("张" * 17, 150) != file_part("张" * 17 + "x", 150)
    assert "%" not in file_part("x" * 300)[-17:], "never cut inside a %XX escape"


def test_empty_camera_id_and_a_crop_that_is_not_base64_are_archived(tmp_path):
    sink = DiskSink(tmp_path)
    nameless = make_capture(camera_id="")
    garbled = make_capture(track_id="8").model_copy(update={"crop_jpeg": "not base64 at all!"})
    nameless_path, garbled_path = sink.deliver(nameless), sink.deliver(garbled)
    sink.close()

    assert nameless_path.parent == tmp_path / EMPTY_PART
    assert list(read_captures(nameless_path)) == [nameless]
    assert list(read_captures(garbled_path)) == [garbled], "the crop is kept as received"
    assert [p.name for p in (nameless_path.parent / "crops").iterdir()] == ["7-0-new.jpg"]
    assert not (garbled_path.parent / "crops").exists(), "no JPEG to write"


# --- the sink worker: what an output raises on is dead-lettered ---------------------------


def disk_config(root: Path, prefix: str = "vigil") -> PipelineConfig:
    return PipelineConfig.model_validate(
        {
            "cameras": [{"id": "cam-1", "url": "unused.mp4"}],
            "outputs": {"disk": str(root / "captures"), "alerts": {"disk": str(root / "alerts")}},
            "topics": {n: f"{prefix}.{n}" for n in ("frames", "captures", "deadletter", "alerts")},
        }
    )


def block_camera_folder(config: PipelineConfig) -> None:
    """A file where the camera's folder would go: every write for that camera fails."""
    config.outputs.disk.mkdir(parents=True, exist_ok=True)
    (config.outputs.disk / BLOCKED).write_text("not a folder")


def publish(bus: Bus, topic: str, payloads: list[Capture | Alert]) -> None:
    producer = bus.producer()
    for payload in payloads:
        kind = AlertTopic if isinstance(payload, Alert) else CaptureTopic
        kind(topic).send(producer, payload)
    producer.flush(30)
    producer.close()


def read_letters(consumer, topic: str, letters: list[DeadLetter]) -> list[DeadLetter]:
    decode = DeadLetterTopic(topic).decode
    letters += [decode(record) for record in consumer.poll(timeout=0.5, max_records=100)]
    return letters


def captures_on_disk(config: PipelineConfig, camera: str) -> list[Capture]:
    files = sorted((config.outputs.disk / camera).glob("*.jsonl"))
    return [capture for path in files for capture in read_captures(path)]


def test_sink_worker_dead_letters_a_record_the_disk_refuses_and_goes_on(tmp_path):
    config = disk_config(tmp_path)
    block_camera_folder(config)
    bus = MemoryBus()
    prepare_topics(bus, config)
    poison, good = make_capture(camera_id=BLOCKED), make_capture(camera_id="cam-1")
    publish(bus, config.topics.captures, [poison, make_capture(camera_id=""), good])
    worker = SinkWorker(bus, config)
    try:
        worker.run(threading.Event(), idle_timeout=0.3)
    finally:
        worker.close()

    assert captures_on_disk(config, "cam-1") == [good]
    assert len(captures_on_disk(config, EMPTY_PART)) == 1
    reader = bus.consumer([config.topics.deadletter], "test-reader")
    [letter] = read_letters(reader, config.topics.deadletter, [])
    assert letter.stage == "sink.disk" and letter.error_code == "output_failed"
    assert BLOCKED in letter.reason and "Error" in letter.reason
    assert (letter.topic, letter.offset, letter.key) == (config.topics.captures, 0, BLOCKED)
    assert str(poison.message_id) in letter.payload_excerpt
    assert worker.delivered == 2
    assert sum(bus.committed(config.topics.captures, SINK_GROUP).values()) == 3


def test_a_dead_sink_thread_ends_the_drain_instead_of_hanging(tmp_path):
    config = disk_config(tmp_path)
    bus = MemoryBus()
    prepare_topics(bus, config)
    producer = bus.producer()
    CaptureTopic(config.topics.captures).send(producer, make_capture())
    dead = threading.Thread(target=lambda: None, name="SinkWorker")
    dead.start()
    dead.join()
    started = time.monotonic()
    with pytest.raises(RuntimeError, match="SinkWorker died"):
        drain(bus, [(producer, config.topics.captures, SINK_GROUP)], [dead])
    assert time.monotonic() - started < 1


def test_a_sink_that_fails_ends_the_sink_role_with_an_error(tmp_path, monkeypatch):
    """Not one record but the sink itself (its dead letters refused, say): the other
    sink stops too and the role raises, so `vigil sink` exits 1 for its supervisor."""
    from vigil.workers.roles import run_sink

    original = SinkWorker.run

    def run(self, stop, idle_timeout=None):
        if self.group == SINK_GROUP:
            raise ConnectionError("dead letters refused")
        return original(self, stop, idle_timeout)

    monkeypatch.setattr(SinkWorker, "run", run)
    started = time.monotonic()
    with pytest.raises(RuntimeError, match=f"{SINK_GROUP} stopped on an error"):
        run_sink(MemoryBus(), disk_config(tmp_path), threading.Event())
    assert time.monotonic() - started < 5, "the alert sink stopped with it"


# --- `vigil sink` over tansu --------------------------------------------------------------


@pytest.mark.integration
def test_sink_process_dead_letters_a_poison_record_and_delivers_the_next(tmp_path, kafka_bootstrap):
    prefix = f"h{uuid.uuid4().hex[:6]}"
    config = disk_config(tmp_path, prefix)
    block_camera_folder(config)
    path = tmp_path / "sink.json"
    path.write_text(config.model_dump_json())
    bus = KafkaBus(kafka_bootstrap, session_timeout_ms=6000, heartbeat_interval_ms=1000)
    prepare_topics(bus, config, TOPIC_PARTITIONS)
    env = {
        **os.environ,
        "VIGIL_BUS": "kafka",
        "VIGIL_KAFKA_BOOTSTRAP": kafka_bootstrap,
        **KAFKA_TEST_TIMEOUTS,
    }
    log = tmp_path / "sink.log"
    with log.open("w") as handle:
        sink = subprocess.Popen(
            [sys.executable, "-m", "vigil.cli.main", "sink", str(path)],
            env=env,
            stdout=handle,
            stderr=subprocess.STDOUT,
        )
    letters_reader = bus.consumer([config.topics.deadletter], f"test-{prefix}")
    letters: list[DeadLetter] = []
    try:
        # One at a time: the poison first, so nothing after it can slip through before it.
        poison = make_capture(camera_id=BLOCKED)
        publish(bus, config.topics.captures, [poison])
        wait_until(
            lambda: read_letters(letters_reader, config.topics.deadletter, letters),
            f"the poison record dead-lettered\n{log.read_text()[-3000:]}",
            90,
        )
        good = [make_capture(camera_id="cam-1"), make_capture(camera_id="", track_id="9")]
        alert = make_alert(person="张" * 17)  # refused by the disk before: a 153-byte name
        publish(bus, config.topics.captures, good)
        publish(bus, config.topics.alerts, [alert])
        wait_until(
            lambda: (
                sum(bus.committed(config.topics.captures, SINK_GROUP).values()) == 3
                and sum(bus.committed(config.topics.alerts, ALERT_SINK_GROUP).values()) == 1
            ),
            f"every record committed\n{log.read_text()[-3000:]}",
            60,
        )
        assert sink.poll() is None, "the sink is still running"
        sink.send_signal(signal.SIGTERM)
        assert sink.wait(10) == 0
    finally:
        stop(sink)
        letters_reader.close()
        bus.close()

    [letter] = letters
    assert letter.stage == "sink.disk" and letter.error_code == "output_failed"
    assert BLOCKED in letter.reason
    assert (letter.topic, letter.offset, letter.key) == (config.topics.captures, 0, BLOCKED)
    assert str(poison.message_id) in letter.payload_excerpt
    assert captures_on_disk(config, "cam-1") == [good[0]]
    assert captures_on_disk(config, EMPTY_PART) == [good[1]]
    [alerts] = (config.outputs.alerts.disk / "door").glob("alerts-*.jsonl")
    assert list(read_captures(alerts, Alert)) == [alert]
    assert (
        base64.b64decode(alert.crop_jpeg) == next((alerts.parent / "crops").iterdir()).read_bytes()
    )
