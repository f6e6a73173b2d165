"""Best view of each track, and when a better one is worth publishing again.

A track yields one capture, not one message per frame; the capture should show the
object at its best and be re-sent only when a clearly better view arrives. The rule
for "better" is Frigate's (quality up by 0.05 or area up by 10%, never a box cut by
the frame edge), with two changes: a larger view must not be clearly worse in
quality (a big blurred face is no better than a sharp one), and a track seen only
cut by the edge still gets its best cut view as a flagged fallback, replaced by
the first clean view.

    selector = BestShotSelector()
    if selector.offer(track_id, quality, area, edge_cut, crop, timestamp): ...

Memory holds one shot per live track: the caller must `forget` a track when it ends.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# Absorbs float rounding in "quality >= best + gain" (0.5 + 0.05 is not exactly 0.55).
EPSILON = 1e-9


@dataclass
class Shot:
    """One view of a track; `payload` is the caller's (a crop, a frame reference...)."""

    quality: float
    area: float
    edge_cut: bool
    payload: Any
    timestamp: float


@dataclass
class _Record:
    best: Shot
    published: Shot | None = None
    published_at: float | None = None


class BestShotSelector:
    """Per-track best shot plus publish bookkeeping.

    `min_gain` / `min_area_gain`: replace the best when quality rises by this much, or
    area by this fraction with quality at most `area_quality_tolerance` lower.
    `update_gain` / `min_update_interval`: `should_update` asks for this quality gain
    over the published shot and this many seconds since the last publish, so updates
    come when the view clearly improves, not on every frame.
    """

    def __init__(
        self,
        min_gain: float = 0.05,
        min_area_gain: float = 0.10,
        update_gain: float = 0.10,
        min_update_interval: float = 1.0,
        area_quality_tolerance: float = 0.02,
    ):
        if min(min_gain, min_area_gain, update_gain, min_update_interval) < 0:
            raise ValueError("gains and interval must be >= 0")
        if area_quality_tolerance < 0:
            raise ValueError("area_quality_tolerance must be >= 0")
        self.min_gain = min_gain
        self.min_area_gain = min_area_gain
        self.update_gain = update_gain
        self.min_update_interval = min_update_interval
        self.area_quality_tolerance = area_quality_tolerance
        self._records: dict[int, _Record] = {}

    def __len__(self) -> int:
        """Tracks held (for checking that ended tracks are forgotten)."""
        return len(self._records)

    def offer(
        self,
        track_id: int,
        quality: float,
        area: float,
        edge_cut: bool,
        payload: Any,
        timestamp: float,
    ) -> bool:
        """Keep this view if it beats the track's best; True when it became the best."""
        shot = Shot(float(quality), float(area), bool(edge_cut), payload, float(timestamp))
        record = self._records.get(track_id)
        if record is None:
            self._records[track_id] = _Record(best=shot)
            return True
        if not self._better(shot, record.best):
            return False
        record.best = shot
        return True

    def best(self, track_id: int) -> Shot | None:
        record = self._records.get(track_id)
        return record.best if record else None

    def should_update(self, track_id: int, timestamp: float) -> bool:
        """True when the best clearly beats the published shot and the interval has passed.

        False before the first `mark_published`: the first ('new') capture is the
        caller's decision, taken when the track is confirmed.
        """
        record = self._records.get(track_id)
        if record is None or record.published is None or record.published_at is None:
            return False
        if record.best is record.published:
            return False
        if timestamp - record.published_at < self.min_update_interval:
            return False
        best, published = record.best, record.published
        cleaner = published.edge_cut and not best.edge_cut
        return cleaner or best.quality >= published.quality + self.update_gain - EPSILON

    def mark_published(self, track_id: int, timestamp: float) -> None:
        """Record that the current best was just published."""
        record = self._records.get(track_id)
        if record is None:
            raise KeyError(f"no shot offered for track {track_id}")
        record.published = record.best
        record.published_at = float(timestamp)

    def unpublished_better(self, track_id: int) -> bool:
        """True when the best changed since the last publish (or was never published)."""
        record = self._records.get(track_id)
        return record is not None and record.best is not record.published

    def forget(self, track_id: int) -> None:
        """Drop a track's state (call when it ends); unknown ids are ignored."""
        self._records.pop(track_id, None)

    def _better(self, new: Shot, current: Shot) -> bool:
        if new.edge_cut != current.edge_cut:
            return current.edge_cut  # a clean view always beats a cut one, never the reverse
        if new.quality >= current.quality + self.min_gain - EPSILON:
            return True
        larger = new.area >= current.area * (1 + self.min_area_gain) - EPSILON
        return larger and new.quality >= current.quality - self.area_quality_tolerance
