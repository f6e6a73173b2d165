"""Turns untrusted bytes into a BGR uint8 array, or a VigilError naming what is wrong.

Nothing is decoded before the header and the container are checked, in this order:
the byte size (`MAX_IMAGE_BYTES`); the pixel count (`max_pixels`, so a decompression
bomb is refused without allocating it); the metadata (`MAX_METADATA_BYTES` of EXIF,
ICC, XMP, text chunks: a 65 MB EXIF block cost 31 s in the header parser); the
structure (a JPEG must hold enough scan data for its size and end with its EOI
marker, a PNG with IEND: OpenCV silently fills a cut JPEG with grey); and the decode
budget in bytes (`DECODE_BYTES_PER_PIXEL` x `max_pixels`: a 16-bit RGBA picture costs
8 bytes a pixel). Pictures without alpha are decoded straight to 8-bit BGR. libjpeg's
own warnings of missing data are caught too (`imdecode_jpeg`), whatever the file
ends with. Error messages name the format and the sizes, never the content.
"""

from __future__ import annotations

import io
import os
import re
import struct
import sys
import tempfile
import threading
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import cv2
import numpy as np
from PIL import Image, UnidentifiedImageError

from vigil.infra.safe_read import IMAGE_LIMIT, read_limited
from vigil.schemas.errors import ErrorCode, VigilError

SUPPORTED_FORMATS = {"JPEG": "jpeg", "PNG": "png", "BMP": "bmp", "WEBP": "webp"}
MAGIC = {b"\xff\xd8\xff": "JPEG", b"\x89PNG\r\n\x1a\n": "PNG", b"BM": "BMP"}
MIN_SIDE = 8
DEFAULT_MAX_PIXELS = 50_000_000
MAX_IMAGE_BYTES = IMAGE_LIMIT  # 50 MiB, for files and bytes alike
MAX_METADATA_BYTES = 16 * 1024 * 1024  # EXIF, ICC, XMP (extended XMP of phone portraits)
DECODE_BYTES_PER_PIXEL = 4  # the decode budget: 8-bit RGBA at max_pixels
MAX_SEGMENTS = 4096  # JPEG segments or PNG/WebP chunks: real files hold a few dozen
MAX_PNG_CHUNKS = 1 << 17  # some encoders write one IDAT per row
DEFLATE_MAX_RATIO = 1032  # deflate cannot compress better (258-byte matches in 2 bits)
ROWS_PER_STEP = 256  # colour conversion works on this many rows at a time

# JPEG frame types: baseline, extended and progressive Huffman coding are decoded;
# lossless, hierarchical and arithmetic coding are refused (no browser decodes them).
JPEG_DECODED = {0xC0: "baseline", 0xC1: "extended", 0xC2: "progressive"}
JPEG_REFUSED = {
    0xC3: "lossless",
    0xC5: "hierarchical",
    0xC6: "hierarchical",
    0xC7: "hierarchical",
    0xC9: "arithmetic-coded",
    0xCA: "arithmetic-coded",
    0xCB: "arithmetic-coded",
    0xCD: "arithmetic-coded hierarchical",
    0xCE: "arithmetic-coded hierarchical",
    0xCF: "arithmetic-coded hierarchical",
}
JPEG_STANDALONE = {0x01, *range(0xD0, 0xD8)}  # TEM and RST0-7 carry no length
JPEG_METADATA = {*range(0xE0, 0xF0), 0xFE}  # APP0-15 and COM
SCAN_END = re.compile(rb"\xff[^\x00\xd0-\xd7\xff]")  # a marker: not stuffing, RST or fill
LIBJPEG_TRUNCATION = (b"premature end of data segment", b"Premature end of JPEG file")
PNG_CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}  # samples per pixel in the file, by colour type
PNG_DEPTHS = {0: {1, 2, 4, 8, 16}, 2: {8, 16}, 3: {1, 2, 4, 8}, 4: {8, 16}, 6: {8, 16}}
WEBP_IMAGE_CHUNKS = {b"VP8 ", b"VP8L", b"VP8X", b"ALPH", b"ANIM", b"ANMF"}


@dataclass
class Header:
    """What the header and the container say, before any pixel is decoded."""

    format: str
    width: int
    height: int
    bits: int = 8  # per sample
    alpha: bool = False
    metadata: int = 0  # bytes of EXIF, ICC, XMP, comments, text
    problem: VigilError | None = None  # a structural fault, raised after the size checks

    @property
    def decoded_bytes(self) -> int:
        """Bytes of the decoded array: 8-bit BGR, or BGRA (16-bit kept) for alpha."""
        if not self.alpha:
            return self.width * self.height * 3
        return self.width * self.height * 4 * (2 if self.bits > 8 else 1)


