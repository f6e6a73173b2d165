"""The history writer: every capture on the captures topic into the history store.

It consumes in its own consumer group (`vigil-history`), so it sees every capture
whatever the alarm or the sinks do, and commits a batch only after Milvus accepted
it (at-least-once; a replay is an idempotent upsert). An undecodable record or a
capture the history refuses (e.g. a feature of another size) goes to the dead
letters; a store that is down is retried, nothing is committed meanwhile.
With `retention_days` configured it also purges old captures, hourly.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from vigil.history.service import HistoryService
from vigil.infra.bus.base import Bus, Record
from vigil.infra.stage import ConsumerStage
from vigil.infra.topics.captures import CaptureTopic
from vigil.schemas.camera import PipelineConfig
from vigil.schemas.capture import Capture
from vigil.schemas.errors import ErrorCode, VigilError

log = logging.getLogger(__name__)
HISTORY_GROUP = "vigil-history"
PURGE_EVERY = 3600.0
RETRY_SECONDS = 2.0


@dataclass
class HistoryWriter(ConsumerStage):
    stage = "history"
    batch_size = 200
    bus: Bus
    config: PipelineConfig
    history: HistoryService
    group: str = HISTORY_GROUP
    stored: int = 0
    retention_days: float | None = None
    _stop: threading.Event = field(default_factory=threading.Event)
    _purged_at: float = 0.0

    def __post_init__(self) -> None:
        topics = self.config.topics
        if self.retention_days is None and self.config.history is not None:
            self.retention_days = self.config.history.retention_days
        self.captures = CaptureTopic(topics.captures)
        self.connect(self.bus, self.captures, self.group, topics.deadletter)

    def run(self, stop: threading.Event, idle_timeout: float | None = None) -> None:
        self._stop = stop  # ends the retries of a store that is down
        super().run(stop, idle_timeout)

    def process(self, records: list[Record]) -> None:
        self.purge_if_due()
        good: list[tuple[Record, Capture]] = []
        for record in records:
            capture = self.decode(record)
            if capture is not None:
                good.append((record, capture))
        self.store(good)

    def store(self, batch: list[tuple[Record, Capture]]) -> None:
        """The whole batch at once; if refused, one by one so only the bad ones are lost."""
        try:
            self.stored += self._write([capture for _, capture in batch])
            return
        except VigilError as exc:
            if exc.code == ErrorCode.STORE_UNAVAILABLE:
                raise  # stopped while the store was down: nothing committed, replayed later
            if len(batch) == 1:
                self.dead_letter(batch[0][0], exc.message, exc.code.value)
                return
        for record, capture in batch:
            try:
                self.stored += self._write([capture])
            except VigilError as exc:
                if exc.code == ErrorCode.STORE_UNAVAILABLE:
                    raise
                self.dead_letter(record, exc.message, exc.code.value)

    def _write(self, captures: list[Capture]) -> int:
        """Add, retrying while the store is unavailable (until stopped: then raise)."""
        while True:
            try:
                return self.history.add(captures) if captures else 0
            except VigilError as exc:
                if exc.code != ErrorCode.STORE_UNAVAILABLE or self._stop.is_set():
                    raise
                log.warning("history store unavailable, retrying: %s", exc.message)
                self._stop.wait(RETRY_SECONDS)

    def purge_if_due(self) -> None:
        if self.retention_days is None or time.monotonic() - self._purged_at < PURGE_EVERY:
            return
        self._purged_at = time.monotonic()
        cutoff = datetime.now(UTC) - timedelta(days=self.retention_days)
        purged = self.history.purge(cutoff)
        if purged:
            log.info("history: purged %d captures taken before %s", purged, cutoff)
