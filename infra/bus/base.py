"""The message-bus contract every transport implements: Kafka in production, memory embedded.

It is Kafka's model kept small: topics split in partitions, records keyed (by
camera id, so one camera stays in order on one partition), consumer groups with
manually committed offsets (commit after processing = at-least-once).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

TopicPartition = tuple[str, int]


@dataclass(frozen=True)
class Record:
    topic: str
    partition: int
    offset: int
    key: str | None
    value: bytes
    headers: dict[str, bytes] = field(default_factory=dict)
    timestamp_ms: int = 0

    @property
    def position(self) -> TopicPartition:
        return (self.topic, self.partition)


class BusUnavailable(ConnectionError):
    """The broker could not be reached when a client was set up (address, network, down)."""


class MessageTooLarge(ValueError):
    """A record over the bus's size limit: refused loudly, never dropped silently."""


class Producer(Protocol):
    def send(
        self,
        topic: str,
        value: bytes,
        key: str | None = None,
        headers: Mapping[str, bytes] | None = None,
    ) -> None: ...

    def flush(self, timeout: float | None = None) -> None: ...

    def positions(self) -> dict[TopicPartition, int]:
        """Per partition written to, the offset after the last acknowledged record."""

    def close(self) -> None: ...


class Consumer(Protocol):
    def poll(self, timeout: float = 1.0, max_records: int = 100) -> list[Record]: ...

    def commit(self, offsets: Mapping[TopicPartition, int]) -> None:
        """Commit, per partition, the offset of the next record to read."""

    def assigned(self) -> bool:
        """True once this member owns its partitions: until then an empty poll means nothing
        (a Kafka group join takes seconds)."""

    def close(self) -> None: ...


class Bus(Protocol):
    max_message_bytes: int

    def producer(self) -> Producer: ...

    def consumer(self, topics: Iterable[str], group: str) -> Consumer: ...

    def tail(self, topics: Iterable[str]) -> Consumer:
        """A reader of what is published from now on, in no group (it never commits).

        For live views (the console's streams): they want what happens next, not a
        backlog, and must not take records from the pipeline's own consumer groups.
        """

    def ensure_topics(self, topics: Iterable[str], partitions: int) -> None: ...

    def committed(self, topic: str, group: str) -> dict[int, int]:
        """Per partition of `topic`, the next offset `group` will read (0 when none)."""

    def fetch(self, topic: str, partition: int, offset: int) -> Record | None:
        """The record at `offset`, outside any group; None once retention dropped it."""

    def close(self) -> None:
        """Release connections the bus itself holds (not its producers' or consumers')."""


def lag(producer: Producer, bus: Bus, topic: str, group: str) -> int:
    """Records this producer wrote to `topic` that `group` has not committed yet.

    Measured from the producer's own acknowledged offsets because some Kafka-protocol
    brokers (tansu) report wrong end offsets for batched partitions.
    """
    committed = bus.committed(topic, group)
    return sum(
        max(0, end - committed.get(partition, 0))
        for (name, partition), end in producer.positions().items()
        if name == topic
    )


def next_offsets(records: Iterable[Record]) -> dict[TopicPartition, int]:
    """Offsets to commit after having processed `records`."""
    offsets: dict[TopicPartition, int] = {}
    for record in records:
        offsets[record.position] = max(offsets.get(record.position, 0), record.offset + 1)
    return offsets
