"""History writer memory per stored capture on Milvus Lite: Lite's own write buffer against
the bounds Vigil sets (`vigil.groups.lite_buffer`), in the same run.

Run: python bench/bench_history_memory.py [--captures 30000] [--json OUT]

Each side is a fresh process storing `--captures` synthetic face captures through
`HistoryService`, each as the writer sees it on the bus: three revisions (new, update,
end), one `add` each. The process's RSS is sampled every 500 captures. Reported: RSS at
the end, its peak, and its least-squares slope in kB per stored capture over the last
four fifths (the first fifth is warm-up). The baseline is Lite as it comes (128 MiB of
Arrow account before a flush); the other side has Vigil's defaults (2 MiB of account, and
a flush every 256 write calls). A 30-minute soak stores ~1,100 captures, too few to see
a saw-tooth settle: 30,000 are about 14 hours of the soak's busy camera.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from procs import rss_bytes

from vigil.groups.lite_buffer import (
    DEFAULT_LIMIT_BYTES,
    FLUSH_EVERY_ENV,
    LIMIT_ENV,
    flush_every,
)

REPO = Path(__file__).resolve().parents[1]
LITE_DEFAULT_BYTES = 128 * 1024 * 1024
SAMPLE_EVERY = 500


def store_captures(count: int, folder: Path) -> list[tuple[int, float]]:
    """(captures stored, RSS MB) samples of this process storing `count` captures."""
    from vigil.capture.synthetic import face_capture
    from vigil.history.service import HistoryService
    from vigil.schemas.capture import CaptureEvent

    revisions = [(0, CaptureEvent.NEW), (1, CaptureEvent.UPDATE), (2, CaptureEvent.END)]
    rng = np.random.default_rng(0)
    samples = []
    with HistoryService(folder / "history.db", crops=folder / "crops") as history:
        for n in range(count):
            vector = rng.normal(size=128).astype(np.float32)
            vector /= np.linalg.norm(vector)
            for revision, event in revisions:
                capture = face_capture(
                    vector, track_id=str(n), revision=revision, event=event, seconds=n
                )
                history.add([capture])
            if (n + 1) % SAMPLE_EVERY == 0:
                samples.append((n + 1, rss_bytes(os.getpid()) / 2**20))
    return samples


def run_side(baseline: bool, count: int) -> list[tuple[int, float]]:
    """One side in its own process, so each starts from a clean heap."""
    env = dict(os.environ, OMP_NUM_THREADS="1")
    env.pop(LIMIT_ENV, None)
    env.pop(FLUSH_EVERY_ENV, None)
    if baseline:  # Lite as it comes: its own byte limit, no flush every N writes
        env[LIMIT_ENV] = str(LITE_DEFAULT_BYTES)
        env[FLUSH_EVERY_ENV] = "0"
    with tempfile.TemporaryDirectory(prefix="vigil-history-memory-") as folder:
        done = subprocess.run(
            [sys.executable, __file__, "--side", str(count), "--folder", folder],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
    return [tuple(pair) for pair in json.loads(done.stdout.strip().splitlines()[-1])]


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
    parser.add_argument(
        "--json", type=Path, default=REPO / "bench" / "results" / "history_memory.json"
    )
    parser.add_argument("--side", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--folder", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.side:
        print(json.dumps(store_captures(args.side, args.folder)))
        return

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
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"captures": args.captures, "sides": results}, indent=2))


if __name__ == "__main__":
    main()
