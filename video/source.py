"""One camera or file as an iterator of decoded frames: where a frame is decoded."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import NoReturn
from urllib.parse import unquote, urlsplit

import numpy as np

from vigil.video.backoff import Backoff
from vigil.video.decoder import Counters, RawFrame, StreamEnded, StreamReader
from vigil.video.errors import VideoErrorCode, VideoSourceError, redact
from vigil.video.timeline import Timeline

LIVE_SCHEMES = frozenset({"rtsp", "rtsps", "http", "https", "rtmp", "rtmps", "srt", "udp", "rtp"})
VIDEO_SUFFIXES = frozenset(
    {".mp4", ".m4v", ".mov", ".mkv", ".avi", ".ts", ".mts", ".webm", ".flv", ".mpg", ".mpeg",
     ".h264", ".h265", ".hevc", ".3gp", ".wmv"}
)  # fmt: skip
_POLL = 0.1  # seconds between looks at stop() while waiting for a frame


@dataclass(frozen=True)
class DecodedFrame:
    """One frame: BGR pixels, and when it was taken by the source's clock and the wall clock."""

    raw: RawFrame  # the decoder's frame; its pixels are made on first use
    frame_index: int  # increases across reconnects and files; a gap means frames were dropped
    source_time: float  # seconds since the source began; only moves forward
    wall_time: datetime  # UTC, when the frame was decoded

    @property
    def image(self) -> np.ndarray:
        """H x W x 3, BGR, uint8 (converted once, when first asked for)."""
        return self.raw.image


class SourceState(StrEnum):
    CONNECTING = "connecting"
    STREAMING = "streaming"
    BACKING_OFF = "backing_off"
    ENDED = "ended"
    FAILED = "failed"


StateCallback = Callable[[SourceState, str], None]
_Played = Generator[DecodedFrame, None, tuple[VideoSourceError | None, int]]


