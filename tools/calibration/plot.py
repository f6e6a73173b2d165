"""A PNG histogram of genuine and impostor distances with the thresholds, drawn with OpenCV.

OpenCV is already a dependency; a plotting library would be one more for one picture.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from tools.calibration.stats import Estimate, Pairs

WIDTH, HEIGHT = 900, 460
LEFT, RIGHT, TOP, BOTTOM = 60, 20, 70, 50
RANGE = (0.0, 1.2)
BINS = 60
GENUINE = (60, 160, 40)  # BGR
IMPOSTOR = (40, 40, 200)
THRESHOLD = (120, 60, 0)
INK = (30, 30, 30)
FONT = cv2.FONT_HERSHEY_SIMPLEX


def x_of(distance: float) -> int:
    span = RANGE[1] - RANGE[0]
    return round(LEFT + (distance - RANGE[0]) / span * (WIDTH - LEFT - RIGHT))


def y_of(share: float, top_share: float) -> int:
    return round(HEIGHT - BOTTOM - share / top_share * (HEIGHT - BOTTOM - TOP))


def shares(values: np.ndarray) -> np.ndarray:
    counts, _ = np.histogram(np.clip(values, *RANGE), bins=BINS, range=RANGE)
    return counts / max(1, values.size)


def draw_axes(canvas: np.ndarray, top_share: float) -> None:
    bottom = HEIGHT - BOTTOM
    cv2.line(canvas, (LEFT, bottom), (WIDTH - RIGHT, bottom), INK, 1)
    cv2.line(canvas, (LEFT, TOP), (LEFT, bottom), INK, 1)
    for tick in np.arange(RANGE[0], RANGE[1] + 1e-9, 0.1):
        x = x_of(float(tick))
        cv2.line(canvas, (x, bottom), (x, bottom + 5), INK, 1)
        cv2.putText(canvas, f"{tick:.1f}", (x - 12, bottom + 20), FONT, 0.4, INK, 1, cv2.LINE_AA)
    for share in np.linspace(0, top_share, 5):
        y = y_of(float(share), top_share)
        cv2.putText(canvas, f"{100 * share:.0f}%", (8, y + 4), FONT, 0.4, INK, 1, cv2.LINE_AA)
    cv2.putText(
        canvas, "L2 distance", (WIDTH // 2 - 40, HEIGHT - 10), FONT, 0.5, INK, 1, cv2.LINE_AA
    )


def draw_histogram(canvas: np.ndarray, values: np.ndarray, colour, top_share: float) -> None:
    width = (RANGE[1] - RANGE[0]) / BINS
    points = []
    for index, share in enumerate(shares(values)):
        left, right = RANGE[0] + index * width, RANGE[0] + (index + 1) * width
        y = y_of(float(share), top_share)
        points += [(x_of(left), y), (x_of(right), y)]
    cv2.polylines(canvas, [np.array(points, np.int32)], False, colour, 2, cv2.LINE_AA)


def draw(pairs: Pairs, estimates: list[Estimate], path: Path) -> None:
    canvas = np.full((HEIGHT, WIDTH, 3), 255, np.uint8)
    top_share = 1.1 * max(shares(pairs.genuine).max(), shares(pairs.impostor).max())
    draw_axes(canvas, top_share)
    draw_histogram(canvas, pairs.genuine, GENUINE, top_share)
    draw_histogram(canvas, pairs.impostor, IMPOSTOR, top_share)
    for row, estimate in enumerate(estimates):
        x = x_of(estimate.distance)
        cv2.line(canvas, (x, TOP - 14 * (row % 2)), (x, HEIGHT - BOTTOM), THRESHOLD, 1)
        tag = f"{estimate.far:g}"
        (width, _), _ = cv2.getTextSize(tag, FONT, 0.4, 1)
        cv2.putText(
            canvas,
            tag,
            (x - width // 2, TOP - 4 - 14 * (row % 2)),
            FONT,
            0.4,
            THRESHOLD,
            1,
            cv2.LINE_AA,
        )
    thresholds = ", ".join(f"FAR {e.far:g} at {e.distance:.3f}" for e in estimates)
    legend = (
        (f"genuine pairs ({pairs.genuine.size})", GENUINE),
        (f"impostor pairs ({pairs.impostor.size})", IMPOSTOR),
    )
    cv2.putText(
        canvas,
        f"thresholds (blue): {thresholds}",
        (LEFT, 42),
        FONT,
        0.45,
        THRESHOLD,
        1,
        cv2.LINE_AA,
    )
    for row, (text, colour) in enumerate(legend):
        y = TOP + 20 + 18 * row
        cv2.line(canvas, (LEFT + 20, y - 4), (LEFT + 45, y - 4), colour, 2)
        cv2.putText(canvas, text, (LEFT + 52, y), FONT, 0.45, INK, 1, cv2.LINE_AA)
    cv2.putText(
        canvas,
        "face_resnet128: share of pairs per 0.02 of distance",
        (LEFT, 22),
        FONT,
        0.55,
        INK,
        1,
        cv2.LINE_AA,
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), canvas):
        raise OSError(f"could not write {path}")
