"""Person and vehicle captures on the CCTV sample against a count made by eye.

Ground truth (counted frame by frame, see docs/vtest-ground-truth.md): 12 distinct
people make 21 separate walk-throughs (19 if returns after <= 3 s are merged), and
two parked vehicles (a white van, a car) stay for the whole video.
"""

from __future__ import annotations

from collections import Counter

import pytest

from tests.conftest import VIDEOS
from vigil.infra.bus.memory import MemoryBus
from vigil.infra.config import single_camera_config
from vigil.schemas.capture import CaptureEvent
from vigil.workers.pipeline import run_all

WALK_THROUGHS = 21
TOLERANCE = 5  # tracks split at long occlusions (the sign post) or merged at crossings


@pytest.fixture(scope="module")
def vtest():
    config = single_camera_config(
        str(VIDEOS / "vtest.avi"), camera_id="vtest", pace="fast", types=["person", "vehicle"]
    )
    return run_all(MemoryBus(), config)


def test_one_person_capture_per_walk_through(vtest):
    ends = [c for c in vtest.captures if c.event == CaptureEvent.END]
    persons = [c for c in ends if c.target.type == "person"]
    assert abs(len(persons) - WALK_THROUGHS) <= TOLERANCE, len(persons)
    assert all(c.target.person and c.target.person.upper_colour for c in persons)


def test_two_parked_vehicles_are_two_captures(vtest):
    vehicles = [
        c for c in vtest.captures if c.event == CaptureEvent.END and c.target.type == "vehicle"
    ]
    assert sorted(c.target.vehicle.vehicle_type for c in vehicles) == ["car", "truck"]
    assert all(c.frames_seen > 300 for c in vehicles), "tracked through the whole video"


def test_captures_are_events_not_frames(vtest):
    events = Counter(c.event for c in vtest.captures)
    tracks = {c.capture_id for c in vtest.captures}
    assert events[CaptureEvent.NEW] == events[CaptureEvent.END] == len(tracks)
    assert events[CaptureEvent.UPDATE] <= 2 * len(tracks)
    assert len(vtest.captures) < vtest.frames_processed / 3
