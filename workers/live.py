"""`LivePipeline`: the video pipeline kept running inside a server (`vigil serve`).

`vigil run` (`pipeline.run_all`) plays its cameras and ends; a server runs until it is
stopped, and its cameras come and go: those of the configuration file at start, others
added and removed over the HTTP API meanwhile. The parts are the same ones: the stages
from `wiring.build` (capture, sinks, alarm, history) as threads, one `CameraIngestor`
thread per camera, over the bus given (in memory when embedded). The stores are the
server's own (`groups`, `history`), so a member enrolled over HTTP is searched by the
alarm from the next capture on, and a capture is in the history search as soon as the
history writer stored it.

Without watchlists in the configuration the alarm watches every feature group (`*`),
those created later included: the console's watchlists alert without a restart.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from vigil.capture.ingestor import METRIC_STATES, CameraIngestor
from vigil.infra.bus.base import Bus
from vigil.infra.logs import redact_url
from vigil.schemas.alert import Alert
from vigil.schemas.camera import (
    EVERY_GROUP,
    CameraConfig,
    CameraState,
    CameraStatus,
    PipelineConfig,
    WatchlistConfig,
)
from vigil.schemas.capture import Capture
from vigil.schemas.errors import ErrorCode, VigilError
from vigil.workers.pipeline import prepare_topics
from vigil.workers.wiring import ROLES, Callbacks, build

if TYPE_CHECKING:
    from vigil.groups.service import GroupService
    from vigil.history.service import HistoryService

log = logging.getLogger(__name__)
RATE_WINDOW_S = 5.0  # frame rates are measured over about this long
JOIN_S = 3.0  # how long a stop waits for each thread


@dataclass
class Counts:
    """A camera's frame counters at one moment (monotonic time)."""

    at: float
    frames_in: int
    analysed: int
    dropped: int


@dataclass
class Running:
    """One camera's ingestor, its thread and the counters its rates are measured from."""

    ingestor: CameraIngestor
    thread: threading.Thread
    started_at: datetime
    samples: deque[Counts] = field(default_factory=deque)

    def counts(self) -> Counts:
        stats = self.ingestor.stats
        return Counts(
            time.monotonic(),
            stats.published + stats.ticks + stats.dropped + stats.oversize,
            stats.published,
            stats.dropped,
        )

    def status(self) -> CameraStatus:
        """The camera now, its rates against the oldest counters of the last few seconds."""
        now = self.counts()
        while self.samples and now.at - self.samples[0].at > RATE_WINDOW_S:
            self.samples.popleft()
        first = self.samples[0] if self.samples else None
        self.samples.append(now)
        span = now.at - first.at if first is not None else 0.0

        def rate(value: int, before: int) -> float:
            return round((value - before) / span, 2) if span > 0 else 0.0

        ingestor = self.ingestor
        camera = ingestor.camera
        state = CameraState(METRIC_STATES[ingestor.state])
        if not self.thread.is_alive() and state != CameraState.FAILED:
            state = CameraState.STOPPED
        return CameraStatus(
            id=camera.id,
            source=redact_url(camera.url),
            state=state,
            types=sorted(camera.types),
            fps_in=rate(now.frames_in, first.frames_in) if first else 0.0,
            fps_analysed=rate(now.analysed, first.analysed) if first else 0.0,
            fps_dropped=rate(now.dropped, first.dropped) if first else 0.0,
            frames_in=now.frames_in,
            frames_analysed=now.analysed,
            frames_dropped=now.dropped,
            reconnects=ingestor.stats.reconnects,
            error=None if ingestor.error is None else str(ingestor.error),
            started_at=self.started_at,
        )


class LivePipeline:
    """Every stage of the pipeline as threads, and the cameras `add` starts; `close` stops all."""

    def __init__(
        self,
        bus: Bus,
        config: PipelineConfig,
        *,
        groups: GroupService,
        history: HistoryService,
        on_capture: Callable[[Capture], None] | None = None,
        on_alert: Callable[[Alert], None] | None = None,
    ) -> None:
        watchlists = config.watchlists or [WatchlistConfig(group=EVERY_GROUP)]
        # cameras join through `add`, which the capture step reads them from
        self.config = config.model_copy(update={"cameras": [], "watchlists": watchlists})
        self.bus = bus
        self.stop = threading.Event()
        self._lock = threading.Lock()
        self._running: dict[str, Running] = {}
        prepare_topics(bus, self.config)
        self.stages = build(
            bus,
            self.config,
            ROLES,
            Callbacks(on_capture=on_capture, on_alert=on_alert),
            groups=groups,
            history=history,
        )
        self.threads = [
            threading.Thread(
                target=stage.run,
                args=(self.stop,),
                name=f"live-{type(stage).__name__}",
                daemon=True,
            )
            for stage in self.stages.all
        ]
        for thread in self.threads:
            thread.start()
        for camera in config.cameras:
            if camera.enabled:
                self.add(camera)

    def add(self, camera: CameraConfig) -> CameraStatus:
        """Start a camera; `camera_exists` while one of that id runs (a stopped one is replaced)."""
        with self._lock:
            if self.stop.is_set():
                raise VigilError(ErrorCode.STORE_UNAVAILABLE, "the pipeline is stopping")
            old = self._running.get(camera.id)
            if old is not None and old.thread.is_alive():
                raise VigilError(
                    ErrorCode.CAMERA_EXISTS, f"camera {camera.id!r} is running: remove it first"
                )
            others = [c for c in self.config.cameras if c.id != camera.id]
            self.config.cameras = [*others, camera]  # one list swap: the capture step reads it
            ingestor = CameraIngestor(camera, self.bus, self.config.topics, stop=threading.Event())
            thread = threading.Thread(target=ingestor.run, name=f"ingest-{camera.id}", daemon=True)
            running = Running(ingestor, thread, datetime.now(UTC))
            self._running[camera.id] = running
            thread.start()
        log.info("camera %s started: %s", camera.id, redact_url(camera.url))
        return running.status()

    def remove(self, camera_id: str) -> None:
        """Stop a camera and forget it; its open tracks end (end events) as it stops."""
        with self._lock:
            running = self._running.pop(camera_id, None)
        if running is None:
            raise VigilError(ErrorCode.CAMERA_NOT_FOUND, f"no camera {camera_id!r} runs here")
        running.ingestor.stop()
        running.thread.join(JOIN_S)
        log.info("camera %s removed", camera_id)

    def status(self, camera_id: str | None = None) -> list[CameraStatus]:
        """Every camera (or the one named), sorted by id."""
        with self._lock:
            chosen = sorted(self._running.items())
            if camera_id is not None:
                chosen = [(i, r) for i, r in chosen if i == camera_id]
                if not chosen:
                    raise VigilError(
                        ErrorCode.CAMERA_NOT_FOUND, f"no camera {camera_id!r} runs here"
                    )
            return [running.status() for _, running in chosen]

    def close(self) -> None:
        """Stop the cameras, then the stages (each within a poll), then close them."""
        self.stop.set()
        with self._lock:
            running = list(self._running.values())
        for camera in running:
            camera.ingestor.stop()
        for thread in [*(camera.thread for camera in running), *self.threads]:
            thread.join(JOIN_S)
        self.stages.close()
