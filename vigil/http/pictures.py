"""POST /v1/analyze, /v1/compare, /v1/verify: a picture or two in, the library's answer out.

The models run in worker threads, as many at once as there are model slots
(`vigil.http.compute`), so the event loop keeps serving meanwhile.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from pydantic import Field

from vigil.api import analyze_image
from vigil.compare.compare import compare
from vigil.compare.verify import verify
from vigil.http.auth import READ
from vigil.http.compute import run_model
from vigil.http.problems import AUTH, FACES, PICTURES, declared
from vigil.http.uploads import Picture, UploadBody, openapi, read_upload
from vigil.schemas.analyze import AnalyzeOptions, ImageResult
from vigil.schemas.compare import CompareResult
from vigil.schemas.errors import VigilError
from vigil.schemas.verify import VerifyResult

router = APIRouter(prefix="/v1", tags=["pictures"], dependencies=READ)
Far = Field(default=None, gt=0, lt=1, description="false-accept rate of `match` (default 1e-3)")


class AnalyzeBody(UploadBody):
    """A picture and what to look for in it."""

    files = ("image",)
    json_parts = ("options",)

    image: Picture
    options: AnalyzeOptions | None = Field(
        default=None, description="default: every type and attribute, no features, no crops"
    )


class CompareBody(UploadBody):
    """Two pictures; the largest face of each is compared."""

    files = ("a", "b")

    a: Picture
    b: Picture
    far: float | None = Far


class VerifyBody(UploadBody):
    """An ID photo and a picture of the person to verify (the largest face of each)."""

    files = ("id_photo", "image")

    id_photo: Picture
    image: Picture
    far: float | None = Far


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
    responses=declared(AUTH, FACES),
    openapi_extra=openapi(CompareBody),
    summary="1:1 compare of the largest faces of two pictures",
)
async def compare_faces(request: Request) -> CompareResult:
    body = await read_upload(request, CompareBody)
    return await run_model(request, lambda: compare(body.a, body.b, body.far))


@router.post(
    "/verify",
    response_model=VerifyResult,
    responses=declared(AUTH, FACES),
    openapi_extra=openapi(VerifyBody),
    summary="Identity verification: is the person in the picture the one on the ID photo?",
)
async def verify_identity(request: Request) -> VerifyResult:
    body = await read_upload(request, VerifyBody)
    return await run_model(request, lambda: verify(body.id_photo, image=body.image, far=body.far))
