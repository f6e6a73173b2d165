"""Face captures to cluster from a capture archive (the disk sink's JSON Lines, `outputs/disk.py`).

For sites without the history: the archive holds every revision of a capture, so
only each capture's latest revision is kept, and only faces that carry a feature.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np

from vigil.outputs.disk import read_captures
from vigil.schemas.capture import Capture
from vigil.schemas.cluster import ClusterRequest
from vigil.schemas.errors import ErrorCode, VigilError
from vigil.schemas.target import TargetType


@dataclass(frozen=True)
class FaceCapture:
    """A `FaceRecord` made from a `Capture`."""

    capture_id: str
    camera_id: str
    captured_at: datetime
    quality: float
    model: str
    crop_jpeg: str | None


def selected(capture: Capture, request: ClusterRequest) -> bool:
    return (
        capture.target.type == TargetType.FACE
        and capture.target.feature is not None
        and (request.cameras is None or capture.camera_id in request.cameras)
        and (request.since is None or capture.captured_at >= request.since)
        and (request.until is None or capture.captured_at <= request.until)
    )


def face_captures(
    captures: Iterable[Capture], request: ClusterRequest
) -> tuple[list[FaceCapture], np.ndarray]:
    """The latest revision of each selected face capture, and its features (time-ordered)."""
    latest: dict[str, Capture] = {}
    for capture in captures:
        seen = latest.get(capture.capture_id)
        if selected(capture, request) and (seen is None or capture.revision > seen.revision):
            latest[capture.capture_id] = capture
    chosen = sorted(latest.values(), key=lambda c: (c.captured_at, c.capture_id))
    records = []
    vectors = []
    for c in chosen:
        feature = c.target.feature
        assert feature is not None  # selected() keeps only faces with a feature
        records.append(
            FaceCapture(
                capture_id=c.capture_id,
                camera_id=c.camera_id,
                captured_at=c.captured_at,
                quality=c.target.quality.score,
                model=feature.model,
                crop_jpeg=c.crop_jpeg,
            )
        )
        vectors.append(feature.vector())
    return records, np.stack(vectors) if vectors else np.zeros((0, 128), np.float32)


def archive_files(paths: Iterable[Path]) -> list[Path]:
    """JSON Lines files given, or found under given folders (`<camera>/captures-*.jsonl`)."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found += sorted(path.rglob("captures-*.jsonl"))
        elif path.is_file():
            found.append(path)
        else:
            raise VigilError(ErrorCode.FILE_NOT_FOUND, f"{path}: no such file or folder")
    return found


def archived_faces(
    paths: Iterable[Path], request: ClusterRequest
) -> tuple[list[FaceCapture], np.ndarray]:
    def captures() -> Iterable[Capture]:
        for path in archive_files(paths):
            try:
                yield from read_captures(path)
            except (ValueError, OSError) as exc:
                raise VigilError(ErrorCode.INVALID_OPTIONS, f"{path}: {exc}") from None

    return face_captures(captures(), request)
