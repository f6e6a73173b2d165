"""Soak: the whole distributed pipeline for --minutes (default 30), sampling every 10 s the
resident memory (RSS) of every process, throughput, latency and lag.

Run: python bench/bench_soak.py [--minutes 30] [--cameras 2] [--workers 2]

Processes: tansu, Redis, `vigil worker -c W`, `vigil capture`, `vigil sink` (disk),
`vigil alarm` (a 1000-person synthetic watchlist in Milvus Lite), `vigil history`
(Milvus Lite) and `vigil ingest` with N cameras (looping vtest.avi in real time).
Verdict "memory flat": for every Vigil process, the least-squares RSS slope over the last
two thirds of the run (the first third is warm-up: models, caches, Milvus segments) is below
--max-slope MB/hour. The history writer holds what it stores by design (the search mirror,
and Milvus Lite's rows in its own process): it is judged per stored capture instead, against
--max-history-kb; on Milvus Lite a 30-minute run only sees its first flushes and
compactions, each a lasting 10-20 MB step, so its long-run memory is measured by
bench/bench_history_memory.py. tansu's memory:// storage keeps every record and is
reported apart.
Writes bench/results/soak.json, soak.csv and docs/soak.png.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))
import numpy as np
from bench_alarm import WATCHLIST, load_watchlist
from bench_load import TYPES, cameras
from plot import Panel, Series, draw
from procs import CaptureLines, Pipeline, snapshot, window, write_config

REPO = Path(__file__).resolve().parents[1]
MB = 1024 * 1024
# Services whose memory grows by design in this harness: judged apart from Vigil's processes.
GROWS_BY_DESIGN = {
    "tansu": "memory:// storage keeps every record (a real Kafka keeps them on disk)",
}
PER_CAPTURE = "history"  # grows with the rows it stores: judged in kB per stored capture


def slope_mb_per_hour(minutes: list[float], rss_mb: list[float]) -> float:
    """RSS trend over the last two thirds of the samples (the first third is warm-up)."""
    start = len(minutes) // 3
    xs, ys = np.array(minutes[start:]) / 60, np.array(rss_mb[start:])
    if len(xs) < 2:
        return float("nan")
    return float(np.polyfit(xs, ys, 1)[0])


def start_roles(pipe: Pipeline, config: Path, workers: int, out: Path) -> CaptureLines:
    pipe.role("worker", "worker", "-c", str(workers), metrics=False)
    capture = pipe.role("capture", "capture", str(config), "--json", stdout=subprocess.PIPE)
    pipe.role("sink", "sink", str(config), "--out", str(out))
    pipe.role("alarm", "alarm", str(config))
    pipe.role("history", "history", "write", str(config))
    time.sleep(10)  # models load, consumer groups form
    pipe.role("ingest", "ingest", str(config))
    return CaptureLines(capture.process)


def sample_run(pipe: Pipeline, lines: CaptureLines, args) -> list[dict]:
    started = time.monotonic()
    previous = snapshot(pipe, lines)
    samples = []
    while time.monotonic() - started < args.minutes * 60:
        time.sleep(args.interval)
        current = snapshot(pipe, lines)
        step = window(previous, current, lines)
        step["minute"] = round((current.at - started) / 60, 2)
        step["rss_mb"] = {name: round(value / MB, 1) for name, value in current.rss.items()}
        dead = [role.name for role in pipe.roles if role.process.poll() is not None]
        if dead:
            raise RuntimeError(f"processes exited during the soak: {dead}")
        samples.append(step)
        print(
            f"{step['minute']:6.2f} min  {step['analysed_fps']:5.2f} fps  dropped"
            f" {step['dropped_pct']:5.1f}%  p50 {step['latency_ms_p50']} ms  lag"
            f" {step['lag_frames']:.0f}  RSS MB {json.dumps(step['rss_mb'])}",
            flush=True,
        )
        previous = current
    return samples


def write_csv(samples: list[dict], path: Path) -> None:
    names = sorted(samples[0]["rss_mb"])
    columns = ["minute", "offered_fps", "analysed_fps", "dropped_pct", "latency_ms_p50"]
    columns += ["latency_ms_p99", "lag_frames"]
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow([*columns, *(f"rss_mb_{name}" for name in names)])
        for s in samples:
            writer.writerow([s[c] for c in columns] + [s["rss_mb"][n] for n in names])


def plot(samples: list[dict], path: Path) -> None:
    minutes = [s["minute"] for s in samples]

    def series(label: str, values: list) -> Series:
        return Series(label, minutes, [float("nan") if v is None else float(v) for v in values])

    names = sorted(samples[0]["rss_mb"], key=lambda n: -samples[-1]["rss_mb"][n])
    draw(
        [
            Panel(
                "Throughput",
                "frames/s",
                [
                    series("offered", [s["offered_fps"] for s in samples]),
                    series("analysed", [s["analysed_fps"] for s in samples]),
                ],
            ),
            Panel(
                "Decoded -> new capture latency",
                "ms",
                [
                    series("p50", [s["latency_ms_p50"] for s in samples]),
                    series("p99", [s["latency_ms_p99"] for s in samples]),
                ],
            ),
            Panel(
                "RSS per process (process tree)",
                "MB",
                [series(n, [s["rss_mb"][n] for s in samples]) for n in names],
            ),
        ],
        "minutes",
        path,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=30)
    parser.add_argument("--interval", type=float, default=10, help="seconds between samples")
    parser.add_argument("--cameras", type=int, default=2)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--max-slope", type=float, default=20, help="flat below, MB per hour")
    parser.add_argument(
        "--max-history-kb", type=float, default=8, help="history budget, kB per stored capture"
    )
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "soak.json")
    parser.add_argument("--plot", type=Path, default=REPO / "docs" / "soak.png")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="vigil-soak-"))
    load_watchlist(workdir / "groups.db", 1000, 10**6).service.close()
    config = write_config(
        workdir / "cameras.json",
        cameras(args.cameras, TYPES),
        watchlists=[{"group": WATCHLIST}],
        groups_uri=str(workdir / "groups.db"),
        history={"uri": str(workdir / "history.db")},
    )
    with Pipeline(workdir) as pipe:
        lines = start_roles(pipe, config, args.workers, workdir / "out")
        samples = sample_run(pipe, lines, args)
    names = sorted(samples[0]["rss_mb"])
    minutes = [s["minute"] for s in samples]
    slopes = {n: slope_mb_per_hour(minutes, [s["rss_mb"][n] for s in samples]) for n in names}
    per_hour = sum(s["new_captures"] for s in samples) / (minutes[-1] / 60)
    history_kb = slopes.get(PER_CAPTURE, 0.0) * 1024 / per_hour if per_hour else float("nan")
    growing = {
        n: round(v, 1)
        for n, v in slopes.items()
        if n not in GROWS_BY_DESIGN and n != PER_CAPTURE and not v < args.max_slope
    }
    if PER_CAPTURE in slopes and not history_kb < args.max_history_kb:
        growing[PER_CAPTURE] = f"{history_kb:.1f} kB per capture"
    report = {
        "minutes": args.minutes,
        "cameras": args.cameras,
        "celery_worker_processes": args.workers,
        "max_slope_mb_per_hour": args.max_slope,
        "rss_slope_mb_per_hour": {n: round(v, 1) for n, v in slopes.items()},
        "captures_per_hour": round(per_hour),
        "history_kb_per_capture": round(history_kb, 2),
        "max_history_kb_per_capture": args.max_history_kb,
        "memory_flat": not growing,
        "judged_apart": GROWS_BY_DESIGN,
        "samples": samples,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    write_csv(samples, args.out.with_suffix(".csv"))
    plot(samples, args.plot)
    print(f"RSS slope over the last 2/3, MB/hour: {json.dumps(report['rss_slope_mb_per_hour'])}")
    print(f"history: {history_kb:.1f} kB per stored capture ({per_hour:.0f} captures/hour)")
    verdict = "memory flat" if not growing else f"memory GROWING in {growing}"
    verdict += f" (not judged: {', '.join(GROWS_BY_DESIGN)}, which grows by design)"
    print(f"verdict (threshold {args.max_slope} MB/h): {verdict}")
    print(f"wrote {args.out}, {args.out.with_suffix('.csv')} and {args.plot}")


if __name__ == "__main__":
    main()
