"""A contact sheet: every capture's best shot in a grid, captioned, for a person to check.

Only captures a person would accept are on it (`annotate.worth_showing`). Each caption
says what the capture is and what was found on it, in text at least MIN_TEXT_PX high
(cap height), wrapped to the cell and never cut:

    person 4            face 11 of person 3     vehicle 1
    black top,          male, 31 y              white truck
    blue bottom                                 plate AB123CD
"""

from __future__ import annotations

import base64
import re
from collections.abc import Sequence

import cv2
import numpy as np

from vigil.analysis.annotate import (
    COLOURS,
    MIN_TEXT_PX,
    TextBlock,
    text_style,
    withheld_reason,
    worth_showing,
    wrap,
)
from vigil.schemas.capture import Capture

CAPTURE_CELL = 200  # a best shot's square, pixels: wide enough for a caption line in 12 px
# The cluster sheet (cluster/sheet.py) builds its own cells from these two:
CELL = 160
LABEL_HEIGHT = 34
CAPTION_PX = MIN_TEXT_PX
BACKGROUND = (32, 32, 32)
TEXT = (235, 235, 235)


def decode_crop(capture: Capture) -> np.ndarray | None:
    if not capture.crop_jpeg:
        return None
    data = np.frombuffer(base64.b64decode(capture.crop_jpeg), dtype=np.uint8)
    return cv2.imdecode(data, cv2.IMREAD_COLOR)


def short_id(track_id: str) -> str:
    """The track's number within its camera and type: "64e75d74.0.person12" -> "12"."""
    tail = track_id.rsplit("/", 1)[-1].rsplit(".", 1)[-1]
    number = re.search(r"\d+$", tail)
    return number.group() if number else tail


def known(colour) -> str | None:
    return colour.name if colour and colour.name != "unknown" else None


def caption(capture: Capture) -> list[str]:
    """Phrases, most important first: type and short id, then the main attributes."""
    target = capture.target
    title = f"{target.type.value} {short_id(capture.track_id)}"
    if capture.parent_capture_id:
        title += f" of person {short_id(capture.parent_capture_id)}"
    phrases = [title]
    face, person, vehicle = target.face, target.person, target.vehicle
    if face:
        words = []
        if face.gender:
            words.append(face.gender)
        if face.age is not None:
            words.append(f"{face.age:.0f} y")
        if words:
            phrases.append(", ".join(words))
        elif withheld_reason(target) == "too_small":
            phrases.append("too small for age, gender")
    if person:
        parts = []
        if upper := known(person.upper_colour):
            parts.append(f"{upper} top")
        if lower := known(person.lower_colour):
            parts.append(f"{lower} bottom")
        if parts:
            phrases.append(", ".join(parts))
    if vehicle:
        kind = vehicle.vehicle_type or target.label
        colour = known(vehicle.colour)
        phrases.append(f"{colour} {kind}" if colour else kind)
        if vehicle.plate:
            phrases.append(f"plate {vehicle.plate.text}")
    if len(phrases) == 1:
        phrases.append(f"at {capture.source_time:.1f} s")
    return phrases


def caption_lines(capture: Capture) -> list[tuple[str, bool]]:
    """The caption wrapped to the cell width; True marks lines of the title phrase."""
    scale, thickness = text_style(CAPTION_PX)
    width = CAPTURE_CELL - 2 * max(3, CAPTION_PX // 4)
    lines = []
    for index, phrase in enumerate(caption(capture)):
        lines += [(line, index == 0) for line in wrap(phrase, scale, thickness, width)]
    return lines


def cell(capture: Capture, caption_rows: int | None = None) -> np.ndarray:
    """The best shot fitted into a CAPTURE_CELL square, the caption (`caption_rows` lines) below."""
    lines = caption_lines(capture)
    block = TextBlock(["x"] * max(len(lines), caption_rows or 0), CAPTION_PX)
    tile = np.full((CAPTURE_CELL + block.height, CAPTURE_CELL, 3), BACKGROUND, dtype=np.uint8)
    crop = decode_crop(capture)
    if crop is not None and crop.size:
        scale = CAPTURE_CELL / max(crop.shape[:2])
        smooth = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
        resized = cv2.resize(crop, None, fx=scale, fy=scale, interpolation=smooth)
        h, w = (min(CAPTURE_CELL, side) for side in resized.shape[:2])
        y, x = (CAPTURE_CELL - h) // 2, (CAPTURE_CELL - w) // 2
        tile[y : y + h, x : x + w] = resized[:h, :w]
    title = COLOURS[capture.target.type]
    for row, (line, is_title) in enumerate(lines):
        # one block per line, so the title can take the type's colour
        single = TextBlock([line], CAPTION_PX)
        single.draw(tile, 0, CAPTURE_CELL + row * block.line_height, title if is_title else TEXT)
    return tile


def contact_sheet(captures: Sequence[Capture], columns: int = 8) -> np.ndarray:
    """One image with a captioned cell per capture worth showing, in the given order."""
    shown = [capture for capture in captures if worth_showing(capture.target)]
    rows_of_text = max((len(caption_lines(c)) for c in shown), default=2)
    if not shown:
        text = TextBlock(["x"] * rows_of_text, CAPTION_PX)
        return np.full((CAPTURE_CELL + text.height, CAPTURE_CELL, 3), BACKGROUND, dtype=np.uint8)
    cells = [cell(c, rows_of_text) for c in shown]
    rows = -(-len(cells) // columns)
    blank = np.full_like(cells[0], BACKGROUND)
    cells += [blank] * (rows * columns - len(cells))
    return np.vstack([np.hstack(cells[r * columns : (r + 1) * columns]) for r in range(rows)])
