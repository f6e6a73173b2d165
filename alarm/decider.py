"""Where an alert is decided: watchlist matches voted over a whole track.

Each face capture of a track (new, updates, end) is searched against the
watchlists of its camera. A match adds the capture's quality to that person's
votes on the track; the track's identity is the person with most votes. The
first decision raises one alert per (track, watchlist, person); a clearly better
similarity later updates it; nothing else repeats it. A person who alerted on a
camera stays quiet there for the watchlist's cooldown (counted in capture time,
so replays decide the same way). Redelivered captures (same message id) and
alerts already on the alerts topic (`restore`) are never emitted twice.

A watchlist whose group is `*` watches every feature group there is: `cover` is given
the current group names before each decision, so a group created while the alarm runs
(a watchlist made in the console) is watched from its next capture on.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from vigil.schemas.alert import Alert, AlertCandidate, AlertEvent
from vigil.schemas.camera import EVERY_GROUP, WatchlistConfig
from vigil.schemas.capture import Capture, CaptureEvent
from vigil.schemas.groups import SearchResult

MIN_WEIGHT = 0.05  # a poor view still counts a little
UPDATE_GAIN = 3.0  # similarity points a match must gain to update its alert
IDLE_TRACK = timedelta(hours=1)  # a track silent this long is forgotten (no end seen)
SWEEP_EVERY = timedelta(minutes=1)  # capture time between sweeps: a sweep walks every track


@dataclass
class Votes:
    votes: float = 0.0
    similarity: float = 0.0
    distance: float = float("inf")
    metadata: dict = field(default_factory=dict)


@dataclass
class TrackState:
    seen: set[str] = field(default_factory=set)
    votes: dict[tuple[str, str], Votes] = field(default_factory=dict)
    last_time: datetime | None = None


@dataclass
class Emitted:
    revision: int
    similarity: float


class AlarmDecider:
    def __init__(self, watchlists: list[WatchlistConfig]) -> None:
        self.named = {w.group: w for w in watchlists if w.group != EVERY_GROUP}
        self.every = next((w for w in watchlists if w.group == EVERY_GROUP), None)
        self.watchlists = dict(self.named)
        self.tracks: dict[str, TrackState] = {}
        self.emitted: dict[str, Emitted] = {}  # alert_id -> last emitted revision
        self.last_alert: dict[tuple[str, str, str], datetime] = {}  # (group, person, camera)
        self.next_sweep: datetime | None = None

    def cover(self, groups: Iterable[str]) -> None:
        """With a `*` watchlist: watch each of `groups` (the ones there are now) with its
        settings, besides the watchlists named; groups gone are no longer watched."""
        if self.every is None:
            return
        every = self.every
        derived = {
            name: every.model_copy(update={"group": name})
            for name in groups
            if name not in self.named
        }
        self.watchlists = {**derived, **self.named}

    def watchlists_for(self, camera_id: str) -> list[WatchlistConfig]:
        return [w for w in self.watchlists.values() if w.applies_to(camera_id)]

    def restore(self, alert: Alert) -> None:
        """Learn an alert already published (read back from the alerts topic on start)."""
        known = self.emitted.get(alert.alert_id)
        if known is None or alert.revision > known.revision:
            self.emitted[alert.alert_id] = Emitted(alert.revision, alert.similarity)
        key = (alert.watchlist, alert.person_id, alert.camera_id)
        if key not in self.last_alert or self.last_alert[key] < alert.captured_at:
            self.last_alert[key] = alert.captured_at

    def decide(self, capture: Capture, results: Mapping[str, SearchResult]) -> list[Alert]:
        """Alerts caused by one capture, given its search result per watchlist group."""
        track = self.tracks.setdefault(capture.capture_id, TrackState())
        message = str(capture.message_id)
        alerts: list[Alert] = []
        if message not in track.seen:
            track.seen.add(message)
            track.last_time = capture.captured_at
            for group, result in results.items():
                self.vote(track, group, result, capture)
                alert = self.judge(track, self.watchlists[group], result, capture)
                if alert is not None:
                    alerts.append(alert)
        if capture.event == CaptureEvent.END:
            del self.tracks[capture.capture_id]
        self.forget_idle(capture.captured_at)
        return alerts

    @staticmethod
    def vote(track: TrackState, group: str, result: SearchResult, capture: Capture) -> None:
        if result.decision != "match" or result.best is None:
            return
        best = result.best
        votes = track.votes.setdefault((group, best.person_id), Votes(metadata=best.metadata))
        votes.votes += max(MIN_WEIGHT, capture.target.quality.score)
        if best.similarity > votes.similarity:
            votes.similarity, votes.distance = best.similarity, best.distance

    def judge(
        self, track: TrackState, watchlist: WatchlistConfig, result: SearchResult, capture: Capture
    ) -> Alert | None:
        candidates = [(p, v) for (g, p), v in track.votes.items() if g == watchlist.group]
        if not candidates:
            return None
        person, votes = max(candidates, key=lambda item: (item[1].votes, item[1].similarity))
        alert_id = f"{capture.capture_id}/{watchlist.group}/{person}"
        known = self.emitted.get(alert_id)
        if known is None:
            if self.cooling_down(watchlist, person, capture):
                self.emitted[alert_id] = Emitted(-1, float("inf"))  # suppressed for this track
                return None
            event, revision = AlertEvent.NEW, 0
        elif votes.similarity >= known.similarity + UPDATE_GAIN:
            event, revision = AlertEvent.UPDATE, known.revision + 1
        else:
            return None
        self.emitted[alert_id] = Emitted(revision, votes.similarity)
        self.last_alert[(watchlist.group, person, capture.camera_id)] = capture.captured_at
        return build_alert(alert_id, event, revision, watchlist, person, votes, result, capture)

    def cooling_down(self, watchlist: WatchlistConfig, person: str, capture: Capture) -> bool:
        last = self.last_alert.get((watchlist.group, person, capture.camera_id))
        return last is not None and capture.captured_at - last < timedelta(
            seconds=watchlist.cooldown
        )

    def forget_idle(self, now: datetime) -> None:
        """Bound memory: drop tracks never ended and cooldowns long past (once a minute)."""
        if self.next_sweep is not None and now < self.next_sweep:
            return
        self.next_sweep = now + SWEEP_EVERY
        for capture_id, state in list(self.tracks.items()):
            if state.last_time is not None and now - state.last_time > IDLE_TRACK:
                del self.tracks[capture_id]
        longest = max((w.cooldown for w in self.watchlists.values()), default=0.0)
        horizon = timedelta(seconds=longest) + IDLE_TRACK
        for key, moment in list(self.last_alert.items()):
            if now - moment > horizon:
                del self.last_alert[key]


def build_alert(
    alert_id: str,
    event: AlertEvent,
    revision: int,
    watchlist: WatchlistConfig,
    person: str,
    votes: Votes,
    result: SearchResult,
    capture: Capture,
) -> Alert:
    return Alert(
        alert_id=alert_id,
        event=event,
        revision=revision,
        watchlist=watchlist.group,
        person_id=person,
        person_metadata=votes.metadata,
        similarity=votes.similarity,
        distance=votes.distance,
        threshold_similarity=result.threshold.similarity,
        threshold_distance=result.threshold.distance,
        far=result.threshold.far,
        votes=round(votes.votes, 4),
        candidates=[
            AlertCandidate(person_id=h.person_id, similarity=h.similarity, distance=h.distance)
            for h in result.hits[: watchlist.k]
        ],
        capture_id=capture.capture_id,
        track_id=capture.track_id,
        camera_id=capture.camera_id,
        captured_at=capture.captured_at,
        crop_jpeg=capture.crop_jpeg,
        model=result.model,
    )
