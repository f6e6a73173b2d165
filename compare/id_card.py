"""Read a photographed ID document: its portrait (the verification's reference) and text.

>>> reading = read_card("card.jpg")
>>> reading.card.field("Surname"), reading.card.portrait.size
('SMITH', 41.0)

Steps, each a fallback for the one before it:
1. the card's outline is found and the card flattened (`analysis.card_geometry`), at
   the photo's own resolution, so that a portrait measured on it is measured at about
   the size the camera saw (the query-face filters must hold, not be fooled by an
   upscale); without an outline the whole photo is read;
2. the faces on it are searched down to 16 px (a card portrait is often 30-60 px in a
   phone photo); none upright, the card is turned 180° (held upside down) and searched
   again; the largest face is the portrait (a ghost image is smaller by design) and must
   pass `min_size` and `min_quality`, as any query face, with `min_size` at least
   `CARD_PORTRAIT_MIN_SIZE` (40 px) unless the caller set it: a photographed print's
   blur and JPEG cost a small face more than the query default (24 px) allows for, so
   a card photographed from too far is refused (photograph it closer), never a wrong
   "no match";
3. the text lines are read with the shipped OCR (`models.text_reader`) on the upright
   card, the labelled fields parsed from them (`analysis.card_fields`), and every box
   mapped back into the photo's pixels.

Raises VigilError: NO_CARD_FACE (no face on the card), FACE_TOO_SMALL and LOW_QUALITY
(the portrait fails the filters), the decoder's codes.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from functools import cache

import numpy as np

from vigil.analysis.card_fields import parse_fields
from vigil.analysis.card_geometry import box_in_photo, find_card, rectify
from vigil.analysis.faces import every_face, refusal, short_side
from vigil.analysis.image_analyzer import encode_crop
from vigil.analysis.image_decoder import load_image
from vigil.analysis.pictures import ImageSource, source_label
from vigil.models.text_reader import TextReader, rapidocr_version
from vigil.schemas.compare import CARD_PORTRAIT_MIN_SIZE, ComparedFace, QueryFaceOptions
from vigil.schemas.errors import ErrorCode, VigilError
from vigil.schemas.feature import Feature
from vigil.schemas.geometry import Box
from vigil.schemas.id_card import CardPortrait, CardTextLine, IdCard


@dataclass
class CardReading:
    """The card as read, and the portrait's feature and provenance for compare."""

    card: IdCard
    feature: Feature
    face: ComparedFace


@cache
def text_reader() -> TextReader:
    """One OCR engine per process (about a second to load)."""
    return TextReader()


def turned(card: np.ndarray, homography: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The card rotated 180° and the homography from its pixels to the photo's."""
    height, width = card.shape[:2]
    flip = np.array([[-1, 0, width], [0, -1, height], [0, 0, 1]], np.float64)
    return np.ascontiguousarray(card[::-1, ::-1]), homography @ flip


def portrait_options(options: QueryFaceOptions) -> QueryFaceOptions:
    """The filters a card's portrait must pass: `options`, with `min_size` raised to
    CARD_PORTRAIT_MIN_SIZE unless the caller set `min_size` (0 compares anyway)."""
    if "min_size" in options.model_fields_set or options.min_size >= CARD_PORTRAIT_MIN_SIZE:
        return options
    return options.model_copy(update={"min_size": CARD_PORTRAIT_MIN_SIZE})


def read_card(
    photo: ImageSource, options: QueryFaceOptions | None = None, *, label: str | None = None
) -> CardReading:
    """The card on `photo`: portrait, text lines and fields (see the module's steps)."""
    options = options or QueryFaceOptions()
    name = label or source_label(photo, 0)
    try:
        image = load_image(photo)
    except VigilError as exc:
        raise VigilError(exc.code, f"ID card {exc.message}") from None
    quad = find_card(image)
    card, homography = rectify(image, quad)
    faces = every_face(card)
    if not faces:
        card, homography = turned(card, homography)
        faces = every_face(card)
    if not faces:
        raise VigilError(
            ErrorCode.NO_CARD_FACE,
            f"ID card {name}: no portrait found on the card"
            + (
                "" if quad is not None else " (no card outline found: the whole photo was searched)"
            ),
        )
    portrait = faces[0]
    problem = refusal(portrait, portrait_options(options))
    if problem is not None:
        raise VigilError(
            problem.code,
            f"ID card {name}: portrait {problem.message}; photograph the card closer"
            " (or in better light), so that its portrait is larger and sharp",
        )
    assert portrait.feature is not None  # face_targets returns only faces with one
    face_box = box_in_photo(np.asarray(portrait.box.as_list()), homography)
    crop = encode_crop(card, np.asarray(portrait.box.as_list()))
    lines = text_reader().read(card)
    read = IdCard(
        source=name,
        outline=None if quad is None else [[round(float(v), 1) for v in c] for c in quad],
        portrait=CardPortrait(
            box=Box.from_xyxy(face_box),
            size=round(short_side(portrait), 1),
            quality=portrait.quality.score,
            faces_found=len(faces),
            crop_jpeg=base64.b64encode(crop).decode() if crop else None,
        ),
        lines=[
            CardTextLine(
                text=line.text,
                confidence=round(min(1.0, max(0.0, line.confidence)), 4),
                box=Box.from_xyxy(box_in_photo(quad_box(line.quad), homography)),
            )
            for line in lines
        ],
        fields=parse_fields(lines),
        ocr_model=rapidocr_version(),
    )
    used = ComparedFace(
        kind="picture",
        box=read.portrait.box,
        index=0,
        faces_found=len(faces),
        quality=portrait.quality.score,
    )
    return CardReading(card=read, feature=portrait.feature, face=used)


def quad_box(quad: np.ndarray) -> np.ndarray:
    """[x1, y1, x2, y2] around a text line's four corners."""
    return np.concatenate([quad.min(axis=0), quad.max(axis=0)])


def card_reference(
    id_card: ImageSource, options: QueryFaceOptions, face: object = None
) -> CardReading:
    """The card read for verification; the portrait is found, never named (INVALID_OPTIONS)."""
    if face is not None:
        raise VigilError(
            ErrorCode.INVALID_OPTIONS,
            "id_face names a face of an ID photo; a card's portrait is found on the card",
        )
    return read_card(id_card, options)
