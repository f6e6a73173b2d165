"""Where model weights live, and the checksum gate every load goes through.

A wrong or truncated weights file gives silently wrong answers, so nothing is
loaded whose sha256 differs from the manifest shipped beside the weights.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from vigil.schemas.errors import ErrorCode, VigilError

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
# A manifest entry `<model>.int8` is that model's int8-quantised weights: the same
# inputs and outputs, chosen by the inference precision (`vigil.models.runtime`).
INT8_SUFFIX = ".int8"


@dataclass(frozen=True)
class ModelSpec:
    """One entry of `weights/manifest.json`."""

    name: str
    file: str
    sha256: str
    version: str

    @property
    def path(self) -> Path:
        return WEIGHTS_DIR / self.file


@cache
def manifest() -> dict[str, ModelSpec]:
    raw = json.loads((WEIGHTS_DIR / "manifest.json").read_text())
    return {name: ModelSpec(name=name, **entry) for name, entry in raw.items()}


def model_names() -> list[str]:
    """The models, without their quantised variants, sorted."""
    return sorted(name for name in manifest() if not name.endswith(INT8_SUFFIX))


def int8_variant(name: str) -> str | None:
    """The manifest name of `name`'s int8 weights, if it ships any."""
    variant = name + INT8_SUFFIX
    return variant if variant in manifest() else None


def spec(name: str) -> ModelSpec:
    try:
        return manifest()[name]
    except KeyError:
        known = ", ".join(sorted(manifest()))
        message = f"unknown model {name!r}; known: {known}"
        raise VigilError(ErrorCode.MODEL_MISSING, message) from None


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verified_bytes(name: str, path: Path | None = None) -> bytes:
    """Return the model file's bytes after checking it exists and matches its checksum."""
    model = spec(name)
    target = path or model.path
    if not target.is_file():
        raise VigilError(
            ErrorCode.MODEL_MISSING,
            f"model {name!r}: weights file {target} is missing; reinstall vigil or restore it",
        )
    data = target.read_bytes()
    actual = hashlib.sha256(data).hexdigest()
    if actual != model.sha256:
        raise VigilError(
            ErrorCode.MODEL_CORRUPT,
            f"model {name!r}: {target} has sha256 {actual[:12]}…, expected {model.sha256[:12]}…;"
            " the file is corrupt or was replaced",
        )
    return data
