"""Files several stages write: atomically, so a reader never sees half a file, and filed
by UTC day. Used by the disk sink (outputs), the history's crop store and the cluster
state; it lives here, below all three, so none of them imports another for it.
"""

from __future__ import annotations

import os
import tempfile
from contextlib import suppress
from datetime import UTC, datetime
from pathlib import Path


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
