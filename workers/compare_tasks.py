"""Celery tasks of 1:1 compare and bulk enrolment. Task names are public API.

>>> app.send_task("vigil.compare", args=[jpeg_a, jpeg_b]).get()["match"]
>>> app.send_task("vigil.verify", args=[id_jpeg, live_jpeg]).get()["decision"]
>>> app.send_task("vigil.enroll", args=["/data/portraits", "staff", {"min_size": 60}]).get()

Coded failures come back as `{"error": {"code", "message"}}` rather than as a
task failure, as in the Image API, so a caller branches on a stable code.

Pictures travel as bytes. A worker reads a path (a picture, the enrolment folder or
CSV and every file it lists) and writes a report only inside the folders its operator
lists in VIGIL_TASK_FILE_ROOTS (none by default: `path_not_allowed`); the default
report is `vigil-enroll-GROUP.jsonl` in the first of them, and a report must be .jsonl.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from vigil.compare.compare import compare as compare_faces
from vigil.compare.enroll import enroll as enroll_portraits
from vigil.compare.enroll_analysis import analyze_file, rejected
from vigil.compare.verify import verify as verify_identity
from vigil.infra import blobs
from vigil.infra.safe_read import allowed_path, is_local, shown, task_input, task_roots
from vigil.schemas.compare import EnrollOptions, RejectReason
from vigil.schemas.errors import ErrorCode, ErrorInfo, VigilError
from vigil.workers.coded import coded, coded_task, dump

Side = bytes | str | dict[str, Any]
MAX_PICTURES_PER_TASK = 64  # vigil.enroll.analyze_many: one task's work stays bounded


def enroll_options(options: dict[str, Any] | None) -> EnrollOptions:
    try:
        return EnrollOptions.model_validate(options or {})
    except ValueError as exc:
        raise VigilError(ErrorCode.INVALID_OPTIONS, str(exc)) from None


def report_path(report: str | None, group: str, roots: tuple[str, ...]) -> Path:
    """Where a worker may write an enrolment report: a .jsonl file inside its roots."""
    if report is None:
        report = os.path.join(roots[0] if roots else "", f"vigil-enroll-{group}.jsonl")
    path = allowed_path(report, roots, "report")
    if path.suffix != ".jsonl":
        raise VigilError(
            ErrorCode.PATH_NOT_ALLOWED, f"{shown(report)}: a report must be a .jsonl file"
        )
    return path


def unreadable(error: ErrorInfo) -> dict[str, Any]:
    """`vigil.enroll.analyze`'s answer to any failure: the portrait is rejected, with why."""
    return dump(rejected(RejectReason.UNREADABLE, f"{error.code.value}: {error.message}"))


@coded_task("vigil.compare")
def compare(
    a: Side,
    b: Side,
    far: float | None = None,
    options: dict[str, Any] | None = None,
    face_a: Any = None,
    face_b: Any = None,
) -> dict[str, Any]:
    """Compare two faces: each encoded picture bytes, a served path, or a Feature dict.

    `options`: QueryFaceOptions as a dict (min_size, min_quality, dominance); `face_a`,
    `face_b`: a picture's face, an index (largest first) or a box [x1, y1, x2, y2].
    """
    local = is_local(compare)
    a, b = task_input(a, local=local), task_input(b, local=local)
    return dump(compare_faces(a, b, far, options=options, face_a=face_a, face_b=face_b))


@coded_task("vigil.verify")
def verify(
    id_photo: bytes | str | None,
    image: bytes | str,
    far: float | None = None,
    options: dict[str, Any] | None = None,
    id_face: Any = None,
    face: Any = None,
    id_card: bytes | str | None = None,
) -> dict[str, Any]:
    """Identity verification of a picture against an ID photo (VerifyResult as JSON);
    `options`, `id_face` and `face` as for `vigil.compare`. `id_card` (with `id_photo`
    None): a photographed ID document instead, its portrait the reference, its text
    in the result's `card`."""
    local = is_local(verify)
    image = task_input(image, local=local)
    if id_photo is not None:
        id_photo = task_input(id_photo, local=local)
    if id_card is not None:
        id_card = task_input(id_card, local=local)
    result = verify_identity(
        id_photo,
        image=image,
        far=far,
        options=options,
        id_face=id_face,
        face=face,
        id_card=id_card,
    )
    return dump(result)


@coded_task("vigil.enroll.analyze", answer=unreadable)
def analyze(
    image: bytes | str | dict[str, str], options: dict[str, Any] | None = None
) -> dict[str, Any]:
    """One portrait's enrolment analysis (FileAnalysis); the enrolling process decides.
    `image`: bytes, a served path, or {"blob": key} of bytes put beside the message
    (`vigil.infra.blobs`, as `vigil enroll --celery` sends them over a Redis broker)."""
    return analysis(image, options, analyze)


@coded_task("vigil.enroll.analyze_many", answer=lambda error: [unreadable(error)])
def analyze_many(
    images: list[bytes | str | dict[str, str]], options: dict[str, Any] | None = None
) -> list[dict[str, Any]]:
    """Several portraits' analyses in one task, in order, each as `vigil.enroll.analyze`
    answers it (one unreadable portrait rejects only itself). `vigil enroll --celery`
    sends a few per task: the broker, the prefork parent and the result backend then
    cost once per task, not once per portrait."""
    if not isinstance(images, list) or len(images) > MAX_PICTURES_PER_TASK:
        raise VigilError(
            ErrorCode.INVALID_OPTIONS, f"images: a list of at most {MAX_PICTURES_PER_TASK} pictures"
        )
    one = coded(analysis, unreadable)
    return [one(image, options, analyze_many) for image in images]


def analysis(
    image: bytes | str | dict[str, str], options: dict[str, Any] | None, task: Any
) -> dict[str, Any]:
    """One portrait's FileAnalysis for `task`, a picture in any form a task accepts."""
    picture = task_input(blobs.picture(image, task.app.conf), local=is_local(task))
    return dump(analyze_file(picture, enroll_options(options)))


@coded_task("vigil.enroll")
def enroll(
    source: str,
    group: str,
    options: dict[str, Any] | None = None,
    create: bool = False,
    report: str | None = None,
) -> dict[str, Any]:
    """A whole enrolment job on this worker, one file at a time (EnrollSummary).

    A Celery worker process may not start a pool of its own; for throughput,
    run `vigil enroll --celery` (or `--workers N`) from a machine that sees the files.
    On a worker, the source, every file it lists and the report must lie inside
    VIGIL_TASK_FILE_ROOTS; a file listed outside is rejected as `unreadable`.
    """
    roots: tuple[str, ...] | None = None
    if not is_local(enroll):
        roots = task_roots()
        source = str(allowed_path(source, roots, "enrolment source"))
        report = str(report_path(report, group, roots))
    summary = enroll_portraits(
        source, group, options=enroll_options(options), report=report, create=create, roots=roots
    )
    return summary.model_dump(mode="json")
