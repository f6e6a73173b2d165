"""Which consumed offsets a sink may commit: only those up to which every record is settled.

Asynchronous outputs (the webhook queue) finish records out of order, so committing a
batch's offsets when it is handed over would lose, on a crash, what was still queued.
Instead each partition commits its low-water mark: the oldest record still in flight,
or one past the last record seen when none is. "Settled" means delivered, or
dead-lettered with the reason; anything else is read again by the next sink process.

    offsets = SettledOffsets()
    offsets.begin(Origin.of(record))       # handed to the webhook
    offsets.settle(origin)                 # from a webhook thread: delivered / dead letter
    consumer.commit(offsets.to_commit())   # from the polling thread
"""

from __future__ import annotations

import threading
from typing import NamedTuple

from vigil.infra.bus.base import Record, TopicPartition


class Origin(NamedTuple):
    """Where an event was read: what its dead letter points to, so it can be replayed."""

    topic: str
    partition: int
    offset: int

    @classmethod
    def of(cls, record: Record) -> Origin:
        return cls(record.topic, record.partition, record.offset)

    @property
    def position(self) -> TopicPartition:
        return (self.topic, self.partition)


class SettledOffsets:
    """Per-partition low-water marks over records settled out of order. Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: dict[TopicPartition, set[int]] = {}
        self._next: dict[TopicPartition, int] = {}  # one past the last offset seen
        self._committed: dict[TopicPartition, int] = {}

    def seen(self, origin: Origin) -> bool:
        """True for a record this process already took (queued or settled).

        A consumer that lost its partitions (a long pause, a broker restart) reads again
        from the last commit: those records are skipped, not queued a second time.
        """
        with self._lock:
            return origin.offset < self._next.get(origin.position, -1)

    def begin(self, origin: Origin) -> None:
        """`origin` is in flight: the commit stops below it until it settles."""
        with self._lock:
            self._pending.setdefault(origin.position, set()).add(origin.offset)
            self._advance(origin)

    def done(self, origin: Origin) -> None:
        """`origin` was finished synchronously (archived, or dead-lettered at once)."""
        with self._lock:
            self._advance(origin)

    def settle(self, origin: Origin) -> None:
        with self._lock:
            self._pending.get(origin.position, set()).discard(origin.offset)

    @property
    def in_flight(self) -> int:
        with self._lock:
            return sum(len(offsets) for offsets in self._pending.values())

    def to_commit(self) -> dict[TopicPartition, int]:
        """Marks that moved since the last call: what to commit now (next offset to read)."""
        with self._lock:
            marks = {}
            for position, end in self._next.items():
                pending = self._pending.get(position)
                mark = min(pending) if pending else end
                if mark > self._committed.get(position, -1):
                    marks[position] = self._committed[position] = mark
            return marks

    def _advance(self, origin: Origin) -> None:
        position = origin.position
        self._next[position] = max(self._next.get(position, 0), origin.offset + 1)
