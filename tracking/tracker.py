"""ByteTrack-style multi-object tracker for one (camera, target type), fed in frame order.

Each track carries a constant-velocity Kalman filter (`motion.BoxKalman`); detections
are matched to the tracks' *predicted* boxes by IoU with the Hungarian method
(`assignment.match_by_iou`), in ByteTrack's stages:

1. high-score detections (>= high_threshold) to confirmed tracks: first those seen at
   the last detection frame, then the lost ones, so an object missed for a few frames
   keeps its id, yet when one walker hides behind another the predicted box of the
   hidden one (right on top of the visible one) cannot take the visible one's box;
2. low-score detections (low_threshold..high_threshold) to the confirmed tracks still
   unmatched, with a stricter IoU: a partly occluded or blurred object scores low,
   and such a box may continue a track but never starts one;
3. the remaining high-score detections to tentative tracks, which come last so that a
   spurious new track cannot take an established track's detection;
4. high-score detections still unmatched start tentative tracks.

5. the high-score detections still unmatched and the tracks still unmatched, paired by
   centre distance within a reach of box sizes (`_reach`): fast objects whose boxes no
   longer overlap from one sampled frame to the next. A track's second box sets its
   velocity outright, so its third box is predicted where it will be.

6. with `relink_seconds` set, the high-score detections still unmatched are offered
   to dormant tracks (`relink`): confirmed tracks lost too long for motion matching,
   claimed back by a detection that is near enough and looks alike (its `appearance`,
   see `appearance.descriptor`).

A tentative track is confirmed after `confirm_hits` consecutive hits (with
`confirm_at_start`, tracks started on the first detection frame at once, as ByteTrack
does) and dropped
the first time it is missed (reported only in `TrackerStep.dropped`, so the caller can
forget it). A confirmed track is lost after more than `max_misses` missed detection
frames or `max_lost_seconds` without a hit; it then ends at once, or, with
`relink_seconds`, goes dormant and ends if nobody claims it within that time.

With `verify`, a still track missed for VERIFY_AFTER_MISSES frames or more, or a dormant
one, is taken back only by a detection that `verify` says is the same object (faces:
the face feature), so a newcomer standing where someone left never continues that
person's track.

Without appearance, identity comes from boxes and motion alone, so a track lost while
it turns sharply, or a newcomer appearing where a lost track is predicted, can change ids.

    tracker = Tracker()
    step = tracker.update(detector.detect(frame), timestamp)  # step.assigned: det -> id

Detections are anything `Trackable`: a detector's `models.types.Detection`, or the
capture step's `analysis.frame_detection.FrameDetection`, which the tracker hands back
unchanged (`Track.detection`, and to `verify`).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

import numpy as np

from vigil.analysis.appearance import similarity
from vigil.models.types import iou_matrix
from vigil.tracking.assignment import linear_assignment, match_by_iou
from vigil.tracking.motion import BoxKalman
from vigil.tracking.relink import Candidate, centre, relink_pairs

# Weight of a new view in a track's running appearance.
APPEARANCE_RATE = 0.3

# Stage 2 (low-score boxes) needs at least this IoU: ByteTrack's second-stage gate.
LOW_SCORE_MATCH_IOU = 0.5
# Fast objects: after the IoU stages, tracks and high-score detections still unmatched
# are paired by centre distance, in box sizes (the mean of width and height): a face
# crossing the frame in 4 s at 5 fps moves ~1 width per sampled frame, so its boxes no
# longer overlap. A tentative track (velocity unknown) may reach REACH_TENTATIVE sizes
# from its last box, a confirmed one REACH_CONFIRMED from its predicted box; sizes must
# agree within REACH_SIZE_RATIO. Measured on bench/capture_scenes.py crossings.
REACH_TENTATIVE = 1.6
REACH_CONFIRMED = 1.0
REACH_SIZE_RATIO = 1.5
# Appearance (when both sides have it) must not contradict a distance match.
REACH_MIN_SIMILARITY = 0.5
# A confirmed track missed this many detection frames in a row is re-acquired only if
# `verify` (when given) says the new detection is the same object: someone else may
# have stepped into the place of a person who left (faces: decided by the face feature).
VERIFY_AFTER_MISSES = 2
# ... unless it moves (box sizes per second): a moving track is re-acquired on its
# predicted path, where a newcomer is unlikely to stand; a still one is re-acquired at
# the very spot where someone else may now stand.
MOVING_SIZES_PER_SECOND = 1.0
# A track is stationary when its filtered centre stayed within this fraction of its
# size over its last STATIONARY_UPDATES hits (about 1 s at 5 fps).
STATIONARY_FRACTION = 0.05
STATIONARY_UPDATES = 5


class Trackable(Protocol):
    """What the tracker reads of a detection.

    `box` is 4 numbers x1, y1, x2, y2 in pixels (the tracker computes in float32);
    `appearance` a look descriptor (`appearance.descriptor`), or None.
    """

    @property
    def box(self) -> Any: ...

    @property
    def score(self) -> float: ...

    @property
    def label(self) -> str: ...

    @property
    def appearance(self) -> np.ndarray | None: ...


D = TypeVar("D", bound=Trackable)


@dataclass
class Track(Generic[D]):
    """A tracked object as the caller sees it (read-only: the tracker owns it).

    `box` is the motion model's estimate: filtered on a hit, predicted on a miss.
    `detection` and `score` are those of the latest hit; `detection` is None when the
    latest detection frame missed the track. `label` is the score-weighted majority of
    the matched detections' labels (a vehicle flickering between car and truck keeps
    one). `misses` counts consecutive missed detection frames.
    """

    track_id: int
    label: str
    box: np.ndarray
    score: float
    hits: int
    misses: int
    confirmed: bool
    first_time: float
    last_time: float
    detection: D | None
    stationary: bool = False


@dataclass
class TrackerStep:
    """What one `Tracker.update` did."""

    assigned: dict[int, int] = field(default_factory=dict)  # detection index -> track id
    confirmed_now: list[int] = field(default_factory=list)
    ended: list[Track] = field(default_factory=list)  # confirmed tracks that ended
    # Tentative tracks dropped silently: `assigned` named them, so forget what you keep
    # for them (best shots...) or it piles up.
    dropped: list[int] = field(default_factory=list)


class _LiveTrack(Generic[D]):
    """A track plus the state behind it that the caller never needs."""

    def __init__(self, track_id: int, detection: D, timestamp: float):
        box = _xyxy(detection)
        self.motion = BoxKalman(box)
        self.predicted_at = timestamp
        self.centres: deque[np.ndarray] = deque(maxlen=STATIONARY_UPDATES)
        self.votes: dict[str, float] = {}  # label -> summed scores
        self.appearance: np.ndarray | None = None
        self.last_box = box
        self.last_detection = detection
        self.track: Track[D] = Track(
            track_id=track_id,
            label=detection.label,
            box=self.motion.box,
            score=float(detection.score),
            hits=0,
            misses=0,
            confirmed=False,
            first_time=timestamp,
            last_time=timestamp,
            detection=None,
        )
        self.hit(detection, timestamp)

    def predict(self, timestamp: float) -> np.ndarray:
        dt = timestamp - self.predicted_at
        self.predicted_at = timestamp
        return self.motion.predict(dt, hold_size=self.track.misses > 0)

    def hit(self, detection: D, timestamp: float) -> None:
        track = self.track
        box = _xyxy(detection)
        if track.hits:  # the first box is already the filter's initial state
            self.motion.update(box)
        if track.hits == 1 and timestamp > track.last_time:
            # Second sighting: the displacement *is* the velocity. The filter, starting
            # from zero velocity, would take several frames to learn it, and a fast
            # object would be lost on the way.
            self.motion.observe_velocity(self.last_box, box, timestamp - track.last_time)
        self.votes[detection.label] = self.votes.get(detection.label, 0.0) + float(detection.score)
        self.centres.append(self.motion.centre)
        track.box = self.motion.box
        track.label = max(self.votes, key=self.votes.__getitem__)  # first-seen label wins ties
        track.score = float(detection.score)
        track.detection = detection
        track.hits += 1
        track.misses = 0
        track.last_time = timestamp
        track.stationary = self._still()
        self.last_box = box
        self.last_detection = detection
        look = detection.appearance
        if look is not None:
            look = np.asarray(look, dtype=np.float32)
            self.appearance = (
                look
                if self.appearance is None
                else (1 - APPEARANCE_RATE) * self.appearance + APPEARANCE_RATE * look
            )

    def revive(self, detection: D, timestamp: float) -> None:
        """A dormant track claimed again: restart its motion model at the new box."""
        self.motion = BoxKalman(_xyxy(detection))
        self.predicted_at = timestamp
        self.centres.clear()
        self.track.misses = 0
        self.hit(detection, timestamp)

    def miss(self) -> None:
        self.track.misses += 1
        self.track.detection = None
        self.track.box = self.motion.box

    def _still(self) -> bool:
        if len(self.centres) < STATIONARY_UPDATES:
            return False
        centres = np.stack(self.centres)
        span = float((centres.max(axis=0) - centres.min(axis=0)).max())
        return span < STATIONARY_FRACTION * self.motion.scale


class Tracker(Generic[D]):
    """Keeps identities of one target type on one camera across detection frames.

    Track ids are ints increasing from `first_id` (not consecutive: a dropped tentative
    track uses up its id); the caller namespaces them by camera. Timestamps are
    seconds and must not go backwards. Memory is bounded by the live tracks: ended
    tracks are handed back once and forgotten.
    """

    def __init__(
        self,
        high_threshold: float = 0.5,
        low_threshold: float = 0.25,
        match_iou: float = 0.2,
        confirm_hits: int = 2,
        max_misses: int = 5,
        max_lost_seconds: float | None = 2.0,
        first_id: int = 1,
        relink_seconds: float | None = None,
        verify: Callable[[D, D], bool] | None = None,
        confirm_at_start: bool = False,
    ):
        if not 0 <= low_threshold <= high_threshold <= 1:
            raise ValueError("need 0 <= low_threshold <= high_threshold <= 1")
        if not 0 < match_iou < 1:
            raise ValueError("match_iou must be in (0, 1)")
        if confirm_hits < 1 or max_misses < 0:
            raise ValueError("confirm_hits must be >= 1 and max_misses >= 0")
        if max_lost_seconds is not None and max_lost_seconds <= 0:
            raise ValueError("max_lost_seconds must be > 0 (or None for no time limit)")
        self.high_threshold = high_threshold
        self.low_threshold = low_threshold
        self.match_iou = match_iou
        self.confirm_hits = confirm_hits
        self.max_misses = max_misses
        self.max_lost_seconds = max_lost_seconds
        self._next_id = first_id
        self.relink_seconds = relink_seconds
        # (last detection of a track, new detection) -> same object? Asked only when a
        # track is re-acquired after VERIFY_AFTER_MISSES or more, or relinked.
        self.verify = verify
        # Tracks started on the first detection frame are confirmed at once (ByteTrack's
        # rule): what is in view when a camera starts is as real as what walks in later.
        self.confirm_at_start = confirm_at_start
        self._live: dict[int, _LiveTrack[D]] = {}
        self._dormant: dict[int, _LiveTrack[D]] = {}
        self._now = -np.inf
        self._updates = 0

    def update(self, detections: Sequence[D], timestamp: float) -> TrackerStep:
        """Match one detection frame's detections to the tracks (see the module docstring)."""
        self._advance(timestamp)
        step = TrackerStep()
        self._expire(timestamp, step, tentative=True)  # lost too long: not matched again
        self._expire_dormant(timestamp, step)
        for live in self._live.values():
            live.predict(timestamp)
        high = [i for i, det in enumerate(detections) if det.score >= self.high_threshold]
        low = [
            i
            for i, det in enumerate(detections)
            if self.low_threshold <= det.score < self.high_threshold
        ]
        confirmed = [live for live in self._live.values() if live.track.confirmed]
        tentative = [live for live in self._live.values() if not live.track.confirmed]
        seen = [live for live in confirmed if live.track.misses == 0]
        lost = [live for live in confirmed if live.track.misses > 0]
        high = self._associate(seen, high, detections, self.match_iou, timestamp, step)
        high = self._associate(lost, high, detections, self.match_iou, timestamp, step)
        taken = set(step.assigned.values())
        unmatched = [live for live in confirmed if live.track.track_id not in taken]
        low_iou = max(self.match_iou, LOW_SCORE_MATCH_IOU)
        self._associate(unmatched, low, detections, low_iou, timestamp, step)
        high = self._associate(tentative, high, detections, self.match_iou, timestamp, step)
        taken = set(step.assigned.values())
        for lives in (confirmed, tentative):
            left = [live for live in lives if live.track.track_id not in taken]
            high = self._reach(left, high, detections, timestamp, step)
        high = self._relink(high, detections, timestamp, step)
        matched = set(step.assigned.values())
        for live in list(self._live.values()):
            if live.track.track_id not in matched:
                self._missed(live, step)
        for index in high:
            self._start(index, detections[index], timestamp, step)
        self._updates += 1
        return step

    def tick(self, timestamp: float) -> list[Track]:
        """A frame without a detection run: ends confirmed tracks lost for too long.

        Misses are not counted, so a caller that skips detection on a static scene
        must still run it at least every `max_lost_seconds` to keep its tracks.
        Tentative tracks wait for the next `update`, which reports them in `dropped`.
        """
        self._advance(timestamp)
        step = TrackerStep()
        self._expire(timestamp, step, tentative=False)
        self._expire_dormant(timestamp, step)
        return step.ended

    def active(self) -> list[Track]:
        """Live tracks, tentative ones included (see `Track.confirmed`), oldest first."""
        return [live.track for live in self._live.values()]

    def finish(self) -> list[Track]:
        """End of stream: ends every confirmed track, drops tentative ones."""
        step = TrackerStep()
        for live in list(self._live.values()):
            self._remove(live, step, final=True)
        step.ended += [live.track for live in self._dormant.values()]
        self._dormant.clear()
        return step.ended

    def track(self, track_id: int) -> Track:
        """A live track by id; KeyError once it has ended."""
        return self._live[track_id].track

    def _advance(self, timestamp: float) -> None:
        if timestamp < self._now:
            raise ValueError(f"timestamp {timestamp} is before the previous one {self._now}")
        self._now = timestamp

    def _associate(
        self,
        lives: list[_LiveTrack[D]],
        indices: list[int],
        detections: Sequence[D],
        min_iou: float,
        timestamp: float,
        step: TrackerStep,
    ) -> list[int]:
        """Match detections `indices` to `lives`; returns the indices left unmatched."""
        if not lives or not indices:
            return indices
        predicted = np.stack([live.motion.box for live in lives])
        boxes = np.stack([_xyxy(detections[i]) for i in indices])
        iou = iou_matrix(predicted, boxes)
        for row, live in enumerate(lives):
            for col, index in enumerate(indices):
                if iou[row, col] >= min_iou and not self._same(live, detections[index]):
                    iou[row, col] = 0.0
        pairs = match_by_iou(iou, min_iou)
        return self._take(pairs, lives, indices, detections, timestamp, step)

    def _same(self, live: _LiveTrack[D], detection: D) -> bool:
        """False when a still track back from VERIFY_AFTER_MISSES misses is not this object."""
        if self.verify is None or live.track.misses < VERIFY_AFTER_MISSES:
            return True
        if live.motion.speed >= MOVING_SIZES_PER_SECOND * live.motion.scale:
            return True
        return self.verify(live.last_detection, detection)

    def _reach(
        self,
        lives: list[_LiveTrack[D]],
        indices: list[int],
        detections: Sequence[D],
        timestamp: float,
        step: TrackerStep,
    ) -> list[int]:
        """Distance matching of what the IoU stages left (fast objects); returns indices left."""
        if not lives or not indices:
            return indices
        cost = np.full((len(lives), len(indices)), np.inf)
        for row, live in enumerate(lives):
            origin = live.motion.box if live.track.confirmed else live.last_box
            reach = REACH_CONFIRMED if live.track.confirmed else REACH_TENTATIVE
            size = _size(origin)
            for col, index in enumerate(indices):
                detection = detections[index]
                box = _xyxy(detection)
                ratio = _size(box) / size
                distance = float(np.linalg.norm(centre(box) - centre(origin))) / size
                look = similarity(live.appearance, detection.appearance)
                if (
                    distance <= reach
                    and 1 / REACH_SIZE_RATIO <= ratio <= REACH_SIZE_RATIO
                    and (
                        live.appearance is None
                        or detection.appearance is None
                        or look >= REACH_MIN_SIMILARITY
                    )
                    and self._same(live, detection)
                ):
                    cost[row, col] = distance
        finite = np.where(np.isfinite(cost), cost, 1e6)
        pairs = [(r, c) for r, c in linear_assignment(finite) if np.isfinite(cost[r, c])]
        return self._take(pairs, lives, indices, detections, timestamp, step)

    def _take(
        self,
        pairs: list[tuple[int, int]],
        lives: list[_LiveTrack[D]],
        indices: list[int],
        detections: Sequence[D],
        timestamp: float,
        step: TrackerStep,
    ) -> list[int]:
        """Apply matched (track row, detection column) pairs; returns the indices left."""
        taken = set()
        for row, col in pairs:
            live, index = lives[row], indices[col]
            live.hit(detections[index], timestamp)
            step.assigned[index] = live.track.track_id
            self._maybe_confirm(live, step)
            taken.add(index)
        return [i for i in indices if i not in taken]

    def _start(self, index: int, detection: D, timestamp: float, step: TrackerStep) -> None:
        live = _LiveTrack(self._next_id, detection, timestamp)
        self._next_id += 1
        self._live[live.track.track_id] = live
        step.assigned[index] = live.track.track_id
        if self.confirm_at_start and self._updates == 0:
            live.track.confirmed = True
            step.confirmed_now.append(live.track.track_id)
        self._maybe_confirm(live, step)

    def _maybe_confirm(self, live: _LiveTrack[D], step: TrackerStep) -> None:
        if not live.track.confirmed and live.track.hits >= self.confirm_hits:
            live.track.confirmed = True
            step.confirmed_now.append(live.track.track_id)

    def _missed(self, live: _LiveTrack[D], step: TrackerStep) -> None:
        live.miss()
        if not live.track.confirmed or live.track.misses > self.max_misses:
            self._remove(live, step)

    def _expire(self, timestamp: float, step: TrackerStep, tentative: bool) -> None:
        """Removes the tracks without a hit for more than `max_lost_seconds`."""
        limit = self.max_lost_seconds
        for live in list(self._live.values()):
            lost_for = timestamp - live.track.last_time
            if limit is not None and lost_for > limit and (tentative or live.track.confirmed):
                self._remove(live, step)

    def _remove(self, live: _LiveTrack[D], step: TrackerStep, final: bool = False) -> None:
        """Forgets a track, reporting it in `ended` (confirmed) or `dropped` (tentative).

        With relinking on, a confirmed track goes dormant first (unless `final`).
        """
        del self._live[live.track.track_id]
        if live.track.confirmed and self.relink_seconds is not None and not final:
            self._dormant[live.track.track_id] = live
        elif live.track.confirmed:
            step.ended.append(live.track)
        else:
            step.dropped.append(live.track.track_id)

    def _expire_dormant(self, timestamp: float, step: TrackerStep) -> None:
        for track_id, live in list(self._dormant.items()):
            if timestamp - live.track.last_time > (self.relink_seconds or 0.0):
                del self._dormant[track_id]
                step.ended.append(live.track)

    def _relink(
        self,
        indices: list[int],
        detections: Sequence[D],
        timestamp: float,
        step: TrackerStep,
    ) -> list[int]:
        """Offer unmatched high-score detections to dormant tracks; returns those left."""
        if not self._dormant or not indices:
            return indices
        sleepers = list(self._dormant.values())
        candidates = [Candidate(_xyxy(detections[i]), detections[i].appearance) for i in indices]
        states = [(s.last_box, s.appearance, s.track.last_time) for s in sleepers]
        taken = set()
        for row, col in relink_pairs(states, candidates, timestamp):
            live, index = sleepers[row], indices[col]
            if self.verify is not None and not self.verify(live.last_detection, detections[index]):
                continue
            del self._dormant[live.track.track_id]
            live.revive(detections[index], timestamp)
            self._live[live.track.track_id] = live
            step.assigned[index] = live.track.track_id
            taken.add(index)
        return [i for i in indices if i not in taken]


def _xyxy(detection: Trackable) -> np.ndarray:
    """A detection's box as the tracker computes with it: float32 x1, y1, x2, y2."""
    return np.asarray(detection.box, dtype=np.float32)


def _size(box: np.ndarray) -> float:
    return max(1.0, float(box[2] - box[0] + box[3] - box[1]) / 2)
