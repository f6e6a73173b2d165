"""Why a video source gave up, as a stable code a caller can branch on."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

import av

from vigil.infra.logs import redact_url
from vigil.schemas.errors import VigilError


class VideoErrorCode(StrEnum):
    """Stable codes of `VideoSourceError` (a StrEnum, so `error.code == "not_found"` holds)."""

    NOT_FOUND = "not_found"
    PERMISSION_DENIED = "permission_denied"
    UNSUPPORTED = "unsupported"
    CORRUPT_STREAM = "corrupt_stream"
    TIMEOUT = "timeout"
    UNREACHABLE = "unreachable"
    RECONNECTS_EXHAUSTED = "reconnects_exhausted"


class VideoSourceError(VigilError):
    """A file that cannot be (fully) decoded, or a live source out of reconnects.

    A `VigilError`, so callers that already handle the project's errors handle this too.
    """

    def __init__(self, code: VideoErrorCode | str, message: str) -> None:
        super().__init__(VideoErrorCode(code), message)  # type: ignore[arg-type]


def redact(url: str) -> str:
    """The URL without its credentials: messages and logs must not leak camera passwords.

    The one helper of `infra/logs.py` (`redact_url`): `user:***@`, also when the password
    holds an unencoded `/` or `@`, and `?token=***`-style query secrets.
    """
    return redact_url(url)


def describe_failure(
    url: str, error: Exception, *, live: bool, frames: int | None = None
) -> VideoSourceError:
    """Turn what PyAV raised (while opening when `frames` is None) into a coded error."""
    reason = getattr(error, "strerror", None) or str(error)  # strerror omits the URL
    if isinstance(error, FileNotFoundError):
        return VideoSourceError(VideoErrorCode.NOT_FOUND, "no such file or stream")
    if isinstance(error, PermissionError):
        return VideoSourceError(VideoErrorCode.PERMISSION_DENIED, reason)
    if isinstance(error, av.error.ExitError):
        return VideoSourceError(VideoErrorCode.TIMEOUT, "timed out waiting for data")
    if live:
        stage = "cannot connect" if frames is None else f"connection lost after {frames} frames"
        return VideoSourceError(VideoErrorCode.UNREACHABLE, f"{stage}: {reason}")
    if frames is not None:
        message = f"reading failed after {frames} frames: {reason}"
        return VideoSourceError(VideoErrorCode.CORRUPT_STREAM, message)
    return _unopenable_file(Path(url), reason)


def _unopenable_file(path: Path, reason: str) -> VideoSourceError:
    """Tell a damaged recording from a file that is no video at all, by its first bytes."""
    try:
        with path.open("rb") as handle:
            head = handle.read(12)
    except OSError:
        head = b""
    if not head:
        return VideoSourceError(VideoErrorCode.CORRUPT_STREAM, "the file is empty")
    if head[4:8] == b"ftyp":
        message = (
            "MP4/MOV header but no readable index (moov atom): the recording was "
            f"probably cut off before it was finalised ({reason})"
        )
        return VideoSourceError(VideoErrorCode.CORRUPT_STREAM, message)
    message = f"not a video FFmpeg can read ({reason})"
    return VideoSourceError(VideoErrorCode.UNSUPPORTED, message)
