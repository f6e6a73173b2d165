"""Count the face detector's model calls while a test runs."""

from __future__ import annotations

import pytest

from vigil.models import face_detector


def counted_windows(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """A one-item list holding how many times BlazeFace has been run since: once per
    window, or once per mosaic of small windows."""
    calls = [0]
    original = face_detector.FaceDetector._infer

    def counting(self, picture, floor):
        calls[0] += 1
        return original(self, picture, floor)

    monkeypatch.setattr(face_detector.FaceDetector, "_infer", counting)
    return calls
