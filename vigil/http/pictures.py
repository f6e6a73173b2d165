"""POST /v1/analyze, /v1/compare, /v1/verify: a picture or two in, the library's answer out.

The models run in worker threads, as many at once as there are model slots
(`vigil.http.compute`), so the event loop keeps serving meanwhile.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from vigil.api import analyze_image
from vigil.compare.compare import compare
from vigil.compare.verify import verify
from vigil.http.auth import READ
from vigil.http.compute import run_model
from vigil.http.problems import AUTH, PICTURES, QUERY_FACES, declared
from vigil.http.uploads import Picture, UploadBody, openapi, read_upload
from vigil.schemas.analyze import AnalyzeOptions, ImageResult
from vigil.schemas.compare import (
    CARD_PORTRAIT_MIN_SIZE,
    FACE_CHOICE_HELP,
    QUERY_DOMINANCE,
    QUERY_MIN_QUALITY,
    QUERY_MIN_SIZE,
    CompareResult,
)
from vigil.schemas.errors import ErrorCode, VigilError
from vigil.schemas.verify import VerifyResult

router = APIRouter(prefix="/v1", tags=["pictures"], dependencies=READ)
Far = Field(default=None, gt=0, lt=1, description="false-accept rate of `match` (default 1e-3)")
FaceName = int | str | list[float] | None


def named(what: str) -> Any:
    return Field(default=None, description=f"{what}: {FACE_CHOICE_HELP}")


class QueryFaceFields(BaseModel):
    """The query-face filters as request fields (QueryFaceOptions; unset: its default).

    Checked by the library (`query_options`), so a bad value is the same 422
    invalid_options over HTTP as from the CLI or Celery.
    """

    min_size: int | None = Field(
        default=None,
        description=f"min face short side, px (default {QUERY_MIN_SIZE}; an ID card's"
        f" portrait {CARD_PORTRAIT_MIN_SIZE})",
    )
    min_quality: float | None = Field(
        default=None, description=f"min face quality, 0-1 (default {QUERY_MIN_QUALITY})"
    )
    dominance: float | None = Field(
        default=None,
        description="a second face this fraction of the largest's size makes the choice"
        f" ambiguous (default {QUERY_DOMINANCE})",
    )

    def query_options(self) -> dict[str, Any]:
        fields = ("min_size", "min_quality", "dominance")
        return {name: getattr(self, name) for name in fields if getattr(self, name) is not None}


class AnalyzeBody(UploadBody):
    """A picture and what to look for in it."""

    files = ("image",)
    json_parts = ("options",)

    image: Picture
    options: AnalyzeOptions | None = Field(
        default=None, description="default: every type and attribute, no features, no crops"
    )


class CompareBody(QueryFaceFields, UploadBody):
    """Two pictures; the query face of each (the named one, else the largest) is compared."""

    files = ("a", "b")

    a: Picture
    b: Picture
    far: float | None = Far
    face_a: FaceName = named("a's face")
    face_b: FaceName = named("b's face")


class VerifyBody(QueryFaceFields, UploadBody):
    """An ID photo (or a photographed ID card) and a picture of the person to verify (each
    face passing the filters)."""

    files = ("id_photo", "id_card", "image")

    id_photo: Picture | None = Field(default=None, description="the reference picture")
    id_card: Picture | None = Field(
        default=None,
        description="instead of id_photo: a photo of an ID document; its portrait is the"
        " reference and its text is returned in `card`",
    )
    image: Picture
    far: float | None = Far
    id_face: FaceName = named("the ID photo's face")
    face: FaceName = named("the picture's face (default: every face is compared)")


@router.post(
    "/analyze",
    response_model=ImageResult,
    responses=declared(AUTH, PICTURES),
    openapi_extra=openapi(AnalyzeBody),
    summary="Targets in a picture: faces, persons, vehicles, with attributes",
)
async def analyze(request: Request) -> ImageResult:
    body = await read_upload(request, AnalyzeBody)
    options = (body.options or AnalyzeOptions()).clamped()  # a remote client's pixel ceiling
    result = await run_model(request, lambda: analyze_image(body.image, options, label="image"))
    if result.error is not None:
        raise VigilError(result.error.code, result.error.message)
    return result


@router.post(
    "/compare",
    response_model=CompareResult,
    responses=declared(AUTH, QUERY_FACES),
    openapi_extra=openapi(CompareBody),
    summary="1:1 compare of the query faces of two pictures",
)
async def compare_faces(request: Request) -> CompareResult:
    body = await read_upload(request, CompareBody)
    return await run_model(
        request,
        lambda: compare(
            body.a,
            body.b,
            body.far,
            options=body.query_options(),
            face_a=body.face_a,
            face_b=body.face_b,
        ),
    )


@router.post(
    "/verify",
    response_model=VerifyResult,
    responses=declared(AUTH, QUERY_FACES, (ErrorCode.NO_CARD_FACE,)),
    openapi_extra=openapi(VerifyBody),
    summary="Identity verification: is the person in the picture the one on the ID photo?",
)
async def verify_identity(request: Request) -> VerifyResult:
    body = await read_upload(request, VerifyBody)
    return await run_model(
        request,
        lambda: verify(
            body.id_photo,
            id_card=body.id_card,
            image=body.image,
            far=body.far,
            options=body.query_options(),
            id_face=body.id_face,
            face=body.face,
        ),
    )
