"""Scale-out on one machine: two capture consumers and two sinks sharing partitioned topics,
two Celery workers, several cameras; and the looping file source the load tests use as a
stand-in camera.

Kafka's contract makes the capture step scale: a camera's frames are keyed by its id, so
one partition (and so one member of the `vigil-capture` group) owns each camera and its
tracks. The test proves it on a real broker: every camera served, each by one consumer,
no track produced twice, both members busy; each capture delivered by exactly one sink.
"""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
import time
import uuid
from pathlib import Path
from urllib.request import urlopen

import numpy as np
import pytest
from prometheus_client.parser import text_string_to_metric_families

from bench.procs import keys_covering
from tests.conftest import VIDEOS
from tests.support.processes import free_port, stop
from vigil.capture.ingestor import CameraIngestor
from vigil.errors import VigilError
from vigil.infra.bus.kafka import KafkaBus
from vigil.infra.bus.memory import MemoryBus
from vigil.infra.config import parse_config
from vigil.video import SourceState, VideoSource, VideoSourceError
from vigil.workers.pipeline import TOPIC_PARTITIONS

CARPHONE = VIDEOS / "carphone_pristine.mp4"  # 120 frames
DEADLINE = 180.0  # upper bound of every wait, never a timing assertion


# -- the looping source ---------------------------------------------------------------------


def test_looping_file_replays_from_the_start_with_one_clock() -> None:
    source = VideoSource(CARPHONE, loop=True)
    frames = []
    for frame in source.frames():
        frames.append(frame)
        if len(frames) == 300:  # two and a half plays
            source.stop()
    assert [f.frame_index for f in frames] == list(range(300))
    times = [f.source_time for f in frames]
    assert all(b > a for a, b in itertools.pairwise(times)), "one forward clock"
    assert np.array_equal(frames[0].image, frames[120].image)
    assert np.array_equal(frames[5].image, frames[245].image)
    assert source.state is SourceState.ENDED


def test_looping_a_broken_file_fails_once_instead_of_forever(tmp_path: Path) -> None:
    fake = tmp_path / "camera.mp4"
    fake.write_bytes(b"not a video at all" * 100)
    with pytest.raises(VideoSourceError):
        list(VideoSource(fake, loop=True).frames())


def test_camera_loop_option_reaches_the_source() -> None:
    config = parse_config(f"cameras:\n  - id: lobby\n    url: {CARPHONE}\n    loop: true\n")
    camera = config.cameras[0]
    assert camera.loop is True
    ingestor = CameraIngestor(camera, MemoryBus(), config.topics)
    assert ingestor.source.loop is True
    assert parse_config(f"cameras: [{{id: a, url: {CARPHONE}}}]").cameras[0].loop is False
    with pytest.raises(VigilError, match="loop"):
        parse_config(f"cameras: [{{id: a, url: {CARPHONE}, loop: sometimes}}]")


# -- two of each role on partitioned topics ----------------------------------------------------


def one_key_per_partition(prefix: str) -> list[str]:
    return keys_covering(prefix, TOPIC_PARTITIONS)


def dead_letters(port: int, stage: str) -> float:
    with urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "vigil_dead_letters_total" and sample.labels.get("stage") == stage
    )


def wait_until_both_own_partitions(
    bus: KafkaBus, topic: str, ports: list[int], stage: str
) -> list[float]:
    """Probe each partition with an undecodable record until both members dead-letter some.

    A member that owns a partition dead-letters its probe (counted in its own metrics),
    so a round in which both counters move means the group has settled on two members.
    Starting the cameras only then keeps every camera on one member for the whole test.
    """
    producer = bus.producer()
    keys = one_key_per_partition("probe")
    deadline = time.monotonic() + DEADLINE
    try:
        while time.monotonic() < deadline:
            before = [counted(port, stage) for port in ports]
            for key in keys:
                producer.send(topic, b"probe", key=key)
            producer.flush(10)
            while time.monotonic() < deadline:
                after = [counted(port, stage) for port in ports]
                if sum(after) - sum(before) >= len(keys):
                    break
                time.sleep(0.3)
            moved = [a - b for a, b in zip(after, before, strict=True)]
            if all(m > 0 for m in moved):
                return moved
            time.sleep(1)
    finally:
        producer.close()
    raise AssertionError(f"{stage}: the two members never shared {topic}'s partitions")


def counted(port: int, stage: str) -> float:
    try:
        return dead_letters(port, stage)
    except OSError:  # still starting
        return 0.0


