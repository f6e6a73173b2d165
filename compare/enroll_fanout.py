"""Fan file analyses out to this process, a process pool or Celery workers; results in order.

Results come back in input order so the enrolling process takes its decisions
(duplicates, conflicts, store writes) in a deterministic order whatever the
parallelism. At most `window` files are in flight, so memory stays bounded on
folders of any size (Pool.imap would read every file ahead).
"""

from __future__ import annotations

import multiprocessing
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from functools import partial
from typing import Any, Protocol, TypeVar

from vigil.compare.enroll_analysis import analyze_file
from vigil.infra.blobs import BlobStore, store_for
from vigil.schemas.compare import EnrollOptions, FileAnalysis

ANALYZE_TASK = "vigil.enroll.analyze"
CELERY_TIMEOUT_S = 300.0
WINDOW_PER_WORKER = 4
T = TypeVar("T")


class Pending(Protocol):
    def get(self, timeout: float | None = None) -> Any: ...


Submit = Callable[[bytes | str], Pending]  # bytes, or a path a Celery worker reads


class Done:
    """An analysis already made in this process."""

    def __init__(self, value: FileAnalysis) -> None:
        self.value = value

    def get(self, timeout: float | None = None) -> FileAnalysis:
        return self.value


class CeleryPending:
    """A `vigil.enroll.analyze` task; its JSON result becomes a FileAnalysis again, and
    the blob its picture was sent in (if any) is dropped once the result is in."""

    def __init__(
        self, result: Any, blobs: BlobStore | None = None, blob: dict[str, str] | None = None
    ) -> None:
        self.result, self.blobs, self.blob = result, blobs, blob

    def get(self, timeout: float | None = CELERY_TIMEOUT_S) -> FileAnalysis:
        try:
            return FileAnalysis.model_validate(self.result.get(timeout=timeout))
        finally:
            if self.blobs is not None and self.blob is not None:
                self.blobs.drop(self.blob)


def one_thread_per_worker() -> None:
    """Pool initializer: N processes x 1 model thread beats N x all cores on a small box."""
    os.environ["VIGIL_MODEL_THREADS"] = "1"
    import cv2

    cv2.setNumThreads(1)


def celery_submit(app: Any, options: EnrollOptions) -> Submit:
    """Send to `vigil.enroll.analyze`; an eager app (no broker configured) runs it here.
    Picture bytes go beside the message when the broker or backend is Redis (`infra.blobs`)."""
    payload = options.model_dump(mode="json")
    if app.conf.task_always_eager:  # what the task does, here: the bytes are in hand
        return lambda data: Done(analyze_file(data, options))
    blobs = store_for(app.conf)

    def submit(data: bytes | str) -> Pending:
        if blobs is None or not isinstance(data, bytes):
            return CeleryPending(app.send_task(ANALYZE_TASK, args=[data, payload]))
        blob = blobs.put(data)
        return CeleryPending(app.send_task(ANALYZE_TASK, args=[blob, payload]), blobs, blob)

    return submit


@contextmanager
def analyzer(options: EnrollOptions, workers: int = 1, celery: Any = None) -> Iterator[Submit]:
    """A function that starts one file's analysis; `celery` is a Celery app to send tasks to."""
    if celery is not None:
        yield celery_submit(celery, options)
    elif workers > 1:
        context = multiprocessing.get_context("spawn")
        with context.Pool(workers, initializer=one_thread_per_worker) as pool:
            yield lambda data: pool.apply_async(partial(analyze_file, options=options), (data,))
    else:
        yield lambda data: Done(analyze_file(data, options))


def ordered(
    submit: Submit, jobs: Iterable[T], payload: Callable[[T], bytes | str], window: int
) -> Iterator[tuple[T, FileAnalysis]]:
    """(job, analysis) in job order, keeping at most `window` analyses in flight."""
    in_flight: deque[tuple[T, Pending]] = deque()
    for job in jobs:
        in_flight.append((job, submit(payload(job))))
        if len(in_flight) >= window:
            done, pending = in_flight.popleft()
            yield done, pending.get()
    while in_flight:
        done, pending = in_flight.popleft()
        yield done, pending.get()
