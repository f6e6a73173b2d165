"""Celery task of face clustering. Task names are public API.

`vigil.cluster` groups the face captures a `ClusterRequest` selects into identities
and returns a `ClusterResult` dict; bad input answers `{"error": {"code", "message"}}`.
Captures come from the history (Milvus at `history`, default $VIGIL_HISTORY_URI), or
from capture archives on the worker (`archive`: JSON Lines files or folders written
by the disk sink).

>>> app.send_task("vigil.cluster", args=[{"cameras": ["gate"], "since": "1h"}]).get()
"""

from __future__ import annotations

from pathlib import Path

from vigil.infra.celery_app import app
from vigil.workers.group_tasks import coded, dump


@app.task(name="vigil.cluster")
@coded
def cluster(
    request: dict | None = None, history: str | None = None, archive: list[str] | None = None
) -> dict:
    from vigil.cluster.service import cluster_faces, cluster_history, model_of
    from vigil.cluster.sources import archived_faces
    from vigil.groups.service import checked
    from vigil.schemas.cluster import ClusterRequest

    query = checked(ClusterRequest, request or {}, "cluster request")
    if archive:
        records, vectors = archived_faces([Path(p) for p in archive], query)
        return dump(cluster_faces(records, vectors, query.options(), model_of(records)))
    return dump(cluster_history(query, history))
