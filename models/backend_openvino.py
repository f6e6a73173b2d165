"""OpenVINO compiled models: on Intel CPUs with AMX or AVX512-BF16 they infer in
bfloat16 by default, about 5x faster than onnxruntime's f32 for the face embedder
(docs/performance.md, "Inference backends"); the conformance tests bound the drift.

OpenVINO reads the same verified ONNX files. Its infer requests are not thread-safe,
so each thread gets its own; outputs are copied out of the request's buffers, which
the next inference overwrites.
"""

from __future__ import annotations

import logging
import threading
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from vigil.models.inference import Inference, intra_op_threads

log = logging.getLogger(__name__)
PRECISION_HINTS = {"f32": "f32", "bf16": "bf16", "f16": "f16"}


@cache
def core() -> Any:
    import openvino

    return openvino.Core()


def device_for(inference: Inference, available: list[str]) -> str:
    """The first wanted device OpenVINO sees (`GPU` also matches `GPU.0`), else the CPU."""
    for target in inference.targets:
        device = target.upper()
        if any(name.split(".")[0] == device for name in available):
            return device
    log.warning(
        "inference: OpenVINO sees %s, none of %s; using the CPU",
        ", ".join(available),
        ", ".join(inference.targets),
    )
    return "CPU"


class OpenVinoSession:
    """One model on OpenVINO: `run(feeds)` -> outputs in the graph's order."""

    def __init__(self, name: str, path: Path, inference: Inference) -> None:
        device = device_for(inference, list(core().available_devices))
        config: dict[str, Any] = {"PERFORMANCE_HINT": "LATENCY", "NUM_STREAMS": 1}
        if device == "CPU":
            config["INFERENCE_NUM_THREADS"] = intra_op_threads()
            # Pinned threads of two worker processes land on the same core (measured:
            # 2 enrolment workers 1.2x one instead of 1.8x); let the OS place them.
            config["ENABLE_CPU_PINNING"] = False
        if inference.precision in PRECISION_HINTS:
            config["INFERENCE_PRECISION_HINT"] = PRECISION_HINTS[inference.precision]
        self._compiled = core().compile_model(core().read_model(str(path)), device, config)
        self._outputs = list(self._compiled.outputs)
        self.input_name: str = self._compiled.inputs[0].get_any_name()
        precision = self._compiled.get_property("INFERENCE_PRECISION_HINT")
        self.runs_on = f"openvino:{device}:{precision.to_string()}"
        self._local = threading.local()

    def run(self, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        request = getattr(self._local, "request", None)
        if request is None:
            request = self._local.request = self._compiled.create_infer_request()
        results = request.infer(feeds)
        return [np.array(results[output], copy=True) for output in self._outputs]
