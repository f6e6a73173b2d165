"""Server-Sent Events over the live feed: `GET /v1/alerts/stream`, `GET /v1/captures/stream`.

Each event is `event: <kind>`, `id: <message id>`, `data: <the message as JSON>`; a comment
line every `KEEPALIVE_S` keeps proxies from closing a quiet stream. A stream ends after
`seconds` (at most the server's `VIGIL_HTTP_MAX_STREAM_S`; `EventSource` and the console
reconnect by themselves), when the client leaves, or when the server stops (`Live.stopping`,
polled every `POLL_S`): an open console never holds up a shutdown. Events published
while no stream was open are not replayed; the recent ones are at GET /v1/alerts and
/v1/captures.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from fastapi import Request
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from vigil.http.live import Live

MEDIA_TYPE = "text/event-stream"
POLL_S = 0.25
KEEPALIVE_S = 15.0
OPENAPI: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "an event stream: `event`, `id` and `data` (the message as JSON) per event",
        "content": {MEDIA_TYPE: {"schema": {"type": "string"}}},
    }
}


def frame(kind: str, ident: str, data: str) -> str:
    """One event in the text/event-stream format (data holds no newline: compact JSON)."""
    return f"event: {kind}\nid: {ident}\ndata: {data}\n\n"


async def event_stream(
    request: Request,
    kind: str,
    seconds: float | None,
    encode: Callable[[Any], tuple[str, str]],
) -> StreamingResponse:
    """A streaming response of the feed's `kind` ("alerts", "captures") as events named
    in the singular, each made (id, JSON) by `encode`."""
    live: Live = request.app.state.live
    feed = await run_in_threadpool(lambda: live.feed)  # the first call builds the live side
    limit = min(seconds or live.max_stream_s, live.max_stream_s)
    subscription = feed.subscribe(kind)

    async def events() -> AsyncIterator[str]:
        ends = time.monotonic() + limit
        quiet_since = time.monotonic()
        try:
            yield f"retry: 2000\n: {kind} from now on\n\n"
            while not live.stopping.is_set() and time.monotonic() < ends:
                try:
                    event = await asyncio.wait_for(subscription.queue.get(), POLL_S)
                except TimeoutError:
                    if time.monotonic() - quiet_since > KEEPALIVE_S:
                        quiet_since = time.monotonic()
                        yield ": keep-alive\n\n"
                    continue
                ident, data = encode(event)
                quiet_since = time.monotonic()
                yield frame(kind.removesuffix("s"), ident, data)
        finally:
            feed.unsubscribe(subscription)

    return StreamingResponse(
        events(),
        media_type=MEDIA_TYPE,
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
