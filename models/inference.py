"""Which inference backend and devices a process uses: `VIGIL_INFERENCE`, parsed once.

    VIGIL_INFERENCE=onnxruntime                 # default: onnxruntime on the CPU
    VIGIL_INFERENCE=onnxruntime:cuda,cpu        # execution providers, in order of preference
    VIGIL_INFERENCE=openvino                    # OpenVINO on the CPU (precision: see below)
    VIGIL_INFERENCE=openvino:gpu                # an Intel GPU, else the CPU
    VIGIL_INFERENCE_PRECISION=auto|f32|bf16|f16|int8|int8+bf16
        # auto: OpenVINO on the CPU in bf16 where the CPU has AMX; int8+bf16 on AMD
        # CPUs with AVX512-BF16 and VNNI; f32 with int8 weights where a model ships them
        # on other CPUs with VNNI; else f32 (models/cpu_features.py); onnxruntime in
        # f32 (the calibrated reference).
        # int8: those int8 weights on either backend, the other models in f32;
        # int8+bf16: the same with the other models in bf16 (OpenVINO; f32 on onnxruntime);
        # int8 weights' own float layers stay f32 either way.

A setting names what the operator wants; what a machine lacks is not an error. A
provider or device that is not there is skipped with a warning and the CPU runs the
model (a camera keeps working on a host whose GPU driver broke); a backend package
that is not installed falls back to onnxruntime the same way. What actually ran is
logged once per model. A misspelt name is an error at start, never a silent default.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cache

import cv2
import numpy as np

from vigil.schemas.errors import ErrorCode, VigilError

ONNXRUNTIME = "onnxruntime"
OPENVINO = "openvino"
BACKENDS = (ONNXRUNTIME, OPENVINO)

# Short names an operator types -> onnxruntime's execution provider names.
ORT_PROVIDERS = {
    "cpu": "CPUExecutionProvider",
    "cuda": "CUDAExecutionProvider",
    "tensorrt": "TensorrtExecutionProvider",
    "openvino": "OpenVINOExecutionProvider",
    "coreml": "CoreMLExecutionProvider",
    "directml": "DmlExecutionProvider",
    "rocm": "ROCMExecutionProvider",
}
OPENVINO_DEVICES = ("cpu", "gpu", "npu")
INT8 = "int8"
INT8_BF16 = "int8+bf16"  # int8 weights where a model ships them, bf16 for the other models
PRECISIONS = ("auto", "f32", "bf16", "f16", INT8, INT8_BF16)
INT8_WEIGHTS = frozenset({INT8, INT8_BF16})  # the precisions that take a model's int8 weights


@dataclass(frozen=True)
class Inference:
    """A process's inference choice: backend, targets in order of preference, precision."""

    backend: str = ONNXRUNTIME
    targets: tuple[str, ...] = ("cpu",)
    precision: str = "auto"

    @property
    def label(self) -> str:
        return f"{self.backend}:{','.join(self.targets)}" + (
            "" if self.precision == "auto" else f"@{self.precision}"
        )


def parse(text: str, precision: str = "auto") -> Inference:
    """`backend[:target,...]` -> Inference; unknown names raise `invalid_options`."""
    backend, _, rest = text.strip().lower().partition(":")
    backend = backend or ONNXRUNTIME
    if backend not in BACKENDS:
        raise VigilError(
            ErrorCode.INVALID_OPTIONS,
            f"VIGIL_INFERENCE: unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}",
        )
    known = tuple(ORT_PROVIDERS) if backend == ONNXRUNTIME else OPENVINO_DEVICES
    targets = tuple(t.strip() for t in rest.split(",") if t.strip()) or ("cpu",)
    unknown = [t for t in targets if t not in known]
    if unknown:
        raise VigilError(
            ErrorCode.INVALID_OPTIONS,
            f"VIGIL_INFERENCE: {backend} has no target {unknown[0]!r}; known: {', '.join(known)}",
        )
    precision = precision.strip().lower() or "auto"
    if precision not in PRECISIONS:
        raise VigilError(
            ErrorCode.INVALID_OPTIONS,
            f"VIGIL_INFERENCE_PRECISION: {precision!r} is not one of {', '.join(PRECISIONS)}",
        )
    return Inference(backend, targets, precision)


def from_env(setting: str | None = None, precision: str | None = None) -> Inference:
    """This process's choice (VIGIL_INFERENCE, VIGIL_INFERENCE_PRECISION); `setting` or
    `precision`, where given, stand in for their variable (`vigil inference`'s options)."""
    return parse(
        setting or os.environ.get("VIGIL_INFERENCE", ONNXRUNTIME),
        precision or os.environ.get("VIGIL_INFERENCE_PRECISION", "auto"),
    )


def intra_op_threads() -> int:
    """Threads per model call (default 1): on a 2-core box, prefork workers that each
    spawn a full thread pool run about 3x slower."""
    return max(1, int(os.environ.get("VIGIL_MODEL_THREADS", "1")))


@dataclass(frozen=True)
class ImagePixels:
    """How a model's input tensor is made of a BGR uint8 picture of the input size:
    (pixel - mean) * scale per channel (BGR order), channels reversed when `rgb`, HWC
    to NCHW float32. Backends that can fold this into the compiled graph do (OpenVINO's
    pre-processing: measured 0.3 ms less a BlazeFace call than `cv2.dnn.blobFromImage`,
    outputs identical); the others call `blob`.
    """

    mean: tuple[float, float, float]
    scale: tuple[float, float, float]
    rgb: bool

    def blob(self, image: np.ndarray) -> np.ndarray:
        """The 1x3xHxW input tensor of one picture, in one OpenCV pass."""
        return cv2.dnn.blobFromImageWithParams(image, self.blob_params())

    @cache  # noqa: B019 - a few frozen instances live for the process
    def blob_params(self) -> cv2.dnn.Image2BlobParams:
        # OpenCV swaps the channels first, then applies mean and scale.
        scale, mean = (self.scale[::-1], self.mean[::-1]) if self.rgb else (self.scale, self.mean)
        return cv2.dnn.Image2BlobParams(
            scalefactor=(*scale, 0.0),
            mean=(*mean, 0.0),
            swapRB=self.rgb,
            ddepth=cv2.CV_32F,
        )
