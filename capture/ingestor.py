"""One camera's ingestor: decode, sample, gate on motion, publish frames to the bus.

Back-pressure: live sources drop frames (and count them) when the capture step
is more than `max_lag_frames` behind, so a slow analysis never makes a live
camera lag by minutes; files (pace "fast") wait instead and lose nothing.
A frame with no motion between key frames goes out as a tick without pixels.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

import cv2
import numpy as np

from vigil.infra import metrics
from vigil.infra.bus.base import Bus, MessageTooLarge, lag
from vigil.infra.topics.frames import FrameTopic
from vigil.schemas.camera import CameraConfig, Pace, TopicNames
from vigil.schemas.frame import MAX_MOTION_BOXES, FrameMeta
from vigil.schemas.geometry import Box, FrameSize
from vigil.video.motion import MotionDetector
from vigil.video.sampler import Sampler
from vigil.video.source import DecodedFrame, SourceState, VideoSource

log = logging.getLogger(__name__)
LAG_CHECK_INTERVAL = 0.2
# Source states as the metrics name them.
METRIC_STATES = {
    SourceState.CONNECTING: "connecting",
    SourceState.STREAMING: "streaming",
    SourceState.BACKING_OFF: "reconnecting",
    SourceState.ENDED: "stopped",
    SourceState.FAILED: "failed",
}


def new_stream_id() -> str:
    """Short random id of this ingestor run; part of every track id (see camera_tracking)."""
    return secrets.token_hex(4)


def fit_width(image: np.ndarray, max_width: int) -> np.ndarray:
    if image.shape[1] <= max_width:
        return image
    scale = max_width / image.shape[1]
    return cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)


@dataclass
class IngestStats:
    published: int = 0
    ticks: int = 0
    dropped: int = 0
    oversize: int = 0
    reconnects: int = 0  # times the source went down and was tried again


class CameraIngestor:
    def __init__(
        self,
        camera: CameraConfig,
        bus: Bus,
        topics: TopicNames,
        capture_group: str = "vigil-capture",
        stop: threading.Event | None = None,
    ) -> None:
        self.camera = camera
        self.bus = bus
        self.topic = FrameTopic(topics.frames)
        self.capture_group = capture_group
        self.stop_event = stop or threading.Event()
        self.producer = bus.producer()
        self.stream_id = new_stream_id()
        self.stats = IngestStats()
        self.state = SourceState.CONNECTING
        self.error: Exception | None = None
        self.motion = MotionDetector()
        self.sampler = Sampler(camera.fps)
        self.source = VideoSource(
            camera.url,
            rtsp_transport=camera.rtsp_transport,
            stall_timeout=camera.stall_timeout,
            on_state=self.on_state,
            loop=camera.loop,
            stop=self.stop_event,  # a stop reaches connects and reconnect waits at once
            sample_fps=camera.fps,  # MJPEG cameras: frames the sampler drops aren't decoded
        )
        self._last_keyframe = -1e9
        # Still key frames (FrameMeta.still): when the last key frame was detected, and
        # whether anything moved (or the light changed) since.
        self._last_detected_keyframe = -1e9
        self._moved_since_detection = True
        self._detected_picture: np.ndarray | None = None  # the motion detector's view of it
        self._lag = 0
        self._lag_checked = 0.0
        self._dropped_since = 0
        self.sequence = 0
        self.last_frame: DecodedFrame | None = None
        self._ended_at: int | None = None
        self._pace_origin: float | None = None
        self._file_origin: datetime | None = None

    @property
    def live(self) -> bool:
        if self.camera.pace == Pace.AUTO:
            return self.source.live
        return self.camera.pace == Pace.REALTIME

    def on_state(self, state: SourceState, detail: str) -> None:
        self.state = state
        log.info("camera %s: %s %s", self.camera.id, state.value, detail)
        metrics.SOURCE_STATE.labels(camera=self.camera.id).state(METRIC_STATES[state])
        if state == SourceState.BACKING_OFF:
            self.stats.reconnects += 1
            metrics.RECONNECTS.labels(camera=self.camera.id).inc()
            # The camera is down: its open tracks cannot continue, so close them now
            # (end events) rather than when the stream comes back.
            self.publish_end()
            self.producer.flush(timeout=30)

    def stop(self) -> None:
        self.stop_event.set()
        self.source.stop()

    def keep_pace(self, frame: DecodedFrame) -> None:
        """A file played with pace "realtime" is released at its own frame rate, like a camera."""
        if self.source.live or self.camera.pace != Pace.REALTIME:
            return
        if self._pace_origin is None:
            self._pace_origin = time.monotonic() - frame.source_time
        delay = self._pace_origin + frame.source_time - time.monotonic()
        if delay > 0:
            self.stop_event.wait(delay)

    def past_end(self, frame: DecodedFrame) -> bool:
        return self.camera.stop_after is not None and frame.source_time > self.camera.stop_after

    def current_lag(self) -> int:
        now = time.monotonic()
        if now - self._lag_checked > LAG_CHECK_INTERVAL:
            self._lag = lag(self.producer, self.bus, self.topic.name, self.capture_group)
            self._lag_checked = now
            metrics.KAFKA_LAG.labels(topic=self.topic.name, group=self.capture_group).set(self._lag)
        return self._lag

    def wait_for_capacity(self) -> bool:
        """Files: block until the capture step catches up. Returns False when stopped."""
        while self.current_lag() >= self.camera.max_lag_frames:
            if self.stop_event.wait(0.01):
                return False
        return True

    def run(self) -> None:
        """Publish frames until the source ends or `stop()`; errors are kept in `self.error`."""
        try:
            decoded = metrics.FRAMES_DECODED.labels(camera=self.camera.id)
            for frame in self.source.frames():
                decoded.inc()
                if self.stop_event.is_set() or self.past_end(frame):
                    break
                if not self.sampler.keep(frame.source_time):
                    continue
                metrics.FRAMES_IN.labels(camera=self.camera.id).inc()
                self.keep_pace(frame)
                image = fit_width(frame.image, self.camera.max_width)
                motion = self.motion.detect(image)
                if self.publish(frame, image, motion, self.sequence):
                    self.sequence += 1
                    self.last_frame = frame
        except Exception as exc:  # a corrupt file: keep what was published, report clearly
            self.error = exc
            log.error("camera %s: %s", self.camera.id, exc)
        finally:
            self.publish_end()
            self.producer.flush(timeout=30)

    def publish(self, frame: DecodedFrame, image: np.ndarray, motion, sequence: int) -> bool:
        keyframe = frame.source_time - self._last_keyframe >= self.camera.keyframe_interval
        moving = motion.fraction >= self.camera.motion_min_fraction
        self._moved_since_detection |= moving or motion.lighting_change
        still = keyframe and self.still(frame.source_time)
        has_image = (keyframe and not still) or moving
        if has_image:
            if self.live and self.current_lag() >= self.camera.max_lag_frames:
                self.stats.dropped += 1
                self._dropped_since += 1
                metrics.FRAMES_DROPPED.labels(camera=self.camera.id, reason="behind").inc()
                return False
            if not self.live and not self.wait_for_capacity():
                return False
        meta = self.meta(frame, image, motion, sequence, keyframe, has_image, still)
        jpeg = None
        if has_image:
            quality = [cv2.IMWRITE_JPEG_QUALITY, self.camera.jpeg_quality]
            jpeg = cv2.imencode(".jpg", image, quality)[1].tobytes()
        try:
            self.topic.publish(self.producer, meta, jpeg)
        except MessageTooLarge as exc:
            self.stats.oversize += 1
            metrics.FRAMES_DROPPED.labels(camera=self.camera.id, reason="oversize").inc()
            log.error("camera %s: frame %d not sent: %s", self.camera.id, frame.frame_index, exc)
            return False
        if keyframe:
            self._last_keyframe = frame.source_time
            if not still:
                self._last_detected_keyframe = frame.source_time
                self._moved_since_detection = False
                self._detected_picture = self.motion.snapshot()
        self.stats.published += has_image
        self.stats.ticks += not has_image
        self._dropped_since = 0
        return True

    def capture_time(self, frame: DecodedFrame) -> datetime:
        """Wall time for live sources; for files, start time + position in the file.

        A file analysed faster than real time would otherwise squeeze minutes of video
        into seconds, and cooldowns or time filters would mean nothing.
        """
        if self.source.live:
            return frame.wall_time
        if self._file_origin is None:
            self._file_origin = frame.wall_time - timedelta(seconds=frame.source_time)
        return self._file_origin + timedelta(seconds=frame.source_time)

    def frame_meta(self, frame: DecodedFrame, sequence: int, size: tuple[int, int], **fields):
        """The envelope of one published frame; `size` is (width, height) as sent."""
        return FrameMeta(
            camera_id=self.camera.id,
            stream_id=self.stream_id,
            frame_index=frame.frame_index,
            sequence=sequence,
            source_time=frame.source_time,
            captured_at=self.capture_time(frame),
            size=FrameSize(width=size[0], height=size[1]),
            **fields,
        )

    def still(self, source_time: float) -> bool:
        """Whether a key frame due now may reuse the last detection instead of sending
        pixels: nothing moved and the light did not change since that detection, and
        either it is less than `still_recheck` seconds old or the picture has not changed
        since it (by the motion detector's own threshold and minimum share). As Frigate
        treats stationary objects: a parked car or a seated person keeps its track
        without a detector run every key frame (a still scene cost 12.6% of a busy one;
        docs/performance.md). Past `still_recheck` the picture is compared with the one
        detected, so a change too slow for the motion gate (whose background absorbs
        it) is detected again, while an unchanged picture, which the detectors would
        only answer the same way, is not."""
        if self._moved_since_detection or self.camera.still_recheck == 0:
            return False
        if source_time - self._last_detected_keyframe < self.camera.still_recheck:
            return True
        changed = self.motion.changed_since(self._detected_picture)
        return changed < self.camera.motion_min_fraction

    def meta(self, frame, image, motion, sequence, keyframe, has_image, still=False) -> FrameMeta:
        """Motion boxes are in the published (possibly scaled) image's pixels."""
        return self.frame_meta(
            frame,
            sequence,
            (image.shape[1], image.shape[0]),
            motion=[Box.from_xyxy(box) for box in motion.boxes[:MAX_MOTION_BOXES]],
            motion_fraction=min(1.0, float(motion.fraction)),
            keyframe=keyframe,
            still=still,
            has_image=has_image,
            dropped_before=self._dropped_since,
        )

    def publish_end(self) -> None:
        """Tell the capture step the stream ended (or broke) so it closes every open track."""
        last, sequence = self.last_frame, self.sequence
        if last is None or self._ended_at == sequence:
            return
        self._ended_at = sequence
        size = (last.image.shape[1], last.image.shape[0])
        meta = self.frame_meta(last, sequence, size, has_image=False, end_of_stream=True)
        self.topic.publish(self.producer, meta, None)
