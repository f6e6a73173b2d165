"""Bulk enrolment of static portraits into a feature group (`vigil enroll DIR|CSV --group G`).

Per file: analysis (in this process, a process pool or Celery workers; see
`enroll_fanout`), then, in this process and in input order, the group's checks
and the store write (`enroll_store`, in batches), then one line in the report
(`enroll_report`), which is also the journal a re-run resumes from: files
already done are skipped, so nothing is enrolled twice.
"""

from __future__ import annotations

import hashlib
import os
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from tqdm import tqdm

from vigil.compare.enroll_fanout import analyzer, ordered, sends_tasks, window
from vigil.compare.enroll_inputs import EnrollItem, list_inputs
from vigil.compare.enroll_report import Journal, summarise
from vigil.compare.enroll_store import Placement, Placer
from vigil.groups.service import GroupService
from vigil.infra.safe_read import IMAGE_LIMIT, open_regular, read_limited, too_large
from vigil.schemas.compare import (
    EnrollOptions,
    EnrollRecord,
    EnrollStatus,
    EnrollSummary,
    FileAnalysis,
    RejectReason,
)
from vigil.schemas.errors import ErrorCode, VigilError


@dataclass(frozen=True)
class Job:
    item: EnrollItem
    sha256: str


def default_report(group: str) -> Path:
    """Resuming needs the same report: the default depends on the group only."""
    return Path(f"vigil-enroll-{group}.jsonl")


def file_sha256(path: Path, roots: Sequence[str] | None = None) -> str:
    """The sha256 of a regular picture file (inside `roots` if given), read bounded.

    Raises a coded VigilError for a file that is missing, not a regular file (a FIFO
    would block, a device stream for ever), over the picture limit or outside `roots`.
    """
    digest, total = hashlib.sha256(), 0
    with open_regular(path, roots) as (handle, size):
        if size > IMAGE_LIMIT:
            raise too_large(path, size, IMAGE_LIMIT, "picture")
        while chunk := handle.read(1 << 20):
            total += len(chunk)
            if total > IMAGE_LIMIT:
                raise too_large(path, None, IMAGE_LIMIT, "picture")
            digest.update(chunk)
    return digest.hexdigest()


def read_or_empty(job: Job, roots: Sequence[str] | None = None) -> bytes:
    """The file's bytes; b"" when it vanished since planning (analysed as unreadable)."""
    try:
        return read_limited(job.item.path, IMAGE_LIMIT, what="picture", roots=roots)
    except VigilError:
        return b""


def real_path(job: Job) -> str:
    """What a worker that sees the same files is sent instead of the bytes: the path."""
    return os.path.realpath(job.item.path)


def ensure_group(service: GroupService, group: str, create: bool) -> None:
    try:
        service.get_group(group)
    except VigilError as exc:
        if exc.code != ErrorCode.GROUP_NOT_FOUND or not create:
            raise
        service.create_group(group, description="created by vigil enroll")


