"""Celery tasks of 1:1 compare and bulk enrolment. Task names are public API.

>>> app.send_task("vigil.compare", args=[jpeg_a, jpeg_b]).get()["match"]
>>> app.send_task("vigil.verify", args=[id_jpeg, live_jpeg]).get()["decision"]
>>> app.send_task("vigil.enroll", args=["/data/portraits", "staff", {"min_size": 60}]).get()

Coded failures come back as `{"error": {"code", "message"}}` rather than as a
task failure, as in the Image API, so a caller branches on a stable code.
"""

from __future__ import annotations

from typing import Any

from vigil.compare.compare import compare as compare_faces
from vigil.compare.enroll import enroll as enroll_portraits
from vigil.compare.enroll_analysis import analyze_file
from vigil.compare.verify import verify as verify_identity
from vigil.errors import ErrorCode, VigilError
from vigil.infra.celery_app import app
from vigil.schemas.compare import EnrollOptions
from vigil.schemas.errors import ErrorInfo

Side = bytes | str | dict[str, Any]


def error(code: ErrorCode, message: str) -> dict[str, Any]:
    return {"error": ErrorInfo(code=code, message=message).model_dump(mode="json")}


def enroll_options(options: dict[str, Any] | None) -> EnrollOptions:
    try:
        return EnrollOptions.model_validate(options or {})
    except ValueError as exc:
        raise VigilError(ErrorCode.INVALID_OPTIONS, str(exc)) from None


@app.task(name="vigil.compare")
def compare(a: Side, b: Side, far: float | None = None) -> dict[str, Any]:
    """Compare two faces: each encoded picture bytes, a path the worker reads, or a Feature dict."""
    try:
        return compare_faces(a, b, far).model_dump(mode="json", exclude_none=True)
    except VigilError as exc:
        return error(exc.code, exc.message)


@app.task(name="vigil.verify")
def verify(id_photo: bytes | str, image: bytes | str, far: float | None = None) -> dict[str, Any]:
    """Identity verification of a picture against an ID photo (VerifyResult as JSON)."""
    try:
        result = verify_identity(id_photo, image=image, far=far)
    except VigilError as exc:
        return error(exc.code, exc.message)
    return result.model_dump(mode="json", exclude_none=True)


@app.task(name="vigil.enroll.analyze")
def analyze(image: bytes | str, options: dict[str, Any] | None = None) -> dict[str, Any]:
    """One portrait's enrolment analysis (FileAnalysis); the enrolling process decides."""
    return analyze_file(image, enroll_options(options)).model_dump(mode="json", exclude_none=True)


@app.task(name="vigil.enroll")
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
    """
    try:
        summary = enroll_portraits(
            source, group, options=enroll_options(options), report=report, create=create
        )
    except VigilError as exc:
        return error(exc.code, exc.message)
    return summary.model_dump(mode="json")
