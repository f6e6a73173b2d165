"""Delivers a topic's events to its configured outputs (disk, webhook): captures or alerts.

Each stream runs as its own consumer group, so a slow or dead callback URL never
slows tracking or the alarm; webhook failures after retries become dead letters
with the reason. The same worker serves both streams, told apart by a `SinkStream`:

    SinkWorker(bus, config)                        # vigil.captures -> outputs.disk / webhook
    SinkWorker(bus, config, stream=ALERT_STREAM)   # vigil.alerts -> outputs.alerts.*
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from vigil.infra.bus.base import Bus, Record, consume, next_offsets
from vigil.infra.topics.alerts import AlertTopic
from vigil.infra.topics.captures import CaptureTopic
from vigil.infra.topics.deadletter import DeadLetterTopic, dead_letter_for
from vigil.infra.topics.json_topic import JsonTopic, UndecodableRecord
from vigil.outputs.disk import DiskSink
from vigil.outputs.webhook import DeadLetterHandler, WebhookSink
from vigil.schemas.camera import PipelineConfig, SinksConfig, WebhookConfig
from vigil.schemas.deadletter import DeadLetter

log = logging.getLogger(__name__)
SINK_GROUP = "vigil-sink"
ALERT_SINK_GROUP = "vigil-alert-sink"


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


def webhook_sink(hook: WebhookConfig, on_dead_letter: DeadLetterHandler) -> WebhookSink:
    """A WebhookSink for `hook`, its HMAC secret read from the variable it names."""
    secret = os.environ.get(hook.secret_env) if hook.secret_env else None
    if hook.secret_env and not secret:
        raise ValueError(f"webhook secret variable {hook.secret_env} is not set")
    return WebhookSink(
        hook.url,
        secret=secret,
        timeout=hook.timeout,
        max_attempts=hook.max_attempts,
        on_dead_letter=on_dead_letter,
    )


@dataclass
class SinkWorker:
    bus: Bus
    config: PipelineConfig
    stream: SinkStream = CAPTURE_STREAM
    group: str | None = None  # default: the stream's group
    delivered: int = 0
    sinks: list = field(default_factory=list)

    def __post_init__(self) -> None:
        self.group = self.group or self.stream.group
        self.topic = self.stream.topic(self.config)
        self.deadletters = DeadLetterTopic(self.config.topics.deadletter)
        self.producer = self.bus.producer()
        self._lock = threading.Lock()
        outputs = self.stream.outputs(self.config)
        if outputs.disk is not None:
            self.sinks.append(DiskSink(outputs.disk, kind=self.stream.kind))
        if outputs.webhook is not None:
            self.sinks.append(webhook_sink(outputs.webhook, self.dead_letter))
        self.consumer = self.bus.consumer([self.topic.name], self.group) if self.sinks else None

    def dead_letter(self, letter: DeadLetter) -> None:
        with self._lock:  # called from webhook threads
            self.deadletters.send(self.producer, letter)
            self.producer.flush(timeout=10)

    def run(self, stop: threading.Event, idle_timeout: float | None = None) -> None:
        if self.consumer is not None:
            consume(self.consumer, self.process, stop, 50, idle_timeout)

    def process(self, records: list[Record]) -> None:
        for record in records:
            try:
                event = self.topic.decode(record)
            except UndecodableRecord as exc:
                letter = dead_letter_for(record, self.stream.stage, str(exc), "undecodable")
                self.dead_letter(letter)
                continue
            for sink in self.sinks:
                sink.deliver(event)
            self.delivered += 1
        self.consumer.commit(next_offsets(records))

    def close(self) -> None:
        for sink in self.sinks:
            sink.close()
        if self.consumer is not None:
            self.consumer.close()
        self.producer.close()
