"""Celery tasks of the Image API. Task names are public: `vigil.image.analyze[_batch]`.

>>> app.send_task("vigil.image.analyze", args=[jpeg_bytes, {"types": ["face"]}]).get()

Pictures travel as bytes. A path is read on the worker only inside the folders its
operator lists in VIGIL_TASK_FILE_ROOTS (none by default: `path_not_allowed`), and a
client's `max_pixels` may lower the server's limit, never raise it.
"""

from __future__ import annotations

from typing import Any

from vigil.analysis.pictures import analyze_image, default_analyzer, source_label
from vigil.infra.safe_read import is_local, task_input
from vigil.schemas.analyze import AnalyzeOptions, AnalyzeResponse, ImageResult
from vigil.schemas.errors import ErrorCode, ErrorInfo, VigilError
from vigil.workers.coded import coded_task, dump


def parse_options(options: dict[str, Any] | None) -> AnalyzeOptions | ErrorInfo:
    """A client's options, with max_pixels clamped to the server's ceiling."""
    try:
        return AnalyzeOptions.model_validate(options or {}).clamped()
    except ValueError as exc:
        return ErrorInfo(code=ErrorCode.INVALID_OPTIONS, message=str(exc))


def analyze_one(image: bytes | str, options: AnalyzeOptions, local: bool, label: str):
    """One picture's ImageResult; a path the worker may not read is a coded error."""
    try:
        source = task_input(image, local=local)
    except VigilError as exc:
        return ImageResult(source=label, error=ErrorInfo(code=exc.code, message=exc.message))
    return analyze_image(source, options, label=label)


@coded_task("vigil.image.analyze")
def analyze(image: bytes | str, options: dict[str, Any] | None = None) -> dict[str, Any]:
    """Analyze one image (encoded bytes, or a path under the worker's roots); ImageResult."""
    label = image if isinstance(image, str) else "<bytes>"
    parsed = parse_options(options)
    if isinstance(parsed, ErrorInfo):
        return dump(ImageResult(source=label, error=parsed))
    return dump(analyze_one(image, parsed, is_local(analyze), label))


@coded_task("vigil.image.analyze_batch")
def analyze_batch(images: list[bytes | str], options: dict[str, Any] | None = None) -> dict:
    """Analyze several images; returns AnalyzeResponse with one result per image, in order."""
    parsed = parse_options(options)
    if isinstance(parsed, ErrorInfo):
        raise VigilError(parsed.code, parsed.message)
    local = is_local(analyze_batch)
    results = [
        analyze_one(image, parsed, local, source_label(image, index))
        for index, image in enumerate(images)
    ]
    response = AnalyzeResponse(results=results, model_versions=default_analyzer().model_versions())
    return dump(response)
