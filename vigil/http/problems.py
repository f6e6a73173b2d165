"""Errors over HTTP: RFC 9457 `application/problem+json` bodies carrying Vigil's error codes.

Every refusal is one `Problem`: `type`, `title`, `status`, `detail` and `code`, the
stable `ErrorCode` a client branches on (the same codes the library, the CLI and the
Celery tasks give). `STATUS` is the one table from code to HTTP status; `declared`
turns the codes a route can raise into its OpenAPI `responses=`, so the document
lists every error a route answers with.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from http import HTTPStatus
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException
from starlette.routing import Match

from vigil.schemas.errors import ErrorCode, VigilError

PROBLEM_MEDIA_TYPE = "application/problem+json"
METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
TYPE_PREFIX = "urn:vigil:error:"  # + the code: a stable identifier, not a page to fetch
log = logging.getLogger(__name__)

STATUS: dict[ErrorCode, int] = {
    # the picture itself
    ErrorCode.EMPTY_INPUT: 400,
    ErrorCode.NOT_AN_IMAGE: 400,
    ErrorCode.CORRUPT_IMAGE: 400,
    ErrorCode.UNSUPPORTED_FORMAT: 415,
    ErrorCode.IMAGE_TOO_LARGE: 413,
    ErrorCode.FILE_TOO_LARGE: 413,
    ErrorCode.IMAGE_TOO_SMALL: 422,
    # well-formed, but nothing to act on
    ErrorCode.INVALID_OPTIONS: 422,
    ErrorCode.INVALID_FEATURE: 422,
    ErrorCode.NO_FACE: 422,
    ErrorCode.MULTIPLE_FACES: 422,
    ErrorCode.LOW_QUALITY: 422,
    ErrorCode.FACE_TOO_SMALL: 422,
    ErrorCode.AMBIGUOUS_FACE: 422,
    ErrorCode.NO_CARD_FACE: 422,
    # what the stores hold
    ErrorCode.GROUP_NOT_FOUND: 404,
    ErrorCode.MEMBER_NOT_FOUND: 404,
    ErrorCode.GROUP_EXISTS: 409,
    ErrorCode.DUPLICATE: 409,
    ErrorCode.FEATURE_MISMATCH: 409,
    # what `vigil serve` runs and has seen: its cameras, the alerts it has heard of
    ErrorCode.ALERT_NOT_FOUND: 404,
    ErrorCode.CAMERA_NOT_FOUND: 404,
    ErrorCode.CAMERA_EXISTS: 409,
    # paths: pictures come as bytes; only a camera's file source is a path (POST /v1/cameras)
    ErrorCode.FILE_NOT_FOUND: 404,
    ErrorCode.NOT_A_REGULAR_FILE: 400,
    ErrorCode.PATH_NOT_ALLOWED: 403,
    # the caller: its API key, its scopes, its rate
    ErrorCode.UNAUTHORIZED: 401,
    ErrorCode.FORBIDDEN: 403,
    ErrorCode.RATE_LIMITED: 429,
    # the server
    ErrorCode.STORE_UNAVAILABLE: 503,
    ErrorCode.MODEL_MISSING: 503,
    ErrorCode.MODEL_CORRUPT: 503,
    ErrorCode.RECORD_NOT_WRITTEN: 500,
    ErrorCode.INTERNAL: 500,
}

# Codes every route can answer with: its body's limit, its options, a bug.
ALWAYS = (ErrorCode.FILE_TOO_LARGE, ErrorCode.INVALID_OPTIONS, ErrorCode.INTERNAL)
MODELS = (ErrorCode.MODEL_MISSING, ErrorCode.MODEL_CORRUPT)
PICTURES = (
    ErrorCode.EMPTY_INPUT,
    ErrorCode.NOT_AN_IMAGE,
    ErrorCode.CORRUPT_IMAGE,
    ErrorCode.UNSUPPORTED_FORMAT,
    ErrorCode.IMAGE_TOO_LARGE,
    ErrorCode.IMAGE_TOO_SMALL,
    *MODELS,
)
FACES = (*PICTURES, ErrorCode.NO_FACE)
# a picture's query face (compare, verify, search): analysis/faces.query_face's refusals
QUERY_FACES = (
    *FACES,
    ErrorCode.FACE_TOO_SMALL,
    ErrorCode.LOW_QUALITY,
    ErrorCode.AMBIGUOUS_FACE,
)
STORE = (ErrorCode.STORE_UNAVAILABLE,)
# every /v1 route: no key or an unknown one, a key without the scope, over its rate
AUTH = (ErrorCode.UNAUTHORIZED, ErrorCode.FORBIDDEN, ErrorCode.RATE_LIMITED)
HEADERS: dict[int, dict[str, Any]] = {
    401: {"WWW-Authenticate": {"description": "Bearer", "schema": {"type": "string"}}},
    429: {"Retry-After": {"description": "seconds to wait", "schema": {"type": "integer"}}},
}


class FieldError(BaseModel):
    """One refused field of a request (422): where it is and why, never its value."""

    loc: list[str | int]
    msg: str


class Problem(BaseModel):
    """An error response (RFC 9457), `application/problem+json`."""

    model_config = ConfigDict(title="Problem")

    type: str = Field(description="urn:vigil:error:<code>, or about:blank for an HTTP error")
    title: str = Field(description="the HTTP status phrase")
    status: int = Field(ge=400, le=599)
    detail: str = Field(description="what was wrong, for a person")
    code: ErrorCode | None = Field(
        description="Vigil's stable error code; null only for errors of HTTP itself"
        " (unknown path, method not allowed)"
    )
    errors: list[FieldError] | None = Field(
        default=None, description="invalid_options from request validation: each refused field"
    )


def problem(
    status: int,
    code: ErrorCode | None,
    detail: str,
    errors: list[FieldError] | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    body = Problem(
        type=f"{TYPE_PREFIX}{code.value}" if code else "about:blank",
        title=HTTPStatus(status).phrase,
        status=status,
        detail=detail,
        code=code,
        errors=errors,
    )
    return JSONResponse(
        body.model_dump(mode="json", exclude=None if errors else {"errors"}),
        status_code=status,
        media_type=PROBLEM_MEDIA_TYPE,
        headers=dict(headers or {}),
    )


class Refusal(VigilError):
    """A VigilError answered with extra headers (`WWW-Authenticate`, `Retry-After`)."""

    def __init__(self, code: ErrorCode, message: str, headers: Mapping[str, str]) -> None:
        super().__init__(code, message)
        self.headers = dict(headers)


def from_error(exc: VigilError) -> JSONResponse:
    headers = exc.headers if isinstance(exc, Refusal) else None
    return problem(STATUS[exc.code], exc.code, exc.message, headers=headers)


def declared(*groups: Iterable[ErrorCode]) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses=` for the codes a route raises (plus ALWAYS), by status."""
    by_status: dict[int, list[str]] = {}
    for code in dict.fromkeys([*ALWAYS, *(code for group in groups for code in group)]):
        by_status.setdefault(STATUS[code], []).append(code.value)
    return {
        status: {
            "model": Problem,
            "description": f"{HTTPStatus(status).phrase}: code {', '.join(codes)}",
            **({"headers": HEADERS[status]} if status in HEADERS else {}),
        }
        for status, codes in sorted(by_status.items())
    }


