"""Loading the pipeline configuration file with errors that point at the bad line."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from pydantic import ValidationError

from vigil.errors import ErrorCode, VigilError
from vigil.infra.safe_read import CONFIG_LIMIT, read_limited
from vigil.schemas.camera import PipelineConfig


def describe_errors(exc: ValidationError) -> str:
    lines = []
    for error in exc.errors():
        where = ".".join(str(part) for part in error["loc"])
        lines.append(f"  {where}: {error['msg']}")
    return "\n".join(lines)


def parse_config(text: str, origin: str = "<config>") -> PipelineConfig:
    try:
        data = json.loads(text) if text.lstrip().startswith("{") else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise VigilError(
            ErrorCode.INVALID_OPTIONS, f"{origin}: not valid YAML/JSON: {exc}"
        ) from None
    if not isinstance(data, dict):
        raise VigilError(ErrorCode.INVALID_OPTIONS, f"{origin}: expected a mapping with 'cameras'")
    try:
        return PipelineConfig.model_validate(data)
    except ValidationError as exc:
        raise VigilError(
            ErrorCode.INVALID_OPTIONS, f"{origin}: invalid configuration:\n{describe_errors(exc)}"
        ) from None


def load_config(path: str | Path) -> PipelineConfig:
    """Read a configuration file: a regular file of at most CONFIG_LIMIT bytes, UTF-8."""
    path = Path(path)
    data = read_limited(path, CONFIG_LIMIT, what="configuration file")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise VigilError(
            ErrorCode.INVALID_OPTIONS, f"{path}: not UTF-8 text (byte {exc.start})"
        ) from None
    return parse_config(text, str(path))


def single_camera_config(url: str, camera_id: str = "cam-1", **camera: object) -> PipelineConfig:
    """A one-camera configuration for `vigil run --source URL` and the demo."""
    return PipelineConfig.model_validate({"cameras": [{"id": camera_id, "url": url, **camera}]})
