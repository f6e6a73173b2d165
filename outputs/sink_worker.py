"""Delivers captures from the captures topic to the configured outputs (disk, webhook).

It runs as its own consumer group, so a slow or dead callback URL never slows
tracking; webhook failures after retries become dead letters with the reason.
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass, field

from vigil.infra.bus.base import Bus, Record, consume, next_offsets
from vigil.infra.topics.captures import CaptureTopic
from vigil.infra.topics.deadletter import DeadLetterTopic, dead_letter_for
from vigil.infra.topics.json_topic import UndecodableRecord
from vigil.outputs.disk import DiskSink
from vigil.outputs.webhook import WebhookSink
from vigil.schemas.camera import PipelineConfig
from vigil.schemas.deadletter import DeadLetter

log = logging.getLogger(__name__)
SINK_GROUP = "vigil-sink"


@dataclass
class SinkWorker:
    bus: Bus
    config: PipelineConfig
    group: str = SINK_GROUP
    delivered: int = 0
    sinks: list = field(default_factory=list)

    def __post_init__(self) -> None:
        topics = self.config.topics
        self.captures = CaptureTopic(topics.captures)
        self.deadletters = DeadLetterTopic(topics.deadletter)
        self.producer = self.bus.producer()
        self._lock = threading.Lock()
        outputs = self.config.outputs
        if outputs.disk is not None:
            self.sinks.append(DiskSink(outputs.disk))
        if outputs.webhook is not None:
            hook = outputs.webhook
            secret = os.environ.get(hook.secret_env) if hook.secret_env else None
            if hook.secret_env and not secret:
                raise ValueError(f"webhook secret variable {hook.secret_env} is not set")
            self.sinks.append(
                WebhookSink(
                    hook.url,
                    secret=secret,
                    timeout=hook.timeout,
                    max_attempts=hook.max_attempts,
                    on_dead_letter=self.dead_letter,
                )
            )
        self.consumer = self.bus.consumer([topics.captures], self.group) if self.sinks else None

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
                capture = self.captures.decode(record)
            except UndecodableRecord as exc:
                self.dead_letter(dead_letter_for(record, "sink", str(exc), "undecodable"))
                continue
            for sink in self.sinks:
                sink.deliver(capture)
            self.delivered += 1
        self.consumer.commit(next_offsets(records))

    def close(self) -> None:
        for sink in self.sinks:
            sink.close()
        if self.consumer is not None:
            self.consumer.close()
        self.producer.close()
