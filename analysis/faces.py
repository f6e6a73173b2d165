"""Face features of a picture, for enrolment, compare, verification and search by picture.

Only faces and features are computed (no attributes), which is what search needs
and about twice as fast as a full analysis.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from vigil.analysis.detection import DEFAULT_MIN_FACE
from vigil.analysis.quality import framed_score
from vigil.models.face_detector import single_window_face
from vigil.schemas.analyze import AnalyzeOptions
from vigil.schemas.compare import FaceChoice, QueryFaceOptions
from vigil.schemas.errors import ErrorCode, VigilError
from vigil.schemas.geometry import Box
from vigil.schemas.target import Target, TargetType

if TYPE_CHECKING:
    from vigil.analysis.pictures import ImageSource

FACE_FEATURES = AnalyzeOptions(
    types=frozenset({TargetType.FACE}), features=True, attributes=frozenset()
)


def largest_first(targets: list[Target]) -> list[Target]:
    """The faces that carry a feature, largest box first."""
    faces = [target for target in targets if target.feature is not None]
    return sorted(faces, key=lambda face: face.box.width * face.box.height, reverse=True)


def face_targets(image: ImageSource, largest_only: bool = True) -> list[Target]:
    """Faces with features, largest first; refuses a bad picture or one with no face."""
    from vigil.analysis.pictures import (
        analyze_image,  # lazy: the face models load on first use only
    )

    result = analyze_image(image, FACE_FEATURES)
    if result.error:
        raise VigilError(result.error.code, f"{result.source}: {result.error.message}")
    faces = largest_first(result.targets)
    if not faces:
        raise VigilError(ErrorCode.NO_FACE, f"{result.source}: no face found")
    return faces[:1] if largest_only else faces


def every_face(image: ImageSource) -> list[Target]:
    """`face_targets` of every face, largest first; a picture without one gives none
    (a video frame or an ID card where that is an answer, not an error)."""
    try:
        return face_targets(image, largest_only=False)
    except VigilError as exc:
        if exc.code == ErrorCode.NO_FACE:
            return []
        raise


# -- the query face: one rule for compare, verify and search ------------------------------

# A named box picks the detected face it overlaps most, if they overlap at least this much
# (intersection over union): a box drawn by hand, or from another detector, is never exact.
NAMED_BOX_IOU = 0.3


def short_side(face: Target) -> float:
    """A face's size as the filters measure it (enrolment's too): its box's short side."""
    return min(face.box.width, face.box.height)


def described(faces: list[Target], indices: list[int] | None = None) -> str:
    """`#0 [x1, y1, x2, y2] 201 px, #1 ...`: what a caller needs to name one of them
    (the faces at `indices` of the largest-first list, default all)."""
    return ", ".join(
        f"#{i} {faces[i].box.as_list()} {short_side(faces[i]):.0f} px"
        for i in (range(len(faces)) if indices is None else indices)
    )


def too_small(face: Target, options: QueryFaceOptions) -> VigilError | None:
    """FACE_TOO_SMALL with the face's short side and the limit, or None."""
    side = short_side(face)
    if side >= options.min_size:
        return None
    return VigilError(
        ErrorCode.FACE_TOO_SMALL,
        f"face {face.box.as_list()} is {side:.0f} px (short side), under min_size"
        f" {options.min_size} px: the calibrated FAR does not hold for smaller faces",
    )


def refusal(face: Target, options: QueryFaceOptions) -> VigilError | None:
    """Why this face may not be a query (its measured value and the limit), or None."""
    small = too_small(face, options)
    if small is not None:
        return small
    quality = framed_score(face.quality)
    if quality < options.min_quality:
        return VigilError(
            ErrorCode.LOW_QUALITY,
            f"face {face.box.as_list()} has quality {quality:.2f}, under"
            f" min_quality {options.min_quality:.2f}: the calibrated FAR does not hold",
        )
    return None


def overlap(a: Box, b: Box) -> float:
    """Intersection over union of two boxes."""
    width = max(0.0, min(a.x2, b.x2) - max(a.x1, b.x1))
    height = max(0.0, min(a.y2, b.y2) - max(a.y1, b.y1))
    inter = width * height
    union = a.width * a.height + b.width * b.height - inter
    return inter / union if union > 0 else 0.0


def named_face(faces: list[Target], face: FaceChoice) -> int:
    """The index (largest first) of the face the caller named; NO_FACE if it is not there."""
    if isinstance(face, int):
        if face < len(faces):
            return face
        raise VigilError(
            ErrorCode.NO_FACE,
            f"no face #{face}: the picture holds {len(faces)} ({described(faces)})",
        )
    overlaps = [overlap(face, found.box) for found in faces]
    best = max(range(len(faces)), key=overlaps.__getitem__)
    if overlaps[best] < NAMED_BOX_IOU:
        raise VigilError(
            ErrorCode.NO_FACE,
            f"no face at {face.as_list()}: the faces found are {described(faces)}",
        )
    return best


