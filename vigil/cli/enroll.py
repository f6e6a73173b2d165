"""`vigil enroll DIR|CSV --group G`: bulk enrolment of static portraits, resumable.

Exit status: 0 done (rejected files are listed in the report, not errors),
1 refused (no such group without --create, unreadable CSV, ...), 2 wrong
options, 130 interrupted (run the same command again to carry on).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from vigil.cli.compare import refused
from vigil.cli.options import fraction, non_negative_int
from vigil.schemas.errors import ErrorCode, VigilError

if TYPE_CHECKING:
    from vigil.schemas.compare import EnrollSummary

LISTED_REJECTIONS = 50


def positive_int(text: str) -> int:
    value = non_negative_int(text)
    if value == 0:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "enroll",
        help="enrol a folder or CSV of portraits into a feature group",
        description="Enrol portraits into a feature group. SOURCE is a folder (person id ="
        " sub-folder name, or the file stem for files directly in it) or a CSV with columns"
        " path, person_id and optional metadata columns. Each file needs exactly one usable"
        " face; rejected files and their reasons go to the report (JSON Lines), which is also"
        " the journal: re-running the same command skips files already done. "
        + __doc__.split("\n\n")[1],
    )
    parser.add_argument("source", type=Path, help="folder of portraits or CSV file")
    parser.add_argument("--group", required=True, help="feature group to enrol into")
    parser.add_argument("--create", action="store_true", help="create the group if missing")
    parser.add_argument(
        "--store",
        metavar="URI",
        help="Milvus Lite file or http://host:port (default: $VIGIL_GROUPS_URI or"
        " ./vigil-groups.db)",
    )
    parser.add_argument(
        "--workers",
        type=positive_int,
        default=1,
        help="analysis processes (default 1); with --celery, the workers' total concurrency",
    )
    parser.add_argument(
        "--celery",
        action="store_true",
        help="analyse on Celery workers (vigil.enroll.analyze_many; VIGIL_CELERY_BROKER)",
    )
    parser.add_argument(
        "--shared-files",
        action="store_true",
        help="with --celery: the workers see these files at the same paths (a shared disk"
        " listed in their VIGIL_TASK_FILE_ROOTS); send paths, not the pictures' bytes",
    )
    parser.add_argument(
        "--min-size", type=non_negative_int, default=40, help="min face side, px (default 40)"
    )
    parser.add_argument(
        "--min-quality", type=fraction, default=0.3, help="min face quality 0-1 (default 0.3)"
    )
    parser.add_argument(
        "--duplicate-distance",
        type=float,
        default=0.15,
        help="L2 under which a face is the same photo as an enrolled one (0-0.5, default 0.15)",
    )
    parser.add_argument(
        "--report", type=Path, help="report/journal file (default ./vigil-enroll-GROUP.jsonl)"
    )
    parser.add_argument(
        "--max-files", type=positive_int, help="stop after this many new files (batches)"
    )
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.set_defaults(run=run)


def print_summary(summary: EnrollSummary) -> None:
    from vigil.compare.enroll_report import read_records
    from vigil.schemas.compare import EnrollStatus

    reasons = ", ".join(f"{reason.value} {count}" for reason, count in summary.reasons.items())
    print(
        f"{summary.group}: {summary.enrolled} enrolled, {summary.rejected} rejected"
        + (f" ({reasons})" if reasons else "")
        + f", {summary.skipped} skipped (done before); {summary.members_created} new members;"
        f" {summary.images_per_s:.2f} images/s"
    )
    if summary.remaining:
        print(f"{summary.remaining} files left: run the same command again to carry on")
    # The newest line per file: this run's verdicts (files done before now read "skipped").
    latest = {r.file: r for r in read_records(Path(summary.report)) if r.group == summary.group}
    rejected = [r for r in latest.values() if r.status == EnrollStatus.REJECTED]
    for record in rejected[:LISTED_REJECTIONS]:
        # the report is a file: a line may lack the reason Vigil always writes
        reason = record.reason.value if record.reason is not None else "-"
        print(f"  {reason:<15} {record.file}: {record.detail}")
    if len(rejected) > LISTED_REJECTIONS:
        print(f"  ... and {len(rejected) - LISTED_REJECTIONS} more")
    print(f"report (every file, JSON Lines): {summary.report}")


def run(args: argparse.Namespace) -> int:
    from vigil.compare.enroll import enroll
    from vigil.groups.service import GroupService
    from vigil.schemas.compare import EnrollOptions

    celery = None
    if args.celery:
        from vigil.infra.celery_app import app as celery
    try:
        options = EnrollOptions(
            min_size=args.min_size,
            min_quality=args.min_quality,
            duplicate_distance=args.duplicate_distance,
        )
    except ValueError as exc:
        return refused(VigilError(ErrorCode.INVALID_OPTIONS, str(exc)), args.json)
    try:
        with GroupService(args.store) as service:
            summary = enroll(
                args.source,
                args.group,
                service=service,
                options=options,
                report=args.report,
                create=args.create,
                workers=args.workers,
                celery=celery,
                shared_files=args.shared_files,
                max_files=args.max_files,
                progress=not args.no_progress,
            )
    except VigilError as exc:
        return refused(exc, args.json)
    if args.json:
        print(summary.model_dump_json(indent=2))
    else:
        print_summary(summary)
    return 130 if summary.interrupted else 0
