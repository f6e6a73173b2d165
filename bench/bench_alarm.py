"""Alarm benchmark: throughput against watchlists of 1k, 100k and 1M members, and latency.

Run: python bench/bench_alarm.py [--sizes 1000,100000,1000000] [--captures 2000]
                                 [--rate 20] [--seconds 20] [--bus memory|kafka]

Data: synthetic 128-D face features (`tests.support.synthetic_groups`: people in look-alike
clusters), one enrolled feature per member. Captures are new photos: half of
enrolled members (each on its own track, so each should raise one alert), half of
strangers (no alert). Watchlists up to --store-max members are written to Milvus
Lite and loaded back as the service does on start; larger ones are loaded into the
service's in-memory mirror directly (Milvus Lite inserts ~3.5k rows/s, and the
alarm only ever reads the mirror).

Measured in the same run:
- throughput: the `AlarmWorker` draining a backlog of --captures face captures
  (decode, search every watchlist, vote, publish, commit), against the baseline of
  the bare `GroupService.search` calls on the same features: the ratio is the
  worker's overhead;
- latency: captures published at a sustained --rate for --seconds (by default on a
  real Kafka-protocol broker, tansu); latency = alert published - capture published,
  p50/p99 over the alerting captures, against the bus round trip alone (time for a
  capture to reach the worker) as baseline.
"""

from __future__ import annotations

import argparse
import itertools
import os
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")  # one thread, as a worker runs

import numpy as np
from procs import median, percentile, stopwatch

from tests.support.processes import free_port, start_tansu, stop
from tests.support.synthetic_captures import FACE_MODEL, face_capture
from tests.support.synthetic_groups import Population
from vigil.alarm.worker import AlarmWorker
from vigil.groups.service import GroupService
from vigil.groups.store import FeatureRow
from vigil.infra.bus.base import Bus
from vigil.infra.bus.kafka import KafkaBus
from vigil.infra.bus.memory import MemoryBus
from vigil.infra.topics.captures import CaptureTopic
from vigil.schemas.alert import Alert
from vigil.schemas.camera import PipelineConfig, WatchlistConfig
from vigil.schemas.capture import Capture

WATCHLIST = "wanted"
BATCH = 5000


@dataclass
class Watchlist:
    service: GroupService
    members: Population
    strangers: Population  # other look-alike clusters: nobody here is enrolled
    size: int


def load_watchlist(path: Path, size: int, store_max: int) -> Watchlist:
    members = Population.make(size, seed=size)
    service = GroupService(path)
    service.create_group(WATCHLIST)
    state = service._groups[WATCHLIST]
    state.bind_model(FACE_MODEL, members.dim)
    rows = (
        FeatureRow(f"f{i}", f"p{i}", FACE_MODEL, members.people[i], {"n": i % 10})
        for i in range(size)
    )
    if size <= store_max:  # the real path: Milvus first, the mirror rebuilt from it
        service.store.put_group(state.record)
        service.store.ensure_features(state.record.group_id, members.dim)
        while batch := list(itertools.islice(rows, BATCH)):
            service.store.insert(state.record.group_id, batch)
        service.reload()
    else:
        state.add_rows(rows)
        service._maintain(state)
    return Watchlist(service, members, Population.make(1000, seed=size + 1), size)


@dataclass
class Traffic:
    captures: list[Capture]
    expected: dict[str, str | None]  # capture id -> enrolled person shown, None for a stranger


def traffic(watchlist: Watchlist, count: int, seed: int, camera: str) -> Traffic:
    """Alternating enrolled members and strangers, each on a track of its own."""
    rng = np.random.default_rng(seed)
    members = rng.integers(watchlist.size, size=count)
    strangers = rng.integers(len(watchlist.strangers.people), size=count)
    member_photos = watchlist.members.photos(members, rng)
    stranger_photos = watchlist.strangers.photos(strangers, rng)
    captures, expected = [], {}
    for i in range(count):
        enrolled = i % 2 == 0
        photo = member_photos[i] if enrolled else stranger_photos[i]
        capture = face_capture(photo, camera_id=camera, track_id=f"t{i}", seconds=float(i))
        captures.append(capture)
        expected[capture.capture_id] = f"p{members[i]}" if enrolled else None
    return Traffic(captures, expected)


def outcome(traffic: Traffic, alerts: list[Alert]) -> dict:
    right = sum(traffic.expected[a.capture_id] == a.person_id for a in alerts)
    enrolled = sum(person is not None for person in traffic.expected.values())
    return {"hit_rate": right / max(1, enrolled), "false_alerts": len(alerts) - right}


def config() -> PipelineConfig:
    return PipelineConfig.model_validate(
        {
            "cameras": [{"id": "cam", "url": "unused.mp4"}],
            "watchlists": [WatchlistConfig(group=WATCHLIST, far=1e-3, cooldown=0)],
        }
    )


def throughput(watchlist: Watchlist, count: int) -> dict:
    sample = traffic(watchlist, count, seed=1, camera="cam")
    with stopwatch() as bare:
        for capture in sample.captures:
            watchlist.service.search(capture.target.feature, [WATCHLIST], k=5, far=1e-3)
    bus = MemoryBus()
    topic = CaptureTopic(config().topics.captures)
    producer = bus.producer()
    for capture in sample.captures:
        topic.send(producer, capture)
    alerts: list[Alert] = []
    worker = AlarmWorker(bus, config(), watchlist.service, on_alert=alerts.append)
    with stopwatch() as took:
        worker.run(threading.Event(), idle_timeout=0.3)
    worker.close()
    elapsed = took[0] - 0.3  # the idle wait that ended the run
    return {
        "members": watchlist.size,
        "index": watchlist.service._groups[WATCHLIST].index.kind,
        "search_per_s": count / bare[0],
        "worker_per_s": worker.captures_seen / elapsed,
        **outcome(sample, alerts),
    }


