"""What `vigil demo` shows a person: annotated pictures and the contact sheet, on synthetic
pictures (no models): labels legible and inside the picture, captions that say what was
found, and no face capture a person would not accept."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import cv2
import numpy as np
import pytest

from vigil.analysis.annotate import (
    MIN_OUTPUT_SIDE,
    MIN_TEXT_PX,
    annotate,
    place_label,
    text_style,
    worth_showing,
    wrap,
)
from vigil.analysis.contact_sheet import (
    BACKGROUND,
    CAPTURE_CELL,
    caption,
    cell,
    contact_sheet,
)
from vigil.analysis.face_gate import MIN_CAPTURE_FACE
from vigil.schemas.capture import Capture, CaptureEvent
from vigil.schemas.geometry import Box, FrameSize
from vigil.schemas.target import (
    ColourAttribute,
    FaceAttributes,
    PersonAttributes,
    Plate,
    Quality,
    QualityParts,
    Target,
    TargetType,
    VehicleAttributes,
)

GREY = 128
PARTS = QualityParts(detector=0.9, size=1, sharpness=1, pose=1, edge=1)


def target(kind: TargetType, box: tuple[float, float, float, float], **extra) -> Target:
    label = {"vehicle": "truck"}.get(kind.value, kind.value)
    return Target(
        id=0,
        type=kind,
        label=label,
        box=Box.from_xyxy(box),
        score=0.9,
        quality=Quality(score=0.8, parts=PARTS),
        **extra,
    )


def colour(name: str) -> ColourAttribute:
    return ColourAttribute(name=name, fraction=0.8)


def ink(canvas: np.ndarray) -> tuple[int, int, int, int]:
    """Bounding box (x1, y1, x2, y2 inclusive) of the label text: the only dark pixels on a
    grey picture with bright boxes and label backgrounds."""
    dark = canvas.max(axis=2) < 60
    ys, xs = np.nonzero(dark)
    assert xs.size, "no label text drawn"
    return int(xs.min()), int(ys.min()), int(xs.max()), int(ys.max())


def grey(width: int, height: int) -> np.ndarray:
    return np.full((height, width, 3), GREY, np.uint8)


# --- annotated pictures -------------------------------------------------------------------

W, H = 640, 480
EDGE_BOXES = {
    "top-left": (0, 0, 120, 200),
    "top": (260, 0, 380, 200),
    "top-right": (520, 0, 640, 200),
    "right": (560, 150, 640, 330),
    "bottom-right": (520, 280, 640, 480),
    "bottom": (260, 280, 380, 480),
    "bottom-left": (0, 280, 120, 480),
    "left": (0, 150, 80, 330),
    "whole picture": (0, 0, 640, 480),
}


@pytest.mark.parametrize("where", EDGE_BOXES)
def test_label_inside_the_picture_for_boxes_at_each_edge(where):
    box = EDGE_BOXES[where]
    person = target(
        TargetType.PERSON,
        box,
        person=PersonAttributes(upper_colour=colour("black"), lower_colour=colour("blue")),
    )
    canvas = annotate(grey(W, H), [person])
    assert canvas.shape[:2] == (H, W)
    x1, y1, x2, y2 = ink(canvas)
    # the text is whole: clear of every edge, on its filled background
    assert x1 >= 2 and y1 >= 2 and x2 <= W - 3 and y2 <= H - 3, (where, (x1, y1, x2, y2))
    assert y2 - y1 + 1 >= MIN_TEXT_PX
    fill = canvas[y1 - 1, x1 - 1]
    assert tuple(int(v) for v in fill) == (80, 200, 60), "label has no filled background"
    if where == "whole picture":
        return
    if box[1] == 0:  # no room above: below the box, not on the target
        assert y1 >= box[3]
    else:
        assert y2 < box[1]
    if box[2] == W:  # would run off the right edge: shifted left of the box
        assert x1 < box[0]


@pytest.mark.parametrize("size", [(176, 144), (352, 288), (640, 480), (1280, 720), (4000, 3000)])
def test_label_text_at_least_12_px_on_any_picture(size):
    width, height = size
    face = target(
        TargetType.FACE,
        (width * 0.4, height * 0.4, width * 0.55, height * 0.6),
        face=FaceAttributes(age=31.4, gender="male"),
    )
    canvas = annotate(grey(width, height), [face])
    assert min(canvas.shape[:2]) >= min(MIN_OUTPUT_SIDE, min(size))
    x1, y1, x2, y2 = ink(canvas)
    assert y2 - y1 + 1 >= MIN_TEXT_PX
    assert x1 > 0 and y1 > 0 and x2 < canvas.shape[1] - 1 and y2 < canvas.shape[0] - 1


def test_cap_height_measured_on_rendered_text():
    """An "H" drawn at the label style is 12 px of ink, not getTextSize's nominal 12 px."""
    scale, thickness = text_style(MIN_TEXT_PX)
    board = np.zeros((60, 60), np.uint8)
    cv2.putText(board, "H", (10, 40), cv2.FONT_HERSHEY_SIMPLEX, scale, 255, thickness, cv2.LINE_AA)
    rows = np.flatnonzero(board.max(axis=1) >= 128)
    assert rows[-1] - rows[0] + 1 >= MIN_TEXT_PX


