"""Kafka transport through kafka-python; any Kafka-protocol broker (Kafka, Redpanda, tansu).

Producers wait for all in-sync replicas (acks=all) and retry; consumers never
auto-commit: the caller commits after processing, so a crash replays rather
than loses. Security settings (SASL/TLS) are passed through untouched.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewTopic
from kafka.errors import (
    CommitFailedError,
    KafkaConnectionError,
    KafkaTimeoutError,
    MessageSizeTooLargeError,
    OffsetOutOfRangeError,
    RetriableError,
    TopicAlreadyExistsError,
)
from kafka.structs import OffsetAndMetadata

from vigil.infra.bus.base import BusUnavailable, MessageTooLarge, Record
from vigil.infra.bus.base import TopicPartition as Position

log = logging.getLogger(__name__)
T = TypeVar("T")


def native_checksums() -> bool:
    """True when kafka-python checksums record batches in C (the `crc32c` package).

    Every batch sent or fetched is CRC-32C checked; kafka-python's pure-Python fallback
    cost half of an ingestor's CPU and a third of the capture step's (docs/performance.md).
    """
    from kafka.record import util

    return util.calc_crc32c.__defaults__ != (util.crc32c_py,)


class KafkaBus:
    def __init__(
        self,
        bootstrap: str,
        *,
        security: Mapping[str, Any] | None = None,
        max_message_bytes: int = 1_000_000,
        session_timeout_ms: int = 10_000,
        max_poll_interval_ms: int = 300_000,
        heartbeat_interval_ms: int = 3_000,
        fetch_max_wait_ms: int = 50,
        client_id: str = "vigil",
    ) -> None:
        if not native_checksums():
            log.warning("kafka: CRC-32C in pure Python (install `crc32c`): slow record batches")
        self.bootstrap = bootstrap
        self.security = dict(security or {})
        self.max_message_bytes = max_message_bytes
        self.group_settings = {
            "session_timeout_ms": session_timeout_ms,
            "max_poll_interval_ms": max_poll_interval_ms,
            "heartbeat_interval_ms": heartbeat_interval_ms,
        }
        # tansu answers a fetch only when its max wait expires, new data or not: Kafka's
        # 500 ms default gave alarms 130 ms median latency, 50 ms gives 10 ms (measured)
        self.fetch_max_wait_ms = fetch_max_wait_ms
        self.client_id = client_id
        self._readers: dict[str, KafkaConsumer] = {}
        self._fetcher: KafkaConsumer | None = None
        self._readers_lock = threading.Lock()

    def partition_fetch_bytes(self) -> int:
        """Room for the largest record a producer may send, plus its batch header."""
        return max(1_048_576, self.max_message_bytes + 65_536)

    def common(self) -> dict[str, Any]:
        return {"bootstrap_servers": self.bootstrap, "client_id": self.client_id, **self.security}

    def connect(self, make: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """A kafka-python client; an unreachable broker is `BusUnavailable`, not a trace."""
        try:
            return make(*args, **kwargs)
        except (KafkaConnectionError, KafkaTimeoutError) as exc:
            raise BusUnavailable(
                f"cannot reach the Kafka-protocol broker at {self.bootstrap}: {exc}"
            ) from None

    def producer(self) -> KafkaBusProducer:
        return KafkaBusProducer(
            self.connect(
                KafkaProducer,
                acks="all",
                retries=10,
                # An idempotent producer needs the broker to remember its producer id; a
                # restarted tansu does not, and kafka-python then aborts every batch as a
                # fatal error. Duplicates from retries are removed by message id instead.
                enable_idempotence=False,
                # one request in flight, so a retried batch cannot land after a later one:
                # consumers rely on per-camera order (frames, track events)
                max_in_flight_requests_per_connection=1,
                linger_ms=2,
                max_request_size=self.max_message_bytes + 65_536,
                **self.common(),
            ),
            self.max_message_bytes,
        )

    def consumer(self, topics: Iterable[str], group: str) -> KafkaBusConsumer:
        consumer = self.connect(
            KafkaConsumer,
            *topics,
            group_id=group,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            fetch_max_wait_ms=self.fetch_max_wait_ms,
            fetch_max_bytes=max(52_428_800, 2 * self.max_message_bytes),
            max_partition_fetch_bytes=self.partition_fetch_bytes(),
            **self.group_settings,
            **self.common(),
        )
        return KafkaBusConsumer(consumer)

    def tail(self, topics: Iterable[str]) -> KafkaBusConsumer:
        """A consumer in no group, assigned every partition of `topics` at its end offset.

        The end offsets are looked up before this returns: kafka-python's `seek_to_end`
        alone only marks the partitions, and the first `poll` looks the offsets up, so a
        record published between the two would be skipped (an alert sent just after an
        event stream opened never reached it; `tests/test_http_kafka_feed.py`).
        """
        consumer = self.connect(
            KafkaConsumer,
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="latest",
            fetch_max_wait_ms=self.fetch_max_wait_ms,
            max_partition_fetch_bytes=self.partition_fetch_bytes(),
            **self.common(),
        )
        partitions = [
            TopicPartition(topic, partition)
            for topic in topics
            for partition in sorted(consumer.partitions_for_topic(topic) or ())
        ]
        consumer.assign(partitions)
        if partitions:
            consumer.seek_to_end(*partitions)
            for partition in partitions:
                consumer.position(partition)  # resolves the end offset now
        return KafkaBusConsumer(consumer)

    def ensure_topics(self, topics: Iterable[str], partitions: int = 1) -> None:
        """Create missing topics with their final partition count (some brokers cannot grow it)."""
        admin = self.connect(KafkaAdminClient, **self.common())
        try:
            existing = set(admin.list_topics())
            missing = [
                NewTopic(name=t, num_partitions=partitions, replication_factor=1)
                for t in topics
                if t not in existing
            ]
            if missing:
                with contextlib.suppress(TopicAlreadyExistsError):
                    admin.create_topics(missing)
        finally:
            admin.close()

    def committed(self, topic: str, group: str) -> dict[int, int]:
        """Committed offsets of `group`, through one cached reader per group.

        Callers poll this several times a second (back-pressure), so the reader and its
        coordinator connection are kept, not rebuilt on every call.
        """
        with self._readers_lock:
            reader = self._readers.get(group)
            if reader is None:
                reader = KafkaConsumer(group_id=group, enable_auto_commit=False, **self.common())
                self._readers[group] = reader
            partitions = reader.partitions_for_topic(topic) or set()
            return {p: reader.committed(TopicPartition(topic, p)) or 0 for p in partitions}

    def close(self) -> None:
        """Close the cached readers (`committed`, `fetch`); producers and consumers are the
        caller's to close."""
        with self._readers_lock:
            for reader in [*self._readers.values(), self._fetcher]:
                if reader is not None:
                    reader.close()
            self._readers, self._fetcher = {}, None

    def fetch(
        self, topic: str, partition: int, offset: int, timeout: float = 10.0
    ) -> Record | None:
        """The record at `offset` through a group-less reader kept for the next fetch.

        A fetch answers from the start of the batch holding `offset`; records before it
        are skipped. None when the partition starts after `offset` (retention) or holds
        nothing there within `timeout`.
        """
        with self._readers_lock:
            reader = self._fetcher
            if reader is None:
                reader = self._fetcher = KafkaConsumer(
                    group_id=None,
                    enable_auto_commit=False,
                    auto_offset_reset="none",
                    fetch_max_wait_ms=self.fetch_max_wait_ms,
                    max_partition_fetch_bytes=self.partition_fetch_bytes(),
                    **self.common(),
                )
            position = TopicPartition(topic, partition)
            reader.assign([position])
            reader.seek(position, offset)
            deadline = time.monotonic() + timeout
            while (left := deadline - time.monotonic()) > 0:
                try:
                    batches = reader.poll(timeout_ms=int(left * 1000), max_records=500)
                except OffsetOutOfRangeError:
                    return None
                for message in batches.get(position, []):
                    if message.offset >= offset:
                        return as_record(message) if message.offset == offset else None
            return None


