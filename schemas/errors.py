"""Vigil's error codes and the error a user can act on, and their wire shape.

The codes are the bottom of the stack: every layer raises `VigilError` and every
API returns `ErrorInfo`, so callers branch on a stable string, not a message.
The public import path stays `vigil.errors`, which re-exports these.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field

from vigil.schemas.base import VigilModel


class ErrorCode(StrEnum):
    """Documented, stable error codes (see README, "Error codes")."""

    EMPTY_INPUT = "empty_input"
    NOT_AN_IMAGE = "not_an_image"
    CORRUPT_IMAGE = "corrupt_image"
    IMAGE_TOO_LARGE = "image_too_large"
    IMAGE_TOO_SMALL = "image_too_small"
    UNSUPPORTED_FORMAT = "unsupported_format"
    FILE_NOT_FOUND = "file_not_found"
    NOT_A_REGULAR_FILE = "not_a_regular_file"
    FILE_TOO_LARGE = "file_too_large"
    PATH_NOT_ALLOWED = "path_not_allowed"
    INVALID_OPTIONS = "invalid_options"
    GROUP_NOT_FOUND = "group_not_found"
    GROUP_EXISTS = "group_exists"
    MEMBER_NOT_FOUND = "member_not_found"
    FEATURE_MISMATCH = "feature_mismatch"
    INVALID_FEATURE = "invalid_feature"
    NO_FACE = "no_face"
    MULTIPLE_FACES = "multiple_faces"
    LOW_QUALITY = "low_quality"
    FACE_TOO_SMALL = "face_too_small"
    AMBIGUOUS_FACE = "ambiguous_face"
    NO_CARD_FACE = "no_card_face"  # an ID document photo on which no portrait was found
    RECORD_NOT_WRITTEN = "record_not_written"  # an audit record could not be written
    DUPLICATE = "duplicate"
    STORE_UNAVAILABLE = "store_unavailable"
    MODEL_MISSING = "model_missing"
    MODEL_CORRUPT = "model_corrupt"
    UNAUTHORIZED = "unauthorized"
    FORBIDDEN = "forbidden"
    RATE_LIMITED = "rate_limited"
    ALERT_NOT_FOUND = "alert_not_found"
    CAMERA_NOT_FOUND = "camera_not_found"
    CAMERA_EXISTS = "camera_exists"
    INTERNAL = "internal_error"


class VigilError(Exception):
    """An error a user can act on: a stable code plus a message naming what was wrong."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(f"[{code.value}] {message}")
        self.code = code
        self.message = message


class ErrorInfo(VigilModel):
    """The error shape every API returns for one failed item, so a batch can carry it."""

    code: ErrorCode = Field(description="stable code, see README 'Error codes'")
    message: str = Field(description="what was wrong, for a person")
