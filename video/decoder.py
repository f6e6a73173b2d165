"""Decoding one stream (one connection, or one file) in a background thread."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property

import av
import numpy as np
from av.container import InputContainer
from av.video.stream import VideoStream

from vigil.video.errors import VideoErrorCode, VideoSourceError, describe_failure
from vigil.video.sampler import Sampler

MAX_CONSECUTIVE_DECODE_ERRORS = 30
"""Decode errors in a row before a stream counts as broken. Isolated errors are normal
(a live stream joined between keyframes, one damaged packet) and are only counted."""

MAX_FRAME_PIXELS = 8192 * 4320
"""Largest frame decoded (DCI 8K). A few MB of MJPEG claiming 10000x10000 decodes to
300 MB per frame: such a file or camera is refused, not allowed to exhaust memory."""

_POLL = 0.1  # seconds: how often a thread blocked on a full queue looks at its cancel flag
_DEFAULT_FPS = 25.0


@dataclass(frozen=True)
class RawFrame:
    """A decoded frame with its timing as the stream states it.

    The picture is turned into BGR pixels only when `image` is first asked for: a
    sampler that keeps 5 fps of a 25 fps stream pays for 5 conversions, not 25.
    """

    picture: av.VideoFrame
    index: int  # decode order in this stream, counting frames dropped behind a slow reader
    stream_time: float  # PTS * time_base, or index / fps where the stream gives no PTS
    step: float  # 1 / nominal fps
    wall_time: datetime

    @cached_property
    def image(self) -> np.ndarray:
        return self.picture.to_ndarray(format="bgr24")


@dataclass(frozen=True)
class StreamEnded:
    """Last item of a stream: `error` is None for a clean end of stream or of file."""

    error: VideoSourceError | None


@dataclass
class Counters:
    """Running totals over every stream of one source."""

    frames_decoded: int = 0
    frames_dropped: int = 0
    frames_skipped: int = 0  # intra-only packets not decoded: the sampler would drop them
    decode_errors: int = 0


class StreamReader:
    """Opens, demuxes and decodes one stream in a daemon thread; frames arrive on a queue.

    Why a thread: PyAV's read timeout covers a silent socket, but not every way a read
    or a decoder can hang. With the work here, the caller waits on the queue with its
    own deadline and can walk away from a hung stream (the thread closes it if the read
    ever returns). Live streams drop the oldest queued frame when the caller falls
    behind (latest frame wins, latency stays bounded); files never drop a frame.

    `sample_fps`, when given, is the rate the caller keeps (`Sampler`): for an
    intra-only codec (MJPEG, all-intra streams), whose frames decode independently,
    packets off that schedule are not decoded at all. A 10 fps MJPEG camera sampled at
    5 fps decodes half its frames (0.29 -> 0.15 CPU-s per 30 s of 768x576). Frames of
    other codecs depend on each other and are all decoded.
    """

    def __init__(
        self,
        url: str,
        *,
        live: bool,
        counters: Counters,
        options: dict[str, str],
        timeout: tuple[float, float],
        sample_fps: float | None = None,
    ) -> None:
        self.url = url
        self.live = live
        self._sample_fps = sample_fps
        self._counters = counters
        self._options = options
        self._timeout = timeout
        self._queue: queue.Queue[RawFrame | StreamEnded] = queue.Queue(8 if live else 4)
        self._cancel = threading.Event()
        self._thread = threading.Thread(target=self._run, name="vigil-decode", daemon=True)

    def start(self) -> StreamReader:
        self._thread.start()
        return self

    def get(self, timeout: float) -> RawFrame | StreamEnded | None:
        """The next frame or the end marker; None if nothing arrived within `timeout` s."""
        try:
            return self._queue.get(timeout=timeout)
        except queue.Empty:
            return None

    def close(self) -> None:
        """Tell the thread to stop; returns at once, even while the thread hangs in a read."""
        self._cancel.set()

    def _run(self) -> None:
        try:
            container = av.open(self.url, timeout=self._timeout, options=self._options)
        except (av.error.FFmpegError, OSError) as error:
            self._put(StreamEnded(describe_failure(self.url, error, live=self.live)))
            return
        try:
            ended = self._decode(container)
        finally:
            container.close()
        self._put(ended)

    def _decode(self, container: InputContainer) -> StreamEnded:
        if not container.streams.video:
            return StreamEnded(VideoSourceError(VideoErrorCode.UNSUPPORTED, "no video stream"))
        stream = container.streams.video[0]
        oversized = too_large(stream.codec_context.width, stream.codec_context.height)
        if oversized is not None:
            return StreamEnded(oversized)
        if not self.live:
            stream.thread_type = "AUTO"  # frame threads: ~1.7x faster, a few frames' latency
        step = 1.0 / float(stream.average_rate or stream.guessed_rate or _DEFAULT_FPS)
        frames = errors = errors_in_row = 0
        last_time: float | None = None
        sampled = self._packet_sampler(stream)
        try:
            for packet in container.demux(stream):
                if self._cancel.is_set():
                    return StreamEnded(None)
                if sampled is not None and not sampled(packet):
                    frames += 1  # indices and the file's frame count go on as if decoded
                    self._counters.frames_skipped += 1
                    continue
                try:
                    decoded = packet.decode()
                except av.error.FFmpegError:
                    errors, errors_in_row = errors + 1, errors_in_row + 1
                    self._counters.decode_errors += 1
                    if errors_in_row >= MAX_CONSECUTIVE_DECODE_ERRORS:
                        break
                    continue
                for frame in decoded:
                    oversized = too_large(frame.width, frame.height)
                    if oversized is not None:  # dimensions may change mid-stream
                        return StreamEnded(oversized)
                    last_time = frame.time if frame.time is not None else frames * step
                    self._counters.frames_decoded += 1
                    self._put(RawFrame(frame, frames, last_time, step, datetime.now(UTC)))
                    frames, errors_in_row = frames + 1, 0
        except (av.error.FFmpegError, OSError) as error:
            return StreamEnded(describe_failure(self.url, error, live=self.live, frames=frames))
        if errors_in_row >= MAX_CONSECUTIVE_DECODE_ERRORS:
            message = f"{errors_in_row} packets in a row could not be decoded"
            return StreamEnded(VideoSourceError(VideoErrorCode.CORRUPT_STREAM, message))
        if self.live:
            return StreamEnded(None)
        return StreamEnded(_incomplete_file(stream, frames, last_time, errors))

    def _packet_sampler(self, stream: VideoStream) -> Callable[[av.Packet], bool] | None:
        """Whether a packet is worth decoding, for intra-only codecs with a sample rate.

        The schedule is the caller's `Sampler` on the packets' own timestamps, so the
        frames decoded are the ones the caller's sampler keeps. A packet without a
        timestamp, and the empty packet that flushes the decoder, are always decoded.
        """
        if self._sample_fps is None or not stream.codec_context.codec.intra_only:
            return None
        sampler = Sampler(self._sample_fps)

        def sampled(packet: av.Packet) -> bool:
            if packet.pts is None or packet.time_base is None or not packet.size:
                return True
            return sampler.keep(float(packet.pts * packet.time_base))

        return sampled

    def _put(self, item: RawFrame | StreamEnded) -> None:
        while self.live and isinstance(item, RawFrame):
            try:
                self._queue.put_nowait(item)
                return
            except queue.Full:
                self._drop_oldest()
        while not self._cancel.is_set():
            try:
                self._queue.put(item, timeout=_POLL)
                return
            except queue.Full:
                continue

    def _drop_oldest(self) -> None:
        try:
            self._queue.get_nowait()
            self._counters.frames_dropped += 1
        except queue.Empty:
            pass


def too_large(width: int, height: int) -> VideoSourceError | None:
    if width * height <= MAX_FRAME_PIXELS:
        return None
    message = (
        f"frames of {width}x{height} = {width * height:,} pixels exceed the limit of"
        f" {MAX_FRAME_PIXELS:,} (8K)"
    )
    return VideoSourceError(VideoErrorCode.UNSUPPORTED, message)


def _incomplete_file(
    stream: VideoStream, frames: int, last_time: float | None, errors: int
) -> VideoSourceError | None:
    """Why a file that decoded to its end is still broken, or None when it is whole.

    A truncated file often just ends (AVI, a cut MP4 mid-packet): the only sign is
    fewer frames than its header promises, or an end before its stated duration.
    """
    expected = stream.frames
    time_base = stream.time_base  # None when the container gives none (a 0 num or den)
    duration = float(stream.duration * time_base) if stream.duration and time_base else None
    problems = []
    if frames == 0:
        problems.append("no frame could be decoded")
    elif expected and frames < expected - max(2, expected // 100):
        problems.append(f"only {frames} of the {expected} frames in its header decoded")
    elif not expected and duration and last_time is not None and last_time < 0.95 * duration:
        problems.append(f"it stops at {last_time:.1f}s of its {duration:.1f}s")
    if errors:
        problems.append(f"{errors} packets could not be decoded")
    if not problems:
        return None
    message = f"{'; '.join(problems)}: the file is truncated or corrupt"
    return VideoSourceError(VideoErrorCode.CORRUPT_STREAM, message)
