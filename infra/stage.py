"""What every Kafka consumer role shares: its clients, its loop, its dead letters, its commits.

A stage reads one topic in its consumer group and decides, batch by batch, what each record
causes (`process`): the capture step, the alarm, the history writer, the sinks. Everything
around that decision is here, the same for all of them:

- `connect`: a producer (for what the stage publishes and its dead letters) and a consumer
  of its topic in its group (none when the stage has nothing to do: it then returns at once);
- `run(stop, idle_timeout)`: poll and hand each batch over until `stop` is set, or nothing
  arrived for `idle_timeout` seconds;
- `decode` / `dead_letter`: a record that cannot be decoded or processed goes to the dead
  letters with the stage, the reason, a code and its offset, and the stream goes on;
- `commit`: after a batch, flush what it published and only then commit its offsets, so a
  crash replays and never loses (at-least-once);
- `close`.

A stage whose records settle later than their batch (the webhook sink) overrides `commit`,
`settle`, `room` and `busy`; no stage re-implements the loop.
"""

from __future__ import annotations

import threading
import time
from typing import Any, Protocol

from vigil.infra.bus.base import Bus, Consumer, Producer, Record, next_offsets
from vigil.infra.topics.deadletter import DeadLetterTopic, dead_letter_for
from vigil.infra.topics.json_topic import UndecodableRecord
from vigil.schemas.deadletter import DeadLetter

POLL_S = 0.2
FLUSH_S = 30.0


class SourceTopic(Protocol):
    """The topic a stage reads: its name, and a decoder raising UndecodableRecord."""

    name: str

    def decode(self, record: Record) -> Any: ...


class ConsumerStage:
    """Base of the Kafka consumer roles; a subclass calls `connect` and implements `process`."""

    stage: str = ""  # names the stage in its dead letters
    batch_size: int = 100  # records per poll at most
    group: str  # the consumer group it reads in: each role sets its own
    producer: Producer
    consumer: Consumer | None
    deadletters: DeadLetterTopic
    source: SourceTopic

    def connect(
        self, bus: Bus, source: SourceTopic, group: str, deadletter: str, consume: bool = True
    ) -> None:
        """Producer and dead-letter topic; a consumer of `source` in `group` if `consume`."""
        self.source = source
        self.deadletters = DeadLetterTopic(deadletter)
        self.producer = bus.producer()
        self.consumer = bus.consumer([source.name], group) if consume else None

    @property
    def consuming(self) -> bool:
        """False for a stage with nothing to do (a sink without outputs): `run` returns at once."""
        return self.consumer is not None

    # -- the loop --------------------------------------------------------------------------

    def run(self, stop: threading.Event, idle_timeout: float | None = None) -> None:
        """Process until `stop` is set (or nothing arrived for `idle_timeout` seconds).

        Only this thread polls and commits (Kafka consumers are not thread-safe).
        """
        if self.consumer is None:
            return
        idle_since = time.monotonic()
        while not stop.is_set():
            self.settle()
            room = self.room()
            if room == 0:  # the stage cannot take more now: wait, without reading
                self.wait_for_room(POLL_S)
                idle_since = time.monotonic()
                continue
            records = self.consumer.poll(timeout=POLL_S, max_records=room)
            if records:
                self.handle(records)
                idle_since = time.monotonic()
            elif self.busy():
                idle_since = time.monotonic()
            elif idle_timeout is not None and time.monotonic() - idle_since > idle_timeout:
                break
        self.settle()

    def handle(self, records: list[Record]) -> None:
        """One batch: the stage's decision, then the commit."""
        self.process(records)
        self.commit(records)

    def process(self, records: list[Record]) -> None:
        """What the records cause: publish, store, deliver or dead-letter each of them."""
        raise NotImplementedError

    def commit(self, records: list[Record]) -> None:
        """After the batch: flush what it published, then commit its offsets (at-least-once)."""
        assert self.consumer is not None
        self.producer.flush(timeout=FLUSH_S)
        self.consumer.commit(next_offsets(records))
        self.committed(records)

    def committed(self, records: list[Record]) -> None:
        """Called once `records` are committed (counters, progress)."""

    # Hooks for a stage whose records settle after their batch (default: they never do).

    def settle(self) -> None:
        """Before each poll and once stopped: commit what settled since."""

    def room(self) -> int:
        """How many records the stage can take now (0: wait for `wait_for_room`)."""
        return self.batch_size

    def wait_for_room(self, timeout: float) -> None:
        time.sleep(timeout)

    def busy(self) -> bool:
        """Records still being settled: the stage is not idle."""
        return False

    # -- dead letters ----------------------------------------------------------------------

    def decode(self, record: Record) -> Any:
        """`record` decoded from the source topic; None once dead-lettered as undecodable."""
        try:
            return self.source.decode(record)
        except UndecodableRecord as exc:
            self.dead_letter(record, str(exc), "undecodable")
            return None

    def dead_letter(self, record: Record, reason: str, code: str, stage: str | None = None) -> None:
        """`record` to the dead letters, with the reason (stage: this one unless named)."""
        self.send_letter(dead_letter_for(record, stage or self.stage, reason, code))

    def send_letter(self, letter: DeadLetter) -> None:
        self.deadletters.send(self.producer, letter)

    def close(self) -> None:
        if self.consumer is not None:
            self.consumer.close()
        self.producer.close()
