"""Prometheus metrics every Vigil process exposes, in one registry of their own.

`REGISTRY` is not prometheus_client's global default, so importing a library that
registers its own collectors changes nothing here, and tests read exact samples.
Label values are bounded sets (camera ids, model names, topics); never put a
track id or message id in a label.
"""

from __future__ import annotations

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Enum,
    Gauge,
    Histogram,
    generate_latest,
    start_http_server,
)

REGISTRY = CollectorRegistry()

SOURCE_STATES = ("connecting", "streaming", "reconnecting", "stopped", "failed")
"""States a video source reports; the first is where a new source starts."""

FRAMES_IN = Counter(
    "vigil_frames_in_total", "Packets read from a source.", ["camera"], registry=REGISTRY
)
FRAMES_DECODED = Counter(
    "vigil_frames_decoded_total", "Frames decoded.", ["camera"], registry=REGISTRY
)
FRAMES_DROPPED = Counter(
    "vigil_frames_dropped_total",
    "Frames not analysed, by why (queue full, stale, decode error, ...).",
    ["camera", "reason"],
    registry=REGISTRY,
)
FRAMES_ANALYSED = Counter(
    "vigil_frames_analysed_total", "Frames run through detection.", ["camera"], registry=REGISTRY
)
CAPTURES = Counter(
    "vigil_captures_total",
    "Captures published, by target type and new/update/end event.",
    ["camera", "type", "event"],
    registry=REGISTRY,
)
CROPS_DROPPED = Counter(
    "vigil_capture_crops_dropped_total",
    "Captures published without their crop because it exceeded the bus record limit.",
    registry=REGISTRY,
)
ALERTS = Counter("vigil_alerts_total", "Alerts raised.", ["camera"], registry=REGISTRY)
RECONNECTS = Counter(
    "vigil_reconnects_total", "Times a source was reopened.", ["camera"], registry=REGISTRY
)
SOURCE_STATE = Enum(
    "vigil_source_state",
    "Current state of each source (1 for the state it is in).",
    ["camera"],
    states=list(SOURCE_STATES),
    registry=REGISTRY,
)
MODEL_LATENCY = Histogram(
    "vigil_model_latency_seconds",
    "Wall time of one model inference call.",
    ["model"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
    registry=REGISTRY,
)
KAFKA_LAG = Gauge(
    "vigil_kafka_lag",
    "Records not yet consumed, summed over partitions.",
    ["topic", "group"],
    registry=REGISTRY,
)
DEAD_LETTERS = Counter(
    "vigil_dead_letters_total",
    "Dead letters raised, counted where the DeadLetter is made.",
    ["stage"],
    registry=REGISTRY,
)
WEBHOOK_DELIVERIES = Counter(
    "vigil_webhook_deliveries_total",
    "Webhook outcomes: delivered, retried (one per retry), failed (dead-lettered).",
    ["result"],
    registry=REGISTRY,
)

HTTP_REQUESTS = Counter(
    "vigil_http_requests_total",
    "HTTP API requests answered, by route template, method and status.",
    ["route", "method", "status"],
    registry=REGISTRY,
)
HTTP_LATENCY = Histogram(
    "vigil_http_request_seconds",
    "Wall time of one HTTP API request, by route template.",
    ["route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
    registry=REGISTRY,
)


def render() -> bytes:
    """The Prometheus text exposition of `REGISTRY`."""
    return generate_latest(REGISTRY)


def start_metrics_server(port: int, host: str = "127.0.0.1") -> int:
    """Serve `/metrics` from a daemon thread; `port=0` picks a free port. Returns the port.

    Binds to loopback by default: metrics name cameras, so exposing them is a choice.
    """
    server, _thread = start_http_server(port, addr=host, registry=REGISTRY)
    return int(server.server_port)
