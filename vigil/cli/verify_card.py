"""How `vigil verify --id-card` shows the card it read, for a person at a terminal."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from vigil.schemas.id_card import IdCard


def card_lines(card: IdCard) -> str:
    """The portrait found, the labelled fields, then every text line with its confidence."""
    portrait = card.portrait
    lines = [
        f"card portrait {portrait.box.as_list()} {portrait.size:.0f} px,"
        f" quality {portrait.quality:.2f}"
        + ("" if card.outline is not None else " (no card outline: the whole photo was read)")
    ]
    lines += [f"  {field.label}: {field.value}" for field in card.fields]
    lines.append(f"card text ({len(card.lines)} lines, {card.ocr_model}):")
    lines += [f"  {line.text}  ({line.confidence:.2f})" for line in card.lines]
    return "\n".join(lines)
