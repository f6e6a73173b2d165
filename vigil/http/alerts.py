"""Alerts a server heard of: the recent ones, their live stream, acknowledgement.

    GET  /v1/alerts                       recent alerts, newest first (`AlertBook`)
    GET  /v1/alerts/stream                Server-Sent Events: each alert as it is published
    POST /v1/alerts/{alert_id}/ack        acknowledge one (scope `write`)

Alert ids hold slashes (capture/watchlist/person): the path takes them as they are.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Security
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from vigil.http.auth import READ, require
from vigil.http.cameras import CameraFilter
from vigil.http.live import Live
from vigil.http.problems import AUTH, STORE, declared
from vigil.http.streams import OPENAPI, event_stream
from vigil.infra.api_keys import ApiKey, Scope
from vigil.schemas.alert import Alert, AlertEntry, AlertPage
from vigil.schemas.errors import ErrorCode

router = APIRouter(prefix="/v1", tags=["alerts"])
MAX_SECONDS = 86_400


class AckBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    note: str = Field(default="", max_length=1000, description="what was done, for the log")


def live(request: Request) -> Live:
    return request.app.state.live


@router.get(
    "/alerts",
    dependencies=READ,
    response_model=AlertPage,
    responses=declared(AUTH, STORE),
    summary="Recent alerts this server heard of, newest first, with their acknowledgements",
)
async def recent_alerts(
    request: Request,
    camera: CameraFilter = None,
    unacknowledged: Annotated[bool, Query(description="only those not acknowledged")] = False,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
) -> AlertPage:
    book = await run_in_threadpool(lambda: live(request).book)
    return book.recent(limit, camera, unacknowledged)


def encode_alert(alert: Alert) -> tuple[str, str]:
    return alert.alert_id, alert.model_dump_json()


@router.get(
    "/alerts/stream",
    dependencies=READ,
    response_model=None,
    responses={**OPENAPI, **declared(AUTH, STORE)},
    summary="Alerts as they are published (Server-Sent Events, `Alert` JSON per event)",
)
async def alert_stream(
    request: Request,
    seconds: Annotated[
        float | None,
        Query(gt=0, le=MAX_SECONDS, description="end after this long (the server may end sooner)"),
    ] = None,
):
    return await event_stream(request, "alerts", seconds, encode_alert)


@router.post(
    "/alerts/{alert_id:path}/ack",
    response_model=AlertEntry,
    responses=declared(AUTH, STORE, [ErrorCode.ALERT_NOT_FOUND]),
    summary="Acknowledge an alert: who (the API key) and when are kept with it",
)
async def acknowledge(
    alert_id: str,
    request: Request,
    key: Annotated[ApiKey, Security(require(Scope.WRITE))],
    body: AckBody | None = None,
) -> AlertEntry:
    book = await run_in_threadpool(lambda: live(request).book)
    note = body.note if body is not None else ""
    return book.acknowledge(alert_id, f"{key.name} ({key.id})", note)
