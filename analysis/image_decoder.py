"""Turns untrusted bytes into a BGR uint8 array, or a VigilError naming what is wrong.

The header is read before any pixel is decoded, so a decompression bomb is
refused without allocating it; truncation is checked explicitly because
OpenCV silently fills a cut JPEG with grey.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, UnidentifiedImageError

from vigil.errors import ErrorCode, VigilError

SUPPORTED_FORMATS = {"JPEG": "jpeg", "PNG": "png", "BMP": "bmp", "WEBP": "webp"}
MAGIC = {b"\xff\xd8\xff": "JPEG", b"\x89PNG\r\n\x1a\n": "PNG", b"BM": "BMP"}
MIN_SIDE = 8
DEFAULT_MAX_PIXELS = 50_000_000


def read_source(source: str | Path) -> bytes:
    """Read an image file, turning OS errors into coded errors."""
    path = Path(source)
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise VigilError(ErrorCode.FILE_NOT_FOUND, f"{path}: no such file") from None
    except IsADirectoryError:
        raise VigilError(ErrorCode.FILE_NOT_FOUND, f"{path}: is a directory, not a file") from None
    except OSError as exc:
        raise VigilError(ErrorCode.FILE_NOT_FOUND, f"{path}: cannot read ({exc})") from None


def claimed_format(data: bytes) -> str | None:
    """The format the magic bytes claim, to tell a corrupt image from non-image bytes."""
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    return next((fmt for magic, fmt in MAGIC.items() if data.startswith(magic)), None)


def sniff(data: bytes) -> tuple[str, int, int]:
    """Return (format, width, height) from the header alone."""
    if not data:
        raise VigilError(ErrorCode.EMPTY_INPUT, "image is empty (0 bytes)")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        Image.MAX_IMAGE_PIXELS = None  # our own limit applies, with our own error
        try:
            with Image.open(io.BytesIO(data)) as header:
                fmt, (width, height) = header.format or "", header.size
        except UnidentifiedImageError:
            claimed = claimed_format(data)
            if claimed:
                raise VigilError(
                    ErrorCode.CORRUPT_IMAGE, f"data starts like {claimed} but is corrupt"
                ) from None
            raise VigilError(
                ErrorCode.NOT_AN_IMAGE,
                f"bytes are not a recognised image (starts with {data[:8].hex()});"
                " send JPEG, PNG, BMP or WebP",
            ) from None
        except (OSError, ValueError, SyntaxError) as exc:
            raise VigilError(ErrorCode.CORRUPT_IMAGE, f"image header is corrupt: {exc}") from None
    if fmt not in SUPPORTED_FORMATS:
        raise VigilError(
            ErrorCode.UNSUPPORTED_FORMAT,
            f"{fmt or 'unknown'} images are not supported; send JPEG, PNG, BMP or WebP",
        )
    return fmt, width, height


def check_size(width: int, height: int, max_pixels: int) -> None:
    if width * height > max_pixels:
        raise VigilError(
            ErrorCode.IMAGE_TOO_LARGE,
            f"image is {width}x{height} = {width * height:,} pixels, over the limit of"
            f" {max_pixels:,} (raise max_pixels if this is intended)",
        )
    if min(width, height) < MIN_SIDE:
        raise VigilError(
            ErrorCode.IMAGE_TOO_SMALL,
            f"image is {width}x{height}; both sides must be at least {MIN_SIDE} pixels",
        )


def check_complete(fmt: str, data: bytes) -> None:
    """Refuse JPEG/PNG files whose end marker is missing: they were cut short."""
    if fmt == "JPEG" and data.rfind(b"\xff\xd9") < 4:
        raise VigilError(ErrorCode.CORRUPT_IMAGE, "JPEG is truncated (no end-of-image marker)")
    if fmt == "PNG" and b"IEND" not in data[-64:]:
        raise VigilError(ErrorCode.CORRUPT_IMAGE, "PNG is truncated (no IEND chunk)")


def to_bgr8(pixels: np.ndarray) -> np.ndarray:
    """Normalise greyscale, 16-bit, float and alpha images to 3-channel 8-bit BGR."""
    if pixels.dtype == np.uint16:
        pixels = (pixels >> 8).astype(np.uint8)
    elif pixels.dtype != np.uint8:
        scaled = cv2.normalize(pixels.astype(np.float32), None, 0, 255, cv2.NORM_MINMAX)
        pixels = scaled.astype(np.uint8)
    if pixels.ndim == 2:
        return cv2.cvtColor(pixels, cv2.COLOR_GRAY2BGR)
    channels = pixels.shape[2]
    if channels == 1:
        return cv2.cvtColor(pixels, cv2.COLOR_GRAY2BGR)
    if channels == 4:
        # Composite on white: transparent regions then look like paper, not black shapes.
        alpha = pixels[:, :, 3:4].astype(np.float32) / 255.0
        blended = pixels[:, :, :3].astype(np.float32) * alpha + 255.0 * (1.0 - alpha)
        return blended.astype(np.uint8)
    return np.ascontiguousarray(pixels[:, :, :3])


def decode_image(data: bytes, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Decode JPEG/PNG/BMP/WebP bytes to BGR uint8, or raise VigilError with a code."""
    fmt, width, height = sniff(data)
    check_size(width, height, max_pixels)
    check_complete(fmt, data)
    pixels = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_UNCHANGED)
    if pixels is None or pixels.size == 0:
        raise VigilError(ErrorCode.CORRUPT_IMAGE, f"{fmt} data could not be decoded (corrupt)")
    return to_bgr8(pixels)


def load_image(source: bytes | str | Path | np.ndarray, max_pixels: int = DEFAULT_MAX_PIXELS):
    """Accept a path, encoded bytes or an already decoded array; return BGR uint8."""
    if isinstance(source, np.ndarray):
        if source.ndim not in (2, 3) or source.size == 0:
            raise VigilError(ErrorCode.CORRUPT_IMAGE, f"array of shape {source.shape} is no image")
        check_size(source.shape[1], source.shape[0], max_pixels)
        return to_bgr8(source)
    data = source if isinstance(source, bytes | bytearray | memoryview) else read_source(source)
    return decode_image(bytes(data), max_pixels)