@pytest.fixture
def second_worker(distributed_env, tmp_path):
    """A second Celery worker process beside the session's: detections spread over both."""
    log = (tmp_path / "worker2.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "vigil.cli.main", "worker", "-c", "1"],
        env=distributed_env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    yield process
    stop(process, timeout=20)


def flat(lists: list[list[dict]]) -> list[dict]:
    return [item for items in lists for item in items]


def read_jsonl(paths) -> list[dict]:
    return [json.loads(line) for path in paths for line in path.read_text().splitlines() if line]


@pytest.mark.integration
def test_two_capture_consumers_and_two_sinks_share_the_cameras(
    tmp_path, distributed_env, kafka_bootstrap, second_worker
):
    prefix = f"s{uuid.uuid4().hex[:6]}"
    topics = {name: f"{prefix}.{name}" for name in ("frames", "captures", "deadletter", "alerts")}
    camera_ids = one_key_per_partition("cam")
    cameras = [
        {
            "id": camera_id,
            "url": str(VIDEOS / "vtest.avi"),
            "types": ["person"],
            "attributes": [],
            "pace": "fast",
            "stop_after": 3.0,
        }
        for camera_id in camera_ids
    ]
    config = tmp_path / "cameras.json"
    config.write_text(json.dumps({"cameras": cameras, "topics": topics}))
    bus = KafkaBus(kafka_bootstrap, session_timeout_ms=6000, heartbeat_interval_ms=1000)
    bus.ensure_topics(list(topics.values()), TOPIC_PARTITIONS)
    processes: list[subprocess.Popen] = []

    def start(name: str, *args: str) -> tuple[Path, int]:
        port, out = free_port(), tmp_path / f"{name}.out"
        env = dict(distributed_env, VIGIL_METRICS_PORT=str(port))
        with out.open("w") as stdout, (tmp_path / f"{name}.log").open("w") as stderr:
            processes.append(
                subprocess.Popen(
                    [sys.executable, "-m", "vigil.cli.main", *args, str(config)],
                    env=env,
                    stdout=stdout,
                    stderr=stderr,
                )
            )
        return out, port

    try:
        captures_out = [start(f"capture{i}", "capture", "--json") for i in (1, 2)]
        sinks = [start(f"sink{i}", "sink", "--out", str(tmp_path / f"out{i}")) for i in (1, 2)]
        wait_until_both_own_partitions(
            bus, topics["frames"], [p for _, p in captures_out], "capture"
        )
        wait_until_both_own_partitions(bus, topics["captures"], [p for _, p in sinks], "sink")
        ingest = subprocess.run(
            [sys.executable, "-m", "vigil.cli.main", "ingest", str(config)],
            env=distributed_env,
            capture_output=True,
            text=True,
            timeout=DEADLINE,
        )
        assert ingest.returncode == 0, ingest.stderr[-2000:]

        def by_process() -> list[list[dict]]:
            return [read_jsonl([out]) for out, _ in captures_out]

        def all_closed(lines: list[dict]) -> bool:
            cameras_done = {c["camera_id"] for c in lines if c["event"] == "end"}
            events = [c["event"] for c in lines]
            return cameras_done == set(camera_ids) and events.count("new") == events.count("end")

        deadline = time.monotonic() + DEADLINE
        while time.monotonic() < deadline and not all_closed(flat(by_process())):
            time.sleep(0.5)
        produced = by_process()
        everything = flat(produced)
        assert all_closed(everything), (tmp_path / "capture1.log").read_text()[-3000:]
        owners = {
            camera: {
                i
                for i, lines in enumerate(produced)
                if any(c["camera_id"] == camera for c in lines)
            }
            for camera in camera_ids
        }
        assert all(len(who) == 1 for who in owners.values()), f"a camera split: {owners}"
        assert {next(iter(who)) for who in owners.values()} == {0, 1}, "both members served"
        tracks = [{c["capture_id"] for c in lines} for lines in produced]
        assert not tracks[0] & tracks[1], "no track produced by both consumers"
        ids = [c["message_id"] for c in everything]
        assert len(ids) == len(set(ids)), "each capture revision published once"

        deadline = time.monotonic() + DEADLINE
        delivered: list[list[dict]] = [[], []]
        while time.monotonic() < deadline:
            delivered = [read_jsonl((tmp_path / f"out{i}").rglob("*.jsonl")) for i in (1, 2)]
            if sum(len(d) for d in delivered) >= len(ids):
                break
            time.sleep(0.5)
        sent = [{c["message_id"] for c in lines} for lines in delivered]
        assert sent[0] and sent[1], "both sinks delivered captures"
        assert not sent[0] & sent[1], "no capture delivered by both sinks"
        assert sent[0] | sent[1] == set(ids)
    finally:
        for process in processes:
            stop(process, timeout=20)
