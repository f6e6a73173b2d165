"""POST /v1/clusters: the history's face captures of a window, grouped into identities.

The same clustering as `vigil cluster` and the `vigil.cluster` task (`cluster_faces`),
over the server's own history store.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from vigil.cluster.service import cluster_store
from vigil.http.auth import READ
from vigil.http.problems import AUTH, STORE, declared
from vigil.schemas.cluster import ClusterRequest, ClusterResult
from vigil.schemas.errors import ErrorCode

router = APIRouter(prefix="/v1", tags=["history"], dependencies=READ)


@router.post(
    "/clusters",
    response_model=ClusterResult,
    responses=declared(AUTH, STORE, [ErrorCode.FEATURE_MISMATCH]),
    summary="Cluster the face captures of the history (cameras, time window) into identities",
)
async def clusters(body: ClusterRequest, request: Request) -> ClusterResult:
    stores = request.app.state.stores  # opened in the pool: opening a store blocks
    return await run_in_threadpool(lambda: cluster_store(body, stores.history))
