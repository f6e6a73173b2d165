"""Logging setup: human-readable by default, one JSON object per line for log shippers.

VIGIL_LOG_FORMAT=json vigil run cameras.yaml
"""

from __future__ import annotations

import json
import logging
import os
import sys
from datetime import UTC, datetime

STANDARD_FIELDS = set(vars(logging.makeLogRecord({})))


class StderrHandler(logging.StreamHandler):
    """Writes to whatever `sys.stderr` is at emit time, never to a stream closed since
    (test runners swap stderr; a handler bound to the old one fails at exit)."""

    def __init__(self) -> None:
        super().__init__()

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, _value) -> None:
        return None


class JsonFormatter(logging.Formatter):
    """time, level, logger, message, plus any `extra=` fields and the exception."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            "process": record.process,
            "thread": record.threadName,
        }
        entry.update({k: v for k, v in vars(record).items() if k not in STANDARD_FIELDS})
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def configure_logging(verbose: bool = False, fmt: str | None = None) -> None:
    handler = StderrHandler()
    if (fmt or os.environ.get("VIGIL_LOG_FORMAT", "text")).lower() == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    for noisy in ("kafka", "celery", "kombu", "urllib3", "pymilvus"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
