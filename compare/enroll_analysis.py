"""One file's enrolment analysis: the face to enrol, or the reason there is none.

It touches no store, so it runs anywhere: in the enrolling process, in a
process pool or on a Celery worker (`vigil.enroll.analyze[_many]`). Decisions that
need the group (duplicate, conflict) are taken by the enrolling process alone.
"""

from __future__ import annotations

from vigil.analysis.faces import portrait_faces, short_side
from vigil.schemas.compare import EnrollOptions, FileAnalysis, RejectReason
from vigil.schemas.errors import ErrorCode, VigilError
from vigil.schemas.target import Target

UNREADABLE_CODES = frozenset(
    {
        ErrorCode.EMPTY_INPUT,
        ErrorCode.NOT_AN_IMAGE,
        ErrorCode.CORRUPT_IMAGE,
        ErrorCode.UNSUPPORTED_FORMAT,
        ErrorCode.IMAGE_TOO_LARGE,
        ErrorCode.IMAGE_TOO_SMALL,
        ErrorCode.FILE_NOT_FOUND,
        ErrorCode.NOT_A_REGULAR_FILE,
        ErrorCode.FILE_TOO_LARGE,
        ErrorCode.PATH_NOT_ALLOWED,
    }
)


def rejected(reason: RejectReason, detail: str, faces: int = 0) -> FileAnalysis:
    return FileAnalysis(reason=reason, detail=detail, faces=faces)


def choose_face(faces: list[Target], options: EnrollOptions) -> FileAnalysis:
    """Exactly one usable face: big enough, not rivalled by a second one, good enough.

    A second face smaller than `dominance` times the largest (a passer-by behind
    the subject) does not make the portrait ambiguous; one of similar size does.
    """
    count = len(faces)
    usable = [face for face in faces if short_side(face) >= options.min_size]
    if not usable:
        detail = f"largest face {short_side(faces[0]):.0f} px, under {options.min_size} px"
        return rejected(RejectReason.TOO_SMALL, detail, count)
    face = usable[0]
    if len(usable) > 1 and short_side(usable[1]) >= options.dominance * short_side(face):
        detail = f"{len(usable)} faces of {options.min_size}+ px; cannot tell whose portrait it is"
        return rejected(RejectReason.MULTIPLE_FACES, detail, count)
    if face.quality.score < options.min_quality:
        detail = f"face quality {face.quality.score:.2f}, under {options.min_quality:.2f}"
        return rejected(RejectReason.LOW_QUALITY, detail, count)
    return FileAnalysis(feature=face.feature, box=face.box, quality=face.quality.score, faces=count)


def analyze_file(image: bytes | str, options: EnrollOptions) -> FileAnalysis:
    """Analyze one portrait (bytes, or a path this process can read)."""
    try:
        faces = portrait_faces(image, options.dominance)
    except VigilError as exc:
        if exc.code == ErrorCode.NO_FACE:
            return rejected(RejectReason.NO_FACE, "no face found")
        if exc.code in UNREADABLE_CODES:
            return rejected(RejectReason.UNREADABLE, f"{exc.code.value}: {exc.message}")
        raise  # model missing or a bug: every file would fail, so stop the job
    return choose_face(faces, options)
