"""Capture crops on disk, one JPEG file per capture, in one folder per UTC day.

Crops are kept out of Milvus on purpose: a loaded collection holds every field in
memory (Milvus Lite in the writer's own process, a server in its query nodes), so
crops in a VARCHAR field made the history cost ~28 kB of RAM per capture (measured:
the soak's history process grew 80 MB/h on one camera). On disk they cost nothing
until a search asks for a few of them.

Layout: `<root>/<YYYY-MM-DD>/<sha1 of capture_id>.jpg` (the capture's UTC day; a hash
because capture ids are free text). Retention drops whole days (`purge_before`), so
a crop can outlive its row by less than a day, never the other way round. Writes are
atomic (temporary file, then rename): a reader never sees half a JPEG. Several
machines share the history through a shared folder (NFS, a mounted bucket); a missing
file only means a result without its crop.

Crops are faces: their files get the permissions of the process's umask, like any
file it creates (0644 under the common 022, 0640 under 027, 0600 under 077), never a
fixed mode: run the history role with `UMask=0027` (systemd) to keep them from
other users of the machine.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging
import os
import shutil
from datetime import date
from pathlib import Path

from vigil.infra.files import utc_day, write_atomic
from vigil.infra.milvus import from_us

log = logging.getLogger(__name__)
CROPS_ENV = "VIGIL_HISTORY_CROPS"
SERVER_DEFAULT = "vigil-history-crops"


def crops_root(uri: str, configured: str | Path | None = None) -> Path:
    """Where a history's crops live: as configured, else $VIGIL_HISTORY_CROPS, else beside
    a Milvus Lite file (`history.db` -> `history.crops/`) or `./vigil-history-crops`."""
    chosen = configured or os.environ.get(CROPS_ENV)
    if chosen:
        return Path(chosen)
    if "://" in uri:
        return Path(SERVER_DEFAULT)
    return Path(uri).with_suffix(".crops")


class CropStore:
    """Crops of captures by (capture id, capture time)."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def path(self, capture_id: str, captured_us: int) -> Path:
        name = hashlib.sha1(capture_id.encode()).hexdigest()
        return self.root / utc_day(from_us(captured_us)) / f"{name}.jpg"

    def write(self, capture_id: str, captured_us: int, crop_base64: str) -> None:
        """Store a base64 JPEG; an undecodable one is skipped (logged), not stored broken."""
        try:
            data = base64.b64decode(crop_base64, validate=True)
        except (binascii.Error, ValueError):
            log.warning("%s: crop is not base64, not stored", capture_id)
            return
        write_atomic(self.path(capture_id, captured_us), data)

    def read(self, capture_id: str, captured_us: int) -> str | None:
        """The base64 crop, or None when there is none (never stored, purged, unreachable)."""
        try:
            return base64.b64encode(self.path(capture_id, captured_us).read_bytes()).decode()
        except OSError:
            return None

    def purge_before(self, captured_us: int) -> int:
        """Remove the folders of days that end before `captured_us`; returns how many."""
        cutoff = from_us(captured_us).date()
        removed = 0
        for folder in self.root.glob("????-??-??"):
            try:
                day = date.fromisoformat(folder.name)
            except ValueError:
                continue  # not ours
            if day < cutoff:
                shutil.rmtree(folder, ignore_errors=True)
                removed += 1
        return removed
