"""What every queued sink shares: a bounded queue that `deliver` fills without waiting,
background threads that empty it, and settlement.

An event is settled once it is delivered or its dead letter (naming the event's
`Origin`, to replay it from) was handed over; only then is `on_settled` told, so the
sink worker commits only settled offsets. A full queue or a closed sink dead-letters at
once; `close(dead_letter_backlog=False)` leaves what it could not deliver unsettled
instead, for the next process. The webhook and MQTT sinks differ only in how one attempt
is made and retried (`_send`).
"""

from __future__ import annotations

import logging
import queue
import random
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from pydantic import BaseModel

from vigil.infra.metrics import DEAD_LETTERS
from vigil.outputs.offsets import Origin
from vigil.schemas.deadletter import DeadLetter

log = logging.getLogger(__name__)

EXCERPT_CHARS = 512
STOP = object()  # queued by close(): a thread that takes it ends

DeadLetterHandler = Callable[[DeadLetter], None]
SettledHandler = Callable[[Origin], None]


def backoff_delay(
    attempt: int, initial: float, maximum: float, rng: Callable[[], float] = random.random
) -> float:
    """Seconds to wait after failed `attempt` (1-based): doubling from `initial`, capped.

    Half of the delay is random ("equal jitter"), so sinks that failed together, when a
    receiver went down, do not all retry in step when it comes back.
    """
    ceiling = min(maximum, initial * 2.0 ** min(attempt - 1, 30))
    return ceiling / 2 + rng() * ceiling / 2


@dataclass(frozen=True)
class Job:
    """An event serialised once, at `deliver` time, so later mutation cannot change it."""

    body: bytes
    event_id: str
    key: str | None
    excerpt: str
    origin: Origin | None = None
    topic: str = ""  # where a routing sink sends it (MQTT's topic); unused by the webhook

    @classmethod
    def of(cls, event: BaseModel, origin: Origin | None = None) -> Job:
        text = event.model_dump_json()
        return cls(
            body=text.encode(),
            event_id=str(getattr(event, "message_id", None) or uuid.uuid4()),
            key=getattr(event, "capture_id", None),
            excerpt=text[:EXCERPT_CHARS],
            origin=origin,
        )


@dataclass(frozen=True)
class Failure:
    reason: str
    code: str
    retryable: bool


class QueuedSink:
    """A sink's queue, threads' loop, dead letters, settlement and counts. Thread-safe.

    Subclasses set `STAGE` and `KIND` (for messages) and implement `_send(job)`, which
    delivers or calls `_give_up`; `_counted(result)` may add a metric.
    """

    STAGE = "sink"
    KIND = "sink"

    def __init__(
        self,
        *,
        max_attempts: int,
        backoff: tuple[float, float],
        queue_size: int,
        on_dead_letter: DeadLetterHandler | None,
        on_settled: SettledHandler | None,
    ) -> None:
        self._max_attempts = max_attempts
        self._backoff = backoff
        self._on_dead_letter = on_dead_letter
        self._on_settled = on_settled
        self._queue: queue.Queue[object] = queue.Queue(maxsize=queue_size)
        self._lock = threading.Lock()  # guards _closed against concurrent enqueues
        self._closed = False
        self._abort = threading.Event()
        self._keep_backlog = False  # close(): leave unfinished events unsettled, for replay
        self._counts = {"delivered": 0, "retried": 0, "failed": 0}
        self._counts_lock = threading.Lock()

    @property
    def delivered(self) -> int:
        return self._counts["delivered"]

    @property
    def retried(self) -> int:
        """Retries made (attempts beyond the first), over all events."""
        return self._counts["retried"]

    @property
    def failed(self) -> int:
        """Events dead-lettered, whatever the reason."""
        return self._counts["failed"]

    @property
    def room(self) -> int:
        """Events that `deliver` can queue now (more once the threads take some)."""
        return max(0, self._queue.maxsize - self._queue.qsize())

    def deliver(self, event: BaseModel, origin: Origin | None = None) -> bool:
        """Queue `event` without waiting. False when it was dead-lettered instead.

        A full queue dead-letters at once (with `origin`, if given, to replay it from):
        callers that must not lose events check `room` first, as the sink worker does.
        """
        job = self._job(event, origin)
        refused = self._enqueue(job)
        if refused is None:
            return True
        self._give_up(job, refused.reason, refused.code)
        return False

    def _job(self, event: BaseModel, origin: Origin | None) -> Job:
        return Job.of(event, origin)

    def _enqueue(self, job: Job) -> Failure | None:
        with self._lock:  # one lock with close(): nothing is queued behind the stop markers
            if self._closed:
                return Failure("sink closed", "closed", False)
            try:
                self._queue.put_nowait(job)
            except queue.Full:
                return Failure(f"queue full ({self._queue.maxsize} waiting)", "queue_full", False)
        return None

    def _run(self) -> None:
        """One sending thread: until it takes a stop marker."""
        while isinstance(job := self._queue.get(), Job):
            try:
                self._send(job)
            except Exception:  # a bug must not kill the thread and stall the queue
                log.exception("%s sink failed on event %s", self.KIND, job.event_id)
                self._give_up(job, f"internal error in {self.KIND} sink", "internal")

    def _send(self, job: Job) -> None:
        raise NotImplementedError

    def _drain(self) -> None:
        """Give up what is still queued (dead letters, or left for replay)."""
        left = 0
        while True:
            try:
                job = self._queue.get_nowait()
            except queue.Empty:
                break
            if isinstance(job, Job):
                left += 1
                self._give_up(job, "sink closed before delivery", "closed")
        if left and self._keep_backlog:
            log.warning("%s closed with %d events undelivered: left for replay", self.KIND, left)

    def _give_up(self, job: Job, reason: str, code: str) -> None:
        """Dead-letter `job` and settle it, unless a close leaves it for replay."""
        if code == "closed" and self._keep_backlog:
            return
        if self._dead_letter(job, reason, code):
            self._settled(job)

    def _dead_letter(self, job: Job, reason: str, code: str) -> bool:
        """True once the letter is handed over; a failed handler leaves the event unsettled."""
        self._count("failed")
        DEAD_LETTERS.labels(stage=self.STAGE).inc()
        log.warning("%s dead letter for event %s: %s", self.KIND, job.event_id, reason)
        if self._on_dead_letter is None:
            return True
        letter = DeadLetter(
            stage=self.STAGE,
            reason=reason,
            error_code=code,
            **(job.origin._asdict() if job.origin else {}),  # topic, partition, offset
            key=job.key,
            payload_excerpt=job.excerpt,
            payload_size=len(job.body),
        )
        try:
            self._on_dead_letter(letter)
        except Exception:  # the handler's failure must not reach the pipeline or a thread
            log.exception("on_dead_letter handler failed for event %s", job.event_id)
            return False
        return True

    def _settled(self, job: Job) -> None:
        if job.origin is None or self._on_settled is None:
            return
        try:
            self._on_settled(job.origin)
        except Exception:
            log.exception("on_settled handler failed for event %s", job.event_id)

    def _count(self, result: str) -> None:
        with self._counts_lock:
            self._counts[result] += 1
        self._counted(result)

    def _counted(self, result: str) -> None:
        """A metric per result, for sinks that keep one."""
