"""Requests that carry pictures: multipart/form-data, or JSON with the pictures in base64.

Each such route has one body model (an `UploadBody`); both encodings are validated
against it, so a field means the same and is refused the same way in either. In
multipart, a picture is a file part, a JSON-valued field (options, metadata,
filters) is a part holding JSON, a list is the field repeated, and anything else a
plain part. `openapi` writes both encodings into the route's OpenAPI request body.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Annotated, Any, ClassVar, TypeVar

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, BeforeValidator, ConfigDict, ValidationError, WithJsonSchema
from starlette.datastructures import FormData, UploadFile
from starlette.exceptions import HTTPException

from vigil.schemas.errors import ErrorCode, VigilError

REF = "#/components/schemas/{model}"
PICTURE_TYPES = "image/jpeg, image/png, image/webp, image/bmp"
MAX_PARTS = 64  # files and fields of one multipart body (a member's photos included)
BINARY = {"type": "string", "format": "binary", "description": "a picture: JPEG, PNG, WebP, BMP"}

# Schemas the request bodies refer to; `vigil.http.app` adds them to the OpenAPI document.
COMPONENTS: dict[str, dict[str, Any]] = {}


def _picture(value: object) -> object:
    """A file part's bytes as they are; a JSON string as base64 (whitespace ignored)."""
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        try:
            return base64.b64decode("".join(value.split()), validate=True)
        except (binascii.Error, ValueError):
            raise ValueError("not valid base64") from None
    raise ValueError("a picture is a file part, or a base64 string in JSON")


Picture = Annotated[
    bytes,
    BeforeValidator(_picture),
    WithJsonSchema(
        {
            "type": "string",
            "contentEncoding": "base64",
            "description": "a picture (JPEG, PNG, WebP, BMP), base64",
        }
    ),
]


class UploadBody(BaseModel):
    """A request body with pictures; the class variables say how multipart carries it."""

    model_config = ConfigDict(extra="forbid")

    files: ClassVar[tuple[str, ...]] = ()  # one file part each
    file_lists: ClassVar[tuple[str, ...]] = ()  # a file part, repeatable
    lists: ClassVar[tuple[str, ...]] = ()  # a plain part, repeatable
    json_parts: ClassVar[tuple[str, ...]] = ()  # a part holding JSON


B = TypeVar("B", bound=UploadBody)


async def read_upload(request: Request, model: type[B]) -> B:
    """The request's body as `model`: 415 for another media type, 422 for bad fields."""
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media == "application/json":
        return validated(model, await request.body())
    if media == "multipart/form-data":
        try:
            async with request.form(max_files=MAX_PARTS, max_fields=MAX_PARTS) as form:
                values = await form_values(form, model)
        except HTTPException as exc:  # Starlette's refusal of a malformed multipart body
            raise VigilError(ErrorCode.INVALID_OPTIONS, f"multipart body: {exc.detail}") from None
        return validated(model, values)
    raise VigilError(
        ErrorCode.UNSUPPORTED_FORMAT,
        f"request body is {media or 'untyped'}; send multipart/form-data or application/json",
    )


async def form_values(form: FormData, model: type[UploadBody]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name in dict.fromkeys(form.keys()):
        items = form.getlist(name)
        files = [item for item in items if isinstance(item, UploadFile)]
        if name in model.files or name in model.file_lists:
            if len(files) != len(items):
                raise VigilError(ErrorCode.INVALID_OPTIONS, f"{name}: send it as a file part")
            data = [await item.read() for item in files]
            values[name] = data if name in model.file_lists or len(data) > 1 else data[0]
            continue
        if files:
            raise VigilError(ErrorCode.INVALID_OPTIONS, f"{name}: a file where a value belongs")
        texts = [str(item) for item in items]
        if name in model.json_parts:
            texts = [parse_json(name, text) for text in texts]
        values[name] = texts if name in model.lists or len(texts) > 1 else texts[0]
    return values


def parse_json(name: str, text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        raise VigilError(ErrorCode.INVALID_OPTIONS, f"{name}: not valid JSON") from None


def validated(model: type[B], values: dict[str, Any] | bytes) -> B:
    try:
        if isinstance(values, bytes):
            return model.model_validate_json(values)
        return model.model_validate(values)
    except ValidationError as exc:
        errors = exc.errors(include_url=False, include_input=False, include_context=False)
        raise RequestValidationError(
            [{**error, "loc": ("body", *error["loc"])} for error in errors]
        ) from None


def openapi(model: type[UploadBody]) -> dict[str, Any]:
    """`openapi_extra` of a route taking `model`: both encodings of its request body."""
    schema = model.model_json_schema(ref_template=REF)
    COMPONENTS.update(schema.pop("$defs", {}))
    COMPONENTS[model.__name__] = schema
    properties: dict[str, Any] = {}
    encoding: dict[str, Any] = {}
    for name, field in schema["properties"].items():
        if name in model.files:
            properties[name] = BINARY
            encoding[name] = {"contentType": PICTURE_TYPES}
        elif name in model.file_lists:
            limits = {key: field[key] for key in ("minItems", "maxItems") if key in field}
            properties[name] = {"type": "array", "items": BINARY, **limits}
            encoding[name] = {"contentType": PICTURE_TYPES}
        else:
            properties[name] = field
            if name in model.json_parts:
                encoding[name] = {"contentType": "application/json"}
    form = {"type": "object", "properties": properties, "required": schema.get("required", [])}
    return {
        "requestBody": {
            "required": True,
            "content": {
                "multipart/form-data": {"schema": form, "encoding": encoding},
                "application/json": {"schema": {"$ref": REF.format(model=model.__name__)}},
            },
        }
    }