def test_small_picture_is_upscaled_and_label_does_not_hide_the_target():
    small = grey(176, 144)
    person = target(TargetType.PERSON, (70, 40, 110, 130))
    canvas = annotate(small, [person])
    factor = MIN_OUTPUT_SIDE / 144
    assert canvas.shape[:2] == (MIN_OUTPUT_SIDE, round(176 * factor))
    # the box is drawn where the target is, scaled
    assert tuple(canvas[round(85 * factor), round(70 * factor)]) == (80, 200, 60)
    _, y1, _, y2 = ink(canvas)
    assert y2 < 40 * factor, "label covers the target"
    assert y2 - y1 + 1 >= MIN_TEXT_PX


def test_labels_of_neighbours_do_not_cover_each_other():
    left = target(TargetType.PERSON, (100, 100, 200, 300))
    right = target(TargetType.PERSON, (110, 110, 210, 310))
    first = place_label((100, 100, 200, 300), (150, 20), (W, H))
    second = place_label((110, 110, 210, 310), (150, 20), (W, H), [first])
    assert first[3] <= second[1] or second[3] <= first[1]
    annotate(grey(W, H), [left, right])  # draws without error


def test_long_label_is_wrapped_to_the_picture_width():
    scale, thickness = text_style(MIN_TEXT_PX)
    lines = wrap("#0 truck 0.90 q0.80 white ABCDEFGHIJKLMNOPQRSTUVWXYZ", scale, thickness, 120)
    assert len(lines) > 2
    for line in lines:
        assert cv2.getTextSize(line, cv2.FONT_HERSHEY_SIMPLEX, scale, thickness)[0][0] <= 120


def test_untrustworthy_and_too_small_faces_are_not_drawn():
    fine = target(TargetType.FACE, (100, 100, 160, 170), face=FaceAttributes(age=30))
    not_a_face = target(
        TargetType.FACE, (300, 100, 360, 170), face=FaceAttributes(withheld="not_a_face")
    )
    tiny = target(TargetType.FACE, (500, 100, 500 + MIN_CAPTURE_FACE - 2, 130))
    assert worth_showing(fine)
    assert not worth_showing(not_a_face) and not worth_showing(tiny)
    canvas = annotate(grey(W, H), [fine, not_a_face, tiny])
    yellow = np.all(canvas == (0, 220, 255), axis=2)
    assert yellow[:, 90:200].any()
    assert not yellow[:, 290:].any()


