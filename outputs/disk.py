"""Archive captures (or alerts) on local disk, for sites without a receiver and for audits.

Per camera:

    <directory>/<camera>/captures-YYYY-MM-DD.jsonl        one line per capture, UTC day
    <directory>/<camera>/crops/<track>-<revision>-<event>.jpg

Alerts (`DiskSink(directory, kind="alerts")`) go to `alerts-YYYY-MM-DD.jsonl`, their
crops named `<track>-<watchlist>-<person>-<revision>-<event>.jpg` (one track may
alert for several people).

A line is the Capture with `crop_jpeg` (base64) replaced by `crop_path`, relative to
the camera folder, so lines stay small and greppable; `read_captures` restores them.
A replayed capture is appended again: readers de-duplicate by `message_id`.
"""

from __future__ import annotations

import base64
import json
import os
import re
import tempfile
import threading
from collections.abc import Iterator
from contextlib import suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

from vigil.schemas.alert import Alert
from vigil.schemas.capture import Capture

Archived = Capture | Alert

CROP_FIELD = "crop_path"
MAX_PART_CHARS = 150
_UNSAFE = re.compile(r"^\.|[^A-Za-z0-9._-]")


def safe_part(value: str) -> str:
    """`value` as a single path component that cannot leave its folder.

    Ids come from configuration and streams, so '../x', '/etc', 'a\\0b' or '..' must not
    become paths: anything but [A-Za-z0-9._-], and a leading dot, is percent-escaped
    ('%' included, so two different ids never share a name).
    """
    if not value:
        raise ValueError("an id used as a path component must not be empty")
    escaped = _UNSAFE.sub(
        lambda match: "".join(f"%{byte:02X}" for byte in match[0].encode("utf-8", "surrogatepass")),
        value,
    )
    if len(escaped) > MAX_PART_CHARS:
        raise ValueError(f"id too long for a file name ({len(escaped)} chars once escaped)")
    return escaped


def utc_day(moment: datetime) -> str:
    """ISO date of `moment` in UTC; a naive time is taken as UTC, as schemas define it."""
    aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return aware.astimezone(UTC).date().isoformat()


def write_atomic(path: Path, data: bytes) -> None:
    """Write via a temporary file and rename, so readers never see a half-written file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=".", suffix=".tmp")
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
            os.fchmod(handle.fileno(), 0o644)  # mkstemp makes 0600; crops are shared data
        os.replace(temporary, path)
    except BaseException:
        with suppress(FileNotFoundError):
            os.unlink(temporary)
        raise


def crop_stem(event: Archived) -> str:
    """File name (no suffix) of an event's crop, unique per track event."""
    parts = [event.track_id]
    if isinstance(event, Alert):
        parts += [event.watchlist, event.person_id]
    return "-".join(safe_part(part) for part in parts) + f"-{event.revision}-{event.event}"


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
        camera_dir = self._root / safe_part(capture.camera_id)
        record = capture.model_dump(mode="json", exclude={"crop_jpeg"})
        record[CROP_FIELD] = self._write_crop(camera_dir, capture)
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
        data = base64.b64decode(capture.crop_jpeg, validate=True)
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


def read_captures(path: Path, model: type[Archived] = Capture) -> Iterator[Archived]:
    """The captures (or `model=Alert`: alerts) of one JSONL file written by `DiskSink`."""
    with path.open("rb") as lines:
        for line in lines:
            record = json.loads(line)
            crop = record.pop(CROP_FIELD)
            if crop is not None:
                record["crop_jpeg"] = base64.b64encode((path.parent / crop).read_bytes()).decode()
            yield model.model_validate(record)
