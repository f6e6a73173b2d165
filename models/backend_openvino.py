"""OpenVINO compiled models: on Intel CPUs with AMX they infer in bfloat16, about 5x
faster than onnxruntime's f32 for the face embedder (docs/performance.md, "Inference
backends"); the conformance tests bound the drift. On an Intel CPU with AVX512-BF16
but no AMX, OpenVINO's default is still bf16 and 1.4x slower than f32:
`runtime.concrete` asks for f32 there (with int8 weights where the CPU has VNNI); on
AMD's Zen 4, bf16 is 1.5-1.9x faster than f32, and `auto` runs the float models in
bf16 beside NanoDet's int8 weights.

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

from vigil.models.inference import ImagePixels, Inference, intra_op_threads

log = logging.getLogger(__name__)
# int8 models carry their precision in their weights, their other layers run in f32
# (`runtime.open_session` opens them with precision int8); under int8+bf16 the models
# without int8 weights run in bf16.
PRECISION_HINTS = {"f32": "f32", "bf16": "bf16", "f16": "f16", "int8": "f32", "int8+bf16": "bf16"}


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
        self._path, self._device, self._config = path, device, config
        compiled = core().compile_model(core().read_model(str(path)), device, config)
        self._compiled = (compiled, list(compiled.outputs))
        self.input_name: str = compiled.inputs[0].get_any_name()
        # A dynamic dimension (the batch) as 1: the shape of one call's input.
        self.input_shape = tuple(
            d.get_length() if d.is_static else 1 for d in compiled.inputs[0].get_partial_shape()
        )
        precision = compiled.get_property("INFERENCE_PRECISION_HINT")
        self.runs_on = f"openvino:{device}:{precision.to_string()}"
        self._local = threading.local()
        # Each compiled model with its outputs, read once: `outputs` builds a new list.
        self._with_pixels: dict[ImagePixels, tuple[Any, list[Any]]] = {}
        self._compiling = threading.Lock()

    def run(self, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        return self._infer(self._compiled, feeds)

    def run_image(self, image: np.ndarray, pixels: ImagePixels) -> list[np.ndarray]:
        """`run` on one BGR uint8 picture of the input size: the normalisation, channel
        order and layout are compiled into the graph (`with_pixels`)."""
        return self._infer(self.with_pixels(pixels), {0: image[None]})

    def with_pixels(self, pixels: ImagePixels) -> tuple[Any, list[Any]]:
        """The model compiled once more, taking NHWC uint8 BGR pictures (`ImagePixels`)."""
        with self._compiling:
            if pixels not in self._with_pixels:
                from openvino import Layout, Type
                from openvino.preprocess import ColorFormat, PrePostProcessor

                graph = PrePostProcessor(core().read_model(str(self._path)))
                tensor = graph.input().tensor().set_element_type(Type.u8)
                tensor.set_layout(Layout("NHWC")).set_color_format(ColorFormat.BGR)
                graph.input().model().set_layout(Layout("NCHW"))
                steps = graph.input().preprocess().convert_element_type(Type.f32)
                steps.mean(list(pixels.mean)).scale([1.0 / v for v in pixels.scale])
                if pixels.rgb:
                    steps.convert_color(ColorFormat.RGB)
                compiled = core().compile_model(graph.build(), self._device, self._config)
                self._with_pixels[pixels] = (compiled, list(compiled.outputs))
            return self._with_pixels[pixels]

    def _infer(
        self, model: tuple[Any, list[Any]], feeds: dict[Any, np.ndarray]
    ) -> list[np.ndarray]:
        compiled, outputs = model
        requests = getattr(self._local, "requests", None)
        if requests is None:
            requests = self._local.requests = {}
        request = requests.get(id(compiled))
        if request is None:
            request = requests[id(compiled)] = compiled.create_infer_request()
        results = request.infer(feeds)
        return [np.array(results[output], copy=True) for output in outputs]
