"""Watchlist alarms end to end (embedded): one alert per person per track, cooldowns, no repeats."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from tests.synthetic_video import crop_around, moving_faces_frames, write_video
from vigil.api import analyze_image
from vigil.groups.service import GroupService
from vigil.infra.bus.memory import MemoryBus
from vigil.infra.config import parse_config
from vigil.models.face_detector import FaceDetector
from vigil.schemas.alert import AlertEvent
from vigil.schemas.analyze import AnalyzeOptions
from vigil.workers.pipeline import run_all

WATCHLIST = "wanted"


def face_patch(images, name: str) -> np.ndarray:
    photo = cv2.imread(str(images / name))
    [face] = FaceDetector().detect(photo)
    return crop_around(photo, face.box)


def empty_scene(frames: int) -> list[np.ndarray]:
    """The synthetic scene with nobody in it (a 2-px patch no detector sees)."""
    return moving_faces_frames([np.full((2, 2, 3), 128, np.uint8)], frames=frames, seed=0)


@pytest.fixture(scope="module")
def groups_uri(images, tmp_path_factory):
    uri = tmp_path_factory.mktemp("groups") / "watchlists.db"
    with GroupService(uri) as service:
        service.create_group(WATCHLIST)
        [face] = analyze_image(
            images / "obama.jpg", AnalyzeOptions(types={"face"}, features=True)
        ).targets
        service.add_member(WATCHLIST, "obama", [face.feature], metadata={"name": "B. Obama"})
    return uri


def run_with_watchlist(frames, tmp_path, groups_uri, cooldown=60.0):
    path = write_video(frames, tmp_path / "walk.mkv", fps=5)  # H.264: faces stay sharp
    config = parse_config(
        f"""
cameras:
  - {{id: door, url: "{path}", types: [face], fps: null, pace: fast}}
watchlists:
  - {{group: {WATCHLIST}, far: 0.001, cooldown: {cooldown}}}
groups_uri: "{groups_uri}"
"""
    )
    return run_all(MemoryBus(), config)


def test_enrolled_person_walking_past_gives_exactly_one_alert(images, tmp_path, groups_uri):
    frames = moving_faces_frames([face_patch(images, "obama2.jpg")], frames=40)
    summary = run_with_watchlist(frames, tmp_path, groups_uri)
    news = [a for a in summary.alerts if a.event == AlertEvent.NEW]
    assert len(news) == 1, [(a.event, a.person_id, a.similarity) for a in summary.alerts]
    assert len(summary.alerts) <= 2, "one alert, with an update at most"
    alert = news[0]
    assert alert.person_id == "obama" and alert.watchlist == WATCHLIST
    assert alert.similarity >= alert.threshold_similarity and alert.far == 0.001
    assert alert.person_metadata == {"name": "B. Obama"}
    assert alert.candidates[0].person_id == "obama" and alert.crop_jpeg
    assert alert.capture_id in {c.capture_id for c in summary.captures}


def test_someone_not_enrolled_gives_no_alert(images, tmp_path, groups_uri):
    frames = moving_faces_frames([face_patch(images, "biden.jpg")], frames=40)
    summary = run_with_watchlist(frames, tmp_path, groups_uri)
    assert summary.captures, "the face was captured"
    assert summary.alerts == []


def test_two_appearances_beyond_the_cooldown_give_two_alerts(images, tmp_path, groups_uri):
    walk = moving_faces_frames([face_patch(images, "obama3.jpg")], frames=30)
    frames = walk + empty_scene(90) + walk  # 18 s apart: two tracks
    summary = run_with_watchlist(frames, tmp_path, groups_uri, cooldown=5.0)
    news = [a for a in summary.alerts if a.event == AlertEvent.NEW]
    assert len({c.capture_id for c in summary.captures}) == 2
    assert len(news) == 2 and len({a.track_id for a in news}) == 2


def test_two_appearances_within_the_cooldown_give_one_alert(images, tmp_path, groups_uri):
    walk = moving_faces_frames([face_patch(images, "obama3.jpg")], frames=30)
    summary = run_with_watchlist(walk + empty_scene(90) + walk, tmp_path, groups_uri)
    assert len({c.capture_id for c in summary.captures}) == 2
    assert len([a for a in summary.alerts if a.event == AlertEvent.NEW]) == 1
