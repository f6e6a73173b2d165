"""GET /healthz (the process answers), /readyz (stores open, models load), both open to
anyone (a balancer's probes carry no key), and /metrics, for an `admin` key."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from vigil.http.auth import ADMIN
from vigil.http.problems import AUTH, MODELS, STORE, declared
from vigil.infra.metrics import render
from vigil.models.runtime import load_all

router = APIRouter(tags=["operations"])


class Health(BaseModel):
    status: Literal["ok"] = "ok"


class Readiness(BaseModel):
    status: Literal["ready"] = "ready"
    groups: Literal["open"] = "open"
    history: Literal["open"] = "open"
    models: list[str]


@router.get("/healthz", response_model=Health, responses=declared(), summary="The process is alive")
def healthz() -> Health:
    return Health()


@router.get(
    "/readyz",
    response_model=Readiness,
    responses=declared(STORE, MODELS),
    summary="Ready: both stores open and every model loads (the first call loads them)",
)
async def readyz(request: Request) -> Readiness:
    stores = request.app.state.stores

    def check() -> Readiness:
        stores.groups, stores.history  # noqa: B018 (opening them is the check)
        return Readiness(models=load_all())

    return await run_in_threadpool(check)


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}, **declared(AUTH)},
    dependencies=ADMIN,
    summary="Prometheus metrics of this process (an `admin` key)",
)
def metrics() -> Response:
    return Response(render(), media_type=CONTENT_TYPE_LATEST)