def kafka_bus(bootstrap: str) -> KafkaBus:
    return KafkaBus(
        bootstrap, session_timeout_ms=6000, max_poll_interval_ms=60000, heartbeat_interval_ms=1000
    )


def latency(watchlist: Watchlist, bus: Bus, rate: float, seconds: float) -> dict:
    """Capture published at a steady rate; alert time minus publication time."""
    count = int(rate * seconds)
    sample = traffic(watchlist, count + 1, seed=2, camera=f"lat{watchlist.size}")
    captures = sample.captures
    cfg = config()
    cfg.cameras[0].id = captures[0].camera_id
    bus.ensure_topics([cfg.topics.captures, cfg.topics.alerts, cfg.topics.deadletter], 1)
    published: dict[str, float] = {}
    alerted: dict[str, float] = {}
    received: dict[str, float] = {}
    alerts: list[Alert] = []

    def on_alert(alert: Alert) -> None:
        alerted.setdefault(alert.capture_id, time.perf_counter())
        alerts.append(alert)

    worker = AlarmWorker(bus, cfg, watchlist.service, group=f"bench-{time.time_ns()}")
    worker.on_alert = on_alert
    judge = worker.judge

    def timed_judge(capture: Capture) -> list[Alert]:
        received.setdefault(capture.capture_id, time.perf_counter())
        return judge(capture)

    worker.judge = timed_judge
    stop_event = threading.Event()
    thread = threading.Thread(target=worker.run, args=(stop_event,), daemon=True)
    thread.start()
    topic = CaptureTopic(cfg.topics.captures)
    producer = bus.producer()
    topic.send(producer, captures[0])  # warm-up: waits out the consumer group join
    producer.flush(timeout=30)
    deadline = time.monotonic() + 120
    while captures[0].capture_id not in received and time.monotonic() < deadline:
        time.sleep(0.05)
    start = time.perf_counter()
    for i, capture in enumerate(captures[1:]):
        time.sleep(max(0.0, start + i / rate - time.perf_counter()))
        published[capture.capture_id] = time.perf_counter()
        topic.send(producer, capture)
        producer.flush(timeout=30)
    deadline = time.monotonic() + 30
    while worker.captures_seen < count + 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    stop_event.set()
    thread.join(timeout=30)
    worker.close()
    producer.close()
    alert_ms = [1000 * (alerted[c] - published[c]) for c in published if c in alerted]
    bus_ms = [1000 * (received[c] - published[c]) for c in published if c in received]
    return {
        "members": watchlist.size,
        "rate": rate,
        "captures": count,
        "seen": worker.captures_seen - 1,
        "alerts": len(alert_ms),
        **outcome(sample, alerts),
        "alert_p50_ms": median(alert_ms),
        "alert_p99_ms": percentile(alert_ms, 99),
        "bus_p50_ms": median(bus_ms),
        "bus_p99_ms": percentile(bus_ms, 99),
    }


HEADER = (
    f"{'members':>9} {'index':>10} {'search/s':>9} {'worker/s':>9} {'ratio':>6} {'hits':>5}"
    f" {'false':>5} | {'rate/s':>6} {'alert p50':>9} {'p99':>8} {'bus p50':>8} {'p99':>8}"
)


def row(t: dict, lat: dict) -> str:
    return (
        f"{t['members']:>9} {t['index']:>10} {t['search_per_s']:>9.0f} {t['worker_per_s']:>9.0f}"
        f" {t['worker_per_s'] / t['search_per_s']:>6.2f} {t['hit_rate']:>5.1%}"
        f" {t['false_alerts']:>5} | {lat['rate']:>6.0f} {lat['alert_p50_ms']:>7.1f}ms"
        f" {lat['alert_p99_ms']:>6.1f}ms {lat['bus_p50_ms']:>6.1f}ms {lat['bus_p99_ms']:>6.1f}ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="1000,100000,1000000")
    parser.add_argument("--captures", type=int, default=2000, help="backlog for throughput")
    parser.add_argument("--rate", type=float, default=20.0, help="captures/s for latency")
    parser.add_argument("--seconds", type=float, default=20.0, help="latency run length")
    parser.add_argument("--bus", choices=["memory", "kafka"], default="kafka")
    parser.add_argument("--store-max", type=int, default=100_000)
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",")]
    workdir = Path(tempfile.mkdtemp(prefix="bench-alarm-"))
    broker = None
    if args.bus == "kafka":
        port = free_port()
        broker = start_tansu(port, (workdir / "tansu.log").open("w"))
        bus: Bus = kafka_bus(f"127.0.0.1:{port}")
    else:
        bus = MemoryBus()
    try:
        print(HEADER, flush=True)
        for size in sizes:
            watchlist = load_watchlist(workdir / f"w{size}.db", size, args.store_max)
            try:
                t = throughput(watchlist, args.captures)
                lat = latency(watchlist, bus, args.rate, args.seconds)
            finally:
                watchlist.service.close()
            print(row(t, lat), flush=True)
    finally:
        if broker is not None:
            stop(broker)


if __name__ == "__main__":
    main()
