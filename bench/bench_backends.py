"""Every model on every inference backend this machine has: speed and agreement.

Run: python -m bench.bench_backends [--repeats 15]

One thread per model call (VIGIL_MODEL_THREADS=1, how Vigil's workers run), the
median of `--repeats` calls after a warm-up, batch 1 and batch 8 where the graph
takes a batch (the embedder, age and gender; the detectors and the mesh take one
window or face per call). Baseline in the same run: onnxruntime f32, on which the
compare thresholds were calibrated. Each backend's agreement with it comes from
`bench/backend_agreement.py` (the bounds `tests/test_inference_backends.py` holds).

Columns: OpenVINO `auto` (bf16 on a CPU with AMX; on AMD with AVX512-BF16 and VNNI,
bf16 beside NanoDet's int8 weights; f32 with those int8 weights on other CPUs with
VNNI or AVX2; f32 elsewhere: `vigil.models.cpu_features.fastest_precision`), f32 and bf16
forced, and the int8 weights (`tools/convert/quantize_nanodet.py`; models without them
run f32 in those columns; the int8 graphs' own float layers run f32 in every column).
Also measured, not adopted: the face embedder quantised the same way (static QDQ,
per-channel weights, calibrated on aligned chips of the fixture faces), whose drift
would need a new calibration of the compare thresholds.
Writes bench/results/backends.json and backends.md.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path

os.environ["VIGIL_MODEL_THREADS"] = "1"
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np

from bench import backend_agreement as agreement
from bench.procs import host
from vigil.cli.inference import median_ms
from vigil.models import runtime
from vigil.models.registry import spec

RESULTS = Path(__file__).resolve().parent / "results"
BACKENDS = [  # (label, VIGIL_INFERENCE, VIGIL_INFERENCE_PRECISION)
    ("onnxruntime f32 (baseline)", "onnxruntime", "auto"),
    ("OpenVINO auto", "openvino", "auto"),
    ("OpenVINO f32", "openvino", "f32"),
    ("OpenVINO bf16", "openvino", "bf16"),
    ("onnxruntime int8 weights", "onnxruntime", "int8"),
    ("OpenVINO int8 weights", "openvino", "int8"),
]
MODELS = {  # name -> (input shape without the batch, takes a batch)
    "blazeface_full_192": ((3, 192, 192), False),
    "nanodet": ((3, 416, 416), False),
    "face_mesh_468": ((3, 192, 192), False),
    "face_resnet128": ((3, 150, 150), True),
    "age_v1": ((3, 64, 64), True),
    "gender_v1": ((3, 32, 32), True),
}


def blob(shape: tuple[int, ...], batch: int) -> np.ndarray:
    scale = 255.0 if shape[1] == 150 else 1.0  # the embedder takes 0..255
    return np.random.default_rng(0).random((batch, *shape), dtype=np.float32) * scale


def speeds(setting: str, precision: str, repeats: int) -> dict[str, dict[str, float]]:
    table: dict[str, dict[str, float]] = {}
    with agreement.backend(setting, precision):
        for name, (shape, batched) in MODELS.items():
            session = runtime.session(name)
            row = {"runs_on": session.runs_on}
            for batch in (1, 8) if batched else (1,):
                feed = {session.input_name: blob(shape, batch)}
                row[f"batch {batch} ms"] = median_ms(lambda f=feed, s=session: s.run(f), repeats)
            table[name] = row
    return table


class ChipReader:
    """Calibration batches for onnxruntime's static quantisation: fixture face chips."""

    def __init__(self, name: str) -> None:
        import cv2

        chips = [chip for _, chip in agreement.face_chips()]
        self.batches = iter(
            [{name: cv2.dnn.blobFromImages([chip], 1.0, (150, 150), swapRB=True)} for chip in chips]
        )

    def get_next(self):
        return next(self.batches, None)