# --- contact sheet ------------------------------------------------------------------------

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def capture(kind: TargetType, number: int, parent: int | None = None, **extra) -> Capture:
    track = f"64e75d74.0.{kind.value}{number}"
    crop = np.full((60, 40, 3), 90, np.uint8)
    jpeg = base64.b64encode(cv2.imencode(".jpg", crop)[1].tobytes()).decode()
    return Capture(
        capture_id=f"cam/{track}",
        event=CaptureEvent.END,
        revision=1,
        camera_id="cam",
        track_id=track,
        target=target(kind, extra.pop("box", (10, 10, 50, 70)), **extra),
        crop_jpeg=jpeg,
        frame_index=3,
        source_time=1.5,
        captured_at=NOW,
        frame_size=FrameSize(width=768, height=576),
        first_seen=NOW,
        last_seen=NOW,
        frames_seen=4,
        parent_capture_id=f"cam/64e75d74.0.person{parent}" if parent is not None else None,
    )


def test_captions_say_type_short_id_and_main_attributes():
    face = capture(TargetType.FACE, 11, parent=3, face=FaceAttributes(age=31.4, gender="male"))
    person = capture(
        TargetType.PERSON,
        4,
        person=PersonAttributes(upper_colour=colour("black"), lower_colour=colour("blue")),
    )
    vehicle = capture(
        TargetType.VEHICLE,
        1,
        vehicle=VehicleAttributes(
            vehicle_type="truck",
            colour=colour("white"),
            plate=Plate(text="AB123CD", confidence=0.9),
        ),
    )
    assert caption(face) == ["face 11 of person 3", "male, 31 y"]
    assert caption(person) == ["person 4", "black top, blue bottom"]
    assert caption(vehicle) == ["vehicle 1", "white truck", "plate AB123CD"]


def test_caption_of_a_face_without_attributes():
    small = capture(
        TargetType.FACE, 7, face=FaceAttributes(withheld="too_small"), box=(10, 10, 34, 38)
    )
    assert caption(small) == ["face 7", "too small for age, gender"]
    unknown = capture(
        TargetType.PERSON,
        2,
        person=PersonAttributes(upper_colour=colour("red"), lower_colour=colour("unknown")),
    )
    assert caption(unknown) == ["person 2", "red top"]


def test_caption_legible_and_not_cut():
    vehicle = capture(
        TargetType.VEHICLE,
        12,
        vehicle=VehicleAttributes(
            vehicle_type="motorcycle",
            colour=colour("yellow"),
            plate=Plate(text="VERYLONGPLATE1234567890", confidence=0.9),
        ),
    )
    tile = cell(vehicle)
    text = tile[CAPTURE_CELL:]
    lit = text.max(axis=2) > 100
    rows = np.flatnonzero(lit.any(axis=1))
    columns = np.flatnonzero(lit.any(axis=0))
    assert columns.max() < tile.shape[1] - 2 and rows.max() < text.shape[0] - 2
    # first line: the title, cap height at least 12 px (digits are capital height)
    first = rows[rows < rows[0] + 2 * MIN_TEXT_PX]
    gaps = np.flatnonzero(np.diff(first) > 1)
    title_rows = first[: gaps[0] + 1] if gaps.size else first
    assert title_rows[-1] - title_rows[0] + 1 >= MIN_TEXT_PX


def test_withheld_and_small_faces_are_not_on_the_sheet():
    person = capture(TargetType.PERSON, 1)
    fine = capture(TargetType.FACE, 2, parent=1, face=FaceAttributes(age=40, gender="female"))
    not_a_face = capture(TargetType.FACE, 3, face=FaceAttributes(withheld="not_a_face"))
    tiny = capture(TargetType.FACE, 4, box=(10, 10, 10 + MIN_CAPTURE_FACE - 1, 40))
    sheet = contact_sheet([person, not_a_face, fine, tiny], columns=8)
    assert sheet.shape[1] == CAPTURE_CELL * 8
    filled = [
        column
        for column in range(8)
        if not np.all(sheet[:, column * CAPTURE_CELL : (column + 1) * CAPTURE_CELL] == BACKGROUND)
    ]
    assert filled == [0, 1], "only the person and the fine face are on the sheet"
    assert contact_sheet([not_a_face, tiny]).shape[1] == CAPTURE_CELL  # an empty sheet
    alone = contact_sheet([fine], columns=1)
    assert np.array_equal(alone, contact_sheet([not_a_face, fine, tiny], columns=1))