def corrupt(message: str) -> VigilError:
    return VigilError(ErrorCode.CORRUPT_IMAGE, message)


def read_source(source: str | Path) -> bytes:
    """Read an image file (a regular file of at most MAX_IMAGE_BYTES), with coded errors."""
    return read_limited(source, MAX_IMAGE_BYTES, what="picture")


def claimed_format(data: bytes) -> str | None:
    """The format the magic bytes claim, to tell a corrupt image from non-image bytes."""
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    return next((fmt for magic, fmt in MAGIC.items() if data.startswith(magic)), None)


# -- JPEG -----------------------------------------------------------------------------------


def jpeg_blocks(frame: bytes, width: int, height: int) -> int:
    """8x8 blocks of every component, from the SOF's sampling factors (corrupt if invalid)."""
    count = frame[5] if len(frame) > 5 else 0
    if count not in (1, 3, 4) or len(frame) < 6 + 3 * count:
        raise corrupt(f"JPEG frame header is corrupt ({count} components)")
    factors = [(frame[7 + 3 * i] >> 4, frame[7 + 3 * i] & 15) for i in range(count)]
    if not all(1 <= h <= 4 and 1 <= v <= 4 for h, v in factors):
        raise corrupt("JPEG frame header is corrupt (sampling factors)")
    h_max, v_max = max(h for h, _ in factors), max(v for _, v in factors)
    blocks = 0
    for h, v in factors:
        columns = -(-width * h // h_max)
        rows = -(-height * v // v_max)
        blocks += -(-columns // 8) * -(-rows // 8)
    return blocks


def jpeg_header(data: bytes) -> Header:
    """Walk the JPEG's segments and scans to its EOI marker without decoding a pixel.

    Faults found before the frame header (SOF) raise; later ones are kept in `problem`
    so that a bomb is still reported as `image_too_large` first.
    """
    size, pos, segments = len(data), 2, 0
    header: Header | None = None
    metadata = blocks = scan_bytes = scans = 0
    problem: VigilError | None = None

    def truncated(where: str) -> VigilError:
        return corrupt(f"JPEG is truncated ({where}; no end-of-image marker)")

    while problem is None:
        segments += 1
        if segments > MAX_SEGMENTS:
            raise corrupt(f"JPEG has over {MAX_SEGMENTS} segments")
        if pos < size and data[pos] != 0xFF:  # libjpeg skips stray bytes, so do we
            pos = data.find(b"\xff", pos)
            pos = size if pos < 0 else pos
        while pos < size and data[pos] == 0xFF:
            pos += 1
        if pos >= size:
            problem = truncated("cut between segments")
            break
        marker = data[pos]
        pos += 1
        if marker == 0xD9:  # EOI
            break
        if marker in JPEG_STANDALONE:
            continue
        if marker in (0x00, 0xD8):
            raise corrupt(f"JPEG has a stray marker 0x{marker:02X} between segments")
        if pos + 2 > size:
            problem = truncated("cut in a segment header")
            break
        (length,) = struct.unpack_from(">H", data, pos)
        if length < 2:
            raise corrupt(f"JPEG segment 0x{marker:02X} has an impossible length {length}")
        end = pos + length
        if end > size:
            problem = truncated(f"segment 0x{marker:02X} is cut")
            break
        if marker in JPEG_METADATA:
            metadata += length
            if metadata > MAX_METADATA_BYTES:
                raise metadata_too_large("JPEG", metadata)
        elif marker in JPEG_REFUSED:
            raise VigilError(
                ErrorCode.UNSUPPORTED_FORMAT,
                f"{JPEG_REFUSED[marker]} JPEG is not supported; send a baseline or"
                " progressive JPEG, PNG, BMP or WebP",
            )
        elif marker in JPEG_DECODED:
            frame = data[pos + 2 : end]
            if header is not None or len(frame) < 6 or frame[0] not in (8, 12):
                raise corrupt("JPEG frame header is corrupt (or there are two)")
            height, width = struct.unpack_from(">HH", frame, 1)
            blocks = jpeg_blocks(frame, width, height)
            header = Header("JPEG", width, height, bits=frame[0])
        elif marker == 0xDA:  # SOS: the entropy-coded data runs to the next marker
            if header is None:
                raise corrupt("JPEG scan comes before its frame header")
            found = SCAN_END.search(data, end)
            if found is None:
                problem = truncated("cut in the image data")
                break
            scans += 1
            scan_bytes += found.start() - end
            pos = found.start()
            continue
        pos = end
    if header is None:
        raise problem or corrupt("JPEG has no frame header")
    header.metadata = metadata
    if problem is None and not scans:
        problem = corrupt("JPEG holds no image data (no scan before its end marker)")
    elif problem is None and scan_bytes * 8 < blocks:  # at least 1 bit per 8x8 block
        problem = corrupt(
            f"JPEG holds {scan_bytes:,} bytes of image data, too few for"
            f" {header.width}x{header.height} (at least {blocks // 8:,}): it is truncated"
            " or corrupt"
        )
    header.problem = problem
    return header


def metadata_too_large(fmt: str, size: int) -> VigilError:
    return VigilError(
        ErrorCode.IMAGE_TOO_LARGE,
        f"{fmt} metadata (EXIF, ICC, XMP, comments) of {size:,} bytes, over the limit of"
        f" {MAX_METADATA_BYTES:,}",
    )


# -- PNG and WebP ---------------------------------------------------------------------------


def png_header(data: bytes) -> Header:
    """Walk the PNG's chunks: IHDR first, IEND last, enough IDAT for the size, metadata."""
    size = len(data)
    if size < 33 or data[12:16] != b"IHDR":
        raise corrupt("data starts like PNG but is corrupt (no IHDR chunk)")
    width, height, bits, colour = struct.unpack_from(">IIBB", data, 16)
    if colour not in PNG_CHANNELS or bits not in PNG_DEPTHS[colour] or not width or not height:
        raise corrupt(f"PNG header is corrupt (colour type {colour}, bit depth {bits})")
    if width > 2**31 - 1 or height > 2**31 - 1:
        raise corrupt("PNG header is corrupt (size)")
    header = Header("PNG", width, height, bits=bits, alpha=colour in (4, 6))
    pos, chunks, idat, ended = 8, 0, 0, False
    while pos + 12 <= size:
        length, kind = struct.unpack_from(">I4s", data, pos)
        chunks += 1
        if length > 2**31 - 1 or chunks > MAX_PNG_CHUNKS:
            header.problem = corrupt(f"PNG chunk structure is corrupt (chunk {chunks})")
            return header
        if kind == b"IEND":
            ended = True
            break
        if kind == b"IDAT":
            idat += length
        elif kind == b"tRNS":
            header.alpha = True  # OpenCV then decodes 4 channels
        elif kind not in (b"IHDR", b"PLTE"):
            header.metadata += length
            if header.metadata > MAX_METADATA_BYTES:
                raise metadata_too_large("PNG", header.metadata)
        pos += 12 + length
    if not ended:
        header.problem = corrupt("PNG is truncated (no IEND chunk)")
        return header
    raw = height * (1 + -(-width * PNG_CHANNELS[colour] * bits // 8))
    if idat * DEFLATE_MAX_RATIO + 1024 < raw:
        header.problem = corrupt(
            f"PNG holds {idat:,} bytes of image data, too few for {width}x{height}:"
            " it is truncated or corrupt"
        )
    return header


def webp_metadata(data: bytes) -> int:
    """Bytes of the RIFF chunks that are not image data (EXIF, XMP, ICCP, unknown)."""
    pos, total, chunks = 12, 0, 0
    while pos + 8 <= len(data) and chunks < MAX_SEGMENTS:
        kind, length = data[pos : pos + 4], struct.unpack_from("<I", data, pos + 4)[0]
        if kind not in WEBP_IMAGE_CHUNKS:
            total += min(length, len(data) - pos - 8)
        pos += 8 + length + (length & 1)
        chunks += 1
    return total


def pil_header(data: bytes, claimed: str | None) -> Header:
    """BMP, WebP and whatever else Pillow recognises (refused as unsupported if not ours)."""
    if claimed == "WEBP":
        metadata = webp_metadata(data)
        if metadata > MAX_METADATA_BYTES:
            raise metadata_too_large("WebP", metadata)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        Image.MAX_IMAGE_PIXELS = None  # our own limit applies, with our own error
        try:
            with Image.open(io.BytesIO(data)) as opened:
                fmt, (width, height), mode = opened.format or "", opened.size, opened.mode
        except UnidentifiedImageError:
            if claimed:
                raise corrupt(f"data starts like {claimed} but is corrupt") from None
            raise VigilError(
                ErrorCode.NOT_AN_IMAGE,
                "bytes are not a recognised image; send JPEG, PNG, BMP or WebP",
            ) from None
        except (OSError, ValueError, SyntaxError) as exc:
            raise corrupt(f"image header is corrupt: {exc}") from None
    if fmt not in SUPPORTED_FORMATS:
        raise VigilError(
            ErrorCode.UNSUPPORTED_FORMAT,
            f"{fmt or 'unknown'} images are not supported; send JPEG, PNG, BMP or WebP",
        )
    return Header(fmt, width, height, alpha=mode in ("RGBA", "LA", "PA"))


def read_header(data: bytes) -> Header:
    """Format, size, depth, alpha, metadata and structure, without decoding a pixel."""
    if not data:
        raise VigilError(ErrorCode.EMPTY_INPUT, "image is empty (0 bytes)")
    claimed = claimed_format(data)
    if claimed == "JPEG":
        return jpeg_header(data)
    if claimed == "PNG":
        return png_header(data)
    return pil_header(data, claimed)


def sniff(data: bytes) -> tuple[str, int, int]:
    """Return (format, width, height) from the header alone."""
    header = read_header(data)
    return header.format, header.width, header.height


# -- checks ---------------------------------------------------------------------------------


def check_bytes(size: int) -> None:
    if size > MAX_IMAGE_BYTES:
        raise VigilError(
            ErrorCode.IMAGE_TOO_LARGE,
            f"image is {size:,} bytes, over the limit of {MAX_IMAGE_BYTES:,}",
        )


def check_size(width: int, height: int, max_pixels: int) -> None:
    if width * height > max_pixels:
        raise VigilError(
            ErrorCode.IMAGE_TOO_LARGE,
            f"image is {width}x{height} = {width * height:,} pixels, over the limit of"
            f" {max_pixels:,} (max_pixels)",
        )
    if min(width, height) < MIN_SIDE:
        raise VigilError(
            ErrorCode.IMAGE_TOO_SMALL,
            f"image is {width}x{height}; both sides must be at least {MIN_SIDE} pixels",
        )


def check_budget(header: Header, max_pixels: int) -> None:
    """16-bit pictures with alpha decode to 8 bytes a pixel: they get half the pixels."""
    budget = max_pixels * DECODE_BYTES_PER_PIXEL
    if header.decoded_bytes > budget:
        kind = f"{header.bits}-bit {header.format} with alpha"
        raise VigilError(
            ErrorCode.IMAGE_TOO_LARGE,
            f"{kind} of {header.width}x{header.height} decodes to {header.decoded_bytes:,}"
            f" bytes, over the budget of {budget:,} ({DECODE_BYTES_PER_PIXEL} bytes x"
            " max_pixels); send it as 8-bit or smaller",
        )


# -- decoding -------------------------------------------------------------------------------

_STDERR = threading.Lock()


def message_sink() -> BinaryIO:
    if hasattr(os, "memfd_create"):  # Linux: in memory, no file in /tmp
        return os.fdopen(os.memfd_create("vigil-libjpeg", os.MFD_CLOEXEC), "w+b")
    return tempfile.TemporaryFile()


def imdecode_jpeg(buffer: np.ndarray, flags: int) -> tuple[np.ndarray | None, bytes]:
    """cv2.imdecode, and what libjpeg printed meanwhile (its warnings go to fd 2 only).

    The messages are written on to stderr afterwards, so nothing is lost; the lock keeps
    two decodes of this process from mixing their messages.
    """
    with _STDERR:
        try:
            saved = os.dup(2)
        except OSError:  # no stderr at all: decode without listening
            return cv2.imdecode(buffer, flags), b""
        sink = message_sink()
        try:
            if sys.stderr is not None:
                sys.stderr.flush()
            os.dup2(sink.fileno(), 2)
            try:
                pixels = cv2.imdecode(buffer, flags)
            finally:
                os.dup2(saved, 2)
            sink.seek(0)
            messages = sink.read()
        finally:
            sink.close()
            os.close(saved)
    unwritten = memoryview(messages)
    try:
        while unwritten:
            unwritten = unwritten[os.write(2, unwritten) :]
    except OSError:  # stderr gone (a closed pipe): the messages were only for show
        pass
    return pixels, messages


def decode_pixels(header: Header, data: bytes) -> np.ndarray:
    buffer = np.frombuffer(data, dtype=np.uint8)
    # Without alpha, decode straight to 8-bit BGR (16 bits stripped by the codec): 3 bytes
    # a pixel whatever the depth. EXIF orientation is ignored, as it always was here.
    flags = (
        cv2.IMREAD_UNCHANGED if header.alpha else cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION
    )
    if header.format == "JPEG":
        pixels, messages = imdecode_jpeg(buffer, flags)
        if any(warning in messages for warning in LIBJPEG_TRUNCATION):
            raise corrupt("JPEG image data is truncated (the decoder ran out of data)")
    else:
        pixels = cv2.imdecode(buffer, flags)
    if pixels is None or pixels.size == 0:
        raise corrupt(f"{header.format} data could not be decoded (corrupt)")
    if pixels.shape[:2] != (header.height, header.width):
        raise corrupt(f"{header.format} decodes to another size than its header says")
    return pixels


def bgr8_rows(pixels: np.ndarray) -> np.ndarray:
    """One block of rows of an 8-bit image as 3-channel BGR."""
    if pixels.ndim == 2:
        return cv2.cvtColor(pixels, cv2.COLOR_GRAY2BGR)
    channels = pixels.shape[2]
    if channels == 1:
        return cv2.cvtColor(pixels, cv2.COLOR_GRAY2BGR)
    if channels == 2:  # grey and alpha, composited on white like BGRA
        alpha = pixels[:, :, 1].astype(np.float32) / 255.0
        grey = pixels[:, :, 0].astype(np.float32) * alpha + 255.0 * (1.0 - alpha)
        return cv2.cvtColor(grey.astype(np.uint8), cv2.COLOR_GRAY2BGR)
    if channels == 4:
        # Composite on white: transparent regions then look like paper, not black shapes.
        alpha = pixels[:, :, 3:4].astype(np.float32) / 255.0
        blended = pixels[:, :, :3].astype(np.float32) * alpha + 255.0 * (1.0 - alpha)
        return blended.astype(np.uint8)
    return pixels[:, :, :3]


def to_bgr8(pixels: np.ndarray) -> np.ndarray:
    """Normalise greyscale, 16-bit, float and alpha images to 3-channel 8-bit BGR.

    8- and 16-bit images are converted a few rows at a time, so a large picture costs
    its output array, not several float copies of itself.
    """
    if pixels.dtype not in (np.uint8, np.uint16):
        # the stub makes dst required; OpenCV allocates it when given None
        scaled = cv2.normalize(  # type: ignore[call-overload]
            pixels.astype(np.float32), None, 0, 255, cv2.NORM_MINMAX
        )
        pixels = scaled.astype(np.uint8)
    if pixels.dtype == np.uint8 and pixels.ndim == 3 and pixels.shape[2] == 3:
        return np.ascontiguousarray(pixels)
    height, width = pixels.shape[:2]
    out = np.empty((height, width, 3), np.uint8)
    for top in range(0, height, ROWS_PER_STEP):
        rows = pixels[top : top + ROWS_PER_STEP]
        if rows.dtype == np.uint16:
            rows = (rows >> 8).astype(np.uint8)
        out[top : top + ROWS_PER_STEP] = bgr8_rows(rows)
    return out


def decode_image(data: bytes, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Decode JPEG/PNG/BMP/WebP bytes to BGR uint8, or raise VigilError with a code."""
    check_bytes(len(data))
    header = read_header(data)
    check_size(header.width, header.height, max_pixels)
    if header.metadata > MAX_METADATA_BYTES:
        raise metadata_too_large(header.format, header.metadata)
    if header.problem is not None:
        raise header.problem
    check_budget(header, max_pixels)
    return to_bgr8(decode_pixels(header, data))


def load_image(source: bytes | str | Path | np.ndarray, max_pixels: int = DEFAULT_MAX_PIXELS):
    """Accept a path, encoded bytes or an already decoded array; return BGR uint8."""
    if isinstance(source, np.ndarray):
        if source.ndim not in (2, 3) or source.size == 0:
            raise VigilError(ErrorCode.CORRUPT_IMAGE, f"array of shape {source.shape} is no image")
        check_size(source.shape[1], source.shape[0], max_pixels)
        return to_bgr8(source)
    data = source if isinstance(source, bytes | bytearray | memoryview) else read_source(source)
    return decode_image(bytes(data), max_pixels)
