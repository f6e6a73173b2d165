"""Celery tasks the capture step waits on, submitted again when their result is late.

A task whose worker was SIGKILLed stays unacknowledged in Redis until the transport's
visibility timeout (an hour), and a Redis restart forgets queued tasks and results:
either way the result never comes, and waiting out the task timeout would drop the
frame. The frame tasks are pure functions of their arguments, so running one twice
is harmless; the copy that answers first wins.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from celery.exceptions import TimeoutError as ResultTimeout
from kombu.exceptions import OperationalError

log = logging.getLogger(__name__)
RESUBMIT_ENV = "VIGIL_TASK_RESUBMIT_S"
DEFAULT_RESUBMIT_S = 30.0  # far above a frame task's run time on a loaded 2-core machine


def resubmit_after() -> float:
    return float(os.environ.get(RESUBMIT_ENV, DEFAULT_RESUBMIT_S))


@dataclass
class RetriedTask:
    """`submit()` sends the task; `get` re-sends it every `after` seconds without a result.

    Submission errors (broker down) are retried the same way, so a Redis restart costs
    time, not frames.
    """

    submit: Callable[[], Any]
    after: float = field(default_factory=resubmit_after)
    name: str = "task"
    attempts: int = 0
    result: Any = None
    submitted_at: float = 0.0

    def __post_init__(self) -> None:
        self.send()

    def send(self) -> None:
        self.attempts += 1
        self.submitted_at = time.monotonic()
        try:
            self.result = self.submit()
        except OperationalError as exc:  # broker unreachable even after kombu's retries
            log.warning("%s: not submitted (%s); trying again", self.name, exc)
            self.result = None

    def get(self, timeout: float) -> Any:
        """The task's result; ResultTimeout after `timeout` s; a failed task's own error."""
        deadline = time.monotonic() + timeout
        while True:
            # a submission that failed is tried again within a second
            resend_at = self.submitted_at + (self.after if self.result is not None else 1.0)
            wait = min(resend_at, deadline) - time.monotonic()
            if wait > 0 and self.result is not None:
                try:
                    return self.result.get(timeout=wait)
                except ResultTimeout:
                    pass
                except (OperationalError, *connection_errors(self.result)) as exc:
                    log.warning("%s: result backend unreachable (%s)", self.name, exc)
                    time.sleep(min(1.0, max(0.0, resend_at - time.monotonic())))
            elif wait > 0:
                time.sleep(wait)
            now = time.monotonic()
            if now >= deadline:
                raise ResultTimeout(f"{self.name}: no result in {timeout} s")
            if now >= resend_at:
                log.warning(
                    "%s: no result after %.0f s, submitting again",
                    self.name,
                    now - self.submitted_at,
                )
                self.send()


def connection_errors(result: Any) -> tuple[type[BaseException], ...]:
    """The result backend's own connection errors (redis' for Redis); none when eager."""
    return tuple(getattr(getattr(result, "backend", None), "connection_errors", ()) or ())
