"""The stateful capture step: frames in (in order per camera), captures out.

For each polled batch it submits every frame's detection as a Celery task at
once (so several workers detect in parallel), then walks the results in frame
order through each camera's trackers, submits descriptions of the best shots
that must be published, publishes the captures in order, and only then commits
the batch's offsets: a crash replays frames rather than losing captures.
A task whose result is late is submitted again (workers/resubmit.py), so a dead
worker or a restarted Redis delays frames but loses none.

Detections cross the Celery boundary as wire dicts: they are read back into
`FrameDetection`s once, here, as each result arrives (`track`), and a malformed result
dead-letters its frame like a failed detection; a best shot goes to `describe` as a
wire dict again (`describe`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from vigil.analysis.face_identity import FaceIdentity
from vigil.analysis.frame_detection import detections_from_wire
from vigil.capture.assembler import assemble
from vigil.infra import metrics
from vigil.infra.bus.base import Bus, Record
from vigil.infra.stage import ConsumerStage
from vigil.infra.topics.captures import CaptureTopic
from vigil.infra.topics.frames import FrameTopic
from vigil.schemas.camera import PipelineConfig
from vigil.schemas.capture import Capture
from vigil.schemas.frame import FrameMeta
from vigil.tracking.camera_tracking import CameraTracking, CaptureWork

log = logging.getLogger(__name__)
CAPTURE_GROUP = "vigil-capture"


@dataclass
class Pending:
    """One frame of the batch with its detection task (None for ticks)."""

    record: Record
    meta: FrameMeta
    detection: Any = None


@dataclass
class CaptureWorker(ConsumerStage):
    stage = "capture"
    bus: Bus
    config: PipelineConfig
    group: str = CAPTURE_GROUP
    batch_size: int = 8
    task_timeout: float = 120.0
    on_capture: Callable[[Capture], None] | None = None
    on_frames: Callable[[int], None] | None = None
    # The two model steps, each `(args, name) -> pending result` with `.get(timeout)`:
    # Celery's in production (`workers.frame_tasks.submit_detect` / `submit_describe`, which
    # re-submit a task whose result is late), anything of that shape in tests. Given by the
    # layer that wires the roles, never imported here.
    detect_step: Callable[[list, str], Any] | None = None
    describe_step: Callable[[list, str], Any] | None = None
    cameras: dict[str, CameraTracking] = field(default_factory=dict)
    # per camera, (stream id, sequence) of the last frame tracked: replays are skipped
    tracked: dict[str, tuple[str, int]] = field(default_factory=dict)
    frames_processed: int = 0
    captures_published: int = 0
    # One face-identity checker for all cameras: it loads the face embedder on first use.
    same_face: FaceIdentity = field(default_factory=FaceIdentity)

    def __post_init__(self) -> None:
        if self.detect_step is None or self.describe_step is None:
            raise ValueError("the capture step needs its detect_step and describe_step")
        topics = self.config.topics
        self.frames = FrameTopic(topics.frames)
        self.captures = CaptureTopic(topics.captures)
        self.connect(self.bus, self.frames, self.group, topics.deadletter)

    def camera_state(self, camera_id: str) -> CameraTracking | None:
        if camera_id not in self.cameras:
            camera = self.config.camera(camera_id)
            if camera is None:
                return None
            self.cameras[camera_id] = CameraTracking(camera, same_face=self.same_face)
        return self.cameras[camera_id]

    def process(self, records: list[Record]) -> None:
        """Detect every frame at once, track in order, describe, publish (then the commit)."""
        pending = [p for p in (self.submit(record) for record in records) if p is not None]
        work: list[tuple[CaptureWork, Any]] = []
        for frame in pending:
            for item in self.track(frame):
                work.append((item, self.describe(item)))
        for item, description in work:
            self.publish(item, description)

    def committed(self, records: list[Record]) -> None:
        self.frames_processed += len(records)
        if self.on_frames is not None:
            self.on_frames(len(records))

    def submit(self, record: Record) -> Pending | None:
        decoded = self.decode(record)
        if decoded is None:
            return None
        meta, jpeg = decoded
        if self.replayed(meta):
            return None
        camera = self.camera_state(meta.camera_id)
        if camera is None:
            self.dead_letter(record, f"camera {meta.camera_id!r} is not configured", "unknown")
            return None
        frame = Pending(record, meta)
        if jpeg is not None:
            assert self.detect_step is not None  # __post_init__ refuses a worker without it
            args = [jpeg, sorted(t.value for t in camera.camera.types), camera.camera.min_size]
            focus = camera.face_focus(meta)
            if focus is not None:  # left out, a worker searches the whole frame
                args.append(focus)
            frame.detection = self.detect_step(args, f"detect {meta.camera_id} #{meta.sequence}")
        return frame

    def replayed(self, meta: FrameMeta) -> bool:
        """A frame this process already tracked, delivered again after a failed commit.

        Tracking it twice would feed the trackers a step back in time; its captures
        were published the first time.
        """
        last = self.tracked.get(meta.camera_id)
        if last is not None and last[0] == meta.stream_id and meta.sequence <= last[1]:
            log.info("camera %s: frame %d already tracked", meta.camera_id, meta.sequence)
            return True
        self.tracked[meta.camera_id] = (meta.stream_id, meta.sequence)
        return False

    def track(self, frame: Pending) -> list[CaptureWork]:
        camera = self.cameras[frame.meta.camera_id]
        work: list[CaptureWork] = []
        if frame.detection is not None:
            try:  # a malformed result is a VigilError naming the field
                detections = detections_from_wire(frame.detection.get(timeout=self.task_timeout))
            except Exception as exc:  # one bad frame must not stop the camera
                self.dead_letter(frame.record, f"detection failed: {exc}", "detect_failed")
                detections = None
            if detections is not None:
                metrics.FRAMES_ANALYSED.labels(camera=frame.meta.camera_id).inc()
                work = camera.on_frame(frame.meta, detections)
        elif frame.meta.still:
            work = camera.on_still_frame(frame.meta)
        if frame.meta.end_of_stream:
            work += camera.finish()
            del self.cameras[frame.meta.camera_id]
        return work

    def describe(self, work: CaptureWork) -> Any:
        if not work.needs_description:
            return None
        camera_id = work.info.first_seen.camera_id
        camera = self.cameras.get(camera_id)  # gone after its end of stream; its config is not
        config = camera.camera if camera else self.config.camera(camera_id)
        assert config is not None  # `submit` dead-letters the frames of unconfigured cameras
        shot = work.shot.detection
        args = [
            shot.crop,
            shot.to_wire(with_crop=False),
            sorted(a.value for a in config.attributes),
            config.features,
        ]
        assert self.describe_step is not None  # __post_init__ refuses a worker without it
        return self.describe_step(args, f"describe {work.info.track_id}")

    def publish(self, work: CaptureWork, description_task: Any) -> None:
        if description_task is not None:
            try:
                work.info.description = description_task.get(timeout=self.task_timeout)
            except Exception as exc:
                log.warning("describing %s failed: %s", work.info.track_id, exc)
        capture = self.captures.send_fitting(self.producer, assemble(work, work.info.description))
        self.captures_published += 1
        metrics.CAPTURES.labels(
            camera=capture.camera_id, type=capture.target.type.value, event=capture.event.value
        ).inc()
        if self.on_capture is not None:
            self.on_capture(capture)
