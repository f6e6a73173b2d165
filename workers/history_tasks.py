"""Celery tasks of the capture history. Task names are public API.

Same conventions as `group_tasks`: msgpack-friendly arguments, model dicts back,
`{"error": {"code", "message"}}` instead of an exception. Each worker process keeps
one `HistoryService` (VIGIL_HISTORY_URI); a Lite file is one process's, so several
workers need a Milvus server. Times are ISO-8601 or ages (`1h` = one hour ago).

Retention: with VIGIL_HISTORY_RETENTION_DAYS set, `celery -A vigil.infra.celery_app beat`
sends `vigil.history.purge` hourly (`vigil.infra.retention`).

>>> app.send_task("vigil.history.search", args=[jpeg_bytes], kwargs={"since": "1h"}).get()
"""

from __future__ import annotations

import functools
from datetime import UTC, datetime, timedelta

from vigil.infra.safe_read import is_local, task_input
from vigil.schemas.errors import ErrorCode, VigilError
from vigil.workers.coded import Source, coded_task, dump


@functools.cache
def service():
    """This process's HistoryService, opened on first use (imports pymilvus lazily)."""
    from vigil.history.service import HistoryService

    return HistoryService()


@coded_task("vigil.history.search")
def search(
    source: Source,
    k: int = 10,
    cameras: list[str] | None = None,
    since: str | None = None,
    until: str | None = None,
    types: list[str] | None = None,
    attributes: dict | None = None,
    far: float = 1e-3,
    crops: bool = True,
) -> dict:
    """Past captures nearest to a Feature dict or a picture (bytes or a served path)."""
    source = task_input(source, local=is_local(search))
    return dump(service().search(source, k, cameras, since, until, types, attributes, far, crops))


@coded_task("vigil.history.query")
def query(
    cameras: list[str] | None = None,
    since: str | None = None,
    until: str | None = None,
    types: list[str] | None = None,
    attributes: dict | None = None,
    plate: str | None = None,
    limit: int = 100,
    crops: bool = False,
) -> dict:
    """Captures by camera, time, type, attributes and plate, newest first."""
    return dump(service().query(cameras, since, until, types, attributes, plate, limit, crops))


@coded_task("vigil.history.purge")
def purge(retention_days: float | None = None, older_than: str | None = None) -> dict:
    """Delete captures older than `retention_days`, or taken before `older_than` (ISO)."""
    from vigil.schemas.history import parse_when

    if (retention_days is None) == (older_than is None):
        raise VigilError(ErrorCode.INVALID_OPTIONS, "give retention_days or older_than")
    try:
        if retention_days is not None and float(retention_days) <= 0:
            raise ValueError(f"retention_days must be > 0, got {retention_days}")
        if retention_days is not None:
            cutoff = datetime.now(UTC) - timedelta(days=float(retention_days))
        else:
            cutoff = parse_when(older_than)
    except (TypeError, ValueError) as exc:
        raise VigilError(ErrorCode.INVALID_OPTIONS, f"bad purge age: {exc}") from None
    return {"purged": service().purge(cutoff), "before": cutoff.isoformat()}
