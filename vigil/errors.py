"""Error codes shared by every API, so callers can branch on a stable string, not a message."""

from __future__ import annotations

from enum import StrEnum


class ErrorCode(StrEnum):
    """Documented, stable error codes (see README, "Error codes")."""

    EMPTY_INPUT = "empty_input"
    NOT_AN_IMAGE = "not_an_image"
    CORRUPT_IMAGE = "corrupt_image"
    IMAGE_TOO_LARGE = "image_too_large"
    IMAGE_TOO_SMALL = "image_too_small"
    UNSUPPORTED_FORMAT = "unsupported_format"
    FILE_NOT_FOUND = "file_not_found"
    INVALID_OPTIONS = "invalid_options"
    MODEL_MISSING = "model_missing"
    MODEL_CORRUPT = "model_corrupt"
    INTERNAL = "internal_error"


class VigilError(Exception):
    """An error a user can act on: a stable code plus a message naming what was wrong."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(f"[{code.value}] {message}")
        self.code = code
        self.message = message