class Enrolment:
    """One run: plans which files are new, analyses them, places them, journals each."""

    def __init__(
        self,
        service: GroupService,
        group: str,
        options: EnrollOptions,
        journal: Journal,
        roots: Sequence[str] | None = None,
    ) -> None:
        self.service, self.group, self.options, self.journal = service, group, options, journal
        self.roots = roots  # read only files inside these folders (a Celery worker's)
        self.members_created = 0
        self.decided = 0  # new files analysed in this run (journalled once placed)
        self.placer: Placer[Job] = Placer(service, group, options.duplicate_distance)

    def record(
        self, item: EnrollItem, sha256: str | None, status: EnrollStatus, **fields: Any
    ) -> None:
        self.journal.write(
            EnrollRecord(
                file=str(item.path),
                sha256=sha256,
                group=self.group,
                person_id=item.person_id,
                status=status,
                **fields,
            )
        )

    def plan(self, items: list[EnrollItem]) -> Iterator[Job]:
        """New files to analyse; files already done are journalled as skipped."""
        for item in items:
            try:
                sha = file_sha256(item.path, self.roots)
            except VigilError as exc:
                self.record(
                    item,
                    None,
                    EnrollStatus.REJECTED,
                    reason=RejectReason.UNREADABLE,
                    detail=f"{exc.code.value}: {exc.message}",
                )
                continue
            if earlier := self.journal.earlier(self.group, str(item.path), sha):
                self.record(
                    item,
                    sha,
                    EnrollStatus.SKIPPED,
                    feature_id=earlier.feature_id,
                    detail=f"done in an earlier run: {earlier.status.value}"
                    + (f" ({earlier.reason.value})" if earlier.reason else ""),
                )
            else:
                yield Job(item, sha)

    def decide(self, job: Job, analysis: FileAnalysis) -> None:
        """Hand one analysed file to the placer; journal the files it has decided."""
        self.decided += 1
        self.journal_placed(self.placer.offer(job, job.item, analysis))

    def finish(self) -> None:
        """Write the enrolments still waiting for their batch and journal them."""
        self.journal_placed(self.placer.flush())

    def journal_placed(self, placed: list[tuple[Job, Placement]]) -> None:
        for job, placement in placed:
            self.members_created += placement.created
            self.record(
                job.item,
                job.sha256,
                placement.status,
                reason=placement.reason,
                detail=placement.detail,
                feature_id=placement.feature_id,
            )


def enroll(
    source: str | Path,
    group: str,
    *,
    service: GroupService | None = None,
    options: EnrollOptions | None = None,
    report: str | Path | None = None,
    create: bool = False,
    workers: int = 1,
    celery: Any = None,
    shared_files: bool = False,
    max_files: int | None = None,
    progress: bool = False,
    roots: Sequence[str] | None = None,
) -> EnrollSummary:
    """Enrol every portrait of a folder or CSV into `group`; see the module doc.

    `workers` > 1 analyses in that many processes; `celery` (a Celery app) sends the
    files to `vigil.enroll.analyze_many` on its workers instead, four a task, keeping
    two tasks per worker in flight (so set `workers` to the Celery concurrency); their
    bytes go beside the messages when the broker or backend is Redis (`infra.blobs`).
    With `shared_files`, workers that see the same files at the same paths (a shared
    disk, listed in their VIGIL_TASK_FILE_ROOTS) are sent each file's path, not its
    bytes. `max_files`
    stops after that many new files (the rest is left for a later run). Ctrl-C
    stops cleanly: the summary says `interrupted` and a re-run carries on. `roots`
    (real folder paths, as a Celery worker passes): files outside them are not read,
    but rejected as `unreadable` (`path_not_allowed`).
    """
    options = options or EnrollOptions()
    report_path = Path(report) if report else default_report(group)
    items = list_inputs(source)
    owned = service is None
    service = service or GroupService()
    started = time.perf_counter()
    interrupted = False
    try:
        ensure_group(service, group, create)
        with Journal(report_path) as journal:
            run = Enrolment(service, group, options, journal, roots)
            jobs = list(run.plan(items))
            batch = jobs[:max_files] if max_files is not None else jobs
            bar = tqdm(
                total=len(batch),
                unit="img",
                file=sys.stderr,
                disable=not progress,
                desc=f"enrol {group}",
            )
            try:
                with analyzer(options, workers, celery) as submit:
                    read: Callable[[Job], bytes | str] = partial(read_or_empty, roots=roots)
                    if shared_files and sends_tasks(celery):
                        read = real_path
                    for job, analysis in ordered(submit, batch, read, window(workers, celery)):
                        run.decide(job, analysis)
                        bar.update()
            except KeyboardInterrupt:
                interrupted = True
            finally:
                bar.close()
            run.finish()  # analysed files whose batch was not yet written
    finally:
        if owned:
            service.close()
    elapsed = time.perf_counter() - started
    return summarise(
        journal.written,
        group=group,
        source=str(source),
        report=str(report_path.resolve()),
        files=len(items),
        members_created=run.members_created,
        remaining=len(jobs) - run.decided,
        elapsed_s=round(elapsed, 3),
        images_per_s=round(run.decided / elapsed, 3) if elapsed > 0 else 0.0,
        interrupted=interrupted,
    )
