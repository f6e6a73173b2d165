"""Celery task of face clustering. Task names are public API.

`vigil.cluster` groups the face captures a `ClusterRequest` selects into identities
and returns a `ClusterResult` dict; bad input answers `{"error": {"code", "message"}}`.
Captures come from the history (Milvus at `history`, default $VIGIL_HISTORY_URI), or
from capture archives on the worker (`archive`: JSON Lines files or folders written
by the disk sink) inside the folders listed in VIGIL_TASK_FILE_ROOTS.

>>> app.send_task("vigil.cluster", args=[{"cameras": ["gate"], "since": "1h"}]).get()
"""

from __future__ import annotations

from pathlib import Path

from vigil.infra.safe_read import allowed_path, is_local, task_roots
from vigil.workers.coded import coded_task, dump


@coded_task("vigil.cluster")
def cluster(
    request: dict | None = None, history: str | None = None, archive: list[str] | None = None
) -> dict:
    from vigil.cluster.service import cluster_faces, cluster_history, model_of
    from vigil.cluster.sources import archived_faces
    from vigil.schemas.cluster import ClusterRequest
    from vigil.schemas.validate import checked

    query = checked(ClusterRequest, request or {}, "cluster request")
    if archive:
        if is_local(cluster):
            paths = [Path(p) for p in archive]
        else:
            roots = task_roots()
            paths = [allowed_path(p, roots, "capture archive") for p in archive]
        records, vectors = archived_faces(paths, query)
        return dump(cluster_faces(records, vectors, query.options(), model_of(records)))
    return dump(cluster_history(query, history))