class VideoSource:
    """Frames from a camera, a video file or a folder of video files, robustly.

    A live source (rtsp://, http://, ... by default) never ends on its own: end of
    stream, a read error, a timeout or a stall (no frame for `stall_timeout` s) are a
    disconnect, answered by capped exponential backoff and a reopen, forever unless
    `max_reconnects` is set. A file ends at its end (ENDED); a damaged one raises
    `VideoSourceError` after every frame that did decode was yielded. A folder plays
    its video files in name order as one source; `loop=True` replays a file or folder from
    the start at each end (a looping file is a stand-in camera for load tests, and a failing
    one stops the loop rather than retrying forever). Frame index and source time keep
    increasing across reconnects and files, so a tracker sees one monotonic clock.
    `on_state` is called from the iterating thread; `stop()` may come from any thread.
    `stop=` shares an event with the caller (a process's shutdown flag): setting it is
    `stop()`, so a signal reaches a source waiting to reconnect, not only one with frames.
    `sample_fps` is the rate the caller's `Sampler` keeps: intra-only streams (MJPEG)
    then skip decoding the frames it would drop (`StreamReader`); the caller still
    samples, and gets the same frames.

        source = VideoSource("rtsp://cam-1/stream", on_state=log_state)
        for frame in source.frames():
            ...  # source.stop() elsewhere makes the loop end within ~0.1 s
    """

    def __init__(
        self,
        url: str | Path,
        *,
        live: bool | None = None,
        rtsp_transport: str = "tcp",
        open_timeout: float = 10.0,
        read_timeout: float = 10.0,
        stall_timeout: float = 10.0,
        backoff_initial: float = 0.5,
        backoff_max: float = 30.0,
        max_reconnects: int | None = None,
        on_state: StateCallback | None = None,
        loop: bool = False,
        stop: threading.Event | None = None,
        sample_fps: float | None = None,
    ) -> None:
        self.url = str(url)
        self.sample_fps = sample_fps
        self.loop = loop
        self.live = urlsplit(self.url).scheme.lower() in LIVE_SCHEMES if live is None else live
        self.rtsp_transport = rtsp_transport
        self.open_timeout = open_timeout
        self.read_timeout = read_timeout
        self.stall_timeout = stall_timeout
        self.max_reconnects = max_reconnects
        self.on_state = on_state
        self.state: SourceState | None = None
        self.reconnects = 0
        self._backoff = Backoff(backoff_initial, backoff_max)
        self._counters = Counters()
        self._timeline = Timeline()
        self._stop = stop if stop is not None else threading.Event()
        self._index_base = 0
        self._next_index = 0
        self._last_frame_at: float | None = None  # time.monotonic() of the last frame

    @property
    def frames_decoded(self) -> int:
        return self._counters.frames_decoded

    @property
    def frames_dropped(self) -> int:
        """Live frames dropped because the caller fell behind (oldest first)."""
        return self._counters.frames_dropped

    @property
    def frames_skipped(self) -> int:
        """Intra-only frames left undecoded because the sampler would drop them."""
        return self._counters.frames_skipped

    @property
    def decode_errors(self) -> int:
        return self._counters.decode_errors

    def stop(self) -> None:
        """Make `frames()` return soon; thread-safe. A stopped source stays stopped.

        With a shared `stop=` event this sets that event (everyone sharing it stops).
        """
        self._stop.set()

    def frames(self) -> Generator[DecodedFrame, None, None]:
        """Decoded frames until the file ends, or (live) until `stop()`."""
        if self.live:
            yield from self._live_frames()
        else:
            yield from self._file_frames()

    def _live_frames(self) -> Iterator[DecodedFrame]:
        while True:
            error, frames = yield from self._play(self.url)
            if self._stop.is_set():
                break
            if frames:
                self._backoff.reset()
            reason = error.message if error else f"{redact(self.url)}: stream ended"
            if self.max_reconnects is not None and self.reconnects >= self.max_reconnects:
                message = f"gave up after {self.reconnects} reconnects; last: {reason}"
                self._fail(VideoSourceError(VideoErrorCode.RECONNECTS_EXHAUSTED, message))
            delay = self._backoff.next()
            self._set_state(SourceState.BACKING_OFF, f"{reason}; reconnecting in {delay:.1f}s")
            if self._stop.wait(delay):
                break
            self.reconnects += 1
        self._set_state(SourceState.ENDED, "stopped")

    def _file_frames(self) -> Iterator[DecodedFrame]:
        paths = self._video_files()
        failures = []
        while True:
            for path in paths:
                error, _ = yield from self._play(str(path))
                if error is not None:
                    failures.append(error)
                if self._stop.is_set():
                    break
            if not self.loop or failures or self._stop.is_set():
                break
        if len(failures) == 1:
            self._fail(failures[0])
        if failures:
            summary = "; ".join(error.message for error in failures)
            message = f"{len(failures)} files failed: {summary}"
            self._fail(VideoSourceError(failures[0].code, message))
        self._set_state(SourceState.ENDED, "stopped" if self._stop.is_set() else "end of file")

    def _video_files(self) -> list[Path]:
        """The file, or a folder's video files in name order; a missing one fails at once.

        Anything else the decoder refuses with a coded error: a camera file path is
        configuration, so reaching outside a media folder is the operator's choice.
        """
        url = self.url
        path = Path(unquote(urlsplit(url).path)) if url.startswith("file://") else Path(url)
        if path.is_dir():
            files = sorted(
                p for p in path.iterdir() if p.suffix.lower() in VIDEO_SUFFIXES and p.is_file()
            )
            if not files:
                self._fail(VideoSourceError(VideoErrorCode.NOT_FOUND, f"{path}: no video files"))
            return files
        if not path.exists():
            self._fail(VideoSourceError(VideoErrorCode.NOT_FOUND, f"{path}: no such file"))
        if not path.is_file():
            # a FIFO or a device would hang the open or stream forever: only recordings
            message = f"{path}: not a regular file (a device, pipe or socket is no recording)"
            self._fail(VideoSourceError(VideoErrorCode.UNSUPPORTED, message))
        return [path]

    def _play(self, target: str) -> _Played:
        """Frames of one connection or file; returns (why it ended or None, frames yielded)."""
        shown = redact(target)
        self._set_state(SourceState.CONNECTING, f"opening {shown}")
        reader = StreamReader(
            target,
            live=self.live,
            counters=self._counters,
            options=self._options(target),
            timeout=(self.open_timeout, self.read_timeout),
            sample_fps=self.sample_fps,
        ).start()
        frames = 0
        limit = self.open_timeout + self.stall_timeout  # the first frame may wait for a keyframe
        waiting_since = time.monotonic()
        try:
            while not self._stop.is_set():
                item = reader.get(timeout=_POLL)
                if isinstance(item, StreamEnded):
                    if item.error is None:
                        return None, frames
                    message = f"{shown}: {item.error.message}"
                    return VideoSourceError(item.error.code, message), frames
                if item is None:
                    if time.monotonic() - waiting_since <= limit:
                        continue
                    message = f"{shown}: stalled, no frame for {limit:.0f}s"
                    return VideoSourceError(VideoErrorCode.TIMEOUT, message), frames
                if frames == 0:
                    self._begin_segment(item)
                    self._set_state(SourceState.STREAMING, f"decoding {shown}")
                frames += 1
                yield self._stamp(item)
                waiting_since, limit = time.monotonic(), self.stall_timeout
            return None, frames
        finally:
            reader.close()

    def _options(self, target: str) -> dict[str, str]:
        if urlsplit(target).scheme.lower() in {"rtsp", "rtsps"}:
            return {"rtsp_transport": self.rtsp_transport}
        return {}

    def _begin_segment(self, first: RawFrame) -> None:
        """Continue index and time where the previous connection or file stopped."""
        self._index_base = self._next_index - first.index
        outage = 0.0
        if self.live and self._last_frame_at is not None:
            outage = time.monotonic() - self._last_frame_at
        self._timeline.new_segment(gap=outage)

    def _stamp(self, raw: RawFrame) -> DecodedFrame:
        index = self._index_base + raw.index
        self._next_index = index + 1
        self._last_frame_at = time.monotonic()
        source_time = self._timeline.place(raw.stream_time, raw.step)
        return DecodedFrame(raw, index, source_time, raw.wall_time)

    def _set_state(self, state: SourceState, message: str) -> None:
        self.state = state
        if self.on_state is not None:
            self.on_state(state, message)

    def _fail(self, error: VideoSourceError) -> NoReturn:
        self._set_state(SourceState.FAILED, error.message)
        raise error
