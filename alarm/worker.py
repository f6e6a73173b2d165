"""The alarm worker: face captures in, watchlist alerts out.

It consumes the captures topic in its own consumer group, searches each face
capture's feature in the watchlists of its camera (feature groups, served from
the in-memory index of `GroupService`), lets `AlarmDecider` vote over the track
and publishes the alerts, then commits. Before consuming it reads the alerts topic
back, so alerts raised before a crash are known and never raised again.

`VIGIL_ALARM_RECORD_DELAY_S` (fault tests only) pauses after each capture, so a crash
lands mid-batch: alerts published, offsets not yet committed.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from vigil.alarm.decider import AlarmDecider
from vigil.errors import VigilError
from vigil.groups.service import GroupService
from vigil.infra import metrics
from vigil.infra.bus.base import Bus, Record, consume, next_offsets
from vigil.infra.topics.alerts import AlertTopic
from vigil.infra.topics.captures import CaptureTopic
from vigil.infra.topics.deadletter import DeadLetterTopic, dead_letter_for
from vigil.infra.topics.json_topic import UndecodableRecord
from vigil.schemas.alert import Alert
from vigil.schemas.camera import PipelineConfig
from vigil.schemas.capture import Capture
from vigil.schemas.target import TargetType

log = logging.getLogger(__name__)
ALARM_GROUP = "vigil-alarm"
RECORD_DELAY_ENV = "VIGIL_ALARM_RECORD_DELAY_S"


def record_delay() -> float:
    return float(os.environ.get(RECORD_DELAY_ENV) or 0.0)


@dataclass
class AlarmWorker:
    bus: Bus
    config: PipelineConfig
    groups: GroupService
    group: str = ALARM_GROUP
    on_alert: Callable[[Alert], None] | None = None
    alerts_published: int = 0
    captures_seen: int = 0
    delay: float = field(default_factory=record_delay)
    decider: AlarmDecider = field(init=False)

    def __post_init__(self) -> None:
        topics = self.config.topics
        self.captures = CaptureTopic(topics.captures)
        self.alerts = AlertTopic(topics.alerts)
        self.deadletters = DeadLetterTopic(topics.deadletter)
        self.decider = AlarmDecider(self.config.watchlists)
        for alert in self.alerts.read_all(self.bus):
            self.decider.restore(alert)
        self.producer = self.bus.producer()
        self.consumer = self.bus.consumer([topics.captures], self.group)

    def run(self, stop: threading.Event, idle_timeout: float | None = None) -> None:
        consume(self.consumer, self.process, stop, 50, idle_timeout)

    def process(self, records: list[Record]) -> None:
        for record in records:
            try:
                capture = self.captures.decode(record)
            except UndecodableRecord as exc:
                self.dead_letter(record, str(exc), "undecodable")
                continue
            self.captures_seen += 1
            try:
                alerts = self.judge(capture)
            except VigilError as exc:  # e.g. a watchlist group that does not exist
                self.dead_letter(record, exc.message, exc.code.value)
                continue
            for alert in alerts:
                self.publish(alert)
            if self.delay:
                time.sleep(self.delay)
        self.producer.flush(timeout=30)
        self.consumer.commit(next_offsets(records))

    def judge(self, capture: Capture) -> list[Alert]:
        feature = capture.target.feature
        if capture.target.type != TargetType.FACE or feature is None:
            return []
        watchlists = self.decider.watchlists_for(capture.camera_id)
        results = {
            w.group: self.groups.search(feature, [w.group], k=w.k, far=w.far) for w in watchlists
        }
        return self.decider.decide(capture, results)

    def publish(self, alert: Alert) -> None:
        self.alerts.send(self.producer, alert)
        self.alerts_published += 1
        metrics.ALERTS.labels(camera=alert.camera_id).inc()
        log.info(
            "alert %s %s: %s on %s (similarity %.1f)",
            alert.event.value,
            alert.watchlist,
            alert.person_id,
            alert.camera_id,
            alert.similarity,
        )
        if self.on_alert is not None:
            self.on_alert(alert)

    def dead_letter(self, record: Record, reason: str, code: str) -> None:
        self.deadletters.send(self.producer, dead_letter_for(record, "alarm", reason, code))

    def close(self) -> None:
        self.consumer.close()
        self.producer.close()
