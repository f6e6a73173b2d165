"""A contact sheet of clusters: one row per identity, its best shot first, then members.

For a person to check a clustering at a glance: a wrong member stands out in its row.
Cells follow `vigil.analysis.contact_sheet` (size, colours), captioned per capture.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from typing import Protocol

import cv2
import numpy as np

from vigil.analysis.contact_sheet import BACKGROUND, CELL, LABEL_HEIGHT
from vigil.schemas.cluster import Cluster

COLUMNS = 8
MAX_ROWS = 50


class Cropped(Protocol):
    @property
    def crop_jpeg(self) -> str | None: ...
    @property
    def quality(self) -> float: ...


def tile(record: Cropped | None, text: str) -> np.ndarray:
    cell = np.full((CELL + LABEL_HEIGHT, CELL, 3), BACKGROUND, dtype=np.uint8)
    data = getattr(record, "crop_jpeg", None)
    crop = cv2.imdecode(np.frombuffer(base64.b64decode(data), np.uint8), 1) if data else None
    if crop is not None and crop.size:
        scale = CELL / max(crop.shape[:2])
        resized = cv2.resize(crop, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        h, w = resized.shape[:2]
        cell[(CELL - h) // 2 : (CELL - h) // 2 + h, (CELL - w) // 2 : (CELL - w) // 2 + w] = resized
    cv2.putText(cell, text, (3, CELL + 20), cv2.FONT_HERSHEY_SIMPLEX, 0.38, (235, 235, 235), 1)
    return cell


def cluster_sheet(clusters: Sequence[Cluster], records: Mapping[str, Cropped]) -> np.ndarray:
    """Rows of COLUMNS cells: the representative (captioned with the size), then members."""
    rows: list[np.ndarray] = []
    for cluster in clusters[:MAX_ROWS]:
        best = cluster.representative.capture_id
        others = [m for m in cluster.members if m != best][: COLUMNS - 1]
        cells = [tile(records.get(best), f"#{len(rows) + 1} n={cluster.size} best")]
        cells += [
            tile(records.get(m), f"q{records[m].quality:.2f}" if m in records else m)
            for m in others
        ]
        cells += [tile(None, "")] * (COLUMNS - len(cells))
        rows.append(np.hstack(cells))
    return np.vstack(rows) if rows else tile(None, "no clusters")
