"""Picks the bus transport from settings: memory (embedded) or Kafka (scaled out)."""

from __future__ import annotations

from vigil.infra.bus.base import Bus
from vigil.infra.bus.kafka import KafkaBus
from vigil.infra.bus.memory import MemoryBus
from vigil.infra.settings import Settings


def bus_from_settings(settings: Settings) -> Bus:
    if settings.bus == "memory":
        return MemoryBus(max_message_bytes=settings.max_message_bytes)
    return KafkaBus(
        settings.kafka_bootstrap,
        security=settings.kafka_security(),
        max_message_bytes=settings.max_message_bytes,
        session_timeout_ms=settings.kafka_session_timeout_ms,
        max_poll_interval_ms=settings.kafka_max_poll_interval_ms,
        heartbeat_interval_ms=settings.kafka_heartbeat_interval_ms,
        fetch_max_wait_ms=settings.kafka_fetch_max_wait_ms,
    )
