"""Scale-out on one machine: throughput with 1 vs 2 Celery workers and capture consumers.

Run: python bench/bench_scale.py [--seconds 20] [--layouts 1x1,2x1,2x2]

A layout WxC is W `vigil worker -c 1` processes and C `vigil capture` processes in one
consumer group, over one tansu broker and Redis; one `vigil ingest` plays 4 cameras (ids
chosen to cover the frames topic's 4 partitions) of vtest.avi as fast as analysis allows
(pace "fast": nothing dropped) for --seconds of video each. Reported per layout: frames/s
from ingest start until every track is closed, CPU seconds per frame over every process
(the per-core figure: frames per CPU-second), and the speed-up against the first layout.
On the 2-core development machine two workers can at best double a one-worker run that
leaves a core idle; expect less, since ingest, capture, tansu and Redis share the cores.
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
from bench_load import TYPES
from procs import (
    CaptureLines,
    Pipeline,
    keys_covering,
    snapshot,
    total,
    wait_until_closed,
    write_config,
)

from vigil.samples import SAMPLE_VIDEO
from vigil.workers.pipeline import TOPIC_PARTITIONS

REPO = Path(__file__).resolve().parents[1]


def layout(workers: int, consumers: int, config: Path, workdir: Path) -> dict:
    with Pipeline(workdir) as pipe:
        for index in range(workers):
            pipe.role(f"worker{index}", "worker", "-c", "1", metrics=False)
        readers = [
            CaptureLines(
                pipe.role(
                    f"capture{index}", "capture", str(config), "--json", stdout=subprocess.PIPE
                ).process
            )
            for index in range(consumers)
        ]
        time.sleep(12)  # models load, the consumer group settles on its members
        first = snapshot(pipe)
        ingest = pipe.role("ingest", "ingest", str(config))
        closed = wait_until_closed(readers, timeout=1800)
        wall = time.monotonic() - first.at
        last = snapshot(pipe)  # ingest has sent its end-of-stream frames: its CPU is counted
        ingest.process.wait(timeout=60)
        cpu = sum(last.cpu.values()) - sum(first.cpu.values())
        frames = total(last.samples, "vigil_frames_analysed_total")
        served = [sum(c.event == "new" for c in r.captures) for r in readers]
        return {
            "layout": f"{workers}x{consumers}",
            "celery_workers": workers,
            "capture_consumers": consumers,
            "all_tracks_closed": closed,
            "frames_analysed": int(frames),
            "wall_s": round(wall, 1),
            "fps": round(frames / wall, 2),
            "cpu_s": round(cpu, 1),
            "cpu_s_per_frame": round(cpu / frames, 3) if frames else None,
            "frames_per_cpu_s": round(frames / cpu, 2) if cpu else None,
            "new_captures_per_consumer": served,
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20, help="video seconds per camera")
    parser.add_argument("--layouts", default="1x1,2x1,2x2", help="WORKERSxCONSUMERS,...")
    parser.add_argument("--types", default=",".join(TYPES))
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "scale.json")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="vigil-scale-"))
    cameras = [
        {
            "id": camera_id,
            "url": str(SAMPLE_VIDEO),
            "types": args.types.split(","),
            "pace": "fast",
            "stop_after": args.seconds,
        }
        for camera_id in keys_covering("cam", TOPIC_PARTITIONS)
    ]
    config = write_config(workdir / "cameras.json", cameras)
    results = []
    for index, spec in enumerate(args.layouts.split(",")):
        workers, consumers = (int(part) for part in spec.split("x"))
        run = workdir / f"run{index}"
        run.mkdir()
        result = layout(workers, consumers, config, run)
        result["speedup"] = round(result["fps"] / results[0]["fps"], 2) if results else 1.0
        results.append(result)
        print(json.dumps(result), flush=True)
    report = {"machine_cpus": os.cpu_count(), "video_seconds": args.seconds, "runs": results}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
