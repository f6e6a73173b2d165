"""Image API benchmark: per-model latency and whole-analysis throughput on 1 and 2 cores.

Run: python bench/bench_image.py [--frames N]
Prints a table per model (ms per call, ms per target) for a 768x576 CCTV frame
(vtest.avi frame 0) and a portrait, then images/s of the whole analysis in one
process and in two processes (one model thread each). Baselines measured in the
same run: the sum of the model times (the model-bound limit) and 1-process speed.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import cv2
import numpy as np

from vigil.samples import SAMPLE_VIDEO, SAMPLES_DIR

FIXTURES = Path(__file__).resolve().parents[1] / "tests" / "media" / "images"


def timed(function: Callable[[], object], repeats: int) -> tuple[float, object]:
    """Median milliseconds per call over `repeats` calls after one warm-up."""
    result = function()
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        result = function()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples), result


def cctv_frame() -> np.ndarray:
    capture = cv2.VideoCapture(str(SAMPLE_VIDEO))
    ok, frame = capture.read()
    capture.release()
    assert ok
    return frame


def portrait() -> np.ndarray:
    path = FIXTURES / "obama.jpg"
    return cv2.imread(str(path if path.exists() else SAMPLES_DIR / "grace_hopper.jpg"))


def model_table(repeats: int) -> list[dict]:
    from vigil.analysis.image_analyzer import ImageAnalyzer

    analyzer = ImageAnalyzer()
    frame, face_image = cctv_frame(), portrait()
    rows = []

    def row(name: str, ms: float, targets: int) -> None:
        rows.append(
            {
                "model": name,
                "ms_per_call": round(ms, 2),
                "targets": targets,
                "ms_per_target": round(ms / targets, 2) if targets else None,
            }
        )

    ms, objects = timed(lambda: analyzer.detectors.objects.detect(frame), repeats)
    row("nanodet (768x576 frame)", ms, len(objects))
    ms, faces = timed(lambda: analyzer.detectors.faces(24).detect(frame), repeats)
    row("blazeface tiled (768x576 frame)", ms, len(faces))
    ms, faces = timed(lambda: analyzer.detectors.faces(24).detect(face_image), repeats)
    row("blazeface tiled (portrait)", ms, len(faces))
    ms, _ = timed(lambda: analyzer.describer.mesh.estimate(face_image, faces), repeats)
    row("face mesh + pose", ms, len(faces))
    ms, _ = timed(lambda: analyzer.describer.embedder.embed(face_image, faces), repeats)
    row("align + resnet128 embedding", ms, len(faces))
    ms, _ = timed(lambda: analyzer.describer.age_gender.estimate(face_image, faces), repeats)
    row("age + gender", ms, len(faces))
    persons = [d for d in objects if d.label == "person"]
    vehicles = [d for d in objects if d.label != "person"]
    from vigil.models.colours import person_colours, vehicle_colour

    ms, _ = timed(lambda: [person_colours(frame, p.box) for p in persons], repeats)
    row("clothing colours", ms, len(persons))
    ms, _ = timed(lambda: [vehicle_colour(frame, v.box) for v in vehicles], repeats)
    row("vehicle colour", ms, len(vehicles))
    ms, _ = timed(lambda: [analyzer.describer.read_plate(frame, v.box) for v in vehicles], repeats)
    row("plate OCR (frame's vehicles, gated)", ms, len(vehicles))
    car = cv2.imread(str(SAMPLES_DIR / "car_with_synth_plate.png"))
    ms, _ = timed(lambda: analyzer.describer.plates.read(car), max(3, repeats // 4))
    row("plate OCR (close-up car, not in frame)", ms, 1)
    return rows


def analyze_loop(frame_png: bytes, count: int) -> float:
    """Images/s of the full analysis (all types, all attributes, features) in this process."""
    from vigil.api import analyze_image
    from vigil.schemas.analyze import AnalyzeOptions

    options = AnalyzeOptions(features=True)
    analyze_image(frame_png, options)
    started = time.perf_counter()
    for _ in range(count):
        result = analyze_image(frame_png, options)
        assert result.ok, result.error
    return count / (time.perf_counter() - started)


def throughput(processes: int, count: int) -> float:
    frame_png = cv2.imencode(".png", cctv_frame())[1].tobytes()
    if processes == 1:
        return analyze_loop(frame_png, count)
    with multiprocessing.get_context("spawn").Pool(processes) as pool:
        pool.starmap(analyze_loop, [(frame_png, 1)] * processes)  # warm every worker
        started = time.perf_counter()
        pool.starmap(analyze_loop, [(frame_png, count)] * processes)
        return processes * count / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20, help="calls per model timing")
    parser.add_argument("--frames", type=int, default=30, help="frames per process")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    rows = model_table(args.repeats)
    frame_models = (
        "nanodet",
        "blazeface tiled (768x576",
        "clothing",
        "vehicle colour",
        "plate OCR (frame",
    )
    model_bound_ms = sum(r["ms_per_call"] for r in rows if r["model"].startswith(frame_models))
    one = throughput(1, args.frames)
    two = throughput(2, args.frames)
    report = {
        "models": rows,
        "frame_768x576": {
            "images_per_s_1_core": round(one, 2),
            "images_per_s_2_cores": round(two, 2),
            "scaling_2_vs_1": round(two / one, 2),
            "model_bound_images_per_s_1_core": round(1000 / model_bound_ms, 2),
            "fraction_of_model_bound": round(one / (1000 / model_bound_ms), 2),
        },
    }
    if args.json:
        print(json.dumps(report, indent=2))
        return
    print(f"{'model':38} {'ms/call':>8} {'targets':>8} {'ms/target':>10}")
    for r in rows:
        per = f"{r['ms_per_target']:.2f}" if r["ms_per_target"] is not None else "-"
        print(f"{r['model']:38} {r['ms_per_call']:8.2f} {r['targets']:8d} {per:>10}")
    for key, value in report["frame_768x576"].items():
        print(f"{key:38} {value}")


if __name__ == "__main__":
    main()
