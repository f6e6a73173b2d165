"""Which decoded frames to analyse, to reach a target rate."""

from __future__ import annotations


class Sampler:
    """Keeps frames at a target rate, chosen by source time rather than by counting frames.

    Counting ("every 6th frame") breaks when a camera's real rate differs from its
    nominal one, varies, or drops frames; a schedule on source time does not. Slots sit
    on a fixed grid so the rate does not drift; after a gap in the stream, or time
    stepping back, the grid restarts at the current frame instead of emitting a burst.

        sampler = Sampler(fps=5)
        kept = [frame for frame in source.frames() if sampler.keep(frame.source_time)]
    """

    _TOLERANCE = 0.01  # of an interval: timestamps rounded just below a slot still take it

    def __init__(self, fps: float | None) -> None:
        if fps is not None and fps <= 0:
            raise ValueError(f"fps must be positive or None, got {fps}")
        self.fps = fps
        self._interval = 0.0 if fps is None else 1.0 / fps
        self._due: float | None = None

    def keep(self, source_time: float) -> bool:
        """True when the frame at `source_time` (seconds) should be analysed."""
        if self.fps is None:
            return True
        interval = self._interval
        due = self._due
        if due is None or source_time < due - 2 * interval:
            due = source_time  # first frame, or time stepped back: restart the grid here
        elif source_time < due - self._TOLERANCE * interval:
            return False
        due += interval
        self._due = source_time + interval if source_time >= due else due
        return True
