"""One place that turns verified weights into an inference session, on the backend the
process was configured for (`VIGIL_INFERENCE`, see `vigil.models.inference`).

Every model calls `session(name)` and sees one small interface, `input_name` and
`run(feeds) -> outputs`, whatever runs underneath; the first call per model logs
which backend, device and precision it got.

Precision `auto` is made concrete here where Vigil measured better than a backend's
own default (`concrete`): OpenVINO on the CPU infers in bf16 where the CPU has AMX;
on AMD's Zen 4 (AVX512-BF16 and VNNI) in bf16 with the int8 weights of the models
that ship them (NanoDet); on other CPUs with VNNI or AVX2 in f32 with those int8
weights; in f32 elsewhere.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from functools import cache
from pathlib import Path
from typing import Protocol

import numpy as np

from vigil.models.cpu_features import fastest_precision
from vigil.models.inference import (
    INT8,
    INT8_WEIGHTS,
    ONNXRUNTIME,
    OPENVINO,
    ImagePixels,
    Inference,
    from_env,
)
from vigil.models.inference import intra_op_threads as intra_op_threads
from vigil.models.registry import int8_variant, model_names, spec, verified_bytes

log = logging.getLogger(__name__)


class Session(Protocol):
    input_name: str
    input_shape: tuple[int, ...]  # of one call; a dynamic batch as 1
    runs_on: str

    def run(self, feeds: dict[str, np.ndarray]) -> list[np.ndarray]: ...

    def run_image(self, image: np.ndarray, pixels: ImagePixels) -> list[np.ndarray]: ...


def openvino_installed() -> bool:
    try:
        import openvino  # noqa: F401
    except ImportError:
        return False
    return True


def concrete(inference: Inference) -> Inference:
    """`inference` with precision `auto` decided where Vigil knows better than the
    backend. OpenVINO's own default on a CPU with AVX512-BF16 is bf16, which pays with
    AMX and on AMD's Zen 4 but is slower than f32 on an Intel CPU without AMX; int8
    weights where a model ships them pay with VNNI, and with AVX2 alone
    (`cpu_features.fastest_precision`).
    onnxruntime's `auto` stays f32, the reference the thresholds were calibrated on;
    other devices keep their backend's default."""
    if inference.precision != "auto" or inference.backend != OPENVINO:
        return inference
    if inference.targets[0] != "cpu" or (fastest := fastest_precision()) is None:
        return inference
    return replace(inference, precision=fastest)


def weights_for(name: str, inference: Inference) -> str:
    """The manifest entry whose weights run `name`: its int8 variant under precision
    int8 or int8+bf16 where it ships one, else `name` itself."""
    return (inference.precision in INT8_WEIGHTS and int8_variant(name)) or name


def open_session(name: str, inference: Inference, path: Path | None = None) -> Session:
    """A new checksum-verified session for the model called `name` on `inference`;
    `path` replaces the shipped file (its checksum still checked)."""
    if inference.backend == OPENVINO and not openvino_installed():
        log.warning(
            "inference: openvino is not installed (pip install 'vigil[openvino]');"
            " using onnxruntime on the CPU"
        )
        inference = Inference(ONNXRUNTIME)
    inference = concrete(inference)
    weights = name if path else weights_for(name, inference)
    if weights != name:
        # int8 weights keep their float layers in f32 whatever the rest runs in: in bf16,
        # NanoDet's f32-kept layers moved person boxes enough to join walkers' tracks
        # (vtest.avi, 60 s: 17 person captures instead of 20).
        inference = replace(inference, precision=INT8)
    model = verified_bytes(weights, path)
    opened: Session
    if inference.backend == OPENVINO:
        from vigil.models.backend_openvino import OpenVinoSession

        opened = OpenVinoSession(weights, path or spec(weights).path, inference)
    else:
        from vigil.models.backend_onnxruntime import OrtSession

        opened = OrtSession(weights, model, inference)
    if weights != name:
        opened.runs_on += f", {weights} weights"
    log.info("inference: %s runs on %s", name, opened.runs_on)
    return opened


@cache
def session(name: str, path: Path | None = None) -> Session:
    """This process's cached session for the model called `name` (VIGIL_INFERENCE)."""
    return open_session(name, from_env(), path)


def model_version(name: str) -> str:
    """`name@version`, stamped on every feature so features of different models never mix."""
    return f"{name}@{spec(name).version}"


def load_all() -> list[str]:
    """Open this process's session of every model in the manifest (checksums verified);
    their names. Raises MODEL_MISSING or MODEL_CORRUPT. Cached, so later calls are free."""
    names = model_names()
    for name in names:
        session(name)
    return names
