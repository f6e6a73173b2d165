"""The dead-letter topic read back, and what failed replayed once its cause is fixed.

A dead letter names its original by topic, partition and offset (the payload itself is
only excerpted: a frame can be megabytes), so a replay fetches the original from its
topic and publishes it again, with its key and headers, to that topic or to another.
Consumers take a replayed record as they take any redelivery: the alarm drops message
ids it has seen, the history keeps a capture's latest revision, sinks deliver again
under the same event id. A malformed original only comes back as a dead letter again.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from vigil.infra.bus.base import Bus, Consumer, Producer, Record, next_offsets
from vigil.infra.topics.deadletter import DeadLetterTopic
from vigil.infra.topics.json_topic import UndecodableRecord
from vigil.schemas.deadletter import DeadLetter, ReplaySummary
from vigil.schemas.errors import ErrorCode, VigilError

REPLAY_GROUP = "vigil.deadletters.replay"
JOIN_TIMEOUT_S = 30.0  # a Kafka group join takes seconds; tansu can take longer
IDLE_S = 3.0  # this long without a record after joining: the topic was read to its end
Letter = tuple[Record, DeadLetter | None]


@dataclass(frozen=True)
class LetterFilter:
    """Which dead letters to take; an empty set means any."""

    stages: frozenset[str] = frozenset()
    codes: frozenset[str] = frozenset()
    since: datetime | None = None

    def __call__(self, letter: DeadLetter) -> bool:
        return (
            (not self.stages or letter.stage in self.stages)
            and (not self.codes or (letter.error_code or "") in self.codes)
            and (self.since is None or letter.created_at >= self.since)
        )


def read_batches(consumer: Consumer, topic: str, idle_s: float = IDLE_S) -> Iterator[list[Letter]]:
    """Batches of the topic's records with their letters (None: not a dead letter), to the
    end: until `idle_s` passes without a record once the consumer holds its partitions."""
    joined_by = time.monotonic() + JOIN_TIMEOUT_S
    quiet_since: float | None = None
    while True:
        records = consumer.poll(timeout=0.5, max_records=500)
        now = time.monotonic()
        if records:
            quiet_since = now
            yield [(record, parse(record)) for record in records]
        elif not consumer.assigned():
            if now > joined_by:
                raise VigilError(
                    ErrorCode.STORE_UNAVAILABLE,
                    f"{topic}: no partition assigned within {JOIN_TIMEOUT_S:.0f} s"
                    " (is the Kafka bootstrap reachable?)",
                )
        elif quiet_since is None:
            quiet_since = now
        elif now - quiet_since > idle_s:
            return


def parse(record: Record) -> DeadLetter | None:
    try:
        return DeadLetterTopic(record.topic).decode(record)
    except UndecodableRecord:
        return None


def list_letters(
    bus: Bus, topic: str, only: LetterFilter, idle_s: float = IDLE_S
) -> list[DeadLetter]:
    """Every dead letter on `topic` passing `only`, oldest first; nothing is committed."""
    consumer = bus.consumer([topic], f"vigil.deadletters.list.{uuid.uuid4().hex[:12]}")
    try:
        return [
            letter
            for batch in read_batches(consumer, topic, idle_s)
            for _, letter in batch
            if letter is not None and only(letter)
        ]
    finally:
        consumer.close()


def replay(
    bus: Bus,
    topic: str,
    only: LetterFilter,
    *,
    to: str | None = None,
    group: str = REPLAY_GROUP,
    dry_run: bool = False,
    idle_s: float = IDLE_S,
) -> ReplaySummary:
    """Publish again the originals of the dead letters `group` has not read yet.

    `group` remembers its place on the dead-letter topic, so each letter is replayed
    once, and a letter the filters passed over is not offered to that group again
    (another group starts from the beginning). A dry run publishes and commits nothing.
    """
    counts = dict(read=0, matched=0, replayed=0, gone=0, unreplayable=0)
    consumer, producer = bus.consumer([topic], group), bus.producer()
    try:
        for batch in read_batches(consumer, topic, idle_s):
            for _, letter in batch:
                outcome = replay_one(bus, producer, letter, only, to, dry_run)
                counts["read"] += 1
                if outcome != "filtered":
                    counts["matched"] += 1
                    counts[outcome] += 1
            if not dry_run:
                producer.flush(timeout=30)
                consumer.commit(next_offsets(record for record, _ in batch))
    finally:
        producer.close()
        consumer.close()
    return ReplaySummary(**counts, dry_run=dry_run)


def replay_one(
    bus: Bus,
    producer: Producer,
    letter: DeadLetter | None,
    only: LetterFilter,
    to: str | None,
    dry_run: bool,
) -> str:
    """`filtered`, `unreplayable`, `gone` or `replayed`: what became of one letter."""
    if letter is None:
        return "unreplayable"
    if not only(letter):
        return "filtered"
    if letter.topic is None or letter.partition is None or letter.offset is None:
        return "unreplayable"
    original = bus.fetch(letter.topic, letter.partition, letter.offset)
    if original is None:
        return "gone"
    if not dry_run:
        producer.send(to or original.topic, original.value, original.key, original.headers)
    return "replayed"
