"""Celery tasks of the Image API. Task names are public: `vigil.image.analyze[_batch]`.

>>> app.send_task("vigil.image.analyze", args=[jpeg_bytes, {"types": ["face"]}]).get()
"""

from __future__ import annotations

from typing import Any

from vigil.api import analyze_image, analyze_images
from vigil.errors import ErrorCode
from vigil.infra.celery_app import app
from vigil.schemas.analyze import AnalyzeOptions, ImageResult
from vigil.schemas.errors import ErrorInfo


def parse_options(options: dict[str, Any] | None) -> AnalyzeOptions | ErrorInfo:
    try:
        return AnalyzeOptions.model_validate(options or {})
    except ValueError as exc:
        return ErrorInfo(code=ErrorCode.INVALID_OPTIONS, message=str(exc))


@app.task(name="vigil.image.analyze")
def analyze(image: bytes | str, options: dict[str, Any] | None = None) -> dict[str, Any]:
    """Analyze one image (encoded bytes, or a path the worker can read); returns ImageResult."""
    parsed = parse_options(options)
    if isinstance(parsed, ErrorInfo):
        label = image if isinstance(image, str) else "<bytes>"
        return ImageResult(source=label, error=parsed).model_dump(mode="json", exclude_none=True)
    result = analyze_image(image, parsed, label=image if isinstance(image, str) else "<bytes>")
    return result.model_dump(mode="json", exclude_none=True)


@app.task(name="vigil.image.analyze_batch")
def analyze_batch(images: list[bytes | str], options: dict[str, Any] | None = None) -> dict:
    """Analyze several images; returns AnalyzeResponse with one result per image, in order."""
    parsed = parse_options(options)
    if isinstance(parsed, ErrorInfo):
        raise ValueError(parsed.message)
    return analyze_images(images, parsed).model_dump(mode="json", exclude_none=True)
