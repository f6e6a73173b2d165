"""Feature groups, their members and k:N search: `GroupService` over HTTP.

    POST   /v1/groups                               create
    GET    /v1/groups                               list
    GET    /v1/groups/{name}                        show
    PATCH  /v1/groups/{name}                        rename
    DELETE /v1/groups/{name}                        delete with its members
    POST   /v1/groups/{name}/members                enrol a person (or add photos)
    GET    /v1/groups/{name}/members                a page of members
    GET    /v1/groups/{name}/members/{person_id}    one member
    GET    /v1/groups/{name}/photos/{person_id}     its photo (enrolled over HTTP), JPEG
    PATCH  /v1/groups/{name}/members/{person_id}    replace its metadata
    DELETE /v1/groups/{name}/members/{person_id}    remove it
    POST   /v1/search                               search a picture's face(s) over groups

Names and ids are validated by the service (the same rules as the CLI and the tasks).
A member enrolled here keeps a thumbnail of its first photo (`MemberPhotos`), which
follows its group's renames and goes with the member or the group.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from vigil.groups.service import MAX_PAGE, GroupService
from vigil.http.auth import READ, WRITE
from vigil.http.compute import run_model
from vigil.http.photos import MemberPhotos
from vigil.http.pictures import FaceName, QueryFaceFields, named
from vigil.http.problems import AUTH, FACES, QUERY_FACES, STORE, declared
from vigil.http.uploads import Picture, UploadBody, openapi, read_upload
from vigil.schemas.errors import ErrorCode, VigilError
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


def photos(request: Request) -> MemberPhotos:
    return request.app.state.photos


Photos = Annotated[MemberPhotos, Depends(photos)]


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


class SearchBody(SearchQuery, QueryFaceFields, UploadBody):
    """A picture, the groups to search, the search options and the query-face options."""

    files = ("image",)
    lists = ("groups",)
    json_parts = ("filter",)

    image: Picture
    face: FaceName = named("the face to search (not with all_faces)")


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
def rename_group(name: str, body: GroupRename, service: Groups, kept: Photos) -> FeatureGroup:
    old = service.get_group(name).name  # as stored: the photos are filed under it
    renamed = service.rename_group(name, body.name)
    kept.rename_group(old, renamed.name)
    return renamed


@router.delete(
    "/groups/{name}",
    dependencies=WRITE,
    status_code=204,
    response_class=Response,
    responses=declared(AUTH, GROUP),
    summary="Delete a group and all its members",
)
def delete_group(name: str, service: Groups, kept: Photos) -> Response:
    old = service.get_group(name).name
    service.delete_group(name)
    kept.remove_group(old)
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
    kept: MemberPhotos = request.app.state.photos

    def enrol() -> Member:
        member = stores.groups.add_member_pictures(name, body.person_id, body.image, body.metadata)
        kept.save(member.group, member.person_id, body.image[0])
        return member

    return await run_model(request, enrol)


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
def remove_member(name: str, person_id: str, service: Groups, kept: Photos) -> Response:
    member = service.get_member(name, person_id)
    service.remove_member(name, person_id)
    kept.remove(member.group, member.person_id)
    return Response(status_code=204)


@router.get(
    "/groups/{name}/photos/{person_id:path}",
    dependencies=READ,
    response_class=Response,
    responses={
        200: {"content": {"image/jpeg": {"schema": {"type": "string", "format": "binary"}}}},
        **declared(AUTH, MEMBER),
    },
    summary="A member's photo: a thumbnail of the first one enrolled over HTTP (JPEG)",
)
def member_photo(name: str, person_id: str, service: Groups, kept: Photos) -> Response:
    member = service.get_member(name, person_id)
    jpeg = kept.get(member.group, member.person_id)
    if jpeg is None:
        raise VigilError(
            ErrorCode.MEMBER_NOT_FOUND,
            f"member {member.person_id!r} has no photo: it was not enrolled over HTTP",
        )
    return Response(jpeg, media_type="image/jpeg", headers={"Cache-Control": "private, max-age=60"})


# -- search -------------------------------------------------------------------------------


@router.post(
    "/search",
    dependencies=READ,
    response_model=SearchResponse,
    responses=declared(AUTH, QUERY_FACES, GROUP, [ErrorCode.FEATURE_MISMATCH]),
    openapi_extra=openapi(SearchBody),
    tags=["search"],
    summary="k:N search of a picture's query face (or every face) over groups",
)
async def search(request: Request) -> SearchResponse:
    body = await read_upload(request, SearchBody)
    stores = request.app.state.stores
    results = await run_model(
        request,
        lambda: stores.groups.search_image(
            body.image,
            body.groups,
            body.k,
            body.far,
            body.filter,
            body.all_faces,
            body.target,
            options=body.query_options(),
            face=body.face,
        ),
    )
    return SearchResponse(results=results)
