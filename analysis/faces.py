"""Face features of a picture, for enrolment, compare, verification and search by picture.

Only faces and features are computed (no attributes), which is what search needs
and about twice as fast as a full analysis.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from vigil.schemas.analyze import AnalyzeOptions
from vigil.schemas.errors import ErrorCode, VigilError
from vigil.schemas.target import Target, TargetType

if TYPE_CHECKING:
    from vigil.analysis.pictures import ImageSource

FACE_FEATURES = AnalyzeOptions(
    types=frozenset({TargetType.FACE}), features=True, attributes=frozenset()
)


def face_targets(image: ImageSource, largest_only: bool = True) -> list[Target]:
    """Faces with features, largest first; refuses a bad picture or one with no face."""
    from vigil.analysis.pictures import (
        analyze_image,  # lazy: the face models load on first use only
    )

    result = analyze_image(image, FACE_FEATURES)
    if result.error:
        raise VigilError(result.error.code, f"{result.source}: {result.error.message}")
    faces = [target for target in result.targets if target.feature is not None]
    if not faces:
        raise VigilError(ErrorCode.NO_FACE, f"{result.source}: no face found")
    faces.sort(key=lambda face: face.box.width * face.box.height, reverse=True)
    return faces[:1] if largest_only else faces
