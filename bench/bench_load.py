"""Load test: N live-like cameras (looping vtest.avi played in real time) on the distributed
pipeline, N = 1, 2, 4, ... until the machine saturates.

Run: python bench/bench_load.py [--duration 60] [--workers 2] [--max-cameras 16]
         [--face-search focused|whole]   (the backend: VIGIL_INFERENCE, as every role)

One tansu broker, one Redis, `vigil worker -c W` and one `vigil capture` stay up for the
whole run; each step starts `vigil ingest` with the first N cameras, lets it settle, then
measures for --duration seconds from the processes' Prometheus counters:
offered frames/s (5 fps sampled x N), analysed frames/s, frames dropped by back-pressure,
frame decoded -> `new` capture latency (p50, p99), and CPU cores used per process.
A step is saturated when analysed/offered < 0.95 or the p50 latency is more than twice
the first step's; the run stops one step after the first saturated one.
Writes bench/results/load.json and docs/load.png (throughput and latency per N).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))
from plot import Panel, Series, draw
from procs import CaptureLines, Pipeline, host, snapshot, window, write_config

from vigil.samples import SAMPLE_VIDEO

REPO = Path(__file__).resolve().parents[1]
TYPES = ["face", "person", "vehicle"]
SATURATED_RATIO = 0.95


def cameras(count: int, types: list[str], focused: bool = True) -> list[dict]:
    """`count` stand-in live cameras: the sample video looped, released at its frame rate."""
    return [
        {
            "id": f"cam-{index:02d}",
            "url": str(SAMPLE_VIDEO),
            "types": types,
            "pace": "realtime",
            "loop": True,
            "focused_face_search": focused,
        }
        for index in range(count)
    ]


def saturated(step: dict, first: dict) -> bool:
    ratio = step["analysed_over_offered"] or 0.0
    growing = (
        step["latency_ms_p50"] is not None
        and first["latency_ms_p50"] is not None
        and step["latency_ms_p50"] > 2 * max(first["latency_ms_p50"], 500)
    )
    return ratio < SATURATED_RATIO or growing


def run_step(pipe: Pipeline, lines: CaptureLines, config: Path, args) -> dict:
    ingest = pipe.role("ingest", "ingest", str(config))
    try:
        time.sleep(args.settle)  # sources open, tracks form, back-pressure reaches its level
        first = snapshot(pipe, lines)
        time.sleep(args.duration)
        return window(first, snapshot(pipe, lines), lines)
    finally:
        pipe.stop_role(ingest)
        time.sleep(args.drain)  # the capture step finishes the backlog before the next step


def row(step: dict) -> str:
    cores = step["cpu_cores"]
    return (
        f"{step['cameras']:>3} {step['offered_fps']:>8} {step['analysed_fps']:>9}"
        f" {step['dropped']:>6} {step['dropped_pct']:>6}% {step['latency_ms_p50']!s:>7}"
        f" {step['latency_ms_p99']!s:>7} {sum(cores.values()):>6.2f}"
        f"  {json.dumps(cores)}{'  SATURATED' if step['saturated'] else ''}"
    )


def plot(steps: list[dict], path: Path) -> None:
    xs = [float(s["cameras"]) for s in steps]

    def series(label: str, key: str) -> Series:
        return Series(label, xs, [float("nan") if s[key] is None else s[key] for s in steps])

    draw(
        [
            Panel(
                "Throughput vs cameras",
                "frames/s",
                [series("offered", "offered_fps"), series("analysed", "analysed_fps")],
            ),
            Panel(
                "Decoded -> new capture latency",
                "ms",
                [series("p50", "latency_ms_p50"), series("p99", "latency_ms_p99")],
            ),
            Panel("Dropped by back-pressure", "% of offered", [series("dropped", "dropped_pct")]),
        ],
        "cameras (looping vtest.avi, 5 fps sampled, real time)",
        path,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=60, help="measured seconds per step")
    parser.add_argument("--settle", type=float, default=15, help="seconds before measuring")
    parser.add_argument("--drain", type=float, default=5, help="seconds between steps")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--max-cameras", type=int, default=16)
    parser.add_argument("--types", default=",".join(TYPES), help="target types per camera")
    parser.add_argument(
        "--face-search",
        choices=("focused", "whole"),
        default="focused",
        help="whole: every frame's whole picture searched for small faces (before issue 15)",
    )
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "load.json")
    parser.add_argument("--plot", type=Path, default=REPO / "docs" / "load.png")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="vigil-load-"))
    types = args.types.split(",")
    focused = args.face_search == "focused"
    full = write_config(workdir / "all.json", cameras(args.max_cameras, types, focused))
    steps: list[dict] = []
    print(
        "cams offered/s analysed/s dropped    %     p50ms   p99ms  cores  per process",
        flush=True,
    )
    with Pipeline(workdir) as pipe:
        pipe.role("worker", "worker", "-c", str(args.workers), metrics=False)
        capture = pipe.role("capture", "capture", str(full), "--json", stdout=subprocess.PIPE)
        lines = CaptureLines(capture.process)
        time.sleep(10)  # models load, the consumer group forms
        count = 1
        while count <= args.max_cameras:
            config = write_config(workdir / f"n{count}.json", cameras(count, types, focused))
            step = {"cameras": count, **run_step(pipe, lines, config, args)}
            step["saturated"] = saturated(step, steps[0] if steps else step)
            steps.append(step)
            print(row(step), flush=True)
            if sum(s["saturated"] for s in steps) >= 2:
                break
            count *= 2
    report = {
        "machine_cpus": os.cpu_count(),
        "host": host(),
        "celery_worker_processes": args.workers,
        "types": types,
        "inference": os.environ.get("VIGIL_INFERENCE", "onnxruntime"),
        "face_search": args.face_search,
        "seconds_per_step": args.duration,
        "steps": steps,
        "saturates_at_cameras": next((s["cameras"] for s in steps if s["saturated"]), None),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    plot(steps, args.plot)
    print(f"wrote {args.out} and {args.plot}")


if __name__ == "__main__":
    main()
