"""1:1 compare: two pictures, a picture and a feature, or two features.

>>> result = compare("obama.jpg", "biden.jpg")
>>> result.distance, result.similarity, result.match
(0.850645, 4.708, False)

A picture contributes its query face (`vigil.analysis.faces.choose_query_face`): the
one the caller names, else the largest unless another is close to it in size
(`ambiguous_face`), and only if it is large and good enough for the calibrated FAR
to hold (`face_too_small`, `low_quality`). A feature is taken as given once it is
proven well-formed. Only features of the face model
this Vigil runs are compared: the thresholds are calibrated for that model alone.
"""

from __future__ import annotations

import numpy as np

from vigil.analysis.faces import query_face
from vigil.analysis.pictures import ImageSource
from vigil.models.face_embedder import FaceEmbedder
from vigil.models.runtime import model_version
from vigil.models.scoring import similarity, threshold_for, thresholds
from vigil.schemas.compare import (
    ComparedFace,
    CompareResult,
    Decision,
    FaceChoice,
    QueryFaceOptions,
    parse_face,
    query_options,
)
from vigil.schemas.errors import ErrorCode, VigilError
from vigil.schemas.feature import Feature
from vigil.schemas.target import Target
from vigil.schemas.threshold import DEFAULT_FAR, Threshold
from vigil.schemas.validate import as_vector

Side = ImageSource | Feature | dict


def picture_face(faces: list[Target], index: int) -> ComparedFace:
    """Provenance of the face used from a picture: its box, index, quality, and how many."""
    face = faces[index]
    return ComparedFace(
        kind="picture",
        box=face.box,
        index=index,
        faces_found=len(faces),
        quality=face.quality.score,
    )


def side_feature(
    side: Side,
    name: str,
    options: QueryFaceOptions | None = None,
    face: FaceChoice | None = None,
) -> tuple[str, np.ndarray, ComparedFace]:
    """(model, vector, provenance) of one side; a dict is a Feature in JSON form.

    A picture's face is chosen and filtered by `options` (default `QueryFaceOptions()`)
    and `face` (an index or a box); a feature has no face to name.
    """
    if isinstance(side, Feature | dict):
        if face is not None:
            raise VigilError(
                ErrorCode.INVALID_OPTIONS, f"face_{name}: {name} is a feature, not a picture"
            )
        try:
            model, vector = as_vector(side)
        except VigilError as exc:
            raise VigilError(exc.code, f"feature {name}: {exc.message}") from None
        return model, vector, ComparedFace(kind="feature")
    try:
        faces, index = query_face(side, options or QueryFaceOptions(), face)
    except VigilError as exc:
        raise VigilError(exc.code, f"picture {name}: {exc.message}") from None
    feature = faces[index].feature
    assert feature is not None  # face_targets returns only faces with one
    return feature.model, feature.vector(), picture_face(faces, index)


def check_model(model_a: str, model_b: str, vector: np.ndarray, name: str) -> None:
    expected = model_version(FaceEmbedder.MODEL)
    if model_a != model_b:
        raise VigilError(
            ErrorCode.FEATURE_MISMATCH,
            f"features of different models cannot be compared: {model_a} and {model_b}",
        )
    if model_a != expected:
        raise VigilError(
            ErrorCode.FEATURE_MISMATCH,
            f"features of {model_a} cannot be compared here: this Vigil runs {expected}",
        )
    if vector.size != FaceEmbedder.DIM:
        raise VigilError(
            ErrorCode.INVALID_FEATURE,
            f"feature {name} holds {vector.size} values; {expected} features hold"
            f" {FaceEmbedder.DIM}",
        )


def threshold_at(far: float | None) -> Threshold:
    """The face model's calibrated threshold at `far` (default 1e-3); INVALID_OPTIONS if none."""
    far = DEFAULT_FAR if far is None else float(far)
    if not 0 < far < 1:
        raise VigilError(ErrorCode.INVALID_OPTIONS, f"far must be in (0, 1), got {far:g}")
    return threshold_for(model_version(FaceEmbedder.MODEL), far)


def compare(
    a: Side,
    b: Side,
    far: float | None = None,
    *,
    options: QueryFaceOptions | dict | None = None,
    face_a: object = None,
    face_b: object = None,
) -> CompareResult:
    """Compare two faces; `match` is decided at `far` (default 1e-3), every FAR is reported.

    `options` filters the pictures' faces (min_size, min_quality, dominance); `face_a`
    and `face_b` name the face of a picture (an index, largest first, or a box).

    Raises VigilError: NO_FACE (a picture without a face, or without the named one),
    FACE_TOO_SMALL, LOW_QUALITY, AMBIGUOUS_FACE (see `choose_query_face`), the picture
    decoder's codes, INVALID_FEATURE (bad base64, wrong length, NaN/inf),
    FEATURE_MISMATCH (another model's feature) or INVALID_OPTIONS (a FAR tighter than
    calibrated, bad options, a face named on a feature).
    """
    chosen = threshold_at(far)  # refuse before any work
    checked = query_options(options)
    named_a, named_b = parse_face(face_a), parse_face(face_b)
    model_a, vector_a, used_a = side_feature(a, "a", checked, named_a)
    model_b, vector_b, used_b = side_feature(b, "b", checked, named_b)
    check_model(model_a, model_b, vector_a, "a")
    check_model(model_b, model_a, vector_b, "b")
    distance = float(np.linalg.norm(vector_a.astype(np.float64) - vector_b))
    decisions = decisions_at(distance)
    return CompareResult(
        model=model_a,
        distance=round(distance, 6),
        similarity=similarity(distance),
        far=chosen.far,
        match=distance <= chosen.distance,
        decisions=decisions,
        a=used_a,
        b=used_b,
    )


def decisions_at(distance: float) -> list[Decision]:
    """The decision at every calibrated FAR, loosest first."""
    return [
        Decision(
            far=t.far,
            threshold_distance=t.distance,
            threshold_similarity=t.similarity,
            match=distance <= t.distance,
        )
        for t in sorted(thresholds(FaceEmbedder.MODEL).thresholds, key=lambda t: -t.far)
    ]