def choose_query_face(
    faces: list[Target], options: QueryFaceOptions, face: FaceChoice | None = None
) -> int:
    """The index of the face a query uses, from `faces` (largest first, not empty).

    A named face is used if it passes the filters. Without one, the largest is used
    unless a second face is within `options.dominance` of its size: then the caller
    must name one (AMBIGUOUS_FACE lists them), since the largest of a near-tie (201 px
    against 200 px in a group photo) is as likely the wrong person as the right one.
    The largest face is checked for size first: if it is too small, so are its rivals.

    Raises VigilError: NO_FACE (a named face that is not there), FACE_TOO_SMALL,
    LOW_QUALITY, AMBIGUOUS_FACE.
    """
    if face is not None:
        index = named_face(faces, face)
    else:
        index = 0
        small = too_small(faces[0], options)
        if small is not None:
            raise small
        # a face under min_size is no rival: it could not be the query anyway
        limit = max(options.dominance * short_side(faces[0]), options.min_size)
        rivals = [i for i in range(1, len(faces)) if short_side(faces[i]) >= limit]
        if rivals:
            raise VigilError(
                ErrorCode.AMBIGUOUS_FACE,
                f"{1 + len(rivals)} faces of similar size (within"
                f" {1 - options.dominance:.0%} of the largest): {described(faces, [0, *rivals])};"
                " name one (face: an index or a box)",
            )
    problem = refusal(faces[index], options)
    if problem is not None:
        raise problem
    return index


def usable_faces(faces: list[Target], options: QueryFaceOptions) -> list[int]:
    """Indices of the faces that pass the filters, for callers that use every face (search
    with all_faces, verification). A picture whose faces all fail is refused with the
    largest face's reason, so the caller learns why rather than getting an empty answer.
    """
    usable = [i for i, face in enumerate(faces) if refusal(face, options) is None]
    if faces and not usable:
        problem = refusal(faces[0], options)
        assert problem is not None
        raise problem
    return usable


def query_face(
    image: ImageSource, options: QueryFaceOptions, face: FaceChoice | None = None
) -> tuple[list[Target], int]:
    """Every face of a picture (largest first) and the index of the one a query uses
    (`choose_query_face`); the picture's own refusals (NO_FACE, decoder codes) first.
    Refusals name the picture, as `face_targets`'s do."""
    faces = face_targets(image, largest_only=False)
    try:
        return faces, choose_query_face(faces, options, face)
    except VigilError as exc:
        from vigil.analysis.pictures import source_label

        raise VigilError(exc.code, f"{source_label(image, 0)}: {exc.message}") from None


# The quick pass is complete when the faces that can matter are this much above the
# smallest face it finds reliably.
QUICK_PASS_MARGIN = 1.25


def portrait_faces(image: ImageSource, dominance: float) -> list[Target]:
    """Faces with features, largest first, complete for a portrait's decision: every face
    of at least `dominance` times the largest is in the list (enrolment's rival rule).

    Portraits are large pictures of one large face, and tiling them for 16-px faces
    costs dozens of model calls. So the whole picture is first searched in one call,
    which finds faces from about 7% of its longer side; when the largest face found is
    large enough that any rival of `dominance` times its size would have been found
    too, that answer is complete; if not, a second pass tiles the picture for faces of
    that rival size only. A picture where the first call finds no face is searched as
    `face_targets` does, down to 16 px.
    """
    from vigil.analysis.image_decoder import load_image
    from vigil.analysis.pictures import default_analyzer, source_label

    options = FACE_FEATURES
    try:
        pixels = load_image(image, max_pixels=options.max_pixels)
    except VigilError as exc:
        raise VigilError(exc.code, f"{source_label(image, 0)}: {exc.message}") from None
    analyzer = default_analyzer()

    def faces_from(min_face: int) -> list[Target]:
        return largest_first(
            analyzer.analyze(pixels, options.model_copy(update={"min_size": min_face}))
        )

    quick = single_window_face(*pixels.shape[:2])
    faces = faces_from(quick)
    if not faces:
        return face_targets(pixels, largest_only=False)
    # Rivals are at least `dominance` times the largest face; find every one of them.
    rival = dominance * min(faces[0].box.width, faces[0].box.height) / QUICK_PASS_MARGIN
    if rival >= quick:
        return faces
    return faces_from(max(DEFAULT_MIN_FACE, int(rival)))
