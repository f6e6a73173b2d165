"""Labelled values among the text lines of a document ("Surname" -> "SMITH").

Cards print a field either on one line ("Surname: SMITH") or as a small label with
its value on the line below, starting at about the same left edge. Both are read
here from the lines of the flattened (upright) card. A label is a line that ends
with a colon, or one of the common labels of identity documents (`KNOWN_LABELS`,
compared without case, punctuation and spacing); nothing else is guessed, so a
card in another layout or language gives its lines and no fields.

>>> [(f.label, f.value) for f in parse_fields(lines)]
[('Surname', 'SMITH'), ('Date of birth', '01.02.1980')]
"""

from __future__ import annotations

import re
from difflib import SequenceMatcher

import numpy as np

from vigil.models.text_reader import TextLine
from vigil.schemas.id_card import CardField

KNOWN_LABELS = frozenset(
    {
        "surname",
        "name",
        "names",
        "given names",
        "given name",
        "first name",
        "first names",
        "last name",
        "date of birth",
        "birth date",
        "place of birth",
        "sex",
        "nationality",
        "document no",
        "document number",
        "card no",
        "card number",
        "id no",
        "personal no",
        "date of issue",
        "date of expiry",
        "expiry date",
        "valid until",
    }
)
# A value line lies below its label within this many label heights, its left edge within
# this many label heights of the label's.
BELOW = 3.0
ALIGN = 1.5
PUNCTUATION = re.compile(r"[^a-z0-9 ]+")
# Labels are printed small and pale, so the OCR misreads them more than values
# ("Sumame", "Decumant Nio"): a line this similar to a known label is that label.
LABEL_SIMILARITY = 0.75


def label_key(text: str) -> str:
    """A label compared without case, punctuation or repeated spaces."""
    return " ".join(PUNCTUATION.sub(" ", text.casefold()).split())


def known_label(text: str) -> str | None:
    """The label as printed when exact, the known label it was misread from, or None."""
    key = label_key(text)
    if key in KNOWN_LABELS:
        return text.strip().rstrip(":").strip()
    # Values are upper-case on most cards, labels are not: an all-capitals line such as
    # "SMITH" is not compared fuzzily (it might be a name close to a label: "NAMES").
    if len(key) < 4 or text.isupper():
        return None
    score, label = max((SequenceMatcher(None, key, known).ratio(), known) for known in KNOWN_LABELS)
    return label.capitalize() if score >= LABEL_SIMILARITY else None


def is_label(text: str) -> bool:
    return text.rstrip().endswith(":") or known_label(text) is not None


def split_inline(text: str) -> tuple[str, str] | None:
    """("Surname", "SMITH") from "Surname: SMITH", when the part before the colon is a label."""
    label, colon, value = text.partition(":")
    known = known_label(label) if colon and value.strip() else None
    return None if known is None else (known, value.strip())


def parse_fields(lines: list[TextLine]) -> list[CardField]:
    """The labelled values among `lines` (upright card coordinates), in reading order."""
    fields: list[CardField] = []
    used: set[int] = set()
    for index, line in enumerate(lines):
        inline = split_inline(line.text)
        if inline is not None:
            fields.append(CardField(label=inline[0], value=inline[1], confidence=line.confidence))
            continue
        if not is_label(line.text):
            continue
        value = value_below(lines, index, used)
        if value is not None:
            used.add(value)
            found = lines[value]
            label = known_label(line.text) or line.text.strip().rstrip(":").strip()
            fields.append(CardField(label=label, value=found.text, confidence=found.confidence))
    return fields


def value_below(lines: list[TextLine], index: int, used: set[int]) -> int | None:
    """The line just below label `index`, starting near its left edge, that is no label."""
    label = lines[index].quad
    height = float(np.ptp(label[:, 1])) or 1.0
    top, left = float(label[:, 1].max()), float(label[:, 0].min())
    best: tuple[float, int] | None = None
    for other, line in enumerate(lines):
        if other == index or other in used or is_label(line.text):
            continue
        gap = float(line.quad[:, 1].min()) - top
        shift = abs(float(line.quad[:, 0].min()) - left)
        near = -0.5 * height <= gap <= BELOW * height and shift <= ALIGN * height
        if near and (best is None or gap < best[0]):
            best = (gap, other)
    return None if best is None else best[1]
