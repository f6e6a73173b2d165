"""ASGI middleware of the HTTP API: the body limit, the last-resort 500, request metrics.

Pure ASGI (no BaseHTTPMiddleware), so the body limit sees the request before any byte
of its body is read: a `Content-Length` over the limit is refused at once, and a body
without one (chunked) is counted while it streams and refused once it grows past it.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from vigil.http.problems import METHODS, problem, unexpected
from vigil.infra.metrics import HTTP_LATENCY, HTTP_REQUESTS
from vigil.schemas.errors import ErrorCode, VigilError

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class BodyTooLarge(VigilError):
    def __init__(self, limit: int, size: int | None = None) -> None:
        got = "it grew past that" if size is None else f"got {size:,}"
        super().__init__(
            ErrorCode.FILE_TOO_LARGE,
            f"request body over the limit of {limit:,} bytes ({got}; VIGIL_HTTP_MAX_BODY)",
        )


def declared_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            text = value.decode("latin-1").strip()
            return int(text) if text.isdigit() else None
    return None


class BodyLimit:
    """Refuse request bodies over `limit` bytes with 413 problem+json, before reading them."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = declared_length(scope)
        if length is not None and length > self.limit:
            refusal = problem(
                413,
                ErrorCode.FILE_TOO_LARGE,
                BodyTooLarge(self.limit, length).message,
                headers={"connection": "close"},
            )
            await refusal(scope, receive, send)
            return
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    # raised inside the route's body read: the VigilError handler answers 413
                    raise BodyTooLarge(self.limit)
            return message

        await self.app(scope, counted, send)


class CatchAll:
    """Anything that escapes the exception handlers: logged, answered 500 internal_error.

    Starlette's own last resort answers in text/plain and re-raises; this one answers in
    problem+json, without a traceback in the body, and keeps serving.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def watched(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, watched)
        except Exception as exc:
            if started:  # half a response is out: nothing to do but drop the connection
                raise
            await unexpected(exc)(scope, receive, send)


class RequestMetrics:
    """`vigil_http_requests_total` and `vigil_http_request_seconds`, by route template."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        began = time.perf_counter()
        status = 500

        async def noted(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, noted)
        finally:
            route = scope.get("route")
            template = getattr(route, "path_format", None) or "unmatched"  # no {x:path}
            method = scope.get("method", "")
            method = method if method in METHODS else "other"
            HTTP_REQUESTS.labels(template, method, str(status)).inc()
            HTTP_LATENCY.labels(template).observe(time.perf_counter() - began)
