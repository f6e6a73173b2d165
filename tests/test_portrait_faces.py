"""Portrait search for enrolment: one model call on the whole picture first, tiles only
for what the decision needs (analysis/faces.portrait_faces)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.support.face_windows import counted_windows
from vigil.analysis.faces import face_targets, portrait_faces

IMAGES = Path(__file__).resolve().parent / "media" / "images"
PORTRAITS = ("obama.jpg", "obama2.jpg", "obama3.jpg", "biden.jpg", "grace_hopper.jpg")


def corners(face) -> np.ndarray:
    return np.array([face.box.x1, face.box.y1, face.box.x2, face.box.y2])


@pytest.fixture
def calls(monkeypatch) -> list[int]:
    return counted_windows(monkeypatch)


@pytest.mark.parametrize("name", PORTRAITS)
def test_the_portrait_face_is_the_one_the_full_search_finds(name, calls):
    data = (IMAGES / name).read_bytes()
    full = face_targets(data, largest_only=False)
    full_calls, calls[0] = calls[0], 0
    fast = portrait_faces(data, dominance=0.5)
    assert len(fast) == len(full) == 1
    assert np.abs(corners(fast[0]) - corners(full[0])).max() < 20
    # the same person by a wide margin (calibrated FAR 1e-5 threshold: 0.44)
    assert np.linalg.norm(fast[0].feature.vector() - full[0].feature.vector()) < 0.15
    assert calls[0] <= 8 and calls[0] * 3 <= full_calls, (calls[0], full_calls)


def test_two_faces_of_a_size_are_both_found():
    obama, biden = (cv2.imread(str(IMAGES / n)) for n in ("obama.jpg", "biden.jpg"))
    biden = cv2.resize(
        biden, (round(biden.shape[1] * obama.shape[0] / biden.shape[0]), obama.shape[0])
    )
    pair = np.hstack([obama, biden])
    assert len(portrait_faces(pair, dominance=0.5)) == 2


def test_a_small_face_falls_back_to_the_full_search():
    data = (IMAGES / "messi5.jpg").read_bytes()
    fast, full = portrait_faces(data, dominance=0.5), face_targets(data, largest_only=False)
    assert [f.box for f in fast] == [f.box for f in full]
