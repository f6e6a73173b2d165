"""Person and vehicle captures on the CCTV sample against a count made by eye.

Ground truth (counted frame by frame, see docs/vtest-ground-truth.md): 12 distinct
people make 21 separate walk-throughs (19 if returns after <= 3 s are merged), and
two parked vehicles (a white van, a car) stay for the whole video.
"""

from __future__ import annotations

from collections import Counter

import pytest

from tests.conftest import VIDEOS
from vigil.analysis.face_gate import MIN_CAPTURE_FACE
from vigil.infra.bus.memory import MemoryBus
from vigil.infra.config import single_camera_config
from vigil.schemas.capture import CaptureEvent
from vigil.workers.pipeline import run_all

WALK_THROUGHS = 21
TOLERANCE = 3  # tracks split at long occlusions (the sign post) or merged at crossings


@pytest.fixture(scope="module")
def vtest():
    config = single_camera_config(
        str(VIDEOS / "vtest.avi"), camera_id="vtest", pace="fast"
    )  # every type: faces too, which are all below the capture minimum here
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


def test_no_face_capture_below_the_minimum(vtest):
    """vtest's faces are 6-17 px: heads a person could not recognise, never published."""
    faces = [c for c in vtest.captures if c.target.type == "face"]
    sides = [
        min(c.target.box.x2 - c.target.box.x1, c.target.box.y2 - c.target.box.y1) for c in faces
    ]
    assert all(side >= MIN_CAPTURE_FACE for side in sides), sides


def test_captures_are_events_not_frames(vtest):
    events = Counter(c.event for c in vtest.captures)
    tracks = {c.capture_id for c in vtest.captures}
    assert events[CaptureEvent.NEW] == events[CaptureEvent.END] == len(tracks)
    assert events[CaptureEvent.UPDATE] <= 2 * len(tracks)
    assert len(vtest.captures) < vtest.frames_processed / 3
