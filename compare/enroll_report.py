"""The enrolment report: one JSON line per file, which is also the journal a re-run resumes from.

A file is done once a line for it exists (enrolled or rejected), keyed by group,
absolute path and content sha256: a re-run skips it, and a file whose content
changed since is taken again. Each line is flushed and fsynced before the next
file is decided, so an interruption loses at most the file in progress; if that
file had reached the store, the re-run finds its face there and reports it as a
duplicate instead of enrolling it twice.
"""

from __future__ import annotations

import io
import os
from collections import Counter
from pathlib import Path
from types import TracebackType
from typing import IO

from pydantic import ValidationError

from vigil.infra.safe_read import open_regular
from vigil.schemas.compare import EnrollRecord, EnrollStatus, EnrollSummary

Key = tuple[str, str, str]
FINAL = frozenset({EnrollStatus.ENROLLED, EnrollStatus.REJECTED})


def key(group: str, file: str, sha256: str) -> Key:
    return group, file, sha256


def read_records(path: Path) -> list[EnrollRecord]:
    """Every readable line; a line cut by a crash is ignored (that file is taken again).

    Read line by line from a regular file only: a report named /dev/zero or a FIFO is
    refused (`not_a_regular_file`) instead of filling memory or blocking.
    """
    if not path.exists():
        return []
    records = []
    with open_regular(path) as (handle, _), io.BufferedReader(handle) as lines:
        for line in lines:
            try:
                records.append(EnrollRecord.model_validate_json(line))
            except ValidationError:
                continue
    return records


class Journal:
    """Appends records durably and knows which files are already done."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.done: dict[Key, EnrollRecord] = {
            key(r.group, r.file, r.sha256): r
            for r in read_records(path)
            if r.status in FINAL and r.sha256
        }
        self.written: list[EnrollRecord] = []
        self._handle: IO[str] | None = None

    def __enter__(self) -> Journal:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        cut = self.path.exists() and self.path.stat().st_size > 0 and not self._ends_with_newline()
        self._handle = self.path.open("a", encoding="utf-8")
        if cut:
            self._handle.write("\n")  # so the next record does not glue onto a cut line
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._handle is not None:
            self._handle.close()

    def _ends_with_newline(self) -> bool:
        with self.path.open("rb") as handle:
            handle.seek(-1, os.SEEK_END)
            return handle.read(1) == b"\n"

    def earlier(self, group: str, file: str, sha256: str) -> EnrollRecord | None:
        """The verdict of an earlier run on this very content, if any."""
        return self.done.get(key(group, file, sha256))

    def write(self, record: EnrollRecord) -> None:
        assert self._handle is not None, "use the journal as a context manager"
        self._handle.write(record.model_dump_json(exclude_none=True) + "\n")
        self._handle.flush()
        os.fsync(self._handle.fileno())
        self.written.append(record)
        if record.status in FINAL and record.sha256:
            self.done[key(record.group, record.file, record.sha256)] = record


def summarise(
    records: list[EnrollRecord],
    *,
    group: str,
    source: str,
    report: str,
    files: int,
    members_created: int = 0,
    remaining: int = 0,
    elapsed_s: float = 0.0,
    images_per_s: float = 0.0,
    interrupted: bool = False,
) -> EnrollSummary:
    """Counts of this run's records; the other arguments are the rest of the summary."""
    statuses = Counter(r.status for r in records)
    reasons = Counter(r.reason for r in records if r.reason is not None)
    return EnrollSummary(
        group=group,
        source=source,
        report=report,
        files=files,
        enrolled=statuses[EnrollStatus.ENROLLED],
        rejected=statuses[EnrollStatus.REJECTED],
        skipped=statuses[EnrollStatus.SKIPPED],
        reasons=dict(sorted(reasons.items())),
        members_created=members_created,
        remaining=remaining,
        elapsed_s=elapsed_s,
        images_per_s=images_per_s,
        interrupted=interrupted,
    )
