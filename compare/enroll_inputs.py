"""What to enrol: (file, person id, metadata) from a folder of portraits or a CSV.

Folder layout: a file inside a sub-folder belongs to the person named by that
first-level sub-folder (`people/alice/1.jpg` -> `alice`, deeper folders included);
a file directly in the folder is a person of its own, named by its stem
(`people/bob.jpg` -> `bob`). Only .jpg .jpeg .png .bmp .webp files are taken;
hidden files and folders are ignored.

CSV: a header row with `path` and `person_id`; any other column is metadata of the
member (empty cells left out). Relative paths are relative to the CSV's folder.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

from vigil.schemas.errors import ErrorCode, VigilError

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp"})
REQUIRED_COLUMNS = ("path", "person_id")


@dataclass(frozen=True)
class EnrollItem:
    path: Path  # absolute
    person_id: str
    metadata: dict[str, str] = field(default_factory=dict)


def folder_items(root: Path) -> list[EnrollItem]:
    items = []
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root)
        if any(part.startswith(".") for part in relative.parts):
            continue
        if path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES:
            person = relative.parts[0] if len(relative.parts) > 1 else path.stem
            items.append(EnrollItem(path.resolve(), person))
    return items


def csv_items(table: Path) -> list[EnrollItem]:
    with table.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in REQUIRED_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise VigilError(
                ErrorCode.INVALID_OPTIONS, f"{table}: CSV lacks column(s) {', '.join(missing)}"
            )
        items = []
        for line, row in enumerate(reader, start=2):
            path, person = (row.get("path") or "").strip(), (row.get("person_id") or "").strip()
            if not path or not person:
                raise VigilError(
                    ErrorCode.INVALID_OPTIONS, f"{table}:{line}: path and person_id are required"
                )
            metadata = {
                key: value
                for key, value in row.items()
                if key and key not in REQUIRED_COLUMNS and isinstance(value, str) and value
            }
            items.append(EnrollItem((table.parent / path).resolve(), person, metadata))
    return items


def list_inputs(source: str | Path) -> list[EnrollItem]:
    """Items of a folder (sorted by path) or of a .csv file (in its order)."""
    source = Path(source)
    if source.is_dir():
        return folder_items(source)
    if source.is_file() and source.suffix.lower() == ".csv":
        return csv_items(source)
    raise VigilError(
        ErrorCode.FILE_NOT_FOUND, f"{source}: not a folder of portraits nor a .csv file"
    )
