"""Bad input gets a coded error naming the problem; odd but valid images are normalised."""

from __future__ import annotations

import io

import cv2
import numpy as np
import pytest
from PIL import Image

from vigil.analysis.image_decoder import decode_image, load_image
from vigil.errors import ErrorCode, VigilError


def png(array: np.ndarray) -> bytes:
    return cv2.imencode(".png", array)[1].tobytes()


def pil_bytes(image: Image.Image, fmt: str) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def jpeg(images) -> bytes:
    return (images / "obama.jpg").read_bytes()


def code_of(data, **kwargs) -> ErrorCode:
    with pytest.raises(VigilError) as caught:
        load_image(data, **kwargs)
    assert caught.value.message, "an error must say what was wrong"
    return caught.value.code


def test_empty_bytes():
    assert code_of(b"") == ErrorCode.EMPTY_INPUT


def test_non_image_bytes():
    assert code_of(b"%PDF-1.7 this is a document, not a picture") == ErrorCode.NOT_AN_IMAGE


def test_truncated_jpeg(jpeg):
    assert code_of(jpeg[: len(jpeg) // 3]) == ErrorCode.CORRUPT_IMAGE


def test_jpeg_header_with_garbage():
    assert code_of(b"\xff\xd8\xff\xe0" + bytes(200)) == ErrorCode.CORRUPT_IMAGE


def test_truncated_png():
    data = png(np.full((64, 64, 3), 128, np.uint8))
    assert code_of(data[:-20]) == ErrorCode.CORRUPT_IMAGE


def test_decompression_bomb_is_refused_before_decoding():
    bomb = pil_bytes(Image.new("1", (30000, 30000)), "PNG")
    assert len(bomb) < 1_000_000  # small on disk, 900 MP once decoded
    assert code_of(bomb) == ErrorCode.IMAGE_TOO_LARGE


def test_one_pixel_image():
    assert code_of(png(np.zeros((1, 1, 3), np.uint8))) == ErrorCode.IMAGE_TOO_SMALL


def test_unsupported_format():
    assert code_of(pil_bytes(Image.new("RGB", (32, 32)), "GIF")) == ErrorCode.UNSUPPORTED_FORMAT


def test_missing_file(tmp_path):
    assert code_of(tmp_path / "nope.jpg") == ErrorCode.FILE_NOT_FOUND


@pytest.mark.parametrize(
    "array",
    [
        np.full((40, 50), 200, np.uint8),
        np.full((40, 50), 60000, np.uint16),
        np.full((40, 50, 3), 60000, np.uint16),
        np.dstack([np.full((40, 50, 3), 10, np.uint8), np.full((40, 50), 255, np.uint8)]),
    ],
    ids=["grey", "grey16", "bgr16", "bgra"],
)
def test_odd_but_valid_images_become_bgr8(array):
    decoded = decode_image(png(array))
    assert decoded.shape == (40, 50, 3) and decoded.dtype == np.uint8


def test_transparent_pixels_become_white():
    rgba = np.zeros((20, 20, 4), np.uint8)
    assert decode_image(png(rgba)).min() == 255


@pytest.mark.parametrize("ext", [".jpg", ".png", ".bmp", ".webp"])
def test_supported_formats(ext):
    array = np.random.default_rng(0).integers(0, 255, (30, 40, 3), dtype=np.uint8)
    assert decode_image(cv2.imencode(ext, array)[1].tobytes()).shape == (30, 40, 3)


def test_custom_pixel_limit(jpeg):
    assert code_of(jpeg, max_pixels=1000) == ErrorCode.IMAGE_TOO_LARGE


# --- valid variants the structural checks must let through ---------------------------------


def pil_jpeg(image: Image.Image, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", **options)
    return buffer.getvalue()


def noise(mode: str = "RGB", size: tuple[int, int] = (157, 123)) -> Image.Image:
    pixels = np.random.default_rng(1).integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)
    return Image.fromarray(pixels).convert(mode)


def rotated_exif() -> Image.Exif:
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: ignored, as it always was
    return exif


VALID_JPEGS = {
    "baseline": lambda: pil_jpeg(noise()),
    "progressive": lambda: pil_jpeg(noise(), progressive=True),
    "optimised": lambda: pil_jpeg(noise(), optimize=True),
    "4:4:4": lambda: pil_jpeg(noise(), subsampling=0),
    "4:2:2": lambda: pil_jpeg(noise(), subsampling=1),
    "grey": lambda: pil_jpeg(noise("L")),
    "cmyk": lambda: pil_jpeg(noise("CMYK")),
    "restart-markers": lambda: cv2.imencode(
        ".jpg", np.asarray(noise()), [cv2.IMWRITE_JPEG_RST_INTERVAL, 3]
    )[1].tobytes(),
    "exif-orientation": lambda: pil_jpeg(noise(), exif=rotated_exif()),
    "trailing-bytes": lambda: pil_jpeg(noise()) + b"\x00" * 64 + b"appended video",
    # the least scan data a valid JPEG can have: about 1 bit per 8x8 block
    "flat-progressive": lambda: pil_jpeg(
        Image.new("L", (4000, 3000), 90), progressive=True, optimize=True, quality=1
    ),
}


@pytest.mark.parametrize("make", VALID_JPEGS.values(), ids=VALID_JPEGS.keys())
def test_valid_jpeg_variants_decode_as_opencv_decodes_them(make):
    data = make()
    flags = cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION
    expected = cv2.imdecode(np.frombuffer(data, np.uint8), flags)
    assert np.array_equal(decode_image(data), expected)


@pytest.mark.parametrize("mode", ["P", "LA", "1", "RGBA"])
def test_valid_png_modes_decode(mode):
    decoded = decode_image(pil_bytes(noise(mode), "PNG"))
    assert decoded.shape == (123, 157, 3) and decoded.dtype == np.uint8


def test_grey_with_alpha_is_composited_on_white():
    transparent = Image.new("LA", (20, 20), (0, 0))
    assert decode_image(pil_bytes(transparent, "PNG")).min() == 255


def test_16_bit_without_alpha_decodes_at_3_bytes_a_pixel():
    """No alpha: the codec strips 16 bits to 8 while decoding, so no budget applies."""
    data = png(np.full((1200, 1000, 3), 40000, np.uint16))
    decoded = decode_image(data, max_pixels=1_200_000)
    assert decoded.shape == (1200, 1000, 3) and decoded.dtype == np.uint8
    assert decoded[0, 0, 0] == 40000 >> 8
