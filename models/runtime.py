"""One place that turns verified weights into an inference session, on the backend the
process was configured for (`VIGIL_INFERENCE`, see `vigil.models.inference`).

Every model calls `session(name)` and sees one small interface, `input_name` and
`run(feeds) -> outputs`, whatever runs underneath; the first call per model logs
which backend, device and precision it got.
"""

from __future__ import annotations

import logging
from functools import cache
from pathlib import Path
from typing import Protocol

import numpy as np

from vigil.models.inference import ONNXRUNTIME, OPENVINO, ImagePixels, Inference, from_env
from vigil.models.inference import intra_op_threads as intra_op_threads
from vigil.models.registry import manifest, spec, verified_bytes

log = logging.getLogger(__name__)


class Session(Protocol):
    input_name: str
    runs_on: str

    def run(self, feeds: dict[str, np.ndarray]) -> list[np.ndarray]: ...

    def run_image(self, image: np.ndarray, pixels: ImagePixels) -> list[np.ndarray]: ...


def openvino_installed() -> bool:
    try:
        import openvino  # noqa: F401
    except ImportError:
        return False
    return True


def open_session(name: str, inference: Inference, path: Path | None = None) -> Session:
    """A new checksum-verified session for the model called `name` on `inference`."""
    model = verified_bytes(name, path)
    if inference.backend == OPENVINO and not openvino_installed():
        log.warning(
            "inference: openvino is not installed (pip install 'vigil[openvino]');"
            " using onnxruntime on the CPU"
        )
        inference = Inference(ONNXRUNTIME)
    opened: Session
    if inference.backend == OPENVINO:
        from vigil.models.backend_openvino import OpenVinoSession

        opened = OpenVinoSession(name, path or spec(name).path, inference)
    else:
        from vigil.models.backend_onnxruntime import OrtSession

        opened = OrtSession(name, model, inference)
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
    names = sorted(manifest())
    for name in names:
        session(name)
    return names
