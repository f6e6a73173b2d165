"""`Batcher`: concurrent calls gathered into batches, each run by one of its callers.

Why: k:N searches arrive on many threads (the Celery thread pool, the HTTP thread
pool). Run one by one, each query's Python (lock, lookups, re-ranking, building hits)
takes the GIL in turn, and 32 clients got fewer answers per second than one
(576 against 830 at 1M). Batched, the queries waiting while a batch runs become the
next batch: one read-lock acquisition, one FAISS call for all of them (which runs the
queries on every core without the GIL) and one vectorised re-rank.

No timer: a lone caller runs its own call at once (a batch of one), so batching adds
no latency when idle; under load a batch holds whatever queued during the previous
one (at most `max_batch`). The caller whose request heads the queue when a batch ends
runs the next batch (leader hand-off), so no thread serves others indefinitely and no
extra thread exists.

`run(requests)` returns one outcome per request: a result, or the exception to raise
in that request's caller alone (a bad query refuses only itself). If `run` itself
raises, every request of that batch gets the exception.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

Request = TypeVar("Request")
Result = TypeVar("Result")

MAX_BATCH = 256


class _Slot(Generic[Request, Result]):
    __slots__ = ("done", "lead", "outcome", "request")

    def __init__(self, request: Request) -> None:
        self.request = request
        self.done = threading.Event()
        self.lead = False
        self.outcome: Result | BaseException | None = None


class Batcher(Generic[Request, Result]):
    def __init__(
        self,
        run: Callable[[Sequence[Request]], Sequence[Result | BaseException]],
        max_batch: int = MAX_BATCH,
    ) -> None:
        self._run = run
        self._max = max_batch
        self._lock = threading.Lock()
        self._queue: list[_Slot[Request, Result]] = []
        self._running = False
        self.batches = 0  # batches run, and requests in them: for benchmarks and tests
        self.requests = 0

    def submit(self, request: Request) -> Result:
        """Run `request` in a batch (its own, or one another caller runs) and return its
        result, or raise its exception."""
        slot: _Slot[Request, Result] = _Slot(request)
        with self._lock:
            self._queue.append(slot)
            slot.lead = not self._running
            self._running = True
        if not slot.lead:
            slot.done.wait()  # answered, or asked to lead the next batch
        if slot.lead:
            self._lead()
        outcome = slot.outcome
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome  # type: ignore[return-value]  # set by the batch that ran it

    def _lead(self) -> None:
        """Run one batch from the head of the queue, then hand the lead to the next
        waiting caller (or stop leading when the queue is empty)."""
        with self._lock:
            batch, self._queue = self._queue[: self._max], self._queue[self._max :]
        try:
            outcomes: Sequence[Result | BaseException] = self._run([s.request for s in batch])
            if len(outcomes) != len(batch):
                raise RuntimeError(f"batch of {len(batch)} gave {len(outcomes)} outcomes")
        except BaseException as exc:  # every caller of this batch gets it
            outcomes = [exc] * len(batch)
        self.batches += 1
        self.requests += len(batch)
        with self._lock:
            following = self._queue[0] if self._queue else None
            if following is None:
                self._running = False
            else:
                following.lead = True
        for slot, outcome in zip(batch, outcomes, strict=True):
            slot.outcome = outcome
            slot.lead = False
            slot.done.set()
        if following is not None:
            following.done.set()
