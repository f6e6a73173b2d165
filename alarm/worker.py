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
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from vigil.alarm.decider import AlarmDecider
from vigil.groups.service import GroupService
from vigil.infra import metrics
from vigil.infra.bus.base import Bus, Record
from vigil.infra.stage import ConsumerStage
from vigil.infra.topics.alerts import AlertTopic
from vigil.infra.topics.captures import CaptureTopic
from vigil.schemas.alert import Alert
from vigil.schemas.camera import PipelineConfig
from vigil.schemas.capture import Capture
from vigil.schemas.errors import VigilError
from vigil.schemas.target import TargetType

log = logging.getLogger(__name__)
ALARM_GROUP = "vigil-alarm"
RECORD_DELAY_ENV = "VIGIL_ALARM_RECORD_DELAY_S"


def record_delay() -> float:
    return float(os.environ.get(RECORD_DELAY_ENV) or 0.0)


@dataclass
class AlarmWorker(ConsumerStage):
    stage = "alarm"
    batch_size = 50
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
        self.decider = AlarmDecider(self.config.watchlists)
        for alert in self.alerts.read_all(self.bus):
            self.decider.restore(alert)
        self.connect(self.bus, self.captures, self.group, topics.deadletter)

    def process(self, records: list[Record]) -> None:
        for record in records:
            capture = self.decode(record)
            if capture is None:
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

    def judge(self, capture: Capture) -> list[Alert]:
        feature = capture.target.feature
        if capture.target.type != TargetType.FACE or feature is None:
            return []
        if self.decider.every is not None:  # `*`: the groups there are now
            self.decider.cover(group.name for group in self.groups.list_groups())
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
