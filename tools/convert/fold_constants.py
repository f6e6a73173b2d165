"""Fold the constant `ScatterND` of the tf2onnx NanoDet graph into an initializer.

    python -m tools.convert.fold_constants models/weights/nanodet.onnx

tf2onnx turned a `SparseToDense` of NanoDet's post-processing into
`ScatterND(Expand(zeros, shape), indices, updates)` whose inputs are all
initializers (the indices are empty: the result is the zeros). onnxruntime folds
it while optimising; OpenVINO's ONNX reader fails on it ("ScatterND ... While
validating"), so the shipped file carries the folded constant instead. The script
checks on onnxruntime that every output is bit-identical before it writes, then
prints the new sha256 for `models/weights/manifest.json`.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnx import numpy_helper


def fold_scatter(model: onnx.ModelProto) -> int:
    """Replace each ScatterND whose inputs are constants by its value; return how many."""
    graph = model.graph
    constants = {init.name: numpy_helper.to_array(init) for init in graph.initializer}
    producers = {out: node for node in graph.node for out in node.output}
    folded = 0
    for node in [n for n in graph.node if n.op_type == "ScatterND"]:
        data_node = producers.get(node.input[0])
        if data_node is None or data_node.op_type != "Expand":
            continue
        inputs = [*data_node.input, *node.input[1:]]
        if not all(name in constants for name in inputs):
            continue
        zeros, shape = constants[data_node.input[0]], constants[data_node.input[1]]
        value = np.broadcast_to(zeros, tuple(int(s) for s in shape)).copy()
        indices, updates = constants[node.input[1]], constants[node.input[2]]
        for position in np.ndindex(indices.shape[:-1]):
            value[tuple(indices[position])] = updates[position]
        graph.node.remove(node)
        graph.node.remove(data_node)
        graph.initializer.append(numpy_helper.from_array(value, node.output[0]))
        folded += 1
    used = {name for node in graph.node for name in node.input}
    for init in list(graph.initializer):
        if init.name not in used:
            graph.initializer.remove(init)
    return folded


def outputs(model: bytes, feed: np.ndarray) -> list[np.ndarray]:
    session = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: feed})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", type=Path, help="ONNX file, rewritten in place")
    args = parser.parse_args(argv)
    before = args.model.read_bytes()
    model = onnx.load_from_string(before)
    if fold_scatter(model) == 0:
        print("nothing to fold")
        return 0
    onnx.checker.check_model(model)
    after = model.SerializeToString()
    shape = [d.dim_value or 1 for d in model.graph.input[0].type.tensor_type.shape.dim]
    feed = np.random.default_rng(0).random(shape, dtype=np.float32)
    same = all(
        np.array_equal(a, b)
        for a, b in zip(outputs(before, feed), outputs(after, feed), strict=True)
    )
    if not same:
        print("folded graph differs from the original; nothing written", file=sys.stderr)
        return 1
    args.model.write_bytes(after)
    print(f"{args.model}: sha256 {hashlib.sha256(after).hexdigest()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
