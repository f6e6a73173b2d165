"""Every text line of a picture, with its box and confidence, by RapidOCR's bundled models.

The plate reader (`plate_reader.py`) keeps one plate-like line; documents need all of
them. Same engine, same offline rule: only the models bundled in the `rapidocr` wheel
are used (no model option is ever passed, which would make RapidOCR download one).
See weights/rapidocr.md.

>>> lines = TextReader().read(cv2.imread("card.jpg"))
>>> [(line.text, round(line.confidence, 2)) for line in lines][:1]
[('REPUBLIC OF TESTLAND IDENTITY CARD', 0.99)]
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vigil.models.object_detector import check_image
from vigil.models.plate_reader import OcrReader, fit_side


@dataclass
class TextLine:
    """One line read: `quad` is float32 (4, 2) corners in the input image's pixels."""

    text: str
    confidence: float
    quad: np.ndarray


def rapidocr_version() -> str:
    """`rapidocr@<version>`: the text models are the ones bundled with that release."""
    from importlib.metadata import version

    return f"rapidocr@{version('rapidocr')}"


class TextReader(OcrReader):
    """Reads all text lines; one lazily built engine per reader (not re-entrant: one
    reader per worker thread or process).

    Pictures are rescaled so their longer side lies in [min_side, max_side]: text
    under ~15 px high is read poorly, and large pictures only cost time. Upscaling
    further is no better: on the synthetic cards (`bench/bench_id_card.py`) a card
    flattened at ~450-600 px wide read 47/48 fields exact at 720, 38/48 at 1280, where
    the recogniser drops the space between words ("ANNAMARIA").
    """

    def __init__(
        self, min_confidence: float = 0.5, min_side: int = 720, max_side: int = 1600
    ) -> None:
        super().__init__(min_confidence, min_side, max_side)

    def read(self, image: np.ndarray) -> list[TextLine]:
        """The lines at or above `min_confidence`, top to bottom then left to right."""
        check_image(image)
        scaled, scale = fit_side(image, self.min_side, self.max_side)
        # Flags stick to the engine instance, so all three are passed every call; the
        # picture is upright (a card is rectified first), so the 180° classifier is skipped.
        result = self._ocr()(
            scaled, use_det=True, use_cls=False, use_rec=True, text_score=self.min_confidence
        )
        if not result.txts:
            return []
        lines = [
            TextLine(
                text=str(text).strip(),
                confidence=float(score),
                quad=np.asarray(quad, np.float32) / scale,
            )
            for text, score, quad in zip(result.txts, result.scores, result.boxes, strict=True)
            if str(text).strip()
        ]
        return sorted(
            lines, key=lambda line: (float(line.quad[:, 1].mean()), float(line.quad[:, 0].min()))
        )
