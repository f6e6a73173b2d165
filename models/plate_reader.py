"""Licence-plate text from vehicle crops with RapidOCR's bundled PP-OCR models.

There is no permissively licensed plate detector offline, so the plate is
found as "the most confident OCR line on the vehicle that looks like a plate".
Plate-likeness rule (`normalise_plate`): upper-case the text, drop spaces,
dots, hyphens and middle dots, then accept only 4-10 characters of A-Z/0-9
containing at least one letter and at least one digit. That keeps plates of
most Latin-script countries and rejects words ("TAXI", "FORD"), bare numbers
and mixed junk. See weights/rapidocr.md for the model card.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from vigil.models.object_detector import check_image
from vigil.models.runtime import intra_op_threads

SEPARATORS = re.compile(r"[\s.\-·]+")
PLATE_CHARS = re.compile(r"[A-Z0-9]{4,10}")
HAS_LETTER = re.compile(r"[A-Z]")
HAS_DIGIT = re.compile(r"[0-9]")

# Why `read_or_reason` found no plate (the values of schemas.target.PlateMissing).
NO_TEXT = "no_text"  # no text line at or above min_confidence
NOT_PLATE_LIKE = "not_plate_like"  # text lines read, none passes `normalise_plate`


def normalise_plate(text: str) -> str | None:
    """The plate string in canonical form, or None when the text is not plate-like."""
    cleaned = SEPARATORS.sub("", text.upper())
    if PLATE_CHARS.fullmatch(cleaned) and HAS_LETTER.search(cleaned) and HAS_DIGIT.search(cleaned):
        return cleaned
    return None


@dataclass
class PlateReading:
    """A plate read from a vehicle crop.

    `box` is float32 [x1, y1, x2, y2] of the text line in the crop's pixels.
    """

    text: str
    confidence: float
    box: np.ndarray | None


def fit_side(image: np.ndarray, min_side: int, max_side: int) -> tuple[np.ndarray, float]:
    """Rescale so the longer side lies in [min_side, max_side]; returns the image and scale.

    Small crops are upscaled so the text detector sees characters big enough
    to segment; large ones are shrunk to bound the cost.
    """
    longer = max(image.shape[:2])
    scale = min(max(1.0, min_side / longer), max_side / longer)
    if scale == 1.0:
        return image, 1.0
    interpolation = cv2.INTER_CUBIC if scale > 1 else cv2.INTER_AREA
    return cv2.resize(image, None, fx=scale, fy=scale, interpolation=interpolation), scale


def ocr_engine(max_side: int) -> Any:
    """A RapidOCR engine on the shipped models, one thread, quiet, that takes pictures
    scaled by the caller (`fit_side`): without "Det.limit_type": "max" RapidOCR blows
    the shorter side up to 736 px (2 s on a plate)."""
    from rapidocr import RapidOCR

    return RapidOCR(
        params={
            "Global.log_level": "error",
            "Det.limit_type": "max",
            "Det.limit_side_len": max_side,
            "EngineConfig.onnxruntime.intra_op_num_threads": intra_op_threads(),
            "EngineConfig.onnxruntime.inter_op_num_threads": 1,
        }
    )


class OcrReader:
    """One lazily built OCR engine (`ocr_engine`) per reader, for pictures scaled so
    their longer side lies in [min_side, max_side].

    The engine is not re-entrant for concurrent calls: use one reader per
    worker thread or process.
    """

    def __init__(self, min_confidence: float, min_side: int, max_side: int) -> None:
        self.min_confidence = min_confidence
        self.min_side = min_side
        self.max_side = max_side
        self._engine: Any = None
        self._lock = threading.Lock()

    def _ocr(self) -> Any:
        """Build the engine on first use: importing and loading it costs about a second."""
        with self._lock:
            if self._engine is None:
                self._engine = ocr_engine(self.max_side)
            return self._engine


class PlateReader(OcrReader):
    """Reads plate-like text on vehicle crops (`OcrReader`)."""

    def __init__(
        self, min_confidence: float = 0.5, min_side: int = 480, max_side: int = 960
    ) -> None:
        super().__init__(min_confidence, min_side, max_side)

    def read(self, vehicle_crop: np.ndarray) -> PlateReading | None:
        """The most confident plate-like line on the crop, or None."""
        reading, _ = self.read_or_reason(vehicle_crop)
        return reading

    def read_or_reason(self, vehicle_crop: np.ndarray) -> tuple[PlateReading | None, str | None]:
        """The plate reading and None, or None and why: `NO_TEXT` or `NOT_PLATE_LIKE`.

        Works on a vehicle crop or on a plate close-up (the plate is one line either way).
        """
        check_image(vehicle_crop)
        image, scale = fit_side(vehicle_crop, self.min_side, self.max_side)
        # Flags stick to the engine instance, so all three are passed every call.
        result = self._ocr()(
            image, use_det=True, use_cls=False, use_rec=True, text_score=self.min_confidence
        )
        if not result.txts:
            return None, NO_TEXT
        best: PlateReading | None = None
        for text, score, quad in zip(result.txts, result.scores, result.boxes, strict=True):
            plate = normalise_plate(text)
            if plate is None or (best is not None and score <= best.confidence):
                continue
            corners = np.asarray(quad, np.float32) / scale
            box = np.concatenate([corners.min(axis=0), corners.max(axis=0)])
            best = PlateReading(text=plate, confidence=float(score), box=box)
        return best, (None if best is not None else NOT_PLATE_LIKE)

    def read_batch(self, vehicle_crops: Iterable[np.ndarray]) -> list[PlateReading | None]:
        """One reading (or None) per crop, in order."""
        return [self.read(crop) for crop in vehicle_crops]
