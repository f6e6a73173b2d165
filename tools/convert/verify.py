"""Compare a freshly converted ONNX model with the shipped one by running both.

Run by hand after a conversion (see README.md in this folder). Conversions are not
byte-identical between runs (initializer order, node-name counters, float rounding of
folded weights), so a hash says nothing useful; what matters is that the new file
computes the same function. Both models are run with onnxruntime on the same inputs:

* ``--random`` seeded arrays (numpy default_rng, seed 0) drawn from each model's input
  range (after its documented normalisation), one batch each;
* every photo in ``--images`` (default: the shared fixture images), preprocessed as
  PROVENANCE.md documents for that model (colour order, size, scaling). The crops are
  simple (centre square / letterbox), not face-aligned: the point is realistic pixel
  statistics, not a meaningful prediction.

It prints the max abs difference per output and overall, and exits 1 when that exceeds
``--tol``. Needs numpy, onnxruntime and either opencv-python or Pillow to read photos.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

WEIGHTS_DIR = Path(__file__).resolve().parents[2] / "models" / "weights"
DEFAULT_IMAGES = Path(__file__).resolve().parents[2] / "tests" / "media" / "images"
DLIB_MEAN_RGB = np.asarray([122.782, 117.001, 104.298], dtype=np.float32)
NANODET_MEAN_BGR = np.asarray([103.53, 116.28, 123.675], dtype=np.float32)
NANODET_STD_BGR = np.asarray([57.375, 57.12, 58.395], dtype=np.float32)
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp"}


def _resize(rgb: np.ndarray, width: int, height: int) -> np.ndarray:
    """Bilinear resize with whichever image library is installed."""
    try:
        import cv2

        return cv2.resize(rgb, (width, height), interpolation=cv2.INTER_LINEAR)
    except ImportError:
        from PIL import Image

        return np.asarray(Image.fromarray(rgb).resize((width, height), Image.BILINEAR))


def load_rgb(path: Path) -> np.ndarray:
    """Read a photo as HxWx3 uint8 RGB."""
    try:
        import cv2

        bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if bgr is None:
            raise ValueError(f"cannot decode {path}")
        return np.ascontiguousarray(bgr[:, :, ::-1])
    except ImportError:
        from PIL import Image

        with Image.open(path) as im:
            return np.asarray(im.convert("RGB"))


def centre_square(rgb: np.ndarray, size: int) -> np.ndarray:
    """Centre square crop resized to ``size``: a stand-in for a detector's face crop."""
    h, w = rgb.shape[:2]
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    return _resize(rgb[top : top + side, left : left + side], size, size)


def letterbox(rgb: np.ndarray, size: int) -> np.ndarray:
    """Scale the longer side to ``size`` and pad bottom/right with zeros (BlazeFace)."""
    h, w = rgb.shape[:2]
    scale = size / max(h, w)
    nh, nw = max(1, round(h * scale)), max(1, round(w * scale))
    out = np.zeros((size, size, 3), dtype=np.uint8)
    out[:nh, :nw] = _resize(rgb, nw, nh)
    return out


def nchw(hwc: np.ndarray) -> np.ndarray:
    """HxWx3 -> 1x3xHxW float32."""
    return np.ascontiguousarray(hwc.astype(np.float32).transpose(2, 0, 1)[None])


def _dlib_norm(chw: np.ndarray) -> np.ndarray:
    return (chw - DLIB_MEAN_RGB.reshape(1, 3, 1, 1)) / 256.0


@dataclass(frozen=True)
class ModelSpec:
    """How to feed one shipped model: its file, a photo preprocessor, a random input."""

    file: str
    from_photo: Callable[[np.ndarray], np.ndarray]
    random: Callable[[np.random.Generator], np.ndarray]


SPECS: dict[str, ModelSpec] = {
    "blazeface_full_192": ModelSpec(
        "blazeface_full_192.onnx",
        lambda rgb: nchw(letterbox(rgb, 192)) / 127.5 - 1.0,
        lambda rng: rng.uniform(-1, 1, (1, 3, 192, 192)),
    ),
    "face_mesh_468": ModelSpec(
        "face_mesh_468.onnx",
        lambda rgb: nchw(centre_square(rgb, 192)) / 255.0,
        lambda rng: rng.uniform(0, 1, (1, 3, 192, 192)),
    ),
    "face_resnet128": ModelSpec(
        "face_resnet128.onnx",
        lambda rgb: nchw(centre_square(rgb, 150)),
        lambda rng: rng.uniform(0, 255, (2, 3, 150, 150)),
    ),
    "age-v1": ModelSpec(
        "age-v1.onnx",
        lambda rgb: _dlib_norm(nchw(centre_square(rgb, 64))),
        lambda rng: _dlib_norm(rng.uniform(0, 255, (2, 3, 64, 64))),
    ),
    "gender-v1": ModelSpec(
        "gender-v1.onnx",
        lambda rgb: _dlib_norm(nchw(centre_square(rgb, 32))),
        lambda rng: _dlib_norm(rng.uniform(0, 255, (2, 3, 32, 32))),
    ),
    "nanodet": ModelSpec(
        "nanodet.onnx",
        # BGR, plain resize, per-channel mean/std: feeding RGB or /255 is wrong for it.
        lambda rgb: (
            (nchw(_resize(rgb, 416, 416)[:, :, ::-1]) - NANODET_MEAN_BGR.reshape(1, 3, 1, 1))
            / NANODET_STD_BGR.reshape(1, 3, 1, 1)
        ),
        lambda rng: (
            (rng.uniform(0, 255, (1, 3, 416, 416)) - NANODET_MEAN_BGR.reshape(1, 3, 1, 1))
            / NANODET_STD_BGR.reshape(1, 3, 1, 1)
        ),
    ),
}


