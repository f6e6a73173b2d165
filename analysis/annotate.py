"""Draws targets on a picture so a person can check what was found."""

from __future__ import annotations

import cv2
import numpy as np

from vigil.schemas.target import Target, TargetType

COLOURS = {
    TargetType.FACE: (0, 220, 255),
    TargetType.PERSON: (80, 200, 60),
    TargetType.VEHICLE: (255, 120, 40),
}


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


def annotate(image: np.ndarray, targets: list[Target]) -> np.ndarray:
    """Return a copy of `image` with boxes, keypoints and labels drawn."""
    canvas = image.copy()
    scale = max(0.4, min(canvas.shape[:2]) / 900)
    thickness = max(1, round(scale * 2))
    for target in targets:
        colour = COLOURS[target.type]
        box = target.box
        top_left = (round(box.x1), round(box.y1))
        cv2.rectangle(canvas, top_left, (round(box.x2), round(box.y2)), colour, thickness)
        for point in target.keypoints or []:
            cv2.circle(canvas, (round(point.x), round(point.y)), thickness + 1, colour, -1)
        text = describe(target)
        (width, height), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale * 0.5, 1)
        y = max(height + 4, top_left[1])
        cv2.rectangle(
            canvas, (top_left[0], y - height - 4), (top_left[0] + width + 4, y), colour, -1
        )
        cv2.putText(
            canvas,
            text,
            (top_left[0] + 2, y - 3),
            cv2.FONT_HERSHEY_SIMPLEX,
            scale * 0.5,
            (0, 0, 0),
            1,
            cv2.LINE_AA,
        )
    return canvas
