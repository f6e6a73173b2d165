"""Captures: the recent ones (from the history) and their live stream.

    GET /v1/captures           newest first, by camera, type, attributes, plate, time
    GET /v1/captures/stream    Server-Sent Events: each capture event as it is published

The recent captures are the history's (`HistoryService.query`): what the history writer
stored, embedded or from the `vigil history` role of a scaled-out site. The stream
carries every capture event (new, update, end) without its feature vector.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from pydantic import Field
from starlette.concurrency import run_in_threadpool

from vigil.http.auth import READ
from vigil.http.cameras import CameraFilter
from vigil.http.problems import AUTH, STORE, declared
from vigil.http.streams import OPENAPI, event_stream
from vigil.schemas.capture import Capture
from vigil.schemas.history import ATTRIBUTE_KEYS, HistoryPage, When
from vigil.schemas.target import TargetType

router = APIRouter(prefix="/v1", tags=["captures"], dependencies=READ)
MAX_LIMIT = 500
Names = list[Annotated[str, Field(min_length=1, max_length=64)]] | None


@router.get(
    "/captures",
    response_model=HistoryPage,
    responses=declared(AUTH, STORE),
    summary="Recent captures from the history, newest first, within the filters",
)
async def recent_captures(
    request: Request,
    camera: CameraFilter = None,
    type: Annotated[list[TargetType] | None, Query(max_length=3)] = None,
    gender: Annotated[Names, Query(max_length=10)] = None,
    upper_colour: Annotated[Names, Query(max_length=20)] = None,
    lower_colour: Annotated[Names, Query(max_length=20)] = None,
    vehicle_type: Annotated[Names, Query(max_length=20)] = None,
    vehicle_colour: Annotated[Names, Query(max_length=20)] = None,
    plate: Annotated[str | None, Query(min_length=1, max_length=32)] = None,
    since: Annotated[When | None, Query(description="ISO-8601 or an age (1h)")] = None,
    until: Annotated[When | None, Query(description="ISO-8601 or an age")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 50,
    crops: Annotated[bool, Query(description="carry each capture's crop (base64 JPEG)")] = False,
) -> HistoryPage:
    given = {
        "gender": gender,
        "upper_colour": upper_colour,
        "lower_colour": lower_colour,
        "vehicle_type": vehicle_type,
        "vehicle_colour": vehicle_colour,
    }
    attributes = {key: given[key] for key in ATTRIBUTE_KEYS if given[key]} or None
    stores = request.app.state.stores
    return await run_in_threadpool(
        lambda: stores.history.query(
            cameras=camera,
            since=since,
            until=until,
            types=None if type is None else [kind.value for kind in type],
            attributes=attributes,
            plate=plate,
            limit=limit,
            crops=crops,
        )
    )


def encode_capture(capture: Capture) -> tuple[str, str]:
    """The capture without its feature vector (128 floats no console shows)."""
    return str(capture.message_id), capture.model_dump_json(exclude={"target": {"feature"}})


@router.get(
    "/captures/stream",
    response_model=None,
    responses={**OPENAPI, **declared(AUTH, STORE)},
    summary="Capture events as they are published (Server-Sent Events, `Capture` JSON each)",
)
async def capture_stream(
    request: Request,
    seconds: Annotated[
        float | None,
        Query(gt=0, le=86_400, description="end after this long (the server may end sooner)"),
    ] = None,
):
    return await event_stream(request, "captures", seconds, encode_capture)
