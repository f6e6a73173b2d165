"""Wires the video pipeline's parts into processes: all-in-one, or one role per process.

`run_all` is the embedded mode (`vigil run`): ingestors, the capture step and the
sinks as threads of one process over the configured bus. The separate roles
(`vigil ingest`, `vigil capture`, `vigil sink`, `vigil worker`) are the same
objects, one per process, over Kafka and Celery workers.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from vigil.capture.ingestor import CameraIngestor
from vigil.capture.worker import CaptureWorker
from vigil.infra.bus.base import Bus, lag
from vigil.outputs.sink_worker import SinkWorker
from vigil.schemas.camera import PipelineConfig
from vigil.schemas.capture import Capture

log = logging.getLogger(__name__)
TOPIC_PARTITIONS = 4


@dataclass
class RunSummary:
    frames_published: int = 0  # with pixels: detection runs on these
    frames_ticks: int = 0  # without pixels: a still scene between key frames
    frames_dropped: int = 0
    frames_processed: int = 0
    captures: list[Capture] = field(default_factory=list)
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
) -> RunSummary:
    """Run every role in this process until every source ended (files) or `stop` is set."""
    stop = stop or threading.Event()
    prepare_topics(bus, config)
    captures: list[Capture] = []

    def collect(capture: Capture) -> None:
        captures.append(capture)
        if on_capture is not None:
            on_capture(capture)

    capture_worker = CaptureWorker(bus, config, on_capture=collect, on_frames=on_frames)
    sink_worker = SinkWorker(bus, config)
    workers_done = threading.Event()
    threads = [
        threading.Thread(target=capture_worker.run, args=(workers_done,), name="capture"),
        threading.Thread(target=sink_worker.run, args=(workers_done,), name="sink"),
    ]
    for thread in threads:
        thread.start()
    ingestors = start_ingestors(bus, config, stop)
    try:
        wait_for(ingestors)
        drain([i for i, _ in ingestors], capture_worker, sink_worker, config, threads)
    finally:
        workers_done.set()
        for ingestor, _ in ingestors:
            ingestor.stop()
        for thread in threads:
            thread.join(30)
        capture_worker.close()
        sink_worker.close()
    summary = ingest_summary(ingestors)
    summary.captures = captures
    summary.frames_processed = capture_worker.frames_processed
    return summary


def drain(
    ingestors: list[CameraIngestor],
    capture: CaptureWorker,
    sink: SinkWorker,
    config: PipelineConfig,
    threads: list[threading.Thread],
) -> None:
    """Wait until the capture step and the sinks have committed everything published.

    `threads[0]` is the capture step's; if it died, nothing would ever drain.
    """
    topics = config.topics

    def settled() -> bool:
        frames_left = sum(
            lag(ingestor.producer, ingestor.bus, topics.frames, capture.group)
            for ingestor in ingestors
        )
        captures_left = (
            lag(capture.producer, capture.bus, topics.captures, sink.group) if sink.consumer else 0
        )
        return frames_left == 0 and captures_left == 0

    while not settled():
        if not threads[0].is_alive():
            raise RuntimeError("a pipeline thread died; see the log above")
        threading.Event().wait(0.05)
