"""`create_app`: the HTTP API as a FastAPI application (`vigil serve` runs it with uvicorn).

Routes parse a request, call the library (`vigil.api`, `vigil.compare`, `GroupService`,
`HistoryService`) and return its pydantic models; every refusal is a problem+json
body with Vigil's error code (`vigil.http.problems`). The OpenAPI document is at
/openapi.json, browsable at /docs.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware.cors import CORSMiddleware

from vigil import __version__
from vigil.http import (
    alerts,
    cameras,
    captures,
    clusters,
    console,
    groups,
    health,
    history,
    pictures,
)
from vigil.http.auth import CREATE_HINT, RateLimits
from vigil.http.compute import model_slots
from vigil.http.live import Live
from vigil.http.middleware import BodyLimit, CatchAll, RequestMetrics
from vigil.http.photos import MemberPhotos, default_root
from vigil.http.problems import (
    METHODS,
    PROBLEM_MEDIA_TYPE,
    http_error,
    validation_error,
    vigil_error,
)
from vigil.http.stores import Stores
from vigil.http.uploads import COMPONENTS
from vigil.infra.api_keys import KeyStore
from vigil.infra.settings import Settings
from vigil.schemas.camera import PipelineConfig
from vigil.schemas.errors import VigilError

DESCRIPTION = """\
Image analysis, 1:1 compare and verification, feature groups and k:N search, and the
capture history of Vigil. Pictures go as multipart/form-data file parts, or base64 in a
JSON body. Errors are RFC 9457 `application/problem+json` bodies whose `code` is one of
Vigil's stable error codes.

Every /v1 route needs an API key (`vigil keys create`), sent as `Authorization: Bearer
<key>` or `X-API-Key: <key>`: scope `read` for analyze, compare, verify, searches and
GETs; `write` (which includes `read`) for changes to groups and members; `admin` for
everything, /metrics too. /healthz and /readyz are open. Each key has its own rate limit
(429 with `Retry-After`).

