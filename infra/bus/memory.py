"""In-process bus for the embedded mode and unit tests: Kafka semantics without a server.

Bounded: each partition keeps at most `retention` records (older ones are
discarded, like Kafka retention), so a stalled consumer cannot grow memory forever.
"""

from __future__ import annotations

import threading
import time
import zlib
from collections import deque
from collections.abc import Iterable, Mapping

from vigil.infra.bus.base import MessageTooLarge, Record, TopicPartition


class MemoryBus:
    def __init__(
        self, partitions: int = 1, retention: int = 10_000, max_message_bytes: int = 1_000_000
    ) -> None:
        self.default_partitions = partitions
        self.retention = retention
        self.max_message_bytes = max_message_bytes
        self._logs: dict[TopicPartition, deque[Record]] = {}
        self._next: dict[TopicPartition, int] = {}
        self._partitions: dict[str, int] = {}
        self._committed: dict[tuple[str, TopicPartition], int] = {}
        self._changed = threading.Condition()

    def ensure_topics(self, topics: Iterable[str], partitions: int | None = None) -> None:
        with self._changed:
            for topic in topics:
                count = self._partitions.setdefault(topic, partitions or self.default_partitions)
                for partition in range(count):
                    self._logs.setdefault((topic, partition), deque(maxlen=self.retention))
                    self._next.setdefault((topic, partition), 0)

    def partitions(self, topic: str) -> int:
        self.ensure_topics([topic])
        return self._partitions[topic]

    def append(
        self, topic: str, value: bytes, key: str | None, headers: Mapping[str, bytes]
    ) -> TopicPartition:
        size = len(value) + sum(len(v) for v in headers.values())
        if size > self.max_message_bytes:
            raise MessageTooLarge(
                f"{topic}: message of {size:,} bytes exceeds the {self.max_message_bytes:,} limit"
            )
        count = self.partitions(topic)
        partition = zlib.crc32(key.encode()) % count if key is not None else 0
        with self._changed:
            position = (topic, partition)
            offset = self._next[position]
            self._next[position] = offset + 1
            self._logs[position].append(
                Record(
                    topic,
                    partition,
                    offset,
                    key,
                    bytes(value),
                    dict(headers),
                    int(time.time() * 1000),
                )
            )
            self._changed.notify_all()
        return position

    def read(self, position: TopicPartition, start: int, limit: int) -> list[Record]:
        log = self._logs.get(position)
        if not log:
            return []
        first = log[0].offset
        begin = max(0, start - first)
        return [log[i] for i in range(begin, min(len(log), begin + limit))]

    def close(self) -> None:
        """Nothing to release: the records live as long as the bus object."""

    def fetch(self, topic: str, partition: int, offset: int) -> Record | None:
        found = self.read((topic, partition), offset, 1)
        return found[0] if found and found[0].offset == offset else None

    def committed_at(self, group: str, position: TopicPartition) -> int:
        return self._committed.get((group, position), 0)

    def commit(self, group: str, offsets: Mapping[TopicPartition, int]) -> None:
        with self._changed:
            for position, offset in offsets.items():
                key = (group, position)
                self._committed[key] = max(self._committed.get(key, 0), offset)

    def end_offset(self, position: TopicPartition) -> int:
        return self._next.get(position, 0)

    def committed(self, topic: str, group: str) -> dict[int, int]:
        return {p: self.committed_at(group, (topic, p)) for p in range(self.partitions(topic))}

    def wait(self, timeout: float) -> None:
        with self._changed:
            self._changed.wait(timeout)

    def producer(self) -> MemoryProducer:
        return MemoryProducer(self)

    def consumer(self, topics: Iterable[str], group: str) -> MemoryConsumer:
        return MemoryConsumer(self, list(topics), group)

    def tail(self, topics: Iterable[str]) -> MemoryConsumer:
        """A consumer placed at the end of every partition; its group is never committed."""
        consumer = MemoryConsumer(self, list(topics), "")
        with self._changed:
            consumer.positions = {p: self.end_offset(p) for p in consumer.positions}
        return consumer


class MemoryProducer:
    def __init__(self, bus: MemoryBus) -> None:
        self.bus = bus
        self._positions: dict[TopicPartition, int] = {}

    def send(self, topic, value, key=None, headers=None) -> None:
        position = self.bus.append(topic, value, key, headers or {})
        self._positions[position] = self.bus.end_offset(position)

    def positions(self) -> dict[TopicPartition, int]:
        return dict(self._positions)

    def flush(self, timeout: float | None = None) -> None:
        return None

    def close(self) -> None:
        return None


class MemoryConsumer:
    """One member owning every partition of its topics (the embedded mode has one per group)."""

    def __init__(self, bus: MemoryBus, topics: list[str], group: str) -> None:
        self.bus = bus
        self.group = group
        bus.ensure_topics(topics)
        self.positions = {
            (topic, p): bus.committed_at(group, (topic, p))
            for topic in topics
            for p in range(bus.partitions(topic))
        }

    def poll(self, timeout: float = 1.0, max_records: int = 100) -> list[Record]:
        deadline = time.monotonic() + timeout
        while True:
            records: list[Record] = []
            for position, start in self.positions.items():
                batch = self.bus.read(position, start, max_records - len(records))
                if batch:
                    self.positions[position] = batch[-1].offset + 1
                    records.extend(batch)
                if len(records) >= max_records:
                    break
            remaining = deadline - time.monotonic()
            if records or remaining <= 0:
                return records
            self.bus.wait(min(remaining, 0.05))

    def assigned(self) -> bool:
        return True  # owns every partition from the start

    def commit(self, offsets: Mapping[TopicPartition, int]) -> None:
        self.bus.commit(self.group, offsets)

    def close(self) -> None:
        return None
