"""Rebuild ``face_resnet128.onnx`` from the npm package ``@vladmandic/face-api@1.7.15``.

Run by hand, never in CI (see README.md in this folder). The package ships dlib's
ResNet-29 face-metric network as tfjs weights (``model/face_recognition_model.bin`` plus
``model/face_recognition_model-weights_manifest.json``, most tensors uint8-quantised).
There is no graph in the package: face-api builds it in code (``src/faceRecognitionNet``),
so this script rebuilds the same graph with the ``onnx`` package:

* dequantise each tensor as tfjs does: ``value = min + scale * q`` (in float32);
* fold dlib's per-channel affine "scale" layer into the preceding convolution
  (``w' = w * s``, ``b' = b * s + t``), so each conv+scale pair is one ONNX ``Conv``;
* put the input normalisation inside the graph: ``(x - [122.782, 117.001, 104.298]) / 256``
  on RGB 0..255 input. dlib itself divides by 256; face-api's JS divides by 255, a 0.4 %
  input scale that the shipped file does not follow, so neither does this script;
* down-sampling residual blocks add a 2x2 average-pooled shortcut, zero-padded in
  channels (and, where the spatial sizes differ, the main branch is zero-padded at the
  bottom/right), exactly as face-api's ``residualDown``.

Node, tensor and initializer names follow the shipped file so that a diff of the two
graphs is readable. Only ``numpy`` and ``onnx`` are needed.
"""

from __future__ import annotations

import argparse
import io
import json
import tarfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

try:
    from ._common import guard_out
except ImportError:  # run as a plain script: python tools/convert/face_api_resnet_to_onnx.py
    from _common import guard_out  # type: ignore[no-redef]

MODEL_BIN = "face_recognition_model.bin"
MODEL_MANIFEST = "face_recognition_model-weights_manifest.json"
MEAN_RGB = (122.782, 117.001, 104.298)
INPUT_SIZE = 150

# (block name, output channels, is a down-sampling block) in face-api's forward order.
RESIDUAL_BLOCKS: tuple[tuple[str, int, bool], ...] = (
    ("conv32_1", 32, False),
    ("conv32_2", 32, False),
    ("conv32_3", 32, False),
    ("conv64_down", 64, True),
    ("conv64_1", 64, False),
    ("conv64_2", 64, False),
    ("conv64_3", 64, False),
    ("conv128_down", 128, True),
    ("conv128_1", 128, False),
    ("conv128_2", 128, False),
    ("conv256_down", 256, True),
    ("conv256_1", 256, False),
    ("conv256_2", 256, False),
    ("conv256_down_out", 256, True),
)


def _read_package_files(package: Path) -> tuple[bytes, bytes]:
    """Return (manifest json, weights bin) from an ``npm pack`` tarball or an unpacked dir.

    Accepting the tarball avoids an extraction step; accepting a directory lets the
    script run on an ``npm install`` tree (``node_modules/@vladmandic/face-api``).
    """
    if package.is_file():
        with tarfile.open(package, "r:*") as tar:

            def member(name: str) -> bytes:
                f = tar.extractfile(f"package/model/{name}")
                if f is None:
                    raise FileNotFoundError(f"package/model/{name} not in {package}")
                return f.read()

            return member(MODEL_MANIFEST), member(MODEL_BIN)
    for model_dir in (package / "model", package / "package" / "model", package):
        if (model_dir / MODEL_MANIFEST).is_file():
            return (model_dir / MODEL_MANIFEST).read_bytes(), (model_dir / MODEL_BIN).read_bytes()
    raise FileNotFoundError(f"{MODEL_MANIFEST} not found under {package}")


