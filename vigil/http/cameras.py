"""The cameras a server runs (embedded `vigil serve`): their state, adding and removing them.

    GET    /v1/cameras          every camera: source state, frame rates, reconnects
    GET    /v1/cameras/{id}     one
    POST   /v1/cameras          play a video file or folder as a camera (scope `admin`)
    DELETE /v1/cameras/{id}     stop one (scope `admin`)

A camera added over HTTP plays a file or a folder that lies inside a folder the operator
named (`vigil serve --source-dir`, `$VIGIL_HTTP_SOURCE_DIRS`), after symlinks and `..`
are resolved: a caller cannot make the server open arbitrary paths, nor reach into the
network; streams (rtsp://, http://) come from the configuration file (`--cameras`).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response
from pydantic import Field
from starlette.concurrency import run_in_threadpool

from vigil.http.auth import ADMIN, READ
from vigil.http.live import Live
from vigil.http.problems import AUTH, STORE, declared
from vigil.infra.safe_read import allowed_path
from vigil.schemas.camera import CAMERA_ID_PATTERN, CameraConfig, CameraStatus, Pace
from vigil.schemas.errors import ErrorCode, VigilError

router = APIRouter(prefix="/v1", tags=["cameras"])
CameraId = Annotated[str, Path(pattern=CAMERA_ID_PATTERN)]
# `?camera=a&camera=b` on the routes that list recent captures or alerts
CameraFilter = Annotated[
    list[Annotated[str, Field(pattern=CAMERA_ID_PATTERN)]] | None,
    Query(max_length=100, description="only these cameras (repeatable)"),
]
FOUND = (ErrorCode.CAMERA_NOT_FOUND, *STORE)
SOURCE_SETTING = "vigil serve --source-dir / VIGIL_HTTP_SOURCE_DIRS"
PATHS = (ErrorCode.PATH_NOT_ALLOWED, ErrorCode.FILE_NOT_FOUND, ErrorCode.CAMERA_EXISTS)


def live(request: Request) -> Live:
    return request.app.state.live


def running(request: Request) -> Live:
    """This server's live side, if it runs the cameras itself (embedded); with Kafka,
    cameras run in `vigil ingest` processes and no camera is this server's."""
    state = live(request)
    if not state.embedded:
        raise VigilError(ErrorCode.CAMERA_NOT_FOUND, "this server runs no cameras")
    return state


def local_source(camera: CameraConfig, roots: list[str]) -> CameraConfig:
    """The camera with its source's real path, if that is a file or folder inside `roots`."""
    url = camera.url.removeprefix("file://")
    if "://" in url:
        raise VigilError(
            ErrorCode.PATH_NOT_ALLOWED,
            "cameras added over HTTP play files or folders; streams come from the"
            " configuration file (vigil serve --cameras)",
        )
    real = allowed_path(url, roots, "camera source", setting=SOURCE_SETTING)
    if not real.exists():
        raise VigilError(ErrorCode.FILE_NOT_FOUND, f"no file or folder {camera.url!r}")
    return camera.model_copy(update={"url": str(real)})


@router.get(
    "/cameras",
    dependencies=READ,
    response_model=list[CameraStatus],
    responses=declared(AUTH, STORE),
    summary="The cameras this server runs: source state, frames in/analysed/dropped, reconnects",
)
async def list_cameras(request: Request) -> list[CameraStatus]:
    state = live(request)
    if not state.embedded:
        return []  # with Kafka, cameras run in `vigil ingest` processes
    return await run_in_threadpool(lambda: state.pipeline.status())


@router.get(
    "/cameras/{camera_id}",
    dependencies=READ,
    response_model=CameraStatus,
    responses=declared(AUTH, FOUND),
    summary="One camera's state",
)
async def get_camera(camera_id: CameraId, request: Request) -> CameraStatus:
    state = running(request)
    [status] = await run_in_threadpool(lambda: state.pipeline.status(camera_id))
    return status


@router.post(
    "/cameras",
    dependencies=ADMIN,
    status_code=201,
    response_model=CameraStatus,
    responses=declared(AUTH, STORE, PATHS),
    summary="Play a video file or folder (inside a --source-dir) as a camera",
)
async def add_camera(camera: CameraConfig, request: Request) -> CameraStatus:
    state = live(request)
    checked = local_source(camera, state.source_dirs)
    if "pace" not in camera.model_fields_set:
        checked = checked.model_copy(update={"pace": Pace.REALTIME})  # a file as a camera
    return await run_in_threadpool(lambda: state.pipeline.add(checked))


@router.delete(
    "/cameras/{camera_id}",
    dependencies=ADMIN,
    status_code=204,
    response_class=Response,
    responses=declared(AUTH, FOUND),
    summary="Stop a camera (its open tracks end) and forget it",
)
async def remove_camera(camera_id: CameraId, request: Request) -> Response:
    state = running(request)
    await run_in_threadpool(lambda: state.pipeline.remove(camera_id))
    return Response(status_code=204)
