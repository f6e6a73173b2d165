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
from collections import deque
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any

from celery.exceptions import TimeoutError as ResultTimeout
from kombu.exceptions import OperationalError

log = logging.getLogger(__name__)
RESUBMIT_ENV = "VIGIL_TASK_RESUBMIT_S"
DEFAULT_RESUBMIT_S = 30.0  # far above a frame task's run time on a loaded 2-core machine
RECENTLY_READ: deque[str] = deque(maxlen=512)  # task ids whose late copies are dropped


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
                    value = self.result.get(timeout=wait)
                except ResultTimeout:
                    pass
                except unreachable_errors(self.result) as exc:
                    log.warning("%s: result backend unreachable (%s)", self.name, exc)
                    time.sleep(min(1.0, max(0.0, resend_at - time.monotonic())))
                else:
                    self.forget()
                    return value
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

    def forget(self) -> None:
        """Drop the result from the backend once read.

        Kept for `result_expires` (an hour) every frame's detections and crops would sit in
        Redis. And Celery's Redis client buffers a result message that arrives while no
        one waits on it in `_pending_messages`, up to 8192 results that never drain
        (celery#8166): with frames pipelined, ~3% of results also arrive by pub/sub after
        `get` already read them by polling, and the capture step grew ~30 MB/h. So the ids
        of the last results read are swept from that buffer at every read.
        """
        try:
            self.result.forget()
        except Exception as exc:  # the result was read; a failed clean-up only costs memory
            log.debug("%s: result not forgotten (%s)", self.name, exc)
        buffered = getattr(getattr(self.result, "backend", None), "_pending_messages", None)
        task_id = getattr(self.result, "id", None)
        if buffered is None or task_id is None:
            return
        RECENTLY_READ.append(task_id)
        if not buffered:
            return  # the usual case: nothing arrived late
        for read in RECENTLY_READ:
            if read in buffered:
                with suppress(KeyError):
                    buffered.total -= len(buffered.pop(read))


def unreachable_errors(result: Any) -> tuple[type[BaseException], ...]:
    """Errors meaning the broker or result backend could not be reached."""
    return (OperationalError, *connection_errors(result))


def connection_errors(result: Any) -> tuple[type[BaseException], ...]:
    """The result backend's own connection errors (redis' for Redis); none when eager."""
    return tuple(getattr(getattr(result, "backend", None), "connection_errors", ()) or ())
