"""Contract of a photographed ID document read by `vigil verify --id-card`.

What was found on the card: its outline in the photo, the portrait (the face that
becomes the verification's reference), every text line with its box and OCR
confidence, and the labelled fields parsed from them. All boxes are in the photo's
pixels, so a caller can draw them on the picture it sent.
"""

from __future__ import annotations

from pydantic import Field

from vigil.schemas.base import VigilModel
from vigil.schemas.geometry import Box


class CardTextLine(VigilModel):
    """One text line as the OCR read it."""

    text: str = Field(description="the line's text, as read (not corrected)")
    confidence: float = Field(ge=0, le=1, description="the recogniser's score")
    box: Box = Field(description="around the line, photo pixels")


class CardField(VigilModel):
    """A value found beside or below a known label ("Surname", "Date of birth", ...)."""

    label: str = Field(description="the label as printed, without a trailing colon")
    value: str = Field(description="the text read for it")
    confidence: float = Field(ge=0, le=1, description="the value line's OCR score")


class CardPortrait(VigilModel):
    """The card's portrait: the largest face found on the card."""

    box: Box = Field(description="the face, photo pixels")
    size: float = Field(ge=0, description="the face's short side on the flattened card, px")
    quality: float = Field(ge=0, le=1, description="face quality (size, sharpness, pose)")
    faces_found: int = Field(ge=1, description="faces found on the card (a ghost image counts)")
    crop_jpeg: str | None = Field(default=None, description="base64 JPEG of the face, upright")


class IdCard(VigilModel):
    """An ID document read from one photo."""

    source: str = Field(description="the picture read (a path, or a placeholder for bytes)")
    outline: list[list[float]] | None = Field(
        default=None,
        description="the card's corners in the photo, [x, y] top-left, top-right,"
        " bottom-right, bottom-left; None: no outline found, the whole photo was read",
    )
    portrait: CardPortrait
    lines: list[CardTextLine] = Field(
        default_factory=list, description="every text line read, top to bottom"
    )
    fields: list[CardField] = Field(
        default_factory=list, description="labelled values among the lines (may be empty)"
    )
    ocr_model: str = Field(description="name@version of the text reader")

    def text(self) -> list[str]:
        """The lines' text, in order."""
        return [line.text for line in self.lines]

    def field(self, label: str) -> str | None:
        """The value read for `label` (compared without case), or None."""
        wanted = label.casefold().rstrip(":. ")
        for found in self.fields:
            if found.label.casefold().rstrip(":. ") == wanted:
                return found.value
        return None
