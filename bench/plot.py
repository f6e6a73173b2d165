"""Line charts for benchmark results, drawn with OpenCV (already a dependency; a plotting
library would be one more for a few pictures). Same approach as tools/calibration/plot.py.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

WIDTH, PANEL_HEIGHT = 1000, 300
LEFT, RIGHT, TOP, BOTTOM = 80, 190, 40, 45
INK = (30, 30, 30)
GRID = (225, 225, 225)
FONT = cv2.FONT_HERSHEY_SIMPLEX
PALETTE = [  # BGR
    (180, 100, 30),
    (40, 40, 200),
    (60, 160, 40),
    (0, 140, 230),
    (160, 60, 160),
    (120, 120, 0),
    (80, 80, 80),
    (200, 160, 60),
]


@dataclass
class Series:
    label: str
    xs: list[float]
    ys: list[float]


@dataclass
class Panel:
    title: str
    y_label: str
    series: list[Series]


def text(canvas: np.ndarray, words: str, at: tuple[int, int], scale=0.42, colour=INK) -> None:
    cv2.putText(canvas, words, at, FONT, scale, colour, 1, cv2.LINE_AA)


def nice_top(value: float) -> float:
    """The smallest 1, 2 or 5 x 10^k at or above `value`: round axis ends."""
    if value <= 0 or not math.isfinite(value):
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    return next(step * power for step in (1, 2, 5, 10) if step * power >= value)


def draw_panel(canvas: np.ndarray, top: int, panel: Panel, x_range: tuple[float, float]) -> None:
    bottom, right = top + PANEL_HEIGHT - BOTTOM, WIDTH - RIGHT
    finite = [y for s in panel.series for y in s.ys if math.isfinite(y)]
    y_top = nice_top(max(finite, default=1.0) * 1.05)
    x0, x1 = x_range
    span = (x1 - x0) or 1.0

    def point(x: float, y: float) -> tuple[int, int]:
        return (
            round(LEFT + (x - x0) / span * (right - LEFT)),
            round(bottom - y / y_top * (bottom - top - TOP)),
        )

    for tick in np.linspace(0, y_top, 5):
        y = point(x0, float(tick))[1]
        cv2.line(canvas, (LEFT, y), (right, y), GRID, 1)
        text(canvas, f"{tick:g}", (8, y + 4))
    for tick in np.linspace(x0, x1, 6):
        x = point(float(tick), 0)[0]
        cv2.line(canvas, (x, bottom), (x, bottom + 4), INK, 1)
        text(canvas, f"{tick:.3g}", (x - 12, bottom + 18))
    cv2.rectangle(canvas, (LEFT, top + TOP), (right, bottom), INK, 1)
    text(canvas, panel.title, (LEFT, top + TOP - 12), 0.55)
    text(canvas, panel.y_label, (8, top + TOP - 12))
    for index, series in enumerate(panel.series):
        colour = PALETTE[index % len(PALETTE)]
        pairs = zip(series.xs, series.ys, strict=True)
        points = [point(x, y) for x, y in pairs if math.isfinite(y)]
        if len(points) > 1:
            cv2.polylines(canvas, [np.array(points, np.int32)], False, colour, 2, cv2.LINE_AA)
        for p in points:
            cv2.circle(canvas, p, 3, colour, -1, cv2.LINE_AA)
        y = top + TOP + 14 + 18 * index
        cv2.line(canvas, (right + 10, y - 4), (right + 30, y - 4), colour, 2)
        text(canvas, series.label[:24], (right + 36, y))


def draw(panels: list[Panel], x_label: str, path: Path) -> None:
    """Stacked panels sharing one x axis, written as a PNG."""
    xs = [x for panel in panels for s in panel.series for x in s.xs]
    x_range = (min(xs, default=0.0), max(xs, default=1.0))
    canvas = np.full((PANEL_HEIGHT * len(panels) + 20, WIDTH, 3), 255, np.uint8)
    for index, panel in enumerate(panels):
        draw_panel(canvas, index * PANEL_HEIGHT, panel, x_range)
    text(canvas, x_label, (WIDTH // 2 - 60, canvas.shape[0] - 8), 0.5)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), canvas):
        raise OSError(f"could not write {path}")
