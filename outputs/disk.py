"""Archive captures (or alerts) on local disk, for sites without a receiver and for audits.

Per camera:

    <directory>/<camera>/captures-YYYY-MM-DD.jsonl        one line per capture, UTC day
    <directory>/<camera>/crops/<track>-<revision>-<event>.jpg

Ids become file names percent-escaped (see `file_part`); an id too long for a file name
once escaped (a 128-character person id in any script may take over 1000 bytes) keeps a
readable head and ends in `~` and a hash of the whole id, and an empty id is named `%empty`.

Alerts (`DiskSink(directory, kind="alerts")`) go to `alerts-YYYY-MM-DD.jsonl`, their
crops named `<track>-<watchlist>-<person>-<revision>-<event>.jpg` (one track may
alert for several people).

A line is the Capture with `crop_jpeg` (base64) replaced by `crop_path`, relative to
the camera folder, so lines stay small and greppable; `read_captures` restores them.
A crop that is not base64 has no JPEG to write: it stays in the line as received.
A replayed capture is appended again: readers de-duplicate by `message_id`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO, overload

from vigil.infra.files import utc_day, write_atomic
from vigil.schemas.alert import Alert
from vigil.schemas.capture import Capture

Archived = Capture | Alert

CROP_FIELD = "crop_path"
MAX_PART_CHARS = 150
MAX_NAME_BYTES = 255  # one path component on ext4, XFS, btrfs, APFS, ...
HASH_CHARS = 16
EMPTY_PART = "%empty"  # no escaped id is "%" and two letters that are not hex digits
_UNSAFE = re.compile(r"^\.|[^A-Za-z0-9._-]")


def _escape(value: str) -> str:
    return _UNSAFE.sub(
        lambda match: "".join(f"%{byte:02X}" for byte in match[0].encode("utf-8", "surrogatepass")),
        value,
    )


def _digest(*parts: str) -> str:
    """A short hash naming `parts` exactly (JSON: no two lists of strings share a text)."""
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()[:HASH_CHARS]


def _cut(escaped: str, limit: int) -> str:
    """The first `limit` characters of an escaped id, never ending inside a %XX escape."""
    head = escaped[:limit]
    tail = head.rfind("%")
    return head[:tail] if tail >= len(head) - 2 and tail != -1 else head


def safe_part(value: str) -> str:
    """`value` as a single path component that cannot leave its folder.

    Ids come from configuration and streams, so '../x', '/etc', 'a\\0b' or '..' must not
    become paths: anything but [A-Za-z0-9._-], and a leading dot, is percent-escaped
    ('%' included, so two different ids never share a name). Strict: an empty id, or one
    over MAX_PART_CHARS once escaped, raises ValueError; `file_part` names those too.
    """
    if not value:
        raise ValueError("an id used as a path component must not be empty")
    escaped = _escape(value)
    if len(escaped) > MAX_PART_CHARS:
        raise ValueError(f"id too long for a file name ({len(escaped)} chars once escaped)")
    return escaped


def file_part(value: str, limit: int = MAX_PART_CHARS) -> str:
    """`value` escaped as by `safe_part`, as a name of at most `limit` bytes, for any id.

    Escaped names are ASCII, so characters are bytes. A longer one keeps its first
    characters and ends in `~` and a hash of the whole id ('~' is never escaped output, so
    a shortened name cannot be another id's full one); the empty id is `EMPTY_PART`.
    """
    if not value:
        return EMPTY_PART
    escaped = _escape(value)
    if len(escaped) <= limit:
        return escaped
    return shortened(escaped, limit, _digest(value))


def shortened(escaped: str, limit: int, digest: str) -> str:
    """`escaped` cut to fit `limit` characters with `~digest` at its end."""
    if limit < len(digest) + 1:
        raise ValueError(f"a name of {limit} characters cannot hold a hash")
    return _cut(escaped, limit - len(digest) - 1) + "~" + digest


def crop_stem(event: Archived, suffix: str = ".jpg") -> str:
    """File name (no suffix) of an event's crop, unique per track event.

    Shortened with a hash of every part when the whole name, `suffix` included, would
    exceed MAX_NAME_BYTES (long person ids, watchlist names and track ids together).
    """
    parts = [event.track_id]
    if isinstance(event, Alert):
        parts += [event.watchlist, event.person_id]
    tail = f"-{event.revision}-{event.event}"
    head = "-".join(file_part(part, MAX_NAME_BYTES) for part in parts)
    room = MAX_NAME_BYTES - len(suffix) - len(tail)
    if len(head) > room:
        head = shortened(head, room, _digest(*parts))
    return head + tail


class DiskSink:
    """Thread-safe: crops are written concurrently, JSON lines appended under one lock."""

    def __init__(self, directory: Path, kind: str = "captures") -> None:
        self._kind = kind
        self._root = Path(directory)
        self._root.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._open: dict[Path, tuple[Path, BinaryIO]] = {}  # camera folder -> today's file
        self._closed = False

    def __repr__(self) -> str:
        return f"DiskSink({str(self._root)!r})"

    def deliver(self, capture: Archived) -> Path:
        """Archive `capture` (or alert); returns the JSONL file its line was appended to."""
        camera_dir = self._root / file_part(capture.camera_id, MAX_NAME_BYTES)
        record = capture.model_dump(mode="json", exclude={"crop_jpeg"})
        record[CROP_FIELD] = self._write_crop(camera_dir, capture)
        if record[CROP_FIELD] is None and capture.crop_jpeg is not None:
            record["crop_jpeg"] = capture.crop_jpeg  # not base64: kept as received
        line = json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n"
        path = camera_dir / f"{self._kind}-{utc_day(capture.captured_at)}.jsonl"
        self._append(camera_dir, path, line.encode())
        return path

    def close(self) -> None:
        with self._lock:
            self._closed = True
            for _, handle in self._open.values():
                handle.close()
            self._open.clear()

    def _write_crop(self, camera_dir: Path, capture: Archived) -> str | None:
        if capture.crop_jpeg is None:
            return None
        try:
            data = base64.b64decode(capture.crop_jpeg, validate=True)
        except (binascii.Error, ValueError):  # no JPEG to write: the line keeps it as received
            return None
        relative = f"crops/{crop_stem(capture)}.jpg"
        write_atomic(camera_dir / relative, data)
        return relative

    def _append(self, camera_dir: Path, path: Path, line: bytes) -> None:
        with self._lock:
            if self._closed:
                raise RuntimeError(f"{self!r} is closed")
            current = self._open.get(camera_dir)
            if current is None or current[0] != path:  # first line, or a new UTC day
                if current is not None:
                    current[1].close()
                camera_dir.mkdir(parents=True, exist_ok=True)
                current = (path, path.open("ab"))
                self._open[camera_dir] = current
            current[1].write(line)
            current[1].flush()


@overload
def read_captures(path: Path, model: type[Capture] = ...) -> Iterator[Capture]: ...
@overload
def read_captures(path: Path, model: type[Alert]) -> Iterator[Alert]: ...
def read_captures(path: Path, model: type[Archived] = Capture) -> Iterator[Archived]:
    """The captures (or `model=Alert`: alerts) of one JSONL file written by `DiskSink`."""
    with path.open("rb") as lines:
        for line in lines:
            record = json.loads(line)
            crop = record.pop(CROP_FIELD)
            if crop is not None:
                record["crop_jpeg"] = base64.b64encode((path.parent / crop).read_bytes()).decode()
            yield model.model_validate(record)
