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
# From "://" to the last "@" before a space: user info, even when a password holds an
# unencoded "/", "@", "?" or "#" (urlsplit would end the host at the first "/" and miss it).
URL_USERINFO = re.compile(r"(://)(\S*)@")
# Query and fragment parameters that name a credential: ?token=, &api_key=, #access_token=,
# X-Amz-Signature=, ?password= ... (matched inside the name, case-insensitively).
SECRET_PARAMETER = re.compile(
    r"([?&;#][^=&;#\s]*(?:token|key|pass|pwd|secret|auth|sig|cred|session)[^=&;#\s]*=)"
    r"[^&;#\s'\"<>]+",
    re.IGNORECASE,
)
SECRET_ENV_NAME = re.compile(r"SECRET|PASSWORD|PASSWD|TOKEN", re.IGNORECASE)
MIN_SECRET_LENGTH = 4  # shorter values would mask ordinary words
MAX_DEPTH = 16  # nesting of `extra=` values walked field by field; deeper is str()-ed
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


def _masked_userinfo(match: re.Match[str]) -> str:
    userinfo = match[2]
    if "/" in userinfo and ":" not in userinfo:
        return match[0]  # "http://host/path@x": an "@" in the path, no user info
    user, colon, _password = userinfo.partition(":")
    if colon and not any(c in user for c in "/?#"):
        return f"{match[1]}{user}:***@"  # the user name helps, the password goes
    return f"{match[1]}***@"  # a lone token as user name (https://TOKEN@host), or unclear


def redact_url(text: str) -> str:
    """`text` (a URL, or a line holding URLs) without URL credentials: the password of
    `scheme://user:PASSWORD@host` (a lone `scheme://TOKEN@host` entirely) and the values of
    query or fragment parameters named like a credential (token, key, password, secret,
    auth, sig, cred, session) become ***. Errs towards masking: a line is for reading."""
    text = URL_USERINFO.sub(_masked_userinfo, text)
    return SECRET_PARAMETER.sub(r"\1***", text)


def redact(text: str) -> str:
    """The text with URL credentials and every known secret replaced by ***."""
    text = redact_url(text)
    for value in sorted(secret_values(), key=len, reverse=True):
        text = text.replace(value, "***")
    return text


def _redacted(value: object, depth: int = 0) -> object:
    """A log entry's value with every string in it redacted (keys too), before any escaping."""
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, str):
        return redact(value)
    if depth < MAX_DEPTH and isinstance(value, dict):
        return {_key(key): _redacted(item, depth + 1) for key, item in value.items()}
    if depth < MAX_DEPTH and isinstance(value, list | tuple):
        return [_redacted(item, depth + 1) for item in value]
    return redact(str(value))  # what json.dumps(default=str) would have written


def _key(key: object) -> object:
    return key if key is None or isinstance(key, bool | int | float) else redact(str(key))


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
        admin client logs its SASL password at DEBUG), or an exception may quote a URL.
        JSON lines are redacted field by field before escaping (`JsonFormatter`): once
        escaped, a secret holding `"`, `\\` or a non-ASCII letter no longer matches."""
        line = super().format(record)
        return line if isinstance(self.formatter, JsonFormatter) else redact(line)


class JsonFormatter(logging.Formatter):
    """time, level, logger, message, plus any `extra=` fields and the exception; every
    string redacted (`redact`) before it is escaped into JSON."""

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
        return json.dumps(_redacted(entry))


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
