"""Files several stages write: atomically, so a reader never sees half a file, and filed
by UTC day. Used by the disk sink (outputs), the history's crop store and the cluster
state; it lives here, below all three, so none of them imports another for it.
"""

from __future__ import annotations

import os
import secrets
from contextlib import suppress
from datetime import UTC, datetime
from pathlib import Path

FILE_MODE = 0o666  # less the umask, applied by the kernel at creation: no fixed mode


def utc_day(moment: datetime) -> str:
    """ISO date of `moment` in UTC; a naive time is taken as UTC, as schemas define it."""
    aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return aware.astimezone(UTC).date().isoformat()


def write_atomic(path: Path, data: bytes, mode: int = FILE_MODE) -> None:
    """Write via a temporary file and rename, so readers never see a half-written file.

    The temporary file is created with `mode` (FILE_MODE by default), so the umask decides
    the permissions (mkstemp's 0600 followed by a chmod to 0644 ignored it); a secret
    file passes 0o600. O_EXCL on a random name, so nothing already there (a symlink
    planted in a shared folder) is followed.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    while True:
        temporary = path.parent / f".{secrets.token_hex(8)}.tmp"
        try:
            descriptor = os.open(temporary, flags, mode)
            break
        except FileExistsError:
            continue
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        with suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
