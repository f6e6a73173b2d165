"""Count the face detector's model calls (one per window) while a test runs."""

from __future__ import annotations

import pytest

from vigil.models import face_detector


def counted_windows(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """A one-item list holding how many windows BlazeFace has been run on since."""
    calls = [0]
    original = face_detector.FaceDetector._detect_window

    def counting(self, image, window):
        calls[0] += 1
        return original(self, image, window)

    monkeypatch.setattr(face_detector.FaceDetector, "_detect_window", counting)
    return calls
