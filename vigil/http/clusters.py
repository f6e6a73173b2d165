"""POST /v1/clusters: the history's face captures of a window, grouped into identities.

The same clustering as `vigil cluster` and the `vigil.cluster` task (`cluster_faces`),
over the server's own history store.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import ConfigDict, Field, field_validator
from starlette.concurrency import run_in_threadpool

from vigil.cluster.service import cluster_store
from vigil.http.auth import READ
from vigil.http.problems import AUTH, STORE, declared
from vigil.schemas.cluster import ClusterMethod, ClusterRequest, ClusterResult
from vigil.schemas.errors import ErrorCode

router = APIRouter(prefix="/v1", tags=["history"], dependencies=READ)


class ClusterBody(ClusterRequest):
    """The request as JSON, taken as the document types it: no "0" for a number, no 0 for
    a boolean; `since` and `until` are strings (ISO-8601 or an age, 1h)."""

    model_config = ConfigDict(strict=True)
    method: ClusterMethod = Field(default=ClusterMethod.WHISPERS, strict=False)  # its name

    @field_validator("since", "until", mode="before")
    @classmethod
    def _text(cls, value: Any) -> Any:
        if value is not None and not isinstance(value, str):
            raise ValueError("a time is a string: ISO-8601, or an age such as 1h")
        return value


@router.post(
    "/clusters",
    response_model=ClusterResult,
    responses=declared(AUTH, STORE, [ErrorCode.FEATURE_MISMATCH]),
    summary="Cluster the face captures of the history (cameras, time window) into identities",
)
async def clusters(body: ClusterBody, request: Request) -> ClusterResult:
    stores = request.app.state.stores  # opened in the pool: opening a store blocks
    return await run_in_threadpool(lambda: cluster_store(body, stores.history))
