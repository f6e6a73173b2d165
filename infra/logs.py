"""Logging setup: human-readable by default, one JSON object per line for log shippers.

VIGIL_LOG_FORMAT=json vigil run cameras.yaml
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
from datetime import UTC, datetime

STANDARD_FIELDS = set(vars(logging.makeLogRecord({})))
URL_PASSWORD = re.compile(r"(://[^:/@\s]*:)([^@\s/]+)(@)")
SECRET_ENV_NAME = re.compile(r"SECRET|PASSWORD|PASSWD|TOKEN", re.IGNORECASE)
MIN_SECRET_LENGTH = 4  # shorter values would mask ordinary words
_secrets: set[str] = set()


def register_secret(value: str | None) -> None:
    """Mask `value` wherever it appears in a log line (settings register their passwords)."""
    if value and len(value) >= MIN_SECRET_LENGTH:
        _secrets.add(value)


def secret_values() -> set[str]:
    """Registered secrets plus the values of variables named *SECRET*, *PASSWORD*, *TOKEN*
    (the webhook HMAC secret lives in one), read now so a later export is covered too."""
    named = {
        value
        for name, value in os.environ.items()
        if SECRET_ENV_NAME.search(name) and len(value) >= MIN_SECRET_LENGTH
    }
    return _secrets | named


def redact(text: str) -> str:
    """The text with URL passwords and every known secret replaced by ***."""
    text = URL_PASSWORD.sub(r"\1***\3", text)
    for value in sorted(secret_values(), key=len, reverse=True):
        text = text.replace(value, "***")
    return text


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

    def format(self, record: logging.LogRecord) -> str:
        """Redacted last, on the whole line: a library may log its config (kafka-python's
        admin client logs its SASL password at DEBUG), or an exception may quote a URL."""
        return redact(super().format(record))


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
    # Vigil's own INFO lines (roles starting, cameras reconnecting) are for operators;
    # third-party INFO (faiss's loader trying AVX2, Milvus Lite starting and stopping)
    # reads like a crash to them: WARNING and up only, unless -v.
    root.setLevel(logging.DEBUG if verbose else logging.WARNING)
    logging.getLogger("vigil").setLevel(logging.DEBUG if verbose else logging.INFO)
    for noisy in ("kafka", "celery", "kombu", "urllib3", "pymilvus"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
