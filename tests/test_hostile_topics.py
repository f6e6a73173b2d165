"""Every consumed topic, end to end: a malformed record in the middle of a stream is
dead-lettered with a reason naming where it was and what was wrong, and the records
around it are processed as if it had not been there.

One harness drives the real consumer roles on the in-memory bus: the capture step
(frames), the capture and alert sinks, the alarm and the history writer.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.support.synthetic_captures import face_capture
from tests.test_alert_sinks import make_alert
from vigil.alarm.worker import AlarmWorker
from vigil.capture.worker import CaptureWorker
from vigil.groups.service import GroupService
from vigil.history.service import HistoryService
from vigil.history.writer import HistoryWriter
from vigil.infra.bus.memory import MemoryBus
from vigil.infra.topics.deadletter import DeadLetterTopic
from vigil.infra.topics.frames import META_HEADER
from vigil.infra.topics.json_topic import MAX_RECORD_BYTES
from vigil.outputs.disk import read_captures
from vigil.outputs.sink_worker import ALERT_STREAM, SinkWorker
from vigil.schemas.alert import Alert
from vigil.schemas.camera import PipelineConfig
from vigil.schemas.frame import FrameMeta
from vigil.schemas.geometry import FrameSize
from vigil.workers.pipeline import celery_steps, prepare_topics

pytestmark = pytest.mark.timeout(120)

Headers = dict[str, bytes]
GOOD_COUNT = 3  # good records: one before the bad ones, one between, one after


def future_major(message_json: bytes) -> bytes:
    """The same message claiming a schema major version no consumer knows yet."""
    return json.dumps({**json.loads(message_json), "schema_version": "9.0"}).encode()


def capture_json(index: int) -> bytes:
    vector = np.random.default_rng(index).normal(size=128).astype(np.float32)
    return face_capture(vector, camera_id="cam", track_id=str(index + 1)).model_dump_json().encode()


def alert_json(index: int) -> bytes:
    return make_alert(person=f"person-{index}").model_dump_json().encode()


def frame_headers(index: int, **changes: Any) -> Headers:
    """A tick (no pixels) by default: the capture step tracks it without Celery."""
    fields = {
        "camera_id": "cam",
        "stream_id": "s1",
        "frame_index": index,
        "sequence": index,
        "source_time": index / 5,
        "captured_at": "2026-01-01T12:00:00Z",
        "size": FrameSize(width=64, height=48),
        "has_image": False,
    }
    meta = FrameMeta(**{**fields, **changes})
    return {META_HEADER: meta.model_dump_json().encode()}


OVERSIZED = b" " * (MAX_RECORD_BYTES + 1)


def json_malformations(good: Callable[[int], bytes], foreign: bytes) -> dict:
    """label -> (value, headers, words the dead letter's reason must contain)."""
    return {
        "not-json": (b"{not json", {}, "not a valid"),
        "empty": (b"", {}, "not a valid"),
        "other-schema": (foreign, {}, "not a valid"),
        "future-major": (future_major(good(99)), {}, "major version 9"),
        "oversized": (OVERSIZED, {}, "byte limit"),
    }


FRAME_MALFORMATIONS = {
    "not-json": (b"", {META_HEADER: b"{not json"}, "bad frame header"),
    "other-schema": (b"", {META_HEADER: capture_json(5)}, "bad frame header"),
    "missing-header": (b"", {}, "no vigil-meta header"),
    "future-major": (
        b"",
        {META_HEADER: future_major(frame_headers(99)[META_HEADER])},
        "major version 9",
    ),
    "image-missing": (b"", frame_headers(98, has_image=True), "record is empty"),
    "oversized": (OVERSIZED, frame_headers(97, has_image=True), "byte limit"),
}


@dataclass
class Role:
    """A consumer role under test: how to build it and what it did with the good records."""

    topic: Callable[[PipelineConfig], str]
    good: Callable[[int], tuple[bytes, Headers]]
    malformed: dict
    start: Callable[[MemoryBus, PipelineConfig, Path, contextlib.ExitStack], Any]
    processed: Callable[[Any, Path], int]


def capture_step(bus, config, tmp_path, stack):
    worker = CaptureWorker(bus, config, **celery_steps())
    worker.tracked_frames = 0
    track = worker.track

    def counting(frame):  # a spy around the real tracking, to count the frames it saw
        worker.tracked_frames += 1
        return track(frame)

    worker.track = counting
    return worker


def sink(stream=None):
    def start(bus, config, tmp_path, stack):
        return SinkWorker(bus, config) if stream is None else SinkWorker(bus, config, stream)

    return start


def on_disk(folder: str, model=None) -> Callable[[Any, Path], int]:
    def count(worker, tmp_path: Path) -> int:
        files = list((tmp_path / folder).glob("*/*.jsonl"))
        written = [m for path in files for m in read_captures(path, *([model] if model else []))]
        assert worker.delivered == len(written)
        return len(written)

    return count


def alarm(bus, config, tmp_path, stack):
    groups = stack.enter_context(GroupService(tmp_path / "groups.db"))
    return AlarmWorker(bus, config, groups)


def history(bus, config, tmp_path, stack):
    store = stack.enter_context(HistoryService(tmp_path / "history.db"))
    return HistoryWriter(bus, config, store)


def stored(writer, tmp_path: Path) -> int:
    assert len(writer.history) == writer.stored
    return writer.stored


def captures_topic(config: PipelineConfig) -> str:
    return config.topics.captures


def capture_record(index: int) -> tuple[bytes, Headers]:
    return capture_json(index), {}


CAPTURES = json_malformations(capture_json, alert_json(0))
ROLES = {
    "capture-step": Role(
        lambda c: c.topics.frames,
        lambda i: (b"", frame_headers(i, end_of_stream=i == GOOD_COUNT - 1)),
        FRAME_MALFORMATIONS,
        capture_step,
        lambda worker, _: worker.tracked_frames,
    ),
    "capture-sink": Role(captures_topic, capture_record, CAPTURES, sink(), on_disk("captures")),
    "alert-sink": Role(
        lambda c: c.topics.alerts,
        lambda i: (alert_json(i), {}),
        json_malformations(alert_json, capture_json(0)),
        sink(ALERT_STREAM),
        on_disk("alerts", Alert),
    ),
    "alarm": Role(captures_topic, capture_record, CAPTURES, alarm, lambda w, _: w.captures_seen),
    "history": Role(captures_topic, capture_record, CAPTURES, history, stored),
}


def config_for(tmp_path: Path) -> PipelineConfig:
    return PipelineConfig.model_validate(
        {
            "cameras": [{"id": "cam", "url": "unused.mp4"}],
            "outputs": {
                "disk": str(tmp_path / "captures"),
                "alerts": {"disk": str(tmp_path / "alerts")},
            },
        }
    )


@pytest.mark.parametrize("name", sorted(ROLES))
def test_malformed_records_are_dead_lettered_and_the_stream_goes_on(name: str, tmp_path: Path):
    role = ROLES[name]
    config = config_for(tmp_path)
    bus = MemoryBus(partitions=1, max_message_bytes=2 * MAX_RECORD_BYTES)
    prepare_topics(bus, config, partitions=1)
    topic = role.topic(config)
    producer = bus.producer()
    bad_offsets: dict[int, tuple[str, bytes, str]] = {}
    good = iter(range(GOOD_COUNT))
    stream = [("good", None)] + [(label, bad) for label, bad in role.malformed.items()]
    stream.insert(len(stream) // 2 + 1, ("good", None))
    stream.append(("good", None))
    for offset, (label, bad) in enumerate(stream):
        if bad is None:
            value, headers = role.good(next(good))
        else:
            value, headers, words = bad
            bad_offsets[offset] = (label, value, words)
        producer.send(topic, value, key="cam", headers=headers)

    with contextlib.ExitStack() as stack:
        worker = role.start(bus, config, tmp_path, stack)
        stack.callback(worker.close)
        worker.run(threading.Event(), idle_timeout=0.3)
        assert role.processed(worker, tmp_path) == GOOD_COUNT, "the good records around the bad"

    assert bus.committed(topic, worker.group) == {0: len(stream)}, "all consumed and committed"
    reader = bus.consumer([config.topics.deadletter], "test-reader")
    letters = [DeadLetterTopic().decode(r) for r in reader.poll(timeout=0.2, max_records=100)]
    by_offset = {letter.offset: letter for letter in letters}
    assert sorted(by_offset) == sorted(bad_offsets), "exactly the bad records, once each"
    for offset, (label, value, words) in bad_offsets.items():
        letter = by_offset[offset]
        assert (letter.topic, letter.partition, letter.key) == (topic, 0, "cam"), label
        assert letter.error_code == "undecodable", label
        assert f"{topic}[0]@{offset}" in letter.reason and words in letter.reason, (label, letter)
        assert letter.payload_size == len(value), label
        assert len(letter.model_dump_json()) < 4096, "a dead letter never carries the payload"
