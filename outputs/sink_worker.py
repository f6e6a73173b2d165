"""Delivers a topic's events to its configured outputs (disk, webhook, MQTT): captures or alerts.

Each stream runs as its own consumer group, so a slow or dead callback URL never
slows tracking or the alarm; webhook failures after retries become dead letters
with the reason. The same worker serves both streams, told apart by a `SinkStream`:

    SinkWorker(bus, config)                        # vigil.captures -> outputs.disk / webhook
    SinkWorker(bus, config, stream=ALERT_STREAM)   # vigil.alerts -> outputs.alerts.*

At-least-once: an offset is committed only once every record before it is settled
(written to disk, delivered by the webhook and acknowledged by the MQTT broker, or
dead-lettered naming its origin), so
a sink killed during an outage loses nothing: the next one reads the rest again.
A record that an output raises on (a disk that refuses it) is dead-lettered for that
output (stage `sink.disk`, `sink.alerts.disk`) and the sink goes on with the next one.
Back-pressure: the worker reads no more than the webhook queue has room for, and stops
reading while it is full (the topic holds the backlog; nothing is dropped, nothing
blocks the capture step, which publishes to the topic regardless).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from vigil.infra.bus.base import Bus, Record
from vigil.infra.stage import ConsumerStage
from vigil.infra.topics.alerts import AlertTopic
from vigil.infra.topics.captures import CaptureTopic
from vigil.infra.topics.json_topic import JsonTopic
from vigil.outputs.delivery import DeadLetterHandler, SettledHandler
from vigil.outputs.disk import Archived, DiskSink
from vigil.outputs.mqtt import STAGE as MQTT_STAGE
from vigil.outputs.mqtt import MqttSink
from vigil.outputs.offsets import Origin, SettledOffsets
from vigil.outputs.webhook import STAGE as WEBHOOK_STAGE
from vigil.outputs.webhook import WebhookSink
from vigil.schemas.camera import MqttConfig, PipelineConfig, SinksConfig, WebhookConfig
from vigil.schemas.deadletter import DeadLetter

log = logging.getLogger(__name__)
SINK_GROUP = "vigil-sink"
ALERT_SINK_GROUP = "vigil-alert-sink"
BATCH = 50


def describe(exc: Exception) -> str:
    """The reason a dead letter gives for an exception: its type and message."""
    return f"{type(exc).__name__}: {exc}"


@dataclass(frozen=True)
class SinkStream:
    """One deliverable stream: its topic and outputs in the configuration, its group."""

    kind: str  # names the disk files: captures-YYYY-MM-DD.jsonl
    group: str
    stage: str  # of its dead letters
    topic: Callable[[PipelineConfig], JsonTopic]
    outputs: Callable[[PipelineConfig], SinksConfig]


CAPTURE_STREAM = SinkStream(
    "captures", SINK_GROUP, "sink", lambda c: CaptureTopic(c.topics.captures), lambda c: c.outputs
)
ALERT_STREAM = SinkStream(
    "alerts",
    ALERT_SINK_GROUP,
    "sink.alerts",
    lambda c: AlertTopic(c.topics.alerts),
    lambda c: c.outputs.alerts,
)


def webhook_sink(
    hook: WebhookConfig,
    on_dead_letter: DeadLetterHandler,
    on_settled: SettledHandler | None = None,
) -> WebhookSink:
    """A WebhookSink for `hook`, its HMAC secret read from the variable it names."""
    secret = hook.secret()
    return WebhookSink(
        hook.url,
        secret=secret,
        timeout=hook.timeout,
        max_attempts=hook.max_attempts,
        backoff_initial=hook.backoff_initial,
        backoff_max=hook.backoff_max,
        on_dead_letter=on_dead_letter,
        queue_size=hook.queue_size,
        workers=hook.workers,
        on_settled=on_settled,
    )


def mqtt_sink(
    broker: MqttConfig,
    kind: str,
    on_dead_letter: DeadLetterHandler,
    on_settled: SettledHandler | None = None,
) -> MqttSink:
    """An MqttSink for `broker` publishing the `kind` stream, its credentials from the env."""
    return MqttSink(
        broker.host,
        broker.port,
        kind=kind,
        topic_prefix=broker.topic_prefix,
        client_id=broker.client_id,
        credentials=broker.credentials(),
        tls=broker.tls,
        keepalive=broker.keepalive,
        connect_timeout=broker.connect_timeout,
        publish_timeout=broker.publish_timeout,
        max_attempts=broker.max_attempts,
        backoff_initial=broker.backoff_initial,
        backoff_max=broker.backoff_max,
        queue_size=broker.queue_size,
        on_dead_letter=on_dead_letter,
        on_settled=on_settled,
    )


@dataclass
class SinkWorker(ConsumerStage):
    """A stage whose records settle when every output has them, possibly after their batch:
    it commits what settled (`settle`, `commit`) and reads no more than the webhook has room
    for (`room`, `wait_for_room`); the loop, clients and dead letters are the base's."""

    batch_size = BATCH
    bus: Bus
    config: PipelineConfig
    stream: SinkStream = CAPTURE_STREAM
    group: str = ""  # default (empty): the stream's group
    delivered: int = 0  # handed to every output (the webhook may still be sending)
    sinks: list = field(default_factory=list)
    close_grace: float = 5.0  # s for the webhook to finish on close; the rest is replayed

    def __post_init__(self) -> None:
        self.group = self.group or self.stream.group
        self.stage = self.stream.stage
        self.topic = self.stream.topic(self.config)
        self.offsets = SettledOffsets()
        self._lock = threading.Lock()
        self._settled = threading.Event()  # wakes a reader waiting for queue room
        outputs = self.stream.outputs(self.config)
        self.disk = DiskSink(outputs.disk, self.stream.kind) if outputs.disk else None
        self.webhook = (
            webhook_sink(outputs.webhook, self.send_letter, self._on_settled)
            if outputs.webhook
            else None
        )
        self.mqtt = (
            mqtt_sink(outputs.mqtt, self.stream.kind, self.send_letter, self._on_settled)
            if outputs.mqtt
            else None
        )
        # the outputs that settle later, in their threads, with the stage of their letters
        self.queued: list[tuple[WebhookSink | MqttSink, str]] = [
            (sink, stage)
            for sink, stage in ((self.webhook, WEBHOOK_STAGE), (self.mqtt, MQTT_STAGE))
            if sink is not None
        ]
        self._waiting: dict[Origin, int] = {}  # queued outputs yet to settle each record
        self._waiting_lock = threading.Lock()
        self.sinks = [sink for sink in (self.disk, self.webhook, self.mqtt) if sink is not None]
        # a stream without outputs reads nothing: `run` returns at once
        self.connect(
            self.bus, self.topic, self.group, self.config.topics.deadletter, bool(self.sinks)
        )

    def send_letter(self, letter: DeadLetter) -> None:
        with self._lock:  # called from webhook threads too
            self.deadletters.send(self.producer, letter)
            self.producer.flush(timeout=10)

    # The base's loop, with records that settle after their batch (webhook threads only mark
    # them settled; this thread commits).

    def settle(self) -> None:
        self.commit_settled()

    def room(self) -> int:
        return min([BATCH, *(sink.room for sink, _ in self.queued)])

    def wait_for_room(self, timeout: float) -> None:
        """Queue full: read nothing until the webhook settles something."""
        self._settled.wait(timeout)
        self._settled.clear()

    def busy(self) -> bool:
        return bool(self.offsets.in_flight)

    def commit(self, records: list[Record]) -> None:
        self.commit_settled()

    def process(self, records: list[Record]) -> None:
        """Hand `records` to the outputs; their offsets are committed once settled.

        One record never stops the sink: one that cannot be decoded, or that an output
        fails on (an exception, not a webhook failure, which retries), is dead-lettered
        with the reason and its offset, and the next record is taken.
        """
        for record in records:
            origin = Origin.of(record)
            if self.offsets.seen(origin):  # re-read after a rejoin: already queued or settled
                continue
            event = self.decode(record)
            if event is None:
                self.offsets.done(origin)
                continue
            self.deliver(record, origin, event)

    def deliver(self, record: Record, origin: Origin, event: Archived) -> None:
        """To disk, then to the webhook and MQTT; an output that fails does not keep it from
        the others."""
        failed = False
        if self.disk is not None:
            try:
                self.disk.deliver(event)
            except Exception as exc:
                failed = True
                self.dead_letter(record, describe(exc), "output_failed", f"{self.stage}.disk")
        if self.queued:
            with self._waiting_lock:  # before: an output may settle it at once
                self._waiting[origin] = len(self.queued)
            self.offsets.begin(origin)
            for sink, stage in self.queued:
                try:
                    sink.deliver(event, origin)
                except Exception as exc:
                    failed = True
                    self.dead_letter(record, describe(exc), "output_failed", stage)
                    self._on_settled(origin)
        else:
            self.offsets.done(origin)
        self.delivered += not failed

    def dead_letter(self, record: Record, reason: str, code: str, stage: str | None = None) -> None:
        """Dead-letter `record`; if even that fails, raise: its offset must stay uncommitted."""
        where = f"{record.topic}/{record.partition}@{record.offset}"
        log.error("%s gave up on %s: %s", stage or self.stage, where, reason)
        super().dead_letter(record, reason, code, stage)

    def commit_settled(self) -> None:
        if self.consumer is not None:
            self.consumer.commit(self.offsets.to_commit())

    def close(self) -> None:
        """Stop the outputs, commit what they settled; what they did not is read again."""
        if self.disk is not None:
            self.disk.close()
        closing = [
            threading.Thread(target=sink.close, args=(self.close_grace, False), daemon=True)
            for sink, _ in self.queued
        ]  # side by side: together they stay within the grace
        for thread in closing:
            thread.start()
        for thread in closing:
            thread.join()
        self.commit_settled()
        super().close()

    def _on_settled(self, origin: Origin) -> None:
        """One queued output settled `origin`; the record settles once all of them did."""
        with self._waiting_lock:
            left = self._waiting.get(origin, 1) - 1
            if left > 0:
                self._waiting[origin] = left
                return
            self._waiting.pop(origin, None)
        self.offsets.settle(origin)
        self._settled.set()
