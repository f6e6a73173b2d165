"""POST /v1/history/search: past captures most like a picture's largest face."""

from __future__ import annotations

from fastapi import APIRouter, Request
from pydantic import Field

from vigil.http.auth import READ
from vigil.http.compute import run_model
from vigil.http.problems import AUTH, FACES, STORE, declared
from vigil.http.uploads import Picture, UploadBody, openapi, read_upload
from vigil.schemas.errors import ErrorCode
from vigil.schemas.history import Attributes, HistoryResult, HistorySearchOptions, When
from vigil.schemas.target import TargetType

router = APIRouter(prefix="/v1", tags=["history"], dependencies=READ)


class HistorySearchBody(HistorySearchOptions, UploadBody):
    """A picture, the search options and the filters (every given one must hold)."""

    files = ("image",)
    lists = ("cameras", "types")
    json_parts = ("attributes",)

    image: Picture
    cameras: list[str] | None = Field(default=None, min_length=1, max_length=1000)
    since: When | None = Field(default=None, description="inclusive; ISO-8601 or an age (1h)")
    until: When | None = Field(default=None, description="inclusive; ISO-8601 or an age")
    types: list[TargetType] | None = Field(default=None, min_length=1)
    attributes: Attributes = None


@router.post(
    "/history/search",
    response_model=HistoryResult,
    responses=declared(AUTH, FACES, STORE, [ErrorCode.FEATURE_MISMATCH]),
    openapi_extra=openapi(HistorySearchBody),
    summary="Past captures nearest to the largest face of a picture, within the filters",
)
async def search_history(request: Request) -> HistoryResult:
    body = await read_upload(request, HistorySearchBody)
    stores = request.app.state.stores  # opened in the pool: opening a store blocks
    return await run_model(
        request,
        lambda: stores.history.search(
            body.image,
            k=body.k,
            cameras=body.cameras,
            since=body.since,
            until=body.until,
            types=None if body.types is None else [kind.value for kind in body.types],
            attributes=body.attributes,
            far=body.far,
            crops=body.crops,
        ),
    )