def decode_tfjs_weights(manifest_json: bytes, weights_bin: bytes) -> dict[str, np.ndarray]:
    """Decode a tfjs weights manifest + concatenated shard bytes into float32 arrays.

    Mirrors tfjs-core ``decodeWeights``: tensors are laid out back to back in manifest
    order; a quantised tensor stores one uint8/uint16 per value and is restored as
    ``min + scale * q``.
    """
    groups = json.loads(manifest_json)
    out: dict[str, np.ndarray] = {}
    offset = 0
    for group in groups:
        for spec in group["weights"]:
            shape = tuple(int(d) for d in spec["shape"])
            count = int(np.prod(shape, dtype=np.int64))
            quant = spec.get("quantization")
            if quant:
                qdtype = np.dtype(quant["dtype"])
                raw = np.frombuffer(weights_bin, dtype=qdtype, count=count, offset=offset)
                offset += count * qdtype.itemsize
                if qdtype == np.float16:
                    values = raw.astype(np.float32)
                else:
                    # float32 arithmetic, as tfjs does on its Float32Array; float64
                    # would move about 1 value in 3 by one ulp against the shipped file.
                    values = np.float32(quant["min"]) + np.float32(quant["scale"]) * raw.astype(
                        np.float32
                    )
            else:
                if spec["dtype"] != "float32":
                    raise ValueError(f"unsupported dtype {spec['dtype']} for {spec['name']}")
                values = np.frombuffer(weights_bin, dtype="<f4", count=count, offset=offset)
                offset += count * 4
            out[spec["name"]] = values.reshape(shape).copy()
    if offset != len(weights_bin):
        raise ValueError(f"manifest covers {offset} bytes but the bin has {len(weights_bin)}")
    return out


@dataclass
class _GraphBuilder:
    """Collects nodes and initializers, naming tensors ``<name>_<counter>`` like the original."""

    nodes: list[Any] = field(default_factory=list)
    initializers: list[Any] = field(default_factory=list)
    counter: int = 0

    def _next(self, name: str) -> str:
        self.counter += 1
        return f"{name}_{self.counter}"

    def const(self, name: str, value: np.ndarray) -> str:
        from onnx import numpy_helper

        self.initializers.append(numpy_helper.from_array(value, name))
        return name

    def node(self, op: str, inputs: list[str], output: str, **attrs: object) -> str:
        from onnx import helper

        self.nodes.append(helper.make_node(op, inputs, [output], **attrs))
        return output

    def conv(self, x: str, name: str, w: np.ndarray, b: np.ndarray, stride: int, pad: int) -> str:
        out = self._next(name)
        self.const(f"{out}_w", w)
        self.const(f"{out}_b", b)
        return self.node(
            "Conv", [x, f"{out}_w", f"{out}_b"], out, pads=[pad] * 4, strides=[stride, stride]
        )

    def op(self, op: str, inputs: list[str], name: str, **attrs: object) -> str:
        return self.node(op, inputs, self._next(name), **attrs)

    def pad(self, x: str, pads: list[int]) -> str:
        out = self._next("pad")
        self.const(f"{out}_p", np.asarray(pads, dtype=np.int64))
        return self.node("Pad", [x, f"{out}_p"], out)


def fused_conv(weights: dict[str, np.ndarray], prefix: str) -> tuple[np.ndarray, np.ndarray]:
    """Fold ``prefix/scale`` (per-channel affine) into ``prefix/conv``; return OIHW w, b.

    face-api computes ``(conv(x, f) + b) * s + t``; that equals ``conv(x, f * s) + (b*s + t)``.
    tfjs filters are HWIO, ONNX wants OIHW.
    """
    f = weights[f"{prefix}/conv/filters"]
    b = weights[f"{prefix}/conv/bias"]
    s = weights[f"{prefix}/scale/weights"]
    t = weights[f"{prefix}/scale/biases"]
    w = np.transpose(f, (3, 2, 0, 1)) * s[:, None, None, None]
    return w.astype(np.float32), (b * s + t).astype(np.float32)


