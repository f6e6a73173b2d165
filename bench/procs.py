"""Small helpers for benchmarks: CPU time and memory of process trees, percentiles, metrics
scraping, and a multi-process pipeline (tansu + Redis + `vigil` roles) that stops cleanly."""

from __future__ import annotations

import json
import math
import os
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from vigil.models.cpu_features import cpuinfo, inference_flags

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")

REPO_ROOT = Path(__file__).resolve().parents[1]


def host() -> dict:
    """The CPU a benchmark ran on: its figures compare only with runs on the same kind
    (the same bench measured a busy camera at 0.47 cores on a Xeon with AMX-BF16 and
    0.87-0.97 on an AVX2-only AMD EPYC, both with OpenVINO)."""
    info = cpuinfo()
    return {
        "cpu": info.model,
        "vendor": info.vendor,
        "cpus": os.cpu_count(),
        "inference_flags": inference_flags(),
    }


def descendants(pid: int) -> list[int]:
    """`pid` and every process below it (Celery prefork children included)."""
    found, frontier = [pid], [pid]
    while frontier:
        parent = frontier.pop()
        try:
            with open(f"/proc/{parent}/task/{parent}/children") as handle:
                children = [int(c) for c in handle.read().split()]
        except OSError:
            children = []
        found += children
        frontier += children
    return found


def cpu_seconds(pids: Iterable[int]) -> float:
    """User + system CPU seconds used so far by the given live processes."""
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except (OSError, IndexError):
            continue
    return total / CLOCK_TICKS


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def whole(value: float) -> int | None:
    """A rounded figure for JSON reports; None (null) where there was nothing to measure."""
    return None if math.isnan(value) else round(value)


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


# -- multi-process pipelines (bench_pipeline, bench_load, bench_soak, bench_scale) -------------


def rss_bytes(pid: int) -> int:
    """Resident memory of one process (VmRSS), 0 once it is gone; /proc, so no psutil."""
    try:
        with open(f"/proc/{pid}/status") as handle:
            for line in handle:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def scrape(port: int) -> dict[str, float]:
    """A process's Prometheus samples, `name{labels}` -> value; empty when it does not answer."""
    from urllib.request import urlopen

    from prometheus_client.parser import text_string_to_metric_families

    try:
        with urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
            text = response.read().decode()
    except OSError:
        return {}
    samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items()))
            samples[f"{sample.name}{{{labels}}}"] = sample.value
    return samples


def total(samples: dict[str, float], name: str, **labels: str) -> float:
    """Sum of the samples of `name` whose labels include `labels` (e.g. reason="behind")."""
    wanted = [f"{k}={v}" for k, v in labels.items()]
    return sum(
        value
        for key, value in samples.items()
        if key.split("{", 1)[0] == name and all(w in key.split("{", 1)[1] for w in wanted)
    )


def new_latency_ms(captures: Iterable) -> list[float]:
    """Frame decoded -> its track's `new` capture published, per new capture (ms).

    `last_seen` is the wall time of the frame that confirmed the track (real time for
    live and paced sources), `created_at` when the capture step made the message.
    """
    return [
        (c.created_at - c.last_seen).total_seconds() * 1000 for c in captures if c.event == "new"
    ]


@dataclass
class Role:
    """One `vigil ...` process of a pipeline, with its metrics port when it serves one."""

    name: str
    process: subprocess.Popen
    metrics_port: int | None = None

    def pids(self) -> list[int]:
        return descendants(self.process.pid)

    def metrics(self) -> dict[str, float]:
        return scrape(self.metrics_port) if self.metrics_port else {}


@dataclass
class CaptureLines:
    """Reads a `vigil capture --json` process's stdout as it comes (a full pipe would block it)."""

    process: subprocess.Popen
    captures: list = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        from vigil.schemas.capture import Capture

        while line := self.process.stdout.readline():
            capture = Capture.model_validate_json(line)
            with self.lock:
                self.captures.append(capture)

    def since(self, start: int) -> list:
        with self.lock:
            return self.captures[start:]


