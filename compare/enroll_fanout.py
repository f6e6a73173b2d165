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
from vigil.schemas.errors import ErrorCode, VigilError

ANALYZE_MANY_TASK = "vigil.enroll.analyze_many"
PORTRAITS_PER_TASK = 4  # the per-task cost (broker, prefork parent, result) shared by 4
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


class CeleryBatch:
    """Up to PORTRAITS_PER_TASK portraits for one `vigil.enroll.analyze_many` task: filled
    by the submitter, sent when full or when one of its answers is wanted first. Picture
    bytes go beside the message when the broker or backend is Redis (`infra.blobs`) and
    are dropped once the answers are in."""

    def __init__(self, app: Any, payload: dict[str, Any], blobs: BlobStore | None) -> None:
        self.app, self.payload, self.blobs = app, payload, blobs
        self.pictures: list[bytes | str | dict[str, str]] = []
        self.result: Any = None
        self.answers: list[FileAnalysis] | None = None

    @property
    def full(self) -> bool:
        return len(self.pictures) >= PORTRAITS_PER_TASK

    @property
    def references(self) -> list[dict[str, str]]:
        """The blobs this batch put (pictures sent as paths have none)."""
        return [picture for picture in self.pictures if isinstance(picture, dict)]

    def add(self, data: bytes | str) -> int:
        """Add one picture (sending the task once full); its index in the batch."""
        picture: bytes | str | dict[str, str] = data
        if self.blobs is not None and isinstance(data, bytes):
            picture = self.blobs.put(data)
        self.pictures.append(picture)
        if self.full:
            self.send()
        return len(self.pictures) - 1

    def send(self) -> None:
        if self.result is None:
            self.result = self.app.send_task(ANALYZE_MANY_TASK, args=[self.pictures, self.payload])

    def answer(self, index: int, timeout: float | None) -> FileAnalysis:
        if self.answers is None:
            self.send()
            try:
                answers = self.result.get(timeout=timeout)
            finally:
                if self.blobs is not None:
                    self.blobs.drop(*self.references)
            if not isinstance(answers, list) or not answers:
                raise VigilError(ErrorCode.INTERNAL, f"{ANALYZE_MANY_TASK} answered {answers!r}")
            if len(answers) != len(self.pictures):  # the whole task refused: each portrait
                answers = answers[:1] * len(self.pictures)
            self.answers = [FileAnalysis.model_validate(answer) for answer in answers]
        return self.answers[index]


class BatchSlot:
    """One portrait's place in a CeleryBatch."""

    def __init__(self, batch: CeleryBatch, index: int) -> None:
        self.batch, self.index = batch, index

    def get(self, timeout: float | None = CELERY_TIMEOUT_S) -> FileAnalysis:
        return self.batch.answer(self.index, timeout)


def one_thread_per_worker() -> None:
    """Pool initializer: N processes x 1 model thread beats N x all cores on a small box."""
    os.environ["VIGIL_MODEL_THREADS"] = "1"
    import cv2

    cv2.setNumThreads(1)


class CelerySubmitter:
    """Sends to `vigil.enroll.analyze_many`, PORTRAITS_PER_TASK a task. `close` drops the
    blobs of batches whose answers were never read (Ctrl-C, an error): they would
    otherwise sit in the broker's Redis until they expire."""

    def __init__(self, app: Any, options: EnrollOptions) -> None:
        self.app, self.payload = app, options.model_dump(mode="json")
        self.blobs = store_for(app.conf)
        self.batches: deque[CeleryBatch] = deque()

    def __call__(self, data: bytes | str) -> Pending:
        if not self.batches or self.batches[-1].full:
            self.batches.append(CeleryBatch(self.app, self.payload, self.blobs))
            while self.batches[0].answers is not None:  # answered: nothing left to drop
                self.batches.popleft()
        batch = self.batches[-1]
        return BatchSlot(batch, batch.add(data))

    def close(self) -> None:
        unread = [batch for batch in self.batches if batch.answers is None]
        if self.blobs is not None:
            self.blobs.drop(*(reference for batch in unread for reference in batch.references))
        self.batches.clear()


def sends_tasks(celery: Any) -> bool:
    """Whether `celery` (a Celery app or None) sends to workers; an eager app (no broker
    configured, `vigil demo`) runs what it is given in this process."""
    return celery is not None and not celery.conf.task_always_eager


def window(workers: int, celery: Any = None) -> int:
    """Analyses in flight: enough that no worker waits for the enrolling process (with
    Celery, two tasks' worth a worker: one running, one queued behind it)."""
    per_worker = 2 * PORTRAITS_PER_TASK if sends_tasks(celery) else WINDOW_PER_WORKER
    return per_worker * max(1, workers)


@contextmanager
def analyzer(options: EnrollOptions, workers: int = 1, celery: Any = None) -> Iterator[Submit]:
    """A function that starts one file's analysis; `celery` is a Celery app to send tasks
    to (an eager one, like `workers` 1, analyses in this process)."""
    if sends_tasks(celery):
        submitter = CelerySubmitter(celery, options)
        try:
            yield submitter
        finally:
            submitter.close()
    elif celery is None and workers > 1:
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