Live: the recent alerts (with their acknowledgements) and captures, the cameras this
server runs, and two Server-Sent Events streams, /v1/alerts/stream and
/v1/captures/stream, read from the alerts and captures topics. The operator console is
at /console/ (not part of this document).
"""
log = logging.getLogger(__name__)


def start_quietly(live: Live) -> None:
    """Build the live side now; a failure is logged, and the next request that needs it
    tries again (and answers with the error)."""
    try:
        live.start()
    except Exception:
        log.exception("the live side (cameras, event feed) did not start")


class VigilAPI(FastAPI):
    def openapi(self) -> dict[str, Any]:
        """FastAPI's document, plus the upload bodies' schemas; errors as problem+json."""
        if self.openapi_schema is None:
            schema = get_openapi(
                title=self.title,
                version=self.version,
                description=self.description,
                routes=self.routes,
            )
            known = schema.setdefault("components", {}).setdefault("schemas", {})
            for name, extra in COMPONENTS.items():
                if known.setdefault(name, extra) != extra:
                    raise RuntimeError(f"two different schemas are named {name}")
            for operation in (op for path in schema["paths"].values() for op in path.values()):
                for status, response in operation.get("responses", {}).items():
                    content = response.get("content", {})
                    if status.isdigit() and int(status) >= 400 and "application/json" in content:
                        response["content"] = {PROBLEM_MEDIA_TYPE: content["application/json"]}
            self.openapi_schema = schema
        return self.openapi_schema


def create_app(
    groups_uri: str | Path | None = None,
    history_uri: str | Path | None = None,
    *,
    history_crops: str | Path | None = None,
    max_body: int | None = None,
    keys_path: str | Path | None = None,
    rate: float | None = None,
    burst: int | None = None,
    cors_origins: Sequence[str] | None = None,
    pipeline: PipelineConfig | None = None,
    source_dirs: Sequence[str | Path] | None = None,
    alerts_path: str | Path | None = None,
    member_photos: str | Path | None = None,
    max_stream_s: float | None = None,
    start_live: bool = False,
) -> FastAPI:
    """The application; stores default to $VIGIL_GROUPS_URI / $VIGIL_HISTORY_URI or the
    Lite files the CLI uses, the body limit to $VIGIL_HTTP_MAX_BODY (32 MiB), the API key
    file to $VIGIL_HTTP_KEYS (./vigil-keys.json), the per-key rate to $VIGIL_HTTP_RATE
    and $VIGIL_HTTP_BURST (20/s, 40; rate 0: no limit), and the CORS origins to
    $VIGIL_HTTP_CORS_ORIGINS (comma-separated; none: CORS off).

    The live side (`vigil.http.live`): `pipeline`, a pipeline configuration whose cameras
    (and watchlists, outputs) run embedded; `source_dirs` ($VIGIL_HTTP_SOURCE_DIRS), the
    folders POST /v1/cameras may play files from; `alerts_path` ($VIGIL_HTTP_ALERTS), the
    alert book ("" keeps it in memory); `max_stream_s` ($VIGIL_HTTP_MAX_STREAM_S), the
    longest an event stream stays open. `start_live` builds it at startup and stops it at
    shutdown (`vigil serve`); otherwise the first request that needs it builds it, and the
    caller stops it (`app.state.live.close()`): a test client's lifespan may run per request."""
    settings = Settings.from_env()
    stores = Stores(groups_uri, history_uri, history_crops)
    limit = max_body if max_body is not None else settings.http_max_body
    keys = KeyStore(keys_path if keys_path is not None else settings.http_keys)
    origins = (
        list(cors_origins)
        if cors_origins is not None
        else [origin.strip() for origin in settings.http_cors_origins.split(",") if origin.strip()]
    )

    dirs = (
        [str(d) for d in source_dirs]
        if source_dirs is not None
        else [d for d in settings.http_source_dirs.split(os.pathsep) if d.strip()]
    )
    book = settings.http_alerts if alerts_path is None else str(alerts_path)
    live = Live(
        stores,
        settings,
        pipeline,
        book or None,
        [os.path.realpath(d) for d in dirs],
        settings.http_max_stream_s if max_stream_s is None else max_stream_s,
    )

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if not keys.exists():
            log.warning(
                "no API key file at %s: every /v1 request is refused (401); %s",
                keys.path,
                CREATE_HINT,
            )
        if start_live:  # in the background: /healthz answers meanwhile
            threading.Thread(target=start_quietly, args=(live,), daemon=True).start()
        try:
            yield
        finally:
            if start_live:  # else whoever built the app closes it (app.state.live.close())
                await run_in_threadpool(live.close)
            await run_in_threadpool(stores.close)

    app = VigilAPI(
        title="Vigil",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        redirect_slashes=False,
    )
    app.state.stores = stores
    app.state.live = live
    app.state.photos = MemberPhotos(member_photos or default_root(stores.groups_uri))
    app.state.max_body = limit
    app.state.model_slots = model_slots(settings.http_model_calls, settings.model_threads)
    app.state.keys = keys
    app.state.rate_limits = RateLimits(
        settings.http_rate if rate is None else rate,
        settings.http_burst if burst is None else burst,
    )
    for module in (health, pictures, groups, history, clusters, captures, alerts, cameras, console):
        app.include_router(module.router)
    app.add_exception_handler(VigilError, vigil_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(HTTPException, http_error)
    # The last added runs first: metrics see every answer, the limit every body, and CORS
    # (only for the origins configured) adds its headers to every answer, refusals too.
    app.add_middleware(CatchAll)
    app.add_middleware(BodyLimit, limit=limit)
    if origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=origins,
            allow_methods=[method for method in METHODS if method != "OPTIONS"],
            allow_headers=["Authorization", "X-API-Key", "Content-Type"],
            expose_headers=["Retry-After", "WWW-Authenticate"],
        )
    app.add_middleware(RequestMetrics)
    return app
