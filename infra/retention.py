"""When old captures are purged: the Celery beat entry, read from the environment.

Kept apart from the tasks so `vigil.infra.celery_app` can import it without a cycle.
Run the scheduler with `celery -A vigil.infra.celery_app beat`; the embedded
pipeline's writer purges by itself (`history.retention_days` in the config).
"""

from __future__ import annotations

import os
from typing import Any

RETENTION_ENV = "VIGIL_HISTORY_RETENTION_DAYS"
PURGE_EVERY_SECONDS = 3600.0


def beat_schedule(environ: dict[str, str] | None = None) -> dict[str, dict[str, Any]]:
    """An hourly `vigil.history.purge` when VIGIL_HISTORY_RETENTION_DAYS is set; else none."""
    days = (os.environ if environ is None else environ).get(RETENTION_ENV)
    if not days:
        return {}
    return {
        "vigil-history-purge": {
            "task": "vigil.history.purge",
            "schedule": PURGE_EVERY_SECONDS,
            "kwargs": {"retention_days": float(days)},
        }
    }
