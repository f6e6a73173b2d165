"""History writer memory per stored capture on Milvus Lite: Lite's own write buffer against
the bounds Vigil sets (`vigil.infra.lite_buffer`), in the same run.

Run: python bench/bench_history_memory.py [--captures 30000] [--in-process] [--json OUT]

Each side is a real `vigil history write` process on a private tansu, fed `--captures`
synthetic face captures, three revisions each (new, update, end), a few per poll as
from live cameras but without pause. Its RSS is sampled every 500 captures. Reported:
RSS at the end, its peak, and its least-squares slope in kB per capture over the last
four fifths (the first fifth is warm-up). The baseline is Lite as it comes (128 MiB of
Arrow account before a flush); the other side has Vigil's defaults (2 MiB of account,
and a flush every 256 write calls). A 30-minute soak stores ~1,100 captures, too few to
get past the first flushes and compactions, each a lasting step of 10-20 MB: 30,000
captures are about 14 hours of the soak's busy camera.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from procs import rss_bytes

from vigil.infra.lite_buffer import (
    DEFAULT_LIMIT_BYTES,
    FLUSH_EVERY_ENV,
    LIMIT_ENV,
    flush_every,
)

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"
LITE_DEFAULT_BYTES = 128 * 1024 * 1024
SAMPLE_EVERY = 500
PACE_S = 0.003


def capture_revisions(count: int) -> Iterator[tuple[int, Any]]:
    """(captures so far, capture) for `count` face captures, each as new, update and end:
    what the writer sees of one track."""
    from tests.support.synthetic_captures import face_capture
    from vigil.schemas.capture import CaptureEvent

    revisions = [(0, CaptureEvent.NEW), (1, CaptureEvent.UPDATE), (2, CaptureEvent.END)]
    rng = np.random.default_rng(0)
    for n in range(count):
        vector = rng.normal(size=128).astype(np.float32)
        vector /= np.linalg.norm(vector)
        for revision, event in revisions:
            yield (
                n + 1,
                face_capture(vector, track_id=str(n), revision=revision, event=event, seconds=n),
            )


def due(stored: int, capture: Any) -> bool:
    """Sample once per `SAMPLE_EVERY` captures, after the last revision of the last one."""
    return stored % SAMPLE_EVERY == 0 and capture.revision == 2


def feed_writer(count: int, env: dict[str, str], folder: Path) -> list[tuple[int, float]]:
    """A real `vigil history write` on a private tansu, fed `count` captures x 3 revisions
    as fast as it takes them; (captures sent, writer RSS MB) every `SAMPLE_EVERY`."""
    from tests.support.processes import free_port, start_tansu, stop
    from vigil.infra.bus.kafka import KafkaBus
    from vigil.infra.topics.captures import CaptureTopic

    port = free_port()
    tansu = start_tansu(port, (folder / "tansu.log").open("w"))
    config = folder / "cameras.json"
    cameras = [{"id": "cam", "url": str(folder / "unused.avi")}]
    config.write_text(json.dumps({"cameras": cameras, "history": {"uri": str(folder / "h.db")}}))
    env = dict(env, VIGIL_BUS="kafka", VIGIL_KAFKA_BOOTSTRAP=f"127.0.0.1:{port}")
    writer = subprocess.Popen(
        [sys.executable, "-m", "vigil.cli.main", "history", "write", str(config)],
        env=env,
        stdout=(folder / "writer.log").open("w"),
        stderr=subprocess.STDOUT,
    )
    bus = KafkaBus(f"127.0.0.1:{port}")
    bus.ensure_topics([CaptureTopic().name], 1)
    producer, topic = bus.producer(), CaptureTopic()
    samples = []
    try:
        for stored, capture in capture_revisions(count):
            topic.send(producer, capture)
            producer.flush(timeout=30)  # one at a time: the writer's polls stay small,
            time.sleep(PACE_S)  # as from live cameras, not one bulk batch
            if due(stored, capture):
                samples.append((stored, rss_bytes(writer.pid) / 2**20))
        producer.flush(timeout=30)
    finally:
        producer.close()
        bus.close()
        stop(writer)
        stop(tansu)
    return samples


def store_captures(count: int, folder: Path) -> list[tuple[int, float]]:
    """(captures stored, RSS MB) samples of this process storing `count` captures."""
    from vigil.history.service import HistoryService

    samples = []
    with HistoryService(folder / "history.db", crops=folder / "crops") as history:
        for stored, capture in capture_revisions(count):
            history.add([capture])
            if due(stored, capture):
                samples.append((stored, rss_bytes(os.getpid()) / 2**20))
    return samples


def side_env(baseline: bool) -> dict[str, str]:
    env = dict(os.environ, OMP_NUM_THREADS="1")
    env.pop(LIMIT_ENV, None)
    env.pop(FLUSH_EVERY_ENV, None)
    if baseline:  # Lite as it comes: its own byte limit, no flush every N writes
        env[LIMIT_ENV] = str(LITE_DEFAULT_BYTES)
        env[FLUSH_EVERY_ENV] = "0"
    return env


def run_in_process(baseline: bool, count: int) -> list[tuple[int, float]]:
    """One side in its own process, so each starts from a clean heap."""
    with tempfile.TemporaryDirectory(prefix="vigil-history-memory-") as folder:
        done = subprocess.run(
            [sys.executable, __file__, "--side", str(count), "--folder", folder],
            env=side_env(baseline),
            capture_output=True,
            text=True,
            check=True,
        )
    return [tuple(pair) for pair in json.loads(done.stdout.strip().splitlines()[-1])]


def run_writer(baseline: bool, count: int) -> list[tuple[int, float]]:
    with tempfile.TemporaryDirectory(prefix="vigil-history-memory-") as folder:
        return feed_writer(count, side_env(baseline), Path(folder))


def kb_per_capture(samples: list[tuple[int, float]]) -> float:
    """RSS slope over the last 80% of the samples (flushes make a saw-tooth: the longer
    the run, the truer the slope)."""
    kept = samples[len(samples) // 5 :]
    xs = np.array([n for n, _ in kept], float)
    ys = np.array([mb for _, mb in kept], float)
    return float(np.polyfit(xs, ys, 1)[0] * 1024)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--captures", type=int, default=30_000)
    parser.add_argument("--json", type=Path, help="default: bench/results/history_memory*.json")
    parser.add_argument(
        "--in-process",
        action="store_true",
        help="HistoryService in a bare process, one add per revision (the worst case for"
        " per-call overhead), instead of the real writer on tansu",
    )
    parser.add_argument("--side", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--folder", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.side:
        print(json.dumps(store_captures(args.side, args.folder)))
        return
    run_side = run_in_process if args.in_process else run_writer

    sides = {
        f"Lite as it comes ({LITE_DEFAULT_BYTES // 2**20} MiB buffer)": True,
        f"Vigil ({DEFAULT_LIMIT_BYTES / 2**20:g} MiB, flush / {flush_every()} writes)": False,
    }
    results = {}
    for name, baseline in sides.items():
        print(f"{name}: storing {args.captures:,} captures x 3 revisions ...", flush=True)
        samples = run_side(baseline, args.captures)
        results[name] = {
            "samples": samples,
            "rss_end_mb": samples[-1][1],
            "rss_peak_mb": max(mb for _, mb in samples),
            "kb_per_capture": kb_per_capture(samples),
        }
    baseline = next(iter(results.values()))
    print(f"\n{'':<44} {'RSS end MB':>11} {'peak MB':>8} {'kB/capture':>11} {'ratio':>6}")
    for name, result in results.items():
        slope = result["kb_per_capture"]
        ratio = f"{baseline['kb_per_capture'] / slope:.1f}x" if slope > 0.1 else "flat"
        print(
            f"{name:<44} {result['rss_end_mb']:>11.0f} {result['rss_peak_mb']:>8.0f}"
            f" {slope:>11.1f} {ratio:>6}"
        )
    mode = "in-process" if args.in_process else "writer"
    out = args.json or RESULTS / f"history_memory{'_in_process' if args.in_process else ''}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    summary = {"mode": mode, "captures": args.captures, "sides": results}
    out.write_text(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
