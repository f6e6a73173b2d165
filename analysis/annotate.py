"""Draws targets on a picture so a person can check what was found.

What a person sees (issue 11, "the first impression"):
- only targets a person would accept (`worth_showing`): no face the face mesh does not
  take for a face, none smaller than a capture is allowed to be;
- label text whose cap height (the ink of an "H", measured by rendering it: the height
  `cv2.getTextSize` reports is about 3 px more than the ink) is at least MIN_TEXT_PX on
  the output picture, larger on large pictures;
- labels on a filled background, never cut by the picture edge: above the box when there
  is room, else below it, else inside its top; shifted left when they would run off the
  right edge; wrapped onto more lines when wider than the picture; a position that would
  cover a label already drawn is skipped when another is free;
- a picture whose short side is under MIN_OUTPUT_SIDE is upscaled for the drawing: a
  one-line label at 12 px is about 200-300 px wide, so on a 176x144 picture it would
  cover most of the picture (and its targets); at 480 px it takes a line above the box.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import cv2
import numpy as np

from vigil.analysis.face_gate import MIN_CAPTURE_FACE
from vigil.schemas.target import Target, TargetType

COLOURS = {
    TargetType.FACE: (0, 220, 255),
    TargetType.PERSON: (80, 200, 60),
    TargetType.VEHICLE: (255, 160, 60),
}
FONT = cv2.FONT_HERSHEY_SIMPLEX
MIN_TEXT_PX = 12  # cap height of label text on the output picture
MIN_OUTPUT_SIDE = 480  # smaller pictures are upscaled for the annotated copy
TEXT_FRACTION = 1 / 50  # cap height against the output's short side, above the minimum
# Withheld reasons that leave a face capture showable: a too-small face (20-32 px) is a
# face, only its age, gender and feature are left out. Any other reason (not_a_face, or
# one added later) means the target itself is not to be trusted.
SHOWABLE_WITHHELD = frozenset({"too_small"})

Rect = tuple[int, int, int, int]  # x1, y1, x2, y2 (exclusive)


def withheld_reason(target: Target) -> str | None:
    """The face's `withheld` reason as a string, None when not set (or not a face)."""
    reason = getattr(target.face, "withheld", None) if target.face else None
    if reason is None:
        return None
    return str(getattr(reason, "value", reason))


def worth_showing(target: Target) -> bool:
    """False for a face a person would not accept: flagged untrustworthy, or too small."""
    if target.type != TargetType.FACE:
        return True
    if min(target.box.width, target.box.height) < MIN_CAPTURE_FACE:
        return False
    reason = withheld_reason(target)
    return reason is None or reason in SHOWABLE_WITHHELD


def describe(target: Target) -> str:
    """Short label: class, score and the most telling attributes."""
    words = [f"#{target.id} {target.label} {target.score:.2f} q{target.quality.score:.2f}"]
    if target.face and target.face.gender:
        words.append(f"{target.face.gender} {target.face.age or 0:.0f}y")
    if target.person and target.person.upper_colour and target.person.lower_colour:
        words.append(f"{target.person.upper_colour.name}/{target.person.lower_colour.name}")
    if target.vehicle:
        if target.vehicle.colour:
            words.append(target.vehicle.colour.name)
        if target.vehicle.plate:
            words.append(target.vehicle.plate.text)
    return " ".join(words)


@lru_cache(maxsize=64)
def text_style(cap_px: int) -> tuple[float, int]:
    """Font scale and thickness whose rendered "H" is at least `cap_px` pixels high."""
    thickness = max(1, round(cap_px / 12))
    scale = cap_px / 21  # Hershey simplex capitals are 21 units high at scale 1
    while ink_height("H", scale, thickness) < cap_px:
        scale *= 1.04
    return scale, thickness


def ink_height(text: str, scale: float, thickness: int) -> int:
    """Rows of pixels `text` covers when drawn (anti-aliased ink at half intensity or more)."""
    (width, height), baseline = cv2.getTextSize(text, FONT, scale, thickness)
    pad = 4 + thickness
    board = np.zeros((height + baseline + 2 * pad, width + 2 * pad), np.uint8)
    cv2.putText(board, text, (pad, pad + height), FONT, scale, 255, thickness, cv2.LINE_AA)
    rows = np.flatnonzero(board.max(axis=1) >= 128)
    return int(rows[-1] - rows[0] + 1) if rows.size else 0


def text_width(text: str, scale: float, thickness: int) -> int:
    return cv2.getTextSize(text, FONT, scale, thickness)[0][0] + thickness


def wrap(text: str, scale: float, thickness: int, max_width: int) -> list[str]:
    """Greedy word wrap to lines no wider than `max_width` (long words are cut)."""
    lines: list[str] = []
    for word in text.split():
        if lines and text_width(f"{lines[-1]} {word}", scale, thickness) <= max_width:
            lines[-1] = f"{lines[-1]} {word}"
            continue
        while len(word) > 1 and text_width(word, scale, thickness) > max_width:
            cut = len(word) - 1
            while cut > 1 and text_width(word[:cut], scale, thickness) > max_width:
                cut -= 1
            lines.append(word[:cut])
            word = word[cut:]
        lines.append(word)
    return lines or [""]


