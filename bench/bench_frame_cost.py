"""What one busy camera costs per inference backend and face search: CPU-cores at 5 fps.

Run: python -m bench.bench_frame_cost [--seconds 40]

vtest.avi (768x576, people walking, two parked vehicles) through the embedded
pipeline (`vigil run`: ingest, motion gate, detect, track, describe, publish, in one
process; no bus or Celery overhead), faces, persons and vehicles at 5 fps, once per
configuration, each in a fresh process:

- onnxruntime, whole-frame face search in every frame: the path before issue 15,
  the baseline of this run;
- onnxruntime, focused face search (the default since: analysis/detection.py);
- OpenVINO, whole-frame; OpenVINO, focused.

Cores at 5 fps = CPU seconds / (analysed frames / 5), i.e. what one camera sampled at
5 fps keeps busy; every model is loaded before the clock starts. The captures per
type are printed beside it: a cheaper path must publish the same captures. A still
scene (vtest's first frame for 30 s) is measured with the focused OpenVINO path for
the still-vs-busy ratio.
Writes bench/results/frame_cost.json.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import cv2

from bench.procs import host, still_video

RESULTS = Path(__file__).resolve().parent / "results"
RUNS = [  # (label, VIGIL_INFERENCE, focused face search)
    ("onnxruntime, whole-frame faces (before)", "onnxruntime", False),
    ("onnxruntime, focused faces", "onnxruntime", True),
    ("OpenVINO, whole-frame faces", "openvino", False),
    ("OpenVINO, focused faces", "openvino", True),
]


def one_run(url: str, focused: bool, seconds: float) -> dict:
    """The embedded pipeline on `url` in this process; CPU and captures."""
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    from vigil.infra.bus.memory import MemoryBus
    from vigil.infra.config import single_camera_config
    from vigil.schemas.capture import CaptureEvent
    from vigil.workers.pipeline import run_all

    config = single_camera_config(
        url, camera_id="bench", pace="fast", focused_face_search=focused, stop_after=seconds
    )
    warm_up(url)
    cpu0, wall0 = time.process_time(), time.perf_counter()
    summary = run_all(MemoryBus(), config)
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    frames = summary.frames_processed
    ends = [c for c in summary.captures if c.event == CaptureEvent.END]
    return {
        "frames": frames,
        "cpu_s": round(cpu, 2),
        "wall_s": round(wall, 2),
        "cores_at_5fps": round(cpu / (frames / 5.0), 3) if frames else None,
        "captures": dict(Counter(c.target.type.value for c in ends)),
    }


def warm_up(url: str) -> None:
    """Load and compile every model first: start-up is not a camera's running cost."""
    from vigil.analysis.frame_analysis import detect_frame
    from vigil.models.registry import model_names
    from vigil.models.runtime import session
    from vigil.schemas.target import TargetType

    for name in model_names():
        session(name)
    capture = cv2.VideoCapture(url)
    ok, frame = capture.read()
    capture.release()
    if ok:
        detect_frame(frame, set(TargetType))


def in_process(backend: str, url: str, focused: bool, seconds: float) -> dict:
    command = [sys.executable, "-m", "bench.bench_frame_cost", "--one", url, "--seconds"]
    command += [str(seconds)] + (["--focused"] if focused else [])
    env = {**os.environ, "VIGIL_INFERENCE": backend}
    done = subprocess.run(command, env=env, check=True, capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="of video per run")
    parser.add_argument("--one", help=argparse.SUPPRESS)
    parser.add_argument("--focused", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(one_run(args.one, args.focused, args.seconds)))
        return
    from vigil.samples import SAMPLE_VIDEO

    results: dict = {"video": "vtest.avi", "seconds": args.seconds, "host": host(), "runs": {}}
    for label, backend, focused in RUNS:
        results["runs"][label] = in_process(backend, str(SAMPLE_VIDEO), focused, args.seconds)
        print(label, json.dumps(results["runs"][label]), flush=True)
    with tempfile.TemporaryDirectory() as scratch:
        still = in_process("openvino", str(still_video(Path(scratch))), True, 30.0)
    results["still scene, OpenVINO focused"] = still
    busy = results["runs"][RUNS[-1][0]]
    # CPU per second of video: a still scene analyses only its key frames.
    results["still vs busy, CPU per video second"] = round(
        (still["cpu_s"] / 30.0) / (busy["cpu_s"] / args.seconds), 3
    )
    base = results["runs"][RUNS[0][0]]["cores_at_5fps"]
    for run in results["runs"].values():
        run["vs_before"] = round(run["cores_at_5fps"] / base, 3)
    print(json.dumps(results, indent=2))
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "frame_cost.json").write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
