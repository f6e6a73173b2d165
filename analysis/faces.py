"""Face features of a picture, for enrolment, compare, verification and search by picture.

Only faces and features are computed (no attributes), which is what search needs
and about twice as fast as a full analysis.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from vigil.analysis.detection import DEFAULT_MIN_FACE
from vigil.models.face_detector import single_window_face
from vigil.schemas.analyze import AnalyzeOptions
from vigil.schemas.errors import ErrorCode, VigilError
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
