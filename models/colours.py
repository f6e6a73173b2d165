"""Clothing and vehicle colour names by an HSV vote, plus coarse vehicle type.

No offline colour or attribute model exists (see shared PROVENANCE), so every
pixel of a region is classified into a fixed palette and the region takes
the colour with the largest weighted vote. Weights fall off from the centre
(a Gaussian, sigma = 1/4 of each side) so background at the box edges counts
less; boxes are also cut to their central part before voting.

OpenCV HSV: H in 0-179 (degrees / 2), S and V in 0-255. First matching rule wins:

| colour | rule                                   |
|--------|----------------------------------------|
| black  | V < 50                                 |
| white  | S < 40 and V >= 190                    |
| grey   | S < 40 (and 50 <= V < 190)             |
| brown  | 8 <= H < 20 and V < 160 (dark orange)  |
| pink   | H < 8 or H >= 170, S < 120, V >= 170   |
| red    | H < 8 or H >= 170                      |
| orange | 8 <= H < 20                            |
| yellow | 20 <= H < 35                           |
| green  | 35 <= H < 80                           |
| cyan   | 80 <= H < 100                          |
| blue   | 100 <= H < 130                         |
| purple | 130 <= H < 155                         |
| pink   | 155 <= H < 170                         |

CCTV colour is weak and lighting-dependent: treat the names as a coarse
search filter, never as ground truth. Silver cars come out grey, white or,
with a blue cast, blue.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from vigil.errors import ErrorCode, VigilError
from vigil.models.object_detector import check_image, crop

PALETTE: tuple[str, ...] = (
    "black", "white", "grey", "brown", "red", "orange",
    "yellow", "green", "cyan", "blue", "purple", "pink",
)  # fmt: skip

BLACK_MAX_V = 50
GREY_MAX_S = 40
WHITE_MIN_V = 190
BROWN_MAX_V = 160
LIGHT_RED_MAX_S = 120  # pale, bright red reads as pink
LIGHT_RED_MIN_V = 170
# Exclusive upper hue bound of each chromatic band, ascending; red also covers H >= 170.
HUE_BANDS: tuple[tuple[str, int], ...] = (
    ("red", 8), ("orange", 20), ("yellow", 35), ("green", 80),
    ("cyan", 100), ("blue", 130), ("purple", 155), ("pink", 170),
)  # fmt: skip
UNKNOWN = "unknown"

# Fractions of the box (x1, y1, x2, y2) that each vote looks at.
UPPER_BODY = (0.2, 0.15, 0.8, 0.50)
LOWER_BODY = (0.2, 0.55, 0.8, 0.90)
# Central vehicle body: skips most background at the sides and the road and
# tyres at the bottom.
VEHICLE_BODY = (0.15, 0.2, 0.85, 0.8)

VEHICLE_TYPES: dict[str, str] = {
    "car": "car",
    "bus": "bus",
    "truck": "truck",
    "motorcycle": "motorcycle",
    "bicycle": "bicycle",
}


@dataclass(frozen=True)
class ColourVote:
    """The winning colour and its share (0-1) of the weighted vote."""

    name: str
    fraction: float


def classify_pixels(bgr: np.ndarray) -> np.ndarray:
    """Palette index for every pixel of a BGR uint8 image (HxW int array)."""
    hsv = cv2.cvtColor(bgr, cv2.COLOR_BGR2HSV)
    hue, sat, val = (hsv[..., i].astype(np.int16) for i in range(3))
    hue = np.where(hue >= 170, 0, hue)  # fold the upper red wrap onto 0
    band_limits = np.array([limit for _, limit in HUE_BANDS])
    band_ids = np.array([PALETTE.index(name) for name, _ in HUE_BANDS])
    chromatic = band_ids[np.searchsorted(band_limits, hue, side="right")]
    conditions = [
        val < BLACK_MAX_V,
        (sat < GREY_MAX_S) & (val >= WHITE_MIN_V),
        sat < GREY_MAX_S,
        (chromatic == PALETTE.index("orange")) & (val < BROWN_MAX_V),
        (chromatic == PALETTE.index("red")) & (sat < LIGHT_RED_MAX_S) & (val >= LIGHT_RED_MIN_V),
    ]
    choices = [PALETTE.index(name) for name in ("black", "white", "grey", "brown", "pink")]
    return np.select(conditions, choices, default=chromatic)


def centre_weights(height: int, width: int) -> np.ndarray:
    """Gaussian weights peaking at the region centre, so edge background counts less."""
    ys = np.exp(-0.5 * ((np.arange(height) + 0.5 - height / 2) / (height / 4)) ** 2)
    xs = np.exp(-0.5 * ((np.arange(width) + 0.5 - width / 2) / (width / 4)) ** 2)
    return np.outer(ys, xs)


def dominant_colour(region: np.ndarray) -> ColourVote:
    """Centre-weighted palette vote over a BGR region; "unknown" (0.0) when it is empty."""
    if region.size == 0:
        return ColourVote(UNKNOWN, 0.0)
    check_image(region)
    labels = classify_pixels(region)
    weights = centre_weights(*labels.shape)
    votes = np.bincount(labels.ravel(), weights=weights.ravel(), minlength=len(PALETTE))
    best = int(votes.argmax())
    return ColourVote(PALETTE[best], float(votes[best] / votes.sum()))


def sub_box(box: np.ndarray, fractions: tuple[float, float, float, float]) -> np.ndarray:
    """The part of an x1,y1,x2,y2 box given by fractions of its width and height."""
    x1, y1, x2, y2 = np.asarray(box, dtype=np.float32)
    fx1, fy1, fx2, fy2 = fractions
    w, h = x2 - x1, y2 - y1
    return np.array([x1 + fx1 * w, y1 + fy1 * h, x1 + fx2 * w, y1 + fy2 * h], np.float32)


def person_colours(image: np.ndarray, box: np.ndarray) -> dict[str, ColourVote]:
    """Clothing colours: "upper" (15-50% of box height) and "lower" (55-90%), central 60%."""
    return {
        "upper": dominant_colour(crop(image, sub_box(box, UPPER_BODY))),
        "lower": dominant_colour(crop(image, sub_box(box, LOWER_BODY))),
    }


def vehicle_colour(image: np.ndarray, box: np.ndarray) -> ColourVote:
    """Body colour from the central part of a vehicle box."""
    return dominant_colour(crop(image, sub_box(box, VEHICLE_BODY)))


def vehicle_type(label: str) -> str:
    """Coarse vehicle type of a COCO label; COCO "truck" also covers vans and pickups."""
    try:
        return VEHICLE_TYPES[label]
    except KeyError:
        raise VigilError(
            ErrorCode.INVALID_OPTIONS,
            f"{label!r} is not a vehicle label; expected one of {sorted(VEHICLE_TYPES)}",
        ) from None
