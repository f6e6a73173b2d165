"""`vigil.deadletter`: every message a stage could not process, with the reason."""

from __future__ import annotations

import base64
import logging

from vigil.infra import metrics
from vigil.infra.bus.base import Producer, Record
from vigil.infra.topics.json_topic import JsonTopic
from vigil.schemas.deadletter import DeadLetter

EXCERPT_BYTES = 512
log = logging.getLogger(__name__)


def excerpt(payload: bytes) -> str:
    head = payload[:EXCERPT_BYTES]
    try:
        return head.decode("utf-8")
    except UnicodeDecodeError:
        return "base64:" + base64.b64encode(head).decode()


def dead_letter_for(record: Record, stage: str, reason: str, code: str | None = None) -> DeadLetter:
    """A dead letter for a consumed record (counted here, where it is made)."""
    metrics.DEAD_LETTERS.labels(stage=stage).inc()
    return DeadLetter(
        stage=stage,
        reason=reason,
        error_code=code,
        topic=record.topic,
        partition=record.partition,
        offset=record.offset,
        key=record.key,
        payload_excerpt=excerpt(record.value),
        payload_size=len(record.value),
    )


class DeadLetterTopic(JsonTopic[DeadLetter]):
    def __init__(self, name: str = "vigil.deadletter") -> None:
        super().__init__(name, DeadLetter)

    def send(self, producer: Producer, letter: DeadLetter) -> None:
        log.warning("dead letter from %s: %s", letter.stage, letter.reason)
        self.publish(producer, letter, key=letter.key)