def as_record(message: Any) -> Record:
    """kafka-python's ConsumerRecord as the bus's transport-neutral record."""
    return Record(
        topic=message.topic,
        partition=message.partition,
        offset=message.offset,
        key=message.key.decode() if message.key is not None else None,
        value=message.value or b"",
        headers=dict(message.headers or []),
        timestamp_ms=message.timestamp,
    )


class KafkaBusProducer:
    def __init__(self, producer: KafkaProducer, max_message_bytes: int) -> None:
        self.producer = producer
        self.max_message_bytes = max_message_bytes
        self._positions: dict[Position, int] = {}
        self._failed: list[BaseException] = []

    def _acknowledged(self, metadata) -> None:
        position = (metadata.topic, metadata.partition)
        self._positions[position] = max(self._positions.get(position, 0), metadata.offset + 1)

    def positions(self) -> dict[Position, int]:
        return dict(self._positions)

    def send(self, topic, value, key=None, headers=None) -> None:
        size = len(value) + sum(len(v) for v in (headers or {}).values())
        if size > self.max_message_bytes:
            raise MessageTooLarge(
                f"{topic}: message of {size:,} bytes exceeds the {self.max_message_bytes:,} limit"
            )
        try:
            future = self.producer.send(
                topic,
                value=value,
                key=key.encode() if key is not None else None,
                headers=list((headers or {}).items()),
            )
        except MessageSizeTooLargeError as exc:
            raise MessageTooLarge(f"{topic}: {exc}") from exc
        future.add_callback(self._acknowledged)
        future.add_errback(self._failed.append)

    def flush(self, timeout: float | None = None) -> None:
        """Wait for every send; raise if any was not delivered, so callers do not commit."""
        try:
            self.producer.flush(timeout)
        except KafkaTimeoutError as exc:
            raise TimeoutError(f"Kafka did not acknowledge messages within {timeout}s") from exc
        if self._failed:
            failed, self._failed = self._failed, []
            raise ConnectionError(f"{len(failed)} message(s) not delivered: {failed[0]}")

    def close(self) -> None:
        self.producer.close(timeout=5)


class KafkaBusConsumer:
    def __init__(self, consumer: KafkaConsumer) -> None:
        self.consumer = consumer

    def poll(self, timeout: float = 1.0, max_records: int = 100) -> list[Record]:
        batches = self.consumer.poll(timeout_ms=int(timeout * 1000), max_records=max_records)
        return [as_record(message) for batch in batches.values() for message in batch]

    def assigned(self) -> bool:
        return bool(self.consumer.assignment())

    def commit(self, offsets: Mapping[Position, int]) -> None:
        """Commit; a commit the broker refused is logged and its records replayed.

        A restarted broker (or a rebalance) forgets this member: the commit fails, the
        next poll rejoins the group and reads again from the last committed offset, so
        the batch is delivered twice (consumers de-duplicate) rather than the role dying.
        """
        if not offsets:
            return
        try:
            self.consumer.commit(
                {
                    TopicPartition(topic, partition): OffsetAndMetadata(offset, "", -1)
                    for (topic, partition), offset in offsets.items()
                }
            )
        except (CommitFailedError, RetriableError) as exc:
            log.warning("commit of %s failed (%s): those records will be replayed", offsets, exc)

    def close(self) -> None:
        self.consumer.close()