def build_model(weights: dict[str, np.ndarray]) -> Any:
    """Build the ONNX ModelProto of the ResNet-29 metric net from decoded face-api weights."""
    import onnx
    from onnx import TensorProto, helper

    g = _GraphBuilder()
    g.const("mean", np.asarray(MEAN_RGB, dtype=np.float32).reshape(1, 3, 1, 1))
    g.const("inv256", np.asarray([1.0 / 256.0], dtype=np.float32))
    g.node("Sub", ["input", "mean"], "centered")
    x = g.node("Mul", ["centered", "inv256"], "norm")

    size = INPUT_SIZE
    w, b = fused_conv(weights, "conv32_down")
    x = g.conv(x, "conv32_down", w, b, stride=2, pad=0)
    size = (size - 7) // 2 + 1
    x = g.op("Relu", [x], "relu")
    x = g.op("MaxPool", [x], "maxpool", kernel_shape=[3, 3], strides=[2, 2])
    size = (size - 3) // 2 + 1
    channels = 32

    for name, out_channels, down in RESIDUAL_BLOCKS:
        shortcut = x
        w1, b1 = fused_conv(weights, f"{name}/conv1")
        w2, b2 = fused_conv(weights, f"{name}/conv2")
        if down:
            y = g.conv(x, f"{name}/conv1", w1, b1, stride=2, pad=0)
            y_size = (size - 3) // 2 + 1
        else:
            y = g.conv(x, f"{name}/conv1", w1, b1, stride=1, pad=1)
            y_size = size
        y = g.op("Relu", [y], "relu")
        y = g.conv(y, f"{name}/conv2", w2, b2, stride=1, pad=1)
        if down:
            shortcut = g.op("AveragePool", [x], "avgpool", kernel_shape=[2, 2], strides=[2, 2])
            pooled_size = size // 2
            if out_channels != channels:
                extra = out_channels - channels
                shortcut = g.pad(shortcut, [0, 0, 0, 0, 0, extra, 0, 0])
            if pooled_size != y_size:
                # face-api concatenates one zero row and one zero column to the main branch.
                grow = pooled_size - y_size
                y = g.pad(y, [0, 0, 0, 0, 0, 0, grow, grow])
            x = g.op("Add", [shortcut, y], "add")
            size = pooled_size
        else:
            x = g.op("Add", [y, shortcut], "add")
        x = g.op("Relu", [x], "relu")
        channels = out_channels

    g.node("GlobalAveragePool", [x], "gap")
    g.node("Flatten", ["gap"], "flat", axis=1)
    g.const("fc", weights["fc"].astype(np.float32))
    g.node("MatMul", ["flat", "fc"], "embedding")

    graph = helper.make_graph(
        g.nodes,
        "faceapi_recognition_resnet29",
        [
            helper.make_tensor_value_info(
                "input", TensorProto.FLOAT, ["N", 3, INPUT_SIZE, INPUT_SIZE]
            )
        ],
        [helper.make_tensor_value_info("embedding", TensorProto.FLOAT, ["N", 128])],
        initializer=g.initializers,
    )
    model = helper.make_model(
        graph,
        producer_name="manual-from-face-api-weights",
        opset_imports=[helper.make_opsetid("", 17)],
    )
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def main(argv: list[str] | None = None) -> int:
    """CLI entry: decode the package's weights, build the graph, save it to --out."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--package",
        type=Path,
        required=True,
        help="vladmandic-face-api-1.7.15.tgz from `npm pack`, or its unpacked directory",
    )
    parser.add_argument("--out", type=Path, required=True, help="where to write the .onnx")
    parser.add_argument("--force", action="store_true", help="allow overwriting --out")
    args = parser.parse_args(argv)

    import onnx

    guard_out(args.out, args.force)
    manifest, blob = _read_package_files(args.package)
    weights = decode_tfjs_weights(manifest, blob)
    model = build_model(weights)
    buf = io.BytesIO()
    onnx.save(model, buf)
    args.out.write_bytes(buf.getvalue())
    print(f"wrote {args.out} ({len(buf.getvalue())} bytes, {len(weights)} tensors decoded)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
