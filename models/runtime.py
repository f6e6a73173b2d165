"""One place that turns verified weights into an onnxruntime session.

Thread counts are pinned per process (default 1): on a 2-core box, prefork
workers that each spawn a full thread pool run about 3x slower.
"""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path

import onnxruntime as ort

from vigil.models.registry import spec, verified_bytes


def intra_op_threads() -> int:
    return max(1, int(os.environ.get("VIGIL_MODEL_THREADS", "1")))


@cache
def session(name: str, path: Path | None = None) -> ort.InferenceSession:
    """A cached, checksum-verified CPU session for the model called `name`."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = intra_op_threads()
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3
    return ort.InferenceSession(
        verified_bytes(name, path), sess_options=options, providers=["CPUExecutionProvider"]
    )


def model_version(name: str) -> str:
    """`name@version`, stamped on every feature so features of different models never mix."""
    return f"{name}@{spec(name).version}"