def _session(path: Path) -> Any:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1  # the dev machines are small and shared
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


def _run(sess: Any, x: np.ndarray) -> dict[str, np.ndarray]:
    name = sess.get_inputs()[0].name
    outs = sess.run(None, {name: x.astype(np.float32)})
    return {o.name: v for o, v in zip(sess.get_outputs(), outs, strict=True)}


def compare(model: str, new: Path, ref: Path, images: list[Path], seed: int) -> float:
    """Run ``new`` and ``ref`` on the same inputs; print and return the max abs difference.

    Outputs are paired by name when both files use the same names, else by position and
    shape (tf2onnx may reorder outputs; PROVENANCE says to find NanoDet's by shape).
    """
    spec = SPECS[model]
    s_new, s_ref = _session(new), _session(ref)
    cases: list[tuple[str, np.ndarray]] = [
        (f"random(seed={seed})", spec.random(np.random.default_rng(seed)))
    ]
    cases += [(p.name, spec.from_photo(load_rgb(p))) for p in images]
    worst = 0.0
    print(f"== {model}: {new} vs {ref}")
    for label, x in cases:
        o_new, o_ref = _run(s_new, x), _run(s_ref, x)
        if set(o_new) == set(o_ref):
            pairs = [(k, o_new[k], o_ref[k]) for k in o_ref]
        else:
            pairs = [
                (f"{kr}~{kn}", o_new[kn], o_ref[kr]) for kn, kr in zip(o_new, o_ref, strict=True)
            ]
        diffs = []
        for key, a, b in pairs:
            if a.shape != b.shape:
                raise SystemExit(f"{model}: output {key} shape {a.shape} != shipped {b.shape}")
            d = float(np.max(np.abs(a.astype(np.float64) - b.astype(np.float64))))
            diffs.append(f"{key}={d:.3g} (|ref|max {float(np.max(np.abs(b))):.3g})")
            worst = max(worst, d)
        print(f"  {label}: " + ", ".join(diffs))
    print(f"  max abs diff over all inputs and outputs: {worst:.3g}")
    return worst


def main(argv: list[str] | None = None) -> int:
    """CLI entry: verify one file (--new) or every known file in a folder (--new-dir)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    src = parser.add_mutually_exclusive_group(required=True)
    src.add_argument("--new", type=Path, help="the newly produced .onnx")
    src.add_argument("--new-dir", type=Path, help="folder of newly produced files (shipped names)")
    parser.add_argument("--model", choices=sorted(SPECS), help="default: from --new's file name")
    parser.add_argument("--ref", type=Path, help="shipped file (default: models/weights/<file>)")
    parser.add_argument("--images", type=Path, default=DEFAULT_IMAGES, help="fixture photo folder")
    parser.add_argument("--max-images", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--tol", type=float, default=1e-3, help="max abs diff allowed")
    args = parser.parse_args(argv)

    images: list[Path] = []
    if args.images.is_dir():
        found = sorted(p for p in args.images.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        images = found[: args.max_images]
    else:
        print(f"note: {args.images} not found, random inputs only")

    jobs: list[tuple[str, Path, Path]] = []
    if args.new is not None:
        model = args.model or next((m for m, s in SPECS.items() if s.file == args.new.name), None)
        if model is None:
            parser.error("cannot tell the model from the file name; pass --model")
        jobs.append((model, args.new, args.ref or WEIGHTS_DIR / SPECS[model].file))
    else:
        for model, spec in SPECS.items():
            if (args.new_dir / spec.file).is_file():
                jobs.append((model, args.new_dir / spec.file, WEIGHTS_DIR / spec.file))
        if not jobs:
            parser.error(f"no known model file in {args.new_dir}")

    failed = []
    for model, new, ref in jobs:
        if compare(model, new, ref, images, args.seed) > args.tol:
            failed.append(model)
    if failed:
        print(f"FAIL (max abs diff > {args.tol}): {', '.join(failed)}")
        return 1
    print(f"OK: {len(jobs)} model(s) within {args.tol}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