# -- exception handlers -----------------------------------------------------------------------


async def vigil_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, VigilError)
    return from_error(exc)


async def validation_error(_request: Request, exc: Exception) -> JSONResponse:
    """FastAPI's request validation (path, query, JSON body) as 422 invalid_options."""
    assert isinstance(exc, RequestValidationError)
    errors = [
        FieldError(
            loc=list(error.get("loc", ())),
            msg=str(error.get("msg", "invalid")),
        )
        for error in exc.errors()
    ]
    detail = "; ".join(f"{'.'.join(map(str, e.loc))}: {e.msg}" for e in errors) or "invalid request"
    return problem(422, ErrorCode.INVALID_OPTIONS, detail, errors)


async def http_error(request: Request, exc: Exception) -> JSONResponse:
    """The framework's own errors: no such path, method not allowed (with every method the
    path has in `Allow`), and a body it could not parse (422 invalid_options)."""
    assert isinstance(exc, HTTPException)
    detail = exc.detail if isinstance(exc.detail, str) else HTTPStatus(exc.status_code).phrase
    if exc.status_code == 400:  # FastAPI's JSON body reader: not UTF-8, not JSON, ...
        return problem(422, ErrorCode.INVALID_OPTIONS, f"request body: {detail}")
    headers = dict(exc.headers or {})
    if exc.status_code == 405:  # Starlette names the methods of one route; a path has several
        headers = {name: value for name, value in headers.items() if name.lower() != "allow"}
        headers["Allow"] = ", ".join(sorted(allowed_methods(request)))
    return problem(exc.status_code, None, detail, headers=headers)


def allowed_methods(request: Request) -> set[str]:
    """The methods some route answers on this path (asked of the router, nested ones too)."""
    routes = request.app.router.routes
    return {
        method
        for method in METHODS
        if any(
            route.matches({**request.scope, "method": method})[0] == Match.FULL for route in routes
        )
    }


def unexpected(exc: BaseException) -> JSONResponse:
    """A bug: logged with its traceback here, answered with none."""
    log.error("unexpected error answering a request", exc_info=exc)
    return problem(500, ErrorCode.INTERNAL, "internal error; the server log has the details")
