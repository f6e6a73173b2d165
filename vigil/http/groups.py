"""Feature groups, their members and k:N search: `GroupService` over HTTP.

    POST   /v1/groups                               create
    GET    /v1/groups                               list
    GET    /v1/groups/{name}                        show
    PATCH  /v1/groups/{name}                        rename
    DELETE /v1/groups/{name}                        delete with its members
    POST   /v1/groups/{name}/members                enrol a person (or add photos)
    GET    /v1/groups/{name}/members                a page of members
    GET    /v1/groups/{name}/members/{person_id}    one member
    PATCH  /v1/groups/{name}/members/{person_id}    replace its metadata
    DELETE /v1/groups/{name}/members/{person_id}    remove it
    POST   /v1/search                               search a picture's face(s) over groups

Names and ids are validated by the service (the same rules as the CLI and the tasks).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from vigil.groups.service import MAX_PAGE, GroupService
from vigil.http.auth import READ, WRITE
from vigil.http.problems import AUTH, FACES, STORE, declared
from vigil.http.uploads import Picture, UploadBody, openapi, read_upload
from vigil.schemas.errors import ErrorCode
from vigil.schemas.groups import (
    FeatureGroup,
    Member,
    MemberPage,
    Metadata,
    PersonId,
    SearchQuery,
    SearchResponse,
    Text,
)

router = APIRouter(prefix="/v1", tags=["groups"])
MAX_PHOTOS = 20  # pictures in one enrolment request

GROUP = (ErrorCode.GROUP_NOT_FOUND, *STORE)
MEMBER = (*GROUP, ErrorCode.MEMBER_NOT_FOUND)


def groups(request: Request) -> GroupService:
    return request.app.state.stores.groups


Groups = Annotated[GroupService, Depends(groups)]


class GroupCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="letters, digits and _-. (1-64); NFKC-folded")
    description: Text = ""
    metadata: Metadata | None = None


class GroupRename(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="the new name")


class MemberUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    metadata: Metadata = Field(description="replaces the member's metadata")


class EnrolBody(UploadBody):
    """A person's id, one or more photos (the largest face of each) and metadata."""

    file_lists = ("image",)
    json_parts = ("metadata",)

    person_id: PersonId
    image: list[Picture] = Field(min_length=1, max_length=MAX_PHOTOS, description="photos")
    metadata: Metadata | None = Field(
        default=None, description="replaces the member's metadata when given"
    )


class SearchBody(SearchQuery, UploadBody):
    """A picture, the groups to search and the search options."""

    files = ("image",)
    lists = ("groups",)
    json_parts = ("filter",)

    image: Picture


# -- groups -------------------------------------------------------------------------------


@router.post(
    "/groups",
    dependencies=WRITE,
    status_code=201,
    response_model=FeatureGroup,
    responses=declared(AUTH, STORE, [ErrorCode.GROUP_EXISTS]),
    summary="Create an empty group",
)
def create_group(body: GroupCreate, service: Groups) -> FeatureGroup:
    return service.create_group(body.name, body.description, body.metadata)


@router.get(
    "/groups",
    dependencies=READ,
    response_model=list[FeatureGroup],
    responses=declared(AUTH, STORE),
    summary="List the groups",
)
def list_groups(service: Groups) -> list[FeatureGroup]:
    return service.list_groups()


@router.get(
    "/groups/{name}",
    dependencies=READ,
    response_model=FeatureGroup,
    responses=declared(AUTH, GROUP),
    summary="A group",
)
def get_group(name: str, service: Groups) -> FeatureGroup:
    return service.get_group(name)


@router.patch(
    "/groups/{name}",
    dependencies=WRITE,
    response_model=FeatureGroup,
    responses=declared(AUTH, GROUP, [ErrorCode.GROUP_EXISTS]),
    summary="Rename a group",
)
def rename_group(name: str, body: GroupRename, service: Groups) -> FeatureGroup:
    return service.rename_group(name, body.name)


@router.delete(
    "/groups/{name}",
    dependencies=WRITE,
    status_code=204,
    response_class=Response,
    responses=declared(AUTH, GROUP),
    summary="Delete a group and all its members",
)
def delete_group(name: str, service: Groups) -> Response:
    service.delete_group(name)
    return Response(status_code=204)


# -- members ------------------------------------------------------------------------------


@router.post(
    "/groups/{name}/members",
    dependencies=WRITE,
    status_code=201,
    response_model=Member,
    responses=declared(AUTH, FACES, GROUP, [ErrorCode.FEATURE_MISMATCH]),
    openapi_extra=openapi(EnrolBody),
    summary="Enrol a person, or add photos to one: the largest face of each photo",
)
async def add_member(name: str, request: Request) -> Member:
    body = await read_upload(request, EnrolBody)
    stores = request.app.state.stores  # opened in the pool: opening a store blocks
    return await run_in_threadpool(
        lambda: stores.groups.add_member_pictures(name, body.person_id, body.image, body.metadata)
    )


@router.get(
    "/groups/{name}/members",
    dependencies=READ,
    response_model=MemberPage,
    responses=declared(AUTH, GROUP),
    summary="A page of a group's members, ordered by person id",
)
def list_members(
    name: str,
    service: Groups,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
) -> MemberPage:
    return service.list_members(name, offset, limit)


@router.get(
    "/groups/{name}/members/{person_id:path}",
    dependencies=READ,
    response_model=Member,
    responses=declared(AUTH, MEMBER),
    summary="A member, with its features' vectors if asked",
)
def get_member(name: str, person_id: str, service: Groups, vectors: bool = False) -> Member:
    return service.get_member(name, person_id, vectors=vectors)


@router.patch(
    "/groups/{name}/members/{person_id:path}",
    dependencies=WRITE,
    response_model=Member,
    responses=declared(AUTH, MEMBER),
    summary="Replace a member's metadata",
)
def update_member(name: str, person_id: str, body: MemberUpdate, service: Groups) -> Member:
    return service.update_member(name, person_id, body.metadata)


@router.delete(
    "/groups/{name}/members/{person_id:path}",
    dependencies=WRITE,
    status_code=204,
    response_class=Response,
    responses=declared(AUTH, MEMBER),
    summary="Remove a member and all its features",
)
def remove_member(name: str, person_id: str, service: Groups) -> Response:
    service.remove_member(name, person_id)
    return Response(status_code=204)


# -- search -------------------------------------------------------------------------------


@router.post(
    "/search",
    dependencies=READ,
    response_model=SearchResponse,
    responses=declared(AUTH, FACES, GROUP, [ErrorCode.FEATURE_MISMATCH]),
    openapi_extra=openapi(SearchBody),
    tags=["search"],
    summary="k:N search of a picture's largest face (or every face) over groups",
)
async def search(request: Request) -> SearchResponse:
    body = await read_upload(request, SearchBody)
    stores = request.app.state.stores
    results = await run_in_threadpool(
        lambda: stores.groups.search_image(
            body.image, body.groups, body.k, body.far, body.filter, body.all_faces, body.target
        )
    )
    return SearchResponse(results=results)