def wait_until_closed(readers: list[CaptureLines], timeout: float) -> bool:
    """Wait until every track is closed: the capture steps have caught up with the streams.

    The stream's end closes every track, and the parked vehicles stay open until then.
    """
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        events = [c.event for reader in readers for c in reader.since(0)]
        if events.count("end") == events.count("new") > 0:
            return True
        time.sleep(0.2)
    return False


def partition_of(key: str, partitions: int) -> int:
    """The partition Kafka clients' default partitioner gives `key` (murmur2, positive)."""
    from kafka.partitioner.default import murmur2

    return (murmur2(key.encode()) & 0x7FFFFFFF) % partitions


def keys_covering(prefix: str, partitions: int) -> list[str]:
    """`prefix-i` keys landing on partitions 0..N-1, one each: cameras that spread evenly."""
    found: dict[int, str] = {}
    index = 0
    while len(found) < partitions:
        key = f"{prefix}-{index}"
        found.setdefault(partition_of(key, partitions), key)
        index += 1
    return [found[p] for p in range(partitions)]


class Pipeline:
    """tansu (Kafka protocol) + Redis + any `vigil` roles as separate processes, stopped on exit.

    with Pipeline(workdir) as pipe:
        pipe.role("worker", "worker", "-c", "2")
        capture = pipe.role("capture", "capture", str(config), "--json", stdout=PIPE)
    """

    def __init__(self, workdir: Path, **env: str) -> None:
        # Run as `python bench/bench_x.py`, the repository root is not on the path.
        if str(REPO_ROOT) not in sys.path:
            sys.path.insert(0, str(REPO_ROOT))
        from tests.support.processes import free_port, start_redis, start_tansu

        self.workdir = workdir
        self.log = (workdir / "pipeline.log").open("w")
        kafka_port, redis_port = free_port(), free_port()
        self.services = [start_tansu(kafka_port, self.log)]
        self.services.append(start_redis(redis_port, workdir))
        self.kafka_bootstrap = f"127.0.0.1:{kafka_port}"
        self.env = dict(
            os.environ,
            VIGIL_BUS="kafka",
            VIGIL_KAFKA_BOOTSTRAP=self.kafka_bootstrap,
            VIGIL_CELERY_BROKER=f"redis://127.0.0.1:{redis_port}/0",
            VIGIL_CELERY_BACKEND=f"redis://127.0.0.1:{redis_port}/1",
            VIGIL_CELERY_EAGER="false",
            VIGIL_KAFKA_SESSION_TIMEOUT_MS="6000",
            VIGIL_KAFKA_MAX_POLL_INTERVAL_MS="60000",
            VIGIL_KAFKA_HEARTBEAT_INTERVAL_MS="1000",
            **env,
        )
        self.roles: list[Role] = []

    def role(self, name: str, *args: str, stdout=None, stderr=None, metrics: bool = True) -> Role:
        """Start `vigil ARGS...`; with `metrics` it serves Prometheus on a port of its own."""
        from tests.support.processes import free_port

        port = free_port() if metrics else None
        env = dict(self.env, VIGIL_METRICS_PORT=str(port)) if port else self.env
        process = subprocess.Popen(
            [sys.executable, "-m", "vigil.cli.main", *args],
            env=env,
            stdout=self.log if stdout is None else stdout,
            stderr=self.log if stderr is None else stderr,
            text=True,
        )
        started = Role(name, process, port)
        self.roles.append(started)
        return started

    def service_pids(self) -> dict[str, int]:
        return {"tansu": self.services[0].pid, "redis": self.services[1].pid}

    def stop_role(self, role: Role) -> None:
        from tests.support.processes import stop

        stop(role.process, timeout=30)
        self.roles.remove(role)

    def __enter__(self) -> Pipeline:
        return self

    def __exit__(self, *_: object) -> None:
        from tests.support.processes import stop

        for process in [*(r.process for r in self.roles), *self.services]:
            stop(process, timeout=20)
        self.log.close()


