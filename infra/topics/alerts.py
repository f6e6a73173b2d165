"""`vigil.alerts`: watchlist alerts, keyed by camera; also the alarm worker's memory.

On start the alarm worker reads this topic back (`read_all`) to learn which alerts
it already raised, so a restart or a redelivered capture never alerts twice.
"""

from __future__ import annotations

import time
import uuid

from vigil.infra.bus.base import Bus, Producer
from vigil.infra.topics.json_topic import JsonTopic, UndecodableRecord
from vigil.schemas.alert import Alert
from vigil.schemas.errors import ErrorCode, VigilError

EMPTY_POLLS_TO_END = 3
JOIN_TIMEOUT_S = 60.0


class AlertTopic(JsonTopic[Alert]):
    def __init__(self, name: str = "vigil.alerts") -> None:
        super().__init__(name, Alert)

    def send(self, producer: Producer, alert: Alert) -> None:
        self.publish(producer, alert, key=alert.camera_id)

    def read_all(self, bus: Bus, timeout: float = 0.5) -> list[Alert]:
        """Every alert on the topic, read by a throw-away consumer group (nothing committed).

        Empty polls count towards the end only once the group owns the partitions: a
        Kafka join takes seconds (3 s on tansu), and reading "nothing" before it would
        let a restarted alarm raise its alerts again.
        """
        consumer = bus.consumer([self.name], f"vigil-alarm-restore-{uuid.uuid4().hex[:8]}")
        alerts: list[Alert] = []
        empty = 0
        deadline = time.monotonic() + JOIN_TIMEOUT_S
        try:
            while empty < EMPTY_POLLS_TO_END:
                records = consumer.poll(timeout=timeout, max_records=500)
                joined = consumer.assigned()
                if not joined and time.monotonic() > deadline:
                    raise VigilError(
                        ErrorCode.STORE_UNAVAILABLE,
                        f"could not join a group on {self.name} in {JOIN_TIMEOUT_S:.0f}s",
                    )
                empty = 0 if records or not joined else empty + 1
                for record in records:
                    try:
                        alerts.append(self.decode(record))
                    except UndecodableRecord:
                        continue  # not ours to judge here; consumers dead-letter it
        finally:
            consumer.close()
        return alerts
