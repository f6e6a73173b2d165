"""API keys, scopes and the per-key rate limit of the HTTP API.

Every /v1 route depends on `require(scope)`: the key comes as `Authorization: Bearer
<key>` or `X-API-Key: <key>` and is checked against the key file (`KeyStore`, digests
compared in constant time). No key, or one the file does not hold (unknown, revoked,
or no key file at all): 401 `unauthorized` with `WWW-Authenticate: Bearer`. A key
without the scope: 403 `forbidden`. Over its rate: 429 `rate_limited` with
`Retry-After`.

| scope | may |
|---|---|
| `read` | analyze, compare, verify, search, history search, GET groups and members |
| `write` | `read`, and create, rename, delete groups, enrol, update, remove members |
| `admin` | everything, and GET /metrics |

The rate limit is a token bucket per key id (`VIGIL_HTTP_RATE` requests/s, bursts of
`VIGIL_HTTP_BURST`), held in this process's memory: each `vigil serve` process (each
replica behind a balancer) counts on its own, and a restart refills every bucket.
Keys are never logged: no line here names more than the key's id.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from vigil.http.problems import Refusal
from vigil.infra.api_keys import ApiKey, KeyStore, Scope
from vigil.schemas.errors import ErrorCode

bearer = HTTPBearer(
    auto_error=False, description="an API key from `vigil keys create`: Authorization: Bearer"
)
header = APIKeyHeader(
    name="X-API-Key", auto_error=False, description="the same API key in X-API-Key"
)
CREATE_HINT = "create one with `vigil keys create --name NAME --scope read`"


class TokenBucket:
    """`rate` tokens a second, at most `burst` saved; each request takes one."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate = rate
        self.burst = burst
        self.tokens = float(burst)
        self.stamp = time.monotonic()

    def take(self) -> float:
        """0 when a token was taken, else the seconds until one is there."""
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1:
            self.tokens -= 1
            return 0.0
        return (1 - self.tokens) / self.rate


class RateLimits:
    """One bucket per key id, in memory; `rate` 0 turns the limit off."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate = rate
        self.burst = burst
        self._buckets: dict[str, TokenBucket] = {}
        self._lock = threading.Lock()

    def wait(self, ident: str) -> float:
        if self.rate <= 0:
            return 0.0
        with self._lock:
            bucket = self._buckets.get(ident)
            if bucket is None:
                bucket = self._buckets[ident] = TokenBucket(self.rate, self.burst)
            return bucket.take()


def unauthorized(detail: str) -> Refusal:
    return Refusal(ErrorCode.UNAUTHORIZED, detail, {"WWW-Authenticate": "Bearer"})


def require(scope: Scope) -> Callable[..., Awaitable[ApiKey]]:
    """The dependency of a route that needs `scope`: the caller's key record, or a refusal."""

    async def authorized(
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Security(bearer)],
        api_key: Annotated[str | None, Security(header)],
    ) -> ApiKey:
        keys: KeyStore = request.app.state.keys
        presented = credentials.credentials if credentials is not None else api_key
        if not presented:
            detail = "an API key is required: Authorization: Bearer <key> or X-API-Key: <key>"
            raise unauthorized(detail if keys.exists() else f"no API keys yet: {CREATE_HINT}")
        record = keys.authenticate(presented.strip())
        if record is None:
            raise unauthorized("unknown or revoked API key")
        if not record.allows(scope):
            raise Refusal(
                ErrorCode.FORBIDDEN,
                f"key {record.id} ({record.name}) lacks the {scope.value!r} scope",
                {},
            )
        wait = request.app.state.rate_limits.wait(record.id)
        if wait > 0:
            raise Refusal(
                ErrorCode.RATE_LIMITED,
                f"key {record.id} is over its rate (VIGIL_HTTP_RATE, VIGIL_HTTP_BURST)",
                {"Retry-After": str(max(1, math.ceil(wait)))},
            )
        return record

    return authorized


READ = [Security(require(Scope.READ))]
WRITE = [Security(require(Scope.WRITE))]
ADMIN = [Security(require(Scope.ADMIN))]
