"""Cheap motion detection, to run the expensive detectors only where something moves."""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np


@dataclass(frozen=True)
class MotionResult:
    """Where the frame moved: `boxes` are [x1, y1, x2, y2] int32 in full-frame pixels."""

    boxes: list[np.ndarray] = field(default_factory=list)
    fraction: float = 0.0  # of the frame's pixels that changed
    lighting_change: bool = False  # the frame changed almost everywhere at once


class MotionDetector:
    """Frame differencing against a running-average background, on a tiny grey copy.

    As Frigate does: a 160-px-wide blurred grey frame makes this cost a fraction of a
    millisecond and ignores sensor noise; the running average (`alpha`) absorbs slow
    change and things that stop moving. It also leaves a trail: for a second or two a
    walker's background still holds where they were, so their blob stretches behind them
    (vtest.avi: motion boxes twice a walker's width). Each blob's box is therefore cut
    to the part that also changed since the previous frame, where the thing moving is
    now; a blob with no such part (something that just stopped, a slow change) keeps
    its whole box. When more than `lighting_fraction` of the frame
    changes at once it is a lighting change (lights on, auto-exposure, IR switch, a
    cloud), not motion: the background is replaced by the current frame and no motion
    is reported, so that one event does not flood the detectors. The first frame (and a
    change of resolution) only sets the background.

        detector = MotionDetector()
        result = detector.detect(frame.image)  # result.boxes: regions worth detecting in
    """

    def __init__(
        self,
        width: int = 160,
        threshold: int = 25,
        min_area_fraction: float = 0.0005,
        alpha: float = 0.1,
        dilate: int = 2,
        lighting_fraction: float = 0.5,
    ) -> None:
        self.width = width
        self.threshold = threshold
        self.min_area_fraction = min_area_fraction
        self.alpha = alpha
        self.dilate = dilate
        self.lighting_fraction = lighting_fraction
        self._background: np.ndarray | None = None  # float32, running average
        self._previous: np.ndarray | None = None  # the last frame's small grey copy
        self._kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (3, 3))

    def reset(self) -> None:
        """Forget the background (after a camera moved or a scene cut)."""
        self._background = None
        self._previous = None

    def detect(self, frame_bgr: np.ndarray) -> MotionResult:
        small = self._prepare(frame_bgr)
        previous, self._previous = self._previous, small
        background = self._background
        if background is None or background.shape != small.shape:
            self._background = small.astype(np.float32)
            return MotionResult()
        mask = self._changed(small, cv2.convertScaleAbs(background))
        fraction = cv2.countNonZero(mask) / mask.size
        if fraction > self.lighting_fraction:
            self._background = small.astype(np.float32)
            return MotionResult(lighting_change=True)
        cv2.accumulateWeighted(small, background, self.alpha)
        if fraction == 0.0:
            return MotionResult()
        recent = None
        if previous is not None and previous.shape == small.shape:
            recent = self._changed(small, previous)
        boxes = self._boxes(mask, recent, frame_bgr.shape[1] / small.shape[1], frame_bgr.shape[:2])
        return MotionResult(boxes, fraction)

    def snapshot(self) -> np.ndarray | None:
        """The last frame as this detector sees it (small, grey, blurred), to compare a
        later frame with (`changed_since`); None before the first frame."""
        return None if self._previous is None else self._previous.copy()

    def changed_since(self, snapshot: np.ndarray | None) -> float:
        """Share of pixels the last frame differs in from `snapshot`, by this detector's
        threshold: change piled up since then, however slowly (the running background
        absorbs a slow change, and motion never reports it). 1.0 when there is nothing
        to compare (no snapshot, no frame yet, or a different size)."""
        current = self._previous
        if snapshot is None or current is None or snapshot.shape != current.shape:
            return 1.0
        return cv2.countNonZero(self._changed(current, snapshot)) / current.size

    def _changed(self, small: np.ndarray, other: np.ndarray) -> np.ndarray:
        """255 where two small grey frames differ by more than `threshold`, else 0."""
        _, mask = cv2.threshold(cv2.absdiff(small, other), self.threshold, 255, cv2.THRESH_BINARY)
        return mask

    def _prepare(self, frame_bgr: np.ndarray) -> np.ndarray:
        """Downscale first (cheapest), then grey and blur away sensor noise."""
        height, width = frame_bgr.shape[:2]
        size = (self.width, max(1, round(height * self.width / width)))
        small = cv2.resize(frame_bgr, size, interpolation=cv2.INTER_LINEAR)
        grey = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY)
        return cv2.GaussianBlur(grey, (5, 5), 0)

    def _boxes(
        self, mask: np.ndarray, recent: np.ndarray | None, scale: float, shape: tuple[int, ...]
    ) -> list[np.ndarray]:
        """Boxes of the moving blobs, each cut to its part that changed since the last frame
        (`recent`, dilated as the mask is) when it has one."""
        if self.dilate:
            mask = cv2.dilate(mask, self._kernel, iterations=self.dilate)
            if recent is not None:
                recent = cv2.dilate(recent, self._kernel, iterations=self.dilate)
        contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        min_area = self.min_area_fraction * mask.size
        limit = np.array([shape[1], shape[0], shape[1], shape[0]])
        boxes = []
        for contour in contours:
            if cv2.contourArea(contour) < min_area:
                continue
            x, y, w, h = cv2.boundingRect(contour)
            if recent is not None:
                x, y, w, h = moving_part(mask, recent, (x, y, w, h), min_area)
            box = np.round(np.array([x, y, x + w, y + h]) * scale).clip(0, limit)
            boxes.append(box.astype(np.int32))
        return boxes


def moving_part(
    mask: np.ndarray, recent: np.ndarray, rect: tuple[int, int, int, int], min_area: float
) -> tuple[int, int, int, int]:
    """The part of a blob's rectangle (x, y, w, h) that moved since the last frame too;
    the whole rectangle when that part is smaller than `min_area` pixels."""
    x, y, w, h = rect
    both = cv2.bitwise_and(mask[y : y + h, x : x + w], recent[y : y + h, x : x + w])
    if cv2.countNonZero(both) < min_area:
        return rect
    px, py, pw, ph = cv2.boundingRect(both)
    return x + px, y + py, pw, ph
