"""The operator console: plain HTML, CSS and JavaScript in this package, served at /console/.

No build step and no network: the three files are package data (`vigil/http/assets/`),
written by hand against the /v1 API, and loaded from this server only (the page's
Content-Security-Policy allows nothing else). The console asks for an API key at
start and keeps it in the tab's sessionStorage (gone when the tab closes); every call
sends it as `Authorization: Bearer`. The live pages read the event streams with fetch
(EventSource cannot send that header) and reconnect when a stream ends.
"""

from __future__ import annotations

from importlib.resources import files

from fastapi import APIRouter
from fastapi.responses import RedirectResponse, Response

router = APIRouter(include_in_schema=False)
ASSETS = {
    "index.html": "text/html; charset=utf-8",
    "console.css": "text/css; charset=utf-8",
    "console.js": "text/javascript; charset=utf-8",
}
POLICY = (
    "default-src 'self'; img-src 'self' data: blob:; style-src 'self'; script-src 'self';"
    " connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)


def asset(name: str) -> Response:
    body = files("vigil.http.assets").joinpath(name).read_bytes()
    return Response(
        body,
        media_type=ASSETS[name],
        headers={
            "Content-Security-Policy": POLICY,
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "no-cache",
        },
    )


@router.get("/")
def root() -> RedirectResponse:
    return RedirectResponse("/console/")


@router.get("/console")
def console_slash() -> RedirectResponse:
    return RedirectResponse("/console/")


@router.get("/console/")
def console_page() -> Response:
    return asset("index.html")


@router.get("/console/console.css")
def console_css() -> Response:
    return asset("console.css")


@router.get("/console/console.js")
def console_js() -> Response:
    return asset("console.js")
