"""Video pipeline benchmark on vtest.avi (768x576, 795 frames, sampled at 5 fps).

Run: python bench/bench_pipeline.py [--workers 2]

Measures, in one run:
1. model-bound limit: 1 / (mean model time per sampled frame: NanoDet + tiled BlazeFace);
2. embedded (one process, in-process bus, eager Celery): frames/s and frames per CPU-second;
3. distributed (tansu Kafka-protocol broker + Redis + `vigil worker` Celery processes +
   `vigil capture` + `vigil ingest`, separate processes): the same, and its overhead ratio;
4. latency from a frame's decoding to its track's `new` capture (p50, p99), with the file
   played in real time (pace "realtime") so frames do not queue;
5. motion gating: CPU seconds per video second for a still scene against the busy one.
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
from procs import (
    CaptureLines,
    Pipeline,
    cpu_seconds,
    new_latency_ms,
    percentile,
    still_video,
    wait_until_closed,
    write_config,
)

from vigil.samples import SAMPLE_VIDEO

TYPES = ["face", "person", "vehicle"]
VIDEO_SECONDS = 79.5


def model_bound(frames: int = 40) -> dict:
    from vigil.analysis.frame_analysis import detectors
    from vigil.video.sampler import Sampler
    from vigil.video.source import VideoSource

    sampler, images = Sampler(5.0), []
    for frame in VideoSource(SAMPLE_VIDEO).frames():
        if sampler.keep(frame.source_time):
            images.append(frame.image)
        if len(images) == frames:
            break
    found = detectors()
    found.detect(images[0], set(TYPES))  # warm up
    started = time.perf_counter()
    for image in images:
        found.detect(image, set(TYPES))
    per_frame = (time.perf_counter() - started) / len(images)
    return {
        "model_ms_per_frame": round(per_frame * 1000, 1),
        "model_bound_fps": round(1 / per_frame, 2),
    }


def embedded(url: str, pace: str = "fast", types=TYPES) -> dict:
    from vigil.infra.bus.memory import MemoryBus
    from vigil.infra.config import single_camera_config
    from vigil.workers.pipeline import run_all

    config = single_camera_config(url, camera_id="bench", pace=pace, types=types)
    cpu0, wall0 = time.process_time(), time.perf_counter()
    summary = run_all(MemoryBus(), config)
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    frames = summary.frames_processed
    latencies = new_latency_ms(summary.captures)
    return {
        "frames": frames,
        "wall_s": round(wall, 1),
        "cpu_s": round(cpu, 1),
        "fps": round(frames / wall, 2),
        "frames_per_cpu_s": round(frames / cpu, 2),
        "captures": len(summary.captures),
        "new_latency_ms_p50": round(percentile(latencies, 50)),
        "new_latency_ms_p99": round(percentile(latencies, 99)),
    }


def distributed(workers: int, workdir: Path) -> dict:
    camera = {"id": "bench", "url": str(SAMPLE_VIDEO), "types": TYPES, "pace": "fast"}
    config = str(write_config(workdir / "cameras.json", [camera]))
    with Pipeline(workdir) as pipe:
        pipe.role("worker", "worker", "-c", str(workers), metrics=False)
        capture = pipe.role("capture", "capture", config, "--json", stdout=subprocess.PIPE)
        lines = CaptureLines(capture.process)
        time.sleep(8)  # models load, consumer group joins
        pids = [p for role in pipe.roles for p in role.pids()]
        cpu0, wall0 = cpu_seconds(pids), time.perf_counter()
        ingest = pipe.role("ingest", "ingest", config, stderr=subprocess.PIPE, metrics=False)
        report = json.loads(ingest.process.communicate(timeout=900)[1].strip().splitlines()[-1])
        published = report["frames_published"] + report["frames_ticks"]
        wait_until_closed([lines], timeout=600)
        wall = time.perf_counter() - wall0
        pids = [p for role in pipe.roles for p in role.pids()]
        cpu = cpu_seconds(pids) - cpu0
        return {
            "frames": published,
            "wall_s": round(wall, 1),
            "cpu_s": round(cpu, 1),
            "fps": round(published / wall, 2),
            "frames_per_cpu_s": round(published / cpu, 2),
            "captures": len(lines.captures),
            "celery_worker_processes": workers,
        }


def show(section: str, report: dict) -> None:
    """Print each section as soon as it is measured, so a long run leaves partial results."""
    print(f"# {section}: {json.dumps(report[section])}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2, help="Celery worker processes")
    parser.add_argument("--skip-distributed", action="store_true")
    parser.add_argument("--only-distributed", action="store_true")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="vigil-bench-"))
    if args.only_distributed:
        print(json.dumps(distributed(args.workers, workdir), indent=2))
        return
    report: dict = {"model_bound": model_bound()}
    show("model_bound", report)
    report["embedded"] = embedded(str(SAMPLE_VIDEO))
    report["embedded"]["fraction_of_model_bound"] = round(
        report["embedded"]["frames_per_cpu_s"] / report["model_bound"]["model_bound_fps"], 2
    )
    show("embedded", report)
    if not args.skip_distributed:
        report["distributed"] = distributed(args.workers, workdir)
        report["distributed_over_embedded_cpu_cost"] = round(
            report["embedded"]["frames_per_cpu_s"] / report["distributed"]["frames_per_cpu_s"], 2
        )
    if "distributed" in report:
        show("distributed", report)
    live = embedded(str(SAMPLE_VIDEO), pace="realtime")
    report["realtime_latency"] = {
        k: live[k] for k in ("new_latency_ms_p50", "new_latency_ms_p99", "fps")
    }
    still = embedded(str(still_video(workdir)))
    report["motion_gating"] = {
        "busy_cpu_s_per_video_s": round(report["embedded"]["cpu_s"] / VIDEO_SECONDS, 3),
        "still_cpu_s_per_video_s": round(still["cpu_s"] / 30.0, 3),
    }
    report["motion_gating"]["still_over_busy"] = round(
        report["motion_gating"]["still_cpu_s_per_video_s"]
        / report["motion_gating"]["busy_cpu_s_per_video_s"],
        3,
    )
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