class TextBlock:
    """Lines of text at one cap height, with its padding and line spacing."""

    def __init__(self, lines: Sequence[str], cap_px: int):
        self.lines = list(lines)
        self.cap = cap_px
        self.scale, self.thickness = text_style(cap_px)
        self.pad = max(3, cap_px // 4)
        self.line_height = cap_px + -(-cap_px // 2)  # room for descenders and a gap
        self.width = max(text_width(line, self.scale, self.thickness) for line in self.lines)
        self.width += 2 * self.pad
        descent = -(-cap_px * 2 // 5)  # "g", "p", "y" reach 1/3 of the cap height below
        self.height = 2 * self.pad + (len(self.lines) - 1) * self.line_height + cap_px + descent

    def draw(self, canvas: np.ndarray, x: int, y: int, colour: tuple[int, int, int]) -> None:
        """Draw at top-left (x, y); `colour` is the text's, on whatever is underneath."""
        for row, line in enumerate(self.lines):
            baseline = y + self.pad + row * self.line_height + self.cap
            cv2.putText(
                canvas,
                line,
                (x + self.pad, baseline),
                FONT,
                self.scale,
                colour,
                self.thickness,
                cv2.LINE_AA,
            )


def text_colour(fill: tuple[int, int, int]) -> tuple[int, int, int]:
    blue, green, red = fill
    luminance = 0.114 * blue + 0.587 * green + 0.299 * red
    return (0, 0, 0) if luminance >= 128 else (255, 255, 255)


def overlaps(a: Rect, b: Rect) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def place_label(
    box: Rect, size: tuple[int, int], picture: tuple[int, int], taken: Sequence[Rect] = ()
) -> Rect:
    """Where a label of `size` (w, h) goes for `box` on a picture of `picture` (w, h).

    Always inside the picture: above the box, else below it, else inside its top (then
    inside its bottom); left-aligned with the box, shifted left when it would run off
    the right edge. The first of these positions not covering a rectangle in `taken`
    wins; when all do, the first that fits.
    """
    width, height = size
    picture_w, picture_h = picture
    x1, y1, _, y2 = box
    x = max(0, min(x1, picture_w - width))
    lowest = max(0, picture_h - height)
    candidates = []
    if y1 - height >= 0:
        candidates.append(y1 - height)
    if y2 + height <= picture_h:
        candidates.append(y2)
    candidates += [max(0, min(y1, lowest)), max(0, min(y2 - height, lowest))]
    rects = [(x, y, x + width, y + height) for y in candidates]
    for rect in rects:
        if not any(overlaps(rect, other) for other in taken):
            return rect
    return rects[0]


def output_scale(shape: tuple[int, ...]) -> float:
    """Factor the annotated copy is enlarged by: 1, or up to a MIN_OUTPUT_SIDE short side."""
    return max(1.0, MIN_OUTPUT_SIDE / max(1, min(shape[:2])))


def cap_height(shape: tuple[int, ...]) -> int:
    """Label cap height on an output picture of `shape`."""
    return max(MIN_TEXT_PX, round(min(shape[:2]) * TEXT_FRACTION))


def annotate(image: np.ndarray, targets: list[Target]) -> np.ndarray:
    """A copy of `image` with boxes, keypoints and labels drawn, for the targets worth
    showing; pictures with a short side under MIN_OUTPUT_SIDE come back enlarged to it."""
    factor = output_scale(image.shape)
    if factor > 1:
        canvas = cv2.resize(image, None, fx=factor, fy=factor, interpolation=cv2.INTER_CUBIC)
    else:
        canvas = image.copy()
    picture_h, picture_w = canvas.shape[:2]
    cap = cap_height(canvas.shape)
    line = max(2, round(cap / 6))
    shown = [target for target in targets if worth_showing(target)]
    boxes: list[Rect] = []
    for target in shown:
        colour = COLOURS[target.type]
        x1, y1, x2, y2 = (round(v * factor) for v in target.box.as_list())
        x1, x2 = max(0, min(x1, picture_w - 1)), max(0, min(x2, picture_w - 1))
        y1, y2 = max(0, min(y1, picture_h - 1)), max(0, min(y2, picture_h - 1))
        boxes.append((x1, y1, x2, y2))
        cv2.rectangle(canvas, (x1, y1), (x2, y2), colour, line)
        for point in target.keypoints or []:
            centre = (round(point.x * factor), round(point.y * factor))
            cv2.circle(canvas, centre, line + 1, colour, -1)
    taken: list[Rect] = []
    for target, box in zip(shown, boxes, strict=True):
        colour = COLOURS[target.type]
        scale, thickness = text_style(cap)
        pad = max(3, cap // 4)
        block = TextBlock(wrap(describe(target), scale, thickness, picture_w - 2 * pad), cap)
        rect = place_label(box, (block.width, block.height), (picture_w, picture_h), taken)
        taken.append(rect)
        cv2.rectangle(canvas, rect[:2], (rect[2] - 1, rect[3] - 1), colour, -1)
        block.draw(canvas, rect[0], rect[1], text_colour(colour))
    return canvas