def int8_embedder(repeats: int) -> dict[str, float | str]:
    """The face embedder quantised to int8 QDQ: speed and drift against f32."""
    import cv2
    import onnxruntime as ort
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_static

    source = spec("face_resnet128").path
    with tempfile.TemporaryDirectory() as scratch:
        target = Path(scratch) / "face_resnet128.int8.onnx"
        input_name = ort.InferenceSession(str(source)).get_inputs()[0].name
        quantize_static(
            str(source),
            str(target),
            ChipReader(input_name),
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
        )
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        quantized = ort.InferenceSession(str(target), options, providers=["CPUExecutionProvider"])
        chips = [chip for _, chip in agreement.face_chips()]
        feed = cv2.dnn.blobFromImages(chips, 1.0, (150, 150), swapRB=True)
        with agreement.backend("onnxruntime"):
            reference = runtime.session("face_resnet128")
            a = reference.run({reference.input_name: feed})[0]
        b = quantized.run(None, {input_name: feed})[0]
        drift = np.linalg.norm(a - b, axis=1)
        pairs = [(i, j) for i in range(len(a)) for j in range(i + 1, len(a))]
        change = max(
            abs(np.linalg.norm(a[i] - a[j]) - np.linalg.norm(b[i] - b[j])) for i, j in pairs
        )
        row: dict[str, float | str] = {"runs_on": "onnxruntime:int8 QDQ"}
        for batch in (1, 8):
            one = {input_name: blob(MODELS["face_resnet128"][0], batch)}
            row[f"batch {batch} ms"] = median_ms(lambda f=one: quantized.run(None, f), repeats)
        row["max feature drift (L2)"] = float(drift.max())
        row["max pair distance change"] = float(change)
    return row


def markdown(results: dict) -> str:
    cpu = results["host"]
    auto = results["speed"]["OpenVINO auto"]["nanodet"]["runs_on"]
    lines = [
        f"Host: {cpu['cpu']}, {cpu['cpus']} CPUs, flags {' '.join(cpu['inference_flags'])};"
        f" OpenVINO auto runs NanoDet here on {auto}. Milliseconds per call, one thread.",
        "",
        "| model | " + " | ".join(label for label, _, _ in BACKENDS) + " |",
        "|---|" + "---|" * len(BACKENDS),
    ]
    for name, (_, batched) in MODELS.items():
        for batch in (1, 8) if batched else (1,):
            cells = [
                f"{results['speed'][label][name][f'batch {batch} ms']:.2f}"
                for label, _, _ in BACKENDS
            ]
            lines.append(f"| {name}, batch {batch} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "Agreement with onnxruntime f32 on the repository's pictures and video frames:",
        "",
    ]
    for label, figures in results["agreement"].items():
        lines.append(f"- {label}:")
        for model, values in figures.items():
            shown = ", ".join(f"{k} {v:.4g}" for k, v in values.items())
            lines.append(f"  - {model}: {shown}")
    q = results["int8"]
    lines += [
        "",
        f"onnxruntime int8 (static QDQ) face embedder: batch 1 {q['batch 1 ms']:.2f} ms,"
        f" batch 8 {q['batch 8 ms']:.2f} ms; max feature drift {q['max feature drift (L2)']:.3f},"
        f" max pair distance change {q['max pair distance change']:.3f}.",
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args(argv)
    results: dict = {"host": host(), "speed": {}, "agreement": {}}
    for label, setting, precision in BACKENDS:
        results["speed"][label] = speeds(setting, precision, args.repeats)
        print(label, json.dumps(results["speed"][label]), flush=True)
        if (setting, precision) != ("onnxruntime", "auto"):
            results["agreement"][label] = {
                a.model: a.figures for a in agreement.agreements(setting, precision)
            }
    results["int8"] = int8_embedder(args.repeats)
    print("int8", json.dumps(results["int8"]))
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "backends.json").write_text(json.dumps(results, indent=2) + "\n")
    table = markdown(results)
    (RESULTS / "backends.md").write_text(table)
    print(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
