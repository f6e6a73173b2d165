"""Pictures in, targets out: `analyze_image` for one picture, `analyze_images` for a batch.

The Image API's engine, used by the Celery tasks, the feature groups (enrolment and
search by picture) and compare/verify; `vigil.api` is the public face of it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from functools import cache
from pathlib import Path

import numpy as np

from vigil.analysis.image_analyzer import ImageAnalyzer
from vigil.analysis.image_decoder import load_image
from vigil.schemas.analyze import AnalyzeOptions, AnalyzeResponse, ImageResult
from vigil.schemas.errors import ErrorCode, ErrorInfo, VigilError
from vigil.schemas.geometry import FrameSize

ImageSource = bytes | str | Path | np.ndarray
log = logging.getLogger(__name__)


@cache
def default_analyzer() -> ImageAnalyzer:
    """One analyzer per process: models load once and are shared by every call."""
    return ImageAnalyzer()


def source_label(source: ImageSource, index: int) -> str:
    if isinstance(source, str | Path):
        return str(source)
    return f"<{type(source).__name__} #{index}>"


def analyze_image(
    source: ImageSource,
    options: AnalyzeOptions | None = None,
    *,
    label: str | None = None,
    analyzer: ImageAnalyzer | None = None,
) -> ImageResult:
    """Analyze one image. Bad input never raises: the result carries a coded error instead."""
    options = options or AnalyzeOptions()
    started = time.perf_counter()
    result = ImageResult(source=label or source_label(source, 0))
    try:
        image = load_image(source, max_pixels=options.max_pixels)
        result.size = FrameSize(width=image.shape[1], height=image.shape[0])
        result.targets = (analyzer or default_analyzer()).analyze(image, options)
    except VigilError as exc:
        result.error = ErrorInfo(code=exc.code, message=exc.message)
    except Exception as exc:  # a model bug must not take the rest of a batch down
        log.exception("analysis of %s failed", result.source)
        result.error = ErrorInfo(code=ErrorCode.INTERNAL, message=f"{type(exc).__name__}: {exc}")
    result.elapsed_ms = round((time.perf_counter() - started) * 1000, 2)
    return result


def analyze_images(
    sources: Iterable[ImageSource],
    options: AnalyzeOptions | None = None,
    *,
    analyzer: ImageAnalyzer | None = None,
) -> AnalyzeResponse:
    """Analyze a batch in order; one bad image gives one error result, the others go on."""
    analyzer = analyzer or default_analyzer()
    results = [
        analyze_image(source, options, label=source_label(source, index), analyzer=analyzer)
        for index, source in enumerate(sources)
    ]
    return AnalyzeResponse(results=results, model_versions=analyzer.model_versions())
