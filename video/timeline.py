"""One forward-moving clock for a source made of several streams."""

from __future__ import annotations


class Timeline:
    """Maps each stream's own timestamps onto one source time that only moves forward.

    A tracker needs monotonic time, but a source's timestamps restart at 0 on every
    reconnect and on every file of a folder, may be missing, and now and then repeat
    or step back (a looping RTSP server, a camera glitch). Each new segment continues
    where the last ended plus a gap; a step back re-anchors so time never repeats.

        timeline.new_segment(gap=outage_seconds)
        timeline.place(frame_time, step=1 / fps)  # -> seconds since the source began
    """

    def __init__(self) -> None:
        self.last: float | None = None
        self._offset: float | None = None
        self._gap = 0.0

    def new_segment(self, gap: float = 0.0) -> None:
        """The next frame starts a new stream, `gap` seconds (at least one frame) after the last."""
        self._offset = None
        self._gap = gap

    def place(self, stream_time: float, step: float) -> float:
        """Source time of a frame at `stream_time` in the current segment; `step` is 1/fps."""
        if self._offset is None:
            anchor = 0.0 if self.last is None else self.last + max(step, self._gap)
            self._offset = anchor - stream_time
        time = stream_time + self._offset
        if self.last is not None and time <= self.last:
            time = self.last + step
            self._offset = time - stream_time
        self.last = time
        return time
