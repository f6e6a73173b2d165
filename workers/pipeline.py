"""Wires the video pipeline's parts into processes: all-in-one, or one role per process.

`run_all` is the embedded mode (`vigil run`): ingestors, the capture step and the
sinks as threads of one process over the configured bus. The separate roles
(`vigil ingest`, `vigil capture`, `vigil sink`, `vigil worker`) are the same
objects, one per process, over Kafka and Celery workers.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from vigil.capture.ingestor import CameraIngestor
from vigil.infra.bus.base import Bus, lag
from vigil.schemas.alert import Alert
from vigil.schemas.camera import PipelineConfig
from vigil.schemas.capture import Capture
from vigil.workers.wiring import Callbacks, build
from vigil.workers.wiring import celery_steps as celery_steps  # its old home, still importable

log = logging.getLogger(__name__)
TOPIC_PARTITIONS = 4
STOP_GRACE_S = 5.0  # after a stop request, how long the workers may still drain


@dataclass
class RunSummary:
    frames_published: int = 0  # with pixels: detection runs on these
    frames_ticks: int = 0  # without pixels: a still scene between key frames
    frames_dropped: int = 0
    frames_processed: int = 0
    captures: list[Capture] = field(default_factory=list)
    alerts: list[Alert] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)


def prepare_topics(bus: Bus, config: PipelineConfig, partitions: int = TOPIC_PARTITIONS) -> None:
    topics = config.topics
    bus.ensure_topics(
        [topics.frames, topics.captures, topics.deadletter, topics.alerts], partitions
    )


def start_ingestors(
    bus: Bus, config: PipelineConfig, stop: threading.Event
) -> list[tuple[CameraIngestor, threading.Thread]]:
    started = []
    for camera in config.cameras:
        if not camera.enabled:
            continue
        ingestor = CameraIngestor(camera, bus, config.topics, stop=stop)
        thread = threading.Thread(target=ingestor.run, name=f"ingest-{camera.id}", daemon=True)
        thread.start()
        started.append((ingestor, thread))
    return started


def wait_for(ingestors: list[tuple[CameraIngestor, threading.Thread]]) -> None:
    """Join ingestor threads in small steps, so signals (Ctrl-C) are still handled."""
    for _, thread in ingestors:
        while thread.is_alive():
            thread.join(0.2)


def ingest_summary(ingestors: list[tuple[CameraIngestor, threading.Thread]]) -> RunSummary:
    summary = RunSummary()
    for ingestor, _ in ingestors:
        summary.frames_published += ingestor.stats.published
        summary.frames_ticks += ingestor.stats.ticks
        summary.frames_dropped += ingestor.stats.dropped
        if ingestor.error is not None:
            summary.errors[ingestor.camera.id] = str(ingestor.error)
    return summary


def run_all(
    bus: Bus,
    config: PipelineConfig,
    stop: threading.Event | None = None,
    on_capture: Callable[[Capture], None] | None = None,
    on_frames: Callable[[int], None] | None = None,
    on_alert: Callable[[Alert], None] | None = None,
) -> RunSummary:
    """Run every role in this process until every source ended (files) or `stop` is set.

    The alarm worker runs when the configuration names watchlists, and the alert sinks
    (`outputs.alerts`) with it; the history writer when `history` is configured.
    """
    stop = stop or threading.Event()
    prepare_topics(bus, config)
    summary = RunSummary()

    def collect(capture: Capture) -> None:
        summary.captures.append(capture)
        if on_capture is not None:
            on_capture(capture)

    def collect_alert(alert: Alert) -> None:
        summary.alerts.append(alert)
        if on_alert is not None:
            on_alert(alert)

    roles = ["capture", "sink"]
    if config.watchlists:
        roles += ["alarm", "alert-sink"]
    if config.history is not None:
        roles.append("history")
    stages = build(bus, config, roles, Callbacks(collect, on_frames, collect_alert))
    capture = stages.capture
    assert capture is not None
    workers_done = threading.Event()
    threads = [
        (stage, threading.Thread(target=stage.run, args=(workers_done,), name=type(stage).__name__))
        for stage in stages.all
    ]
    consuming = [thread for stage, thread in threads if stage.consuming]  # a sink with no outputs
    for _, thread in threads:
        thread.start()
    ingestors = start_ingestors(bus, config, stop)
    try:
        wait_for(ingestors)
        channels = [(i.producer, config.topics.frames, capture.group) for i, _ in ingestors]
        channels += [
            (capture.producer, config.topics.captures, stage.group)
            for stage in stages.capture_readers
        ]
        if stages.alarm is not None:
            channels += [
                (stages.alarm.producer, config.topics.alerts, sink.group)
                for sink in stages.alert_sinks
            ]
        drain(bus, channels, consuming, stop)
    finally:
        workers_done.set()
        for ingestor, _ in ingestors:
            ingestor.stop()
        for _, thread in threads:
            thread.join(30)
        stages.close()
    ingested = ingest_summary(ingestors)
    ingested.captures, ingested.alerts = summary.captures, summary.alerts
    ingested.frames_processed = capture.frames_processed
    return ingested


def drain(
    bus: Bus,
    channels: list[tuple],
    workers: list[threading.Thread],
    stop: threading.Event | None = None,
    grace: float = STOP_GRACE_S,
) -> None:
    """Wait until every consumer group has committed all that its producer published.

    `channels` holds (producer, topic, group), `workers` the threads consuming them. If
    one died, nothing would ever drain: raise instead of waiting forever. Once `stop` is
    set (a signal), wait `grace` s at most: what is not committed by then is left to the
    next run (over Kafka it is read again), and the process ends.
    """
    deadline = None
    while any(lag(producer, bus, topic, group) for producer, topic, group in channels):
        dead = [thread.name for thread in workers if not thread.is_alive()]
        if dead:
            raise RuntimeError(f"{', '.join(dead)} died; see the log above")
        if stop is not None and stop.is_set():
            deadline = deadline or time.monotonic() + grace
            if time.monotonic() > deadline:
                log.warning("stopped with records not yet processed: the next run reads them")
                return
        threading.Event().wait(0.05)
