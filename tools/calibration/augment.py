"""Augmented views of a face portrait, for calibrating thresholds without a labelled data set.

Each augmentation is a degradation a real enrolment or probe photo suffers
(recompression, small faces, blur, lighting, tilt, mirror, greyscale), so the
genuine distances cover what the deployed system will see, not only clean
portraits. Every function takes and returns a BGR portrait in which the face is
`PORTRAIT_FACE` pixels wide and centred (see `portrait`).
"""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np

from vigil.schemas.geometry import Box

PORTRAIT_FACE = 160  # face width in a normalised portrait, pixels
PORTRAIT_SIDE = 3 * PORTRAIT_FACE

Augment = Callable[[np.ndarray], np.ndarray]


def portrait(image: np.ndarray, box: Box) -> np.ndarray:
    """A square crop three face-widths wide around the face, resized so the face is 160 px.

    Working on this crop instead of the whole photo makes every augmentation
    mean the same thing (e.g. "face 24 px") whatever the photo's resolution.
    """
    side = 3 * max(box.width, box.height)
    cx, cy = (box.x1 + box.x2) / 2, (box.y1 + box.y2) / 2
    scale = PORTRAIT_SIDE / side
    shift = np.float32(
        [[scale, 0, PORTRAIT_SIDE / 2 - scale * cx], [0, scale, PORTRAIT_SIDE / 2 - scale * cy]]
    )
    return cv2.warpAffine(
        image,
        shift,
        (PORTRAIT_SIDE, PORTRAIT_SIDE),
        flags=cv2.INTER_AREA,
        borderMode=cv2.BORDER_REPLICATE,
    )


def face_px(size: int) -> Augment:
    """Shrink the face to `size` pixels (CCTV-like small faces)."""

    def apply(image: np.ndarray) -> np.ndarray:
        scale = size / PORTRAIT_FACE  # every other augmentation keeps the face at 160 px
        height, width = image.shape[:2]
        target = (max(1, round(width * scale)), max(1, round(height * scale)))
        return cv2.resize(image, target, interpolation=cv2.INTER_AREA)

    return apply


def crop(margin: float, dx: float = 0.0, dy: float = 0.0) -> Augment:
    """Cut around the face with `margin` face-widths each side, shifted by dx, dy face-widths."""

    def apply(image: np.ndarray) -> np.ndarray:
        centre = PORTRAIT_SIDE / 2
        half = PORTRAIT_FACE * (0.5 + margin)
        x1 = round(centre - half + dx * PORTRAIT_FACE)
        y1 = round(centre - half + dy * PORTRAIT_FACE)
        x2, y2 = x1 + round(2 * half), y1 + round(2 * half)
        return image[max(0, y1) : y2, max(0, x1) : x2]

    return apply


def blur(sigma: float) -> Augment:
    def apply(image: np.ndarray) -> np.ndarray:
        return cv2.GaussianBlur(image, (0, 0), sigma)

    return apply


def jpeg(quality: int) -> Augment:
    def apply(image: np.ndarray) -> np.ndarray:
        ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
        assert ok
        return cv2.imdecode(data, cv2.IMREAD_COLOR)

    return apply


def light(gain: float, bias: float = 0.0, contrast: float = 1.0) -> Augment:
    """Brightness (gain, bias) and contrast around the mean grey level."""

    def apply(image: np.ndarray) -> np.ndarray:
        pixels = image.astype(np.float32)
        mean = float(pixels.mean())
        pixels = (pixels - mean) * contrast + mean
        return np.clip(pixels * gain + bias, 0, 255).astype(np.uint8)

    return apply


def rotate(degrees: float) -> Augment:
    def apply(image: np.ndarray) -> np.ndarray:
        height, width = image.shape[:2]
        matrix = cv2.getRotationMatrix2D((width / 2, height / 2), degrees, 1.0)
        return cv2.warpAffine(image, matrix, (width, height), borderMode=cv2.BORDER_REPLICATE)

    return apply


def flip(image: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(image[:, ::-1])


def grey(image: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR)


def chain(*steps: Augment) -> Augment:
    def apply(image: np.ndarray) -> np.ndarray:
        for step in steps:
            image = step(image)
        return image

    return apply


AUGMENTS: dict[str, Augment] = {
    "crop_tight": crop(0.45),
    "crop_offset": crop(0.7, dx=0.25, dy=-0.15),
    "face80": face_px(80),
    "face48": face_px(48),
    "face32": face_px(32),
    "face24": face_px(24),
    "blur_s3": blur(3.0),
    "blur_s6": blur(6.0),
    "jpeg30": jpeg(30),
    "jpeg10": jpeg(10),
    "dark": light(0.45),
    "bright": light(1.3, 30),
    "low_contrast": light(1.0, contrast=0.5),
    "grey": grey,
    "rot-12": rotate(-12),
    "rot+8": rotate(8),
    "rot+18": rotate(18),
    "flip": flip,
    "flip_face48_jpeg30": chain(flip, face_px(48), jpeg(30)),
    "face40_dark_blur": chain(face_px(40), light(0.6), blur(1.0)),
    "rot-8_grey_jpeg20": chain(rotate(-8), grey, jpeg(20)),
    "crop_offset_bright_face64": chain(crop(0.7, dx=-0.2), light(1.2, 20), face_px(64)),
}