def write_config(path: Path, cameras: list[dict], **sections: object) -> Path:
    """A cameras JSON file for `vigil` roles (JSON is valid YAML, so the loader reads it)."""
    path.write_text(json.dumps({"cameras": cameras, **sections}, default=str))
    return path


@dataclass
class Snapshot:
    """Counters of every role and the services at one moment, to diff two of them."""

    at: float
    samples: dict[str, float]  # summed over roles: each counter lives in one kind of role
    cpu: dict[str, float]  # role or service name -> CPU seconds of its process tree
    rss: dict[str, int]  # role or service name -> resident bytes of its process tree
    captures: int  # how many capture lines had been read


def snapshot(pipe: Pipeline, lines: CaptureLines | None = None) -> Snapshot:
    import time

    trees = {role.name: role.pids() for role in pipe.roles}
    trees.update({name: descendants(pid) for name, pid in pipe.service_pids().items()})
    samples: dict[str, float] = {}
    for role in pipe.roles:
        for key, value in role.metrics().items():
            samples[key] = samples.get(key, 0.0) + value
    return Snapshot(
        at=time.monotonic(),
        samples=samples,
        cpu={name: cpu_seconds(pids) for name, pids in trees.items()},
        rss={name: sum(rss_bytes(pid) for pid in pids) for name, pids in trees.items()},
        captures=len(lines.captures) if lines else 0,
    )


def window(first: Snapshot, last: Snapshot, lines: CaptureLines | None = None) -> dict:
    """Rates between two snapshots: frames offered / analysed / dropped, latency, CPU cores."""
    seconds = last.at - first.at

    def delta(name: str, **labels: str) -> float:
        return total(last.samples, name, **labels) - total(first.samples, name, **labels)

    offered = delta("vigil_frames_in_total")
    dropped = delta("vigil_frames_dropped_total", reason="behind")
    analysed = delta("vigil_frames_analysed_total")
    news = lines.captures[first.captures : last.captures] if lines else []
    latency = new_latency_ms(news)
    cores = {name: (last.cpu[name] - first.cpu.get(name, 0.0)) / seconds for name in last.cpu}
    return {
        "seconds": round(seconds, 1),
        "offered_fps": round(offered / seconds, 2),
        "analysed_fps": round(analysed / seconds, 2),
        "analysed_over_offered": round(analysed / offered, 3) if offered else None,
        "dropped": int(dropped),
        "dropped_pct": round(100 * dropped / offered, 1) if offered else 0.0,
        "new_captures": len(latency),
        "latency_ms_p50": whole(percentile(latency, 50)),
        "latency_ms_p99": whole(percentile(latency, 99)),
        "lag_frames": total(last.samples, "vigil_kafka_lag"),
        "cpu_cores": {name: round(value, 2) for name, value in cores.items()},
        "cpu_s_per_analysed_frame": round(sum(cores.values()) * seconds / analysed, 3)
        if analysed
        else None,
    }


@contextmanager
def stopwatch() -> Iterator[list[float]]:
    """Seconds the block took, in the yielded list once it ends."""
    took: list[float] = []
    start = time.perf_counter()
    yield took
    took.append(time.perf_counter() - start)


def still_video(workdir: Path) -> Path:
    """30 s of vtest.avi's first frame at 10 fps (MJPG): a scene where nothing moves."""
    import cv2

    from vigil.samples import SAMPLE_VIDEO
    from vigil.video.source import VideoSource

    first = next(iter(VideoSource(SAMPLE_VIDEO).frames())).image
    path = workdir / "still.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, first.shape[1::-1])
    for _ in range(300):  # 30 s
        writer.write(first)
    writer.release()
    return path
