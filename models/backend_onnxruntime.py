"""onnxruntime sessions with the execution providers an operator asked for, or the CPU.

onnxruntime itself fails when asked for a provider its build lacks, and silently
runs on the CPU when a listed provider fails to start (no driver, wrong CUDA). Both
are turned into the same behaviour here: the providers this build has are tried in
the order given, the CPU is always last, and a warning names what was skipped.
"""

from __future__ import annotations

import logging

import numpy as np
import onnxruntime as ort

from vigil.models.inference import ORT_PROVIDERS, ImagePixels, Inference, intra_op_threads

log = logging.getLogger(__name__)
CPU = "CPUExecutionProvider"


def providers_for(inference: Inference, available: list[str]) -> list[str]:
    """The wanted providers this onnxruntime build has, in order, ending with the CPU."""
    wanted = [ORT_PROVIDERS[target] for target in inference.targets]
    missing = [p for p in wanted if p not in available]
    if missing:
        log.warning(
            "inference: onnxruntime %s lacks %s (it has %s); using the rest and the CPU",
            ort.__version__,
            ", ".join(missing),
            ", ".join(available),
        )
    chosen = [p for p in wanted if p in available and p != CPU]
    return [*chosen, CPU]


class OrtSession:
    """One model on onnxruntime: `run(feeds)` -> outputs in the graph's order."""

    def __init__(self, name: str, model: bytes, inference: Inference) -> None:
        options = ort.SessionOptions()
        options.intra_op_num_threads = intra_op_threads()
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3
        wanted = providers_for(inference, ort.get_available_providers())
        self._session = ort.InferenceSession(model, sess_options=options, providers=wanted)
        first = self._session.get_inputs()[0]
        self.input_name: str = first.name
        # A dynamic dimension (the batch) as 1: the shape of one call's input.
        self.input_shape = tuple(d if isinstance(d, int) and d > 0 else 1 for d in first.shape)
        ran = self._session.get_providers()
        self.runs_on = f"onnxruntime:{ran[0]}"
        if ran[0] != wanted[0]:
            log.warning("inference: %s could not start %s; it runs on %s", name, wanted[0], ran[0])

    def run(self, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        return self._session.run(None, feeds)

    def run_image(self, image: np.ndarray, pixels: ImagePixels) -> list[np.ndarray]:
        """`run` on one BGR uint8 picture of the input size (`ImagePixels`)."""
        return self.run({self.input_name: pixels.blob(image)})
