"""A contact sheet: every capture's best shot in a grid, labelled, for a person to check."""

from __future__ import annotations

import base64
from collections.abc import Sequence

import cv2
import numpy as np

from vigil.schemas.capture import Capture

CELL = 160
LABEL_HEIGHT = 34
BACKGROUND = (32, 32, 32)


def decode_crop(capture: Capture) -> np.ndarray | None:
    if not capture.crop_jpeg:
        return None
    data = np.frombuffer(base64.b64decode(capture.crop_jpeg), dtype=np.uint8)
    return cv2.imdecode(data, cv2.IMREAD_COLOR)


def caption(capture: Capture) -> tuple[str, str]:
    target = capture.target
    details = []
    if target.face and target.face.gender:
        details.append(f"{target.face.gender} {target.face.age or 0:.0f}")
    if target.person and target.person.upper_colour and target.person.lower_colour:
        details.append(f"{target.person.upper_colour.name}/{target.person.lower_colour.name}")
    if target.vehicle and target.vehicle.colour:
        details.append(target.vehicle.colour.name)
    if target.vehicle and target.vehicle.plate:
        details.append(target.vehicle.plate.text)
    first = f"{target.label} {capture.track_id.rsplit('.', 1)[-1]} q{target.quality.score:.2f}"
    return first, " ".join(details) or f"t={capture.source_time:.1f}s"


def cell(capture: Capture) -> np.ndarray:
    tile = np.full((CELL + LABEL_HEIGHT, CELL, 3), BACKGROUND, dtype=np.uint8)
    crop = decode_crop(capture)
    if crop is not None and crop.size:
        scale = CELL / max(crop.shape[:2])
        resized = cv2.resize(crop, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        h, w = resized.shape[:2]
        y, x = (CELL - h) // 2, (CELL - w) // 2
        tile[y : y + h, x : x + w] = resized
    for row, text in enumerate(caption(capture)):
        cv2.putText(
            tile,
            text,
            (3, CELL + 13 + row * 15),
            cv2.FONT_HERSHEY_SIMPLEX,
            0.38,
            (235, 235, 235),
            1,
            cv2.LINE_AA,
        )
    return tile


def contact_sheet(captures: Sequence[Capture], columns: int = 8) -> np.ndarray:
    """One image with a labelled cell per capture, in the given order."""
    if not captures:
        return np.full((CELL + LABEL_HEIGHT, CELL, 3), BACKGROUND, dtype=np.uint8)
    cells = [cell(c) for c in captures]
    rows = -(-len(cells) // columns)
    blank = np.full_like(cells[0], BACKGROUND)
    cells += [blank] * (rows * columns - len(cells))
    return np.vstack([np.hstack(cells[r * columns : (r + 1) * columns]) for r in range(rows)])
