"""AlarmDecider alone: votes over a track, one alert per person, updates, cooldown, replays."""

from __future__ import annotations

import numpy as np

from tests.support.synthetic_captures import face_capture
from vigil.alarm.decider import AlarmDecider
from vigil.schemas.alert import AlertEvent
from vigil.schemas.camera import WatchlistConfig
from vigil.schemas.capture import CaptureEvent
from vigil.schemas.groups import SearchHit, SearchResult
from vigil.schemas.threshold import Threshold

THRESHOLD = Threshold(far=1e-3, distance=0.5273, similarity=70.524)


def capture(track: str, revision: int, event: CaptureEvent, seconds: float, quality: float = 0.6):
    vector = np.ones(128, np.float32)
    return face_capture(
        vector, track_id=track, revision=revision, event=event, seconds=seconds, quality=quality
    )


def result(person: str | None, similarity: float = 90.0) -> SearchResult:
    hits = (
        []
        if person is None
        else [
            SearchHit(
                group="wanted",
                person_id=person,
                feature_id="f1",
                distance=0.4,
                similarity=similarity,
            )
        ]
    )
    match = person is not None and similarity >= THRESHOLD.similarity
    return SearchResult(
        hits=hits,
        best=hits[0] if match else None,
        decision="match" if match else "unknown",
        threshold=THRESHOLD,
        model="face_resnet128@v1",
    )


def decider(cooldown: float = 60.0) -> AlarmDecider:
    return AlarmDecider([WatchlistConfig(group="wanted", cooldown=cooldown)])


def test_one_alert_per_track_then_an_update_only_for_a_clear_gain():
    alarm = decider()
    first = alarm.decide(capture("t1", 0, CaptureEvent.NEW, 0), {"wanted": result("ann", 80)})
    same = alarm.decide(capture("t1", 1, CaptureEvent.UPDATE, 1), {"wanted": result("ann", 81)})
    better = alarm.decide(capture("t1", 2, CaptureEvent.END, 2), {"wanted": result("ann", 90)})
    assert [a.event for a in first] == [AlertEvent.NEW] and same == []
    assert [(a.event, a.revision, a.similarity) for a in better] == [(AlertEvent.UPDATE, 1, 90.0)]
    assert first[0].alert_id == better[0].alert_id == "cam/t1/wanted/ann"


def test_unknown_faces_never_alert():
    alarm = decider()
    assert alarm.decide(capture("t1", 0, CaptureEvent.NEW, 0), {"wanted": result("ann", 50)}) == []
    assert alarm.decide(capture("t2", 0, CaptureEvent.NEW, 1), {"wanted": result(None)}) == []


def test_the_track_vote_decides_the_identity():
    alarm = decider()
    alarm.decide(capture("t1", 0, CaptureEvent.NEW, 0, quality=0.1), {"wanted": result("bob", 75)})
    alerts = alarm.decide(
        capture("t1", 1, CaptureEvent.UPDATE, 1, quality=0.9), {"wanted": result("ann", 85)}
    )
    assert [a.person_id for a in alerts] == ["ann"], "the better view outvotes the poor one"


def test_redelivered_capture_and_restart_never_alert_twice():
    alarm = decider()
    new = capture("t1", 0, CaptureEvent.NEW, 0)
    [alert] = alarm.decide(new, {"wanted": result("ann")})
    assert alarm.decide(new, {"wanted": result("ann")}) == [], "same message id: ignored"
    restarted = decider()
    restarted.restore(alert)  # read back from the alerts topic
    assert restarted.decide(new, {"wanted": result("ann")}) == []


def test_cooldown_is_per_person_and_camera_in_capture_time():
    alarm = decider(cooldown=30)
    assert alarm.decide(capture("t1", 0, CaptureEvent.NEW, 0), {"wanted": result("ann")})
    assert alarm.decide(capture("t2", 0, CaptureEvent.NEW, 10), {"wanted": result("ann")}) == []
    assert alarm.decide(capture("t3", 0, CaptureEvent.NEW, 45), {"wanted": result("ann")})


def test_state_is_bounded_by_track_ends():
    alarm = decider()
    for i in range(20):
        alarm.decide(capture(f"t{i}", 0, CaptureEvent.NEW, i), {"wanted": result("ann")})
        alarm.decide(capture(f"t{i}", 1, CaptureEvent.END, i + 0.5), {"wanted": result("ann")})
    assert alarm.tracks == {}
