"""The one way a public Celery task answers: a result, or a coded error, never a traceback.

Every request/response task (`vigil.image.*`, `vigil.compare`, `vigil.verify`,
`vigil.enroll*`, `vigil.groups.*`, `vigil.search`, `vigil.history.*`, `vigil.cluster`)
is declared with `coded_task(name)`. A `VigilError` becomes its code and message; any
other exception is a bug, logged here with its traceback and answered as
`internal_error`, so a caller always gets a value it can branch on instead of a
task failure it has to parse. The answer's shape is `{"error": {"code", "message"}}`
unless the task names another (`vigil.enroll.analyze` answers a rejected FileAnalysis,
which the enrolling process expects, and `vigil.enroll.analyze_many` a list of one).

The video pipeline's own tasks (`vigil.frame.detect`, `vigil.capture.describe`) are
not coded: a failure there must reach the capture step, which resubmits or gives up
(workers/resubmit.py).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any

from vigil.infra.celery_app import app
from vigil.schemas.errors import ErrorCode, ErrorInfo, VigilError

log = logging.getLogger(__name__)

Source = dict[str, Any] | bytes | str
"""A face to search or compare: a Feature dict, encoded picture bytes, or a served path."""


def error_answer(error: ErrorInfo) -> dict[str, Any]:
    return {"error": error.model_dump(mode="json")}


def coded(
    task: Callable[..., Any], answer: Callable[[ErrorInfo], Any] = error_answer
) -> Callable[..., Any]:
    """`task` with every exception turned into `answer(ErrorInfo)`."""

    @functools.wraps(task)
    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            return task(*args, **kwargs)
        except VigilError as exc:
            error = ErrorInfo(code=exc.code, message=exc.message)
        except Exception as exc:  # a bug must still answer the caller
            log.exception("task %s failed", task.__name__)
            error = ErrorInfo(code=ErrorCode.INTERNAL, message=f"{type(exc).__name__}: {exc}")
        return answer(error)

    return run


def coded_task(
    name: str, answer: Callable[[ErrorInfo], Any] = error_answer
) -> Callable[[Callable[..., Any]], Any]:
    """Declare a public Celery task named `name` whose errors come back coded."""

    def declare(task: Callable[..., Any]) -> Any:
        return app.task(name=name)(coded(task, answer))

    return declare


def dump(model: Any) -> dict[str, Any]:
    """A result model as the JSON-ready dict a task returns."""
    return model.model_dump(mode="json", exclude_none=True)
