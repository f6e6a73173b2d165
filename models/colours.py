"""Clothing and vehicle colour names by a palette vote, plus coarse vehicle type.

No offline colour or attribute model exists (see shared PROVENANCE), so every
pixel of a body part is classified into a fixed palette and the part takes the
colour with the largest weighted vote. A pixel's weight is the product of:

- place: a Gaussian peaking at the part's centre (sigma = 1/4 of each side);
- skin (persons): 0 for skin-coloured pixels (faces, hands, arms, bare legs),
  found by a YCrCb box with an HSV hue/saturation check; ignored when most of a
  part looks like skin (a beige or pink garment, not a bare torso);
- background: the pixels of a colour bin (palette name x lightness) count
  max(0, R - B) / R, R and B being the bin's shares inside the part and in the
  strips just outside the box, left and right of the part at the same rows
  (the video pipeline's best-shot crops keep a 10% margin for them; no strips,
  no suppression): grass behind red shorts drops out, the shorts count fully.
  When this leaves under a fifth of the weight (grey trousers on grey tarmac)
  the vote is taken without it.

Parts: a standing person's torso is 17-50% of the box height and the legs
55-92%, over the central 60% of the width. A head-and-shoulders or waist-up
picture (box cut by the bottom of the image, height/width 0.8-1.7) shows its
torso in the lower 45% and no legs: "lower" is then "unknown". A vehicle's
body is 35-85% of the box height (below the windows, above the road) over the
central 80%; black pixels there (tyres, windows, shadow) count half.

OpenCV HSV: H in 0-179 (degrees / 2), S and V in 0-255; C (chroma) is
max(B, G, R) - min(B, G, R). First matching rule wins:

| colour | rule                                                       |
|--------|------------------------------------------------------------|
| black  | V < 50, unless C >= 12 with a cool hue (green to purple)   |
| white  | achromatic: S < 40 (vehicles: or C < 40), and V >= 190     |
| grey   | achromatic (and V < 190)                                   |
| brown  | 5 <= H < 20 and V < 160 (dark orange)                      |
| pink   | H < 5 or H >= 170, S < 120, V >= 170                       |
| red    | H < 5 or H >= 170                                          |
| orange | 5 <= H < 20                                                |
| yellow | 20 <= H < 35                                               |
| green  | 35 <= H < 80                                               |
| cyan   | 80 <= H < 100                                              |
| blue   | 100 <= H < 130                                             |
| purple | 130 <= H < 155                                             |
| pink   | 155 <= H < 170                                             |

Dark but tinted pixels keep a cool hue: CCTV crushes navy to V 20-50 with a
clear blue cast, while black cloth is untinted or takes a warm cast. Red ends
at 10 degrees: a flight suit's international orange (12-16 degrees) is orange.
Vehicles count weakly tinted pixels (C < 40) as grey or white: metallic silver
picks up the sky's blue.

CCTV colour is weak and lighting-dependent: treat the names as a coarse
search filter, never as ground truth. bench/bench_colours.py measures them
against labels set by eye.
"""

from __future__ import annotations

import math
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
DARK_MIN_CHROMA = 12  # a dark pixel this tinted keeps its hue (navy, not black)
GREY_MAX_S = 40
VEHICLE_GREY_MAX_CHROMA = 40  # silver under a blue sky is still grey
WHITE_MIN_V = 190
BROWN_MAX_V = 160
LIGHT_RED_MAX_S = 120  # pale, bright red reads as pink
LIGHT_RED_MIN_V = 170
# Exclusive upper hue bound of each chromatic band, ascending; red also covers H >= 170.
HUE_BANDS: tuple[tuple[str, int], ...] = (
    ("red", 5), ("orange", 20), ("yellow", 35), ("green", 80),
    ("cyan", 100), ("blue", 130), ("purple", 155), ("pink", 170),
)  # fmt: skip
# Dark, tinted pixels keep these hues (navy, dark green); a warm cast on black cloth
# (red, orange, yellow, pink) is common on CCTV and stays black.
DARK_COOL = np.array([PALETTE.index(name) for name in ("green", "cyan", "blue", "purple")])
UNKNOWN = "unknown"

# Fractions of the box (x1, y1, x2, y2) that each vote looks at.
UPPER_BODY = (0.2, 0.17, 0.8, 0.50)
LOWER_BODY = (0.2, 0.55, 0.8, 0.92)
# Head-and-shoulders or waist-up pictures: the torso fills the bottom of the box.
BUST_UPPER_BODY = (0.1, 0.55, 0.9, 1.0)
BUST_ASPECT = (0.8, 1.7)  # height / width of a box cut by the image bottom
BUST_EDGE = 0.01  # box bottom within 1% of the image height (at least 2 px) = cut
# Vehicle body: below the windows, above the road and tyres, central 80%.
VEHICLE_BODY = (0.1, 0.35, 0.9, 0.85)
# Two-wheelers: tank, side panels and fenders above the engine and wheels.
TWO_WHEELER_BODY = (0.05, 0.2, 0.95, 0.55)
TWO_WHEELERS = frozenset({"motorcycle", "bicycle"})
VEHICLE_BLACK_WEIGHT = 0.5  # tyres, windows, grille and shadow are black on any car

# Skin: YCrCb box (Chai and Ngan) and a warm, moderately saturated hue.
SKIN_CR = (135, 173)
SKIN_CB = (77, 127)
SKIN_MIN_V = 60
SKIN_MAX_H = 25  # or H >= 170
SKIN_S = (30, 170)
SKIN_MAX_SHARE = 0.6  # more skin than this is skin-coloured clothing: keep it

# Background: strips this fraction of the box width (at least 2 px) beside the part.
RING_FRACTION = 0.08
MIN_RING_PIXELS = 24
VALUE_LEVELS = 4  # lightness levels per palette name in the background histogram
MIN_KEPT_WEIGHT = 0.2  # below this share of the weight left, vote without suppression
MAX_VOTE_PIXELS = 4096  # larger parts are sampled on a grid (close-up pictures)

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


UNKNOWN_VOTE = ColourVote(UNKNOWN, 0.0)


def classify_pixels(bgr: np.ndarray, grey_max_chroma: int = 0) -> np.ndarray:
    """Palette index for every pixel of a BGR uint8 image (HxW int array).

    grey_max_chroma: pixels with chroma (max - min of B, G, R) below it are grey
    or white whatever their saturation (vehicles: silver); 0 = saturation only.
    """
    hsv = cv2.cvtColor(bgr, cv2.COLOR_BGR2HSV)
    hue, sat, val = (hsv[..., i].astype(np.int16) for i in range(3))
    chroma = bgr.max(axis=-1).astype(np.int16) - bgr.min(axis=-1)
    hue = np.where(hue >= 170, 0, hue)  # fold the upper red wrap onto 0
    band_limits = np.array([limit for _, limit in HUE_BANDS])
    band_ids = np.array([PALETTE.index(name) for name, _ in HUE_BANDS])
    chromatic = band_ids[np.searchsorted(band_limits, hue, side="right")]
    achromatic = (sat < GREY_MAX_S) | (chroma < grey_max_chroma)
    dark = val < BLACK_MAX_V
    conditions = [
        dark & ((chroma < DARK_MIN_CHROMA) | ~np.isin(chromatic, DARK_COOL)),
        achromatic & (val >= WHITE_MIN_V),
        achromatic,
        (chromatic == PALETTE.index("orange")) & (val < BROWN_MAX_V),
        (chromatic == PALETTE.index("red")) & (sat < LIGHT_RED_MAX_S) & (val >= LIGHT_RED_MIN_V),
    ]
    choices = [PALETTE.index(name) for name in ("black", "white", "grey", "brown", "pink")]
    return np.select(conditions, choices, default=chromatic)


def skin_mask(bgr: np.ndarray) -> np.ndarray:
    """True where a BGR pixel looks like skin (faces, hands, bare arms and legs)."""
    ycrcb = cv2.cvtColor(bgr, cv2.COLOR_BGR2YCrCb)
    hsv = cv2.cvtColor(bgr, cv2.COLOR_BGR2HSV)
    cr, cb = ycrcb[..., 1], ycrcb[..., 2]
    hue, sat, val = hsv[..., 0], hsv[..., 1], hsv[..., 2]
    return (
        (cr >= SKIN_CR[0]) & (cr <= SKIN_CR[1])
        & (cb >= SKIN_CB[0]) & (cb <= SKIN_CB[1])
        & (val >= SKIN_MIN_V)
        & ((hue <= SKIN_MAX_H) | (hue >= 170))
        & (sat >= SKIN_S[0]) & (sat <= SKIN_S[1])
    )  # fmt: skip


def colour_bins(bgr: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Background-histogram bin of every pixel: palette name x lightness level."""
    value = bgr.max(axis=-1) // (256 // VALUE_LEVELS)
    return labels * VALUE_LEVELS + value


def centre_weights(height: int, width: int) -> np.ndarray:
    """Gaussian weights peaking at the region centre, so edge background counts less."""
    ys = np.exp(-0.5 * ((np.arange(height) + 0.5 - height / 2) / (height / 4)) ** 2)
    xs = np.exp(-0.5 * ((np.arange(width) + 0.5 - width / 2) / (width / 4)) ** 2)
    return np.outer(ys, xs)


def tally(labels: np.ndarray, weights: np.ndarray, black_weight: float = 1.0) -> ColourVote:
    """The palette name with the largest summed weight; "unknown" when nothing weighs."""
    votes = np.bincount(labels.ravel(), weights=weights.ravel(), minlength=len(PALETTE))
    votes[PALETTE.index("black")] *= black_weight
    total = float(votes.sum())
    if total <= 0:
        return UNKNOWN_VOTE
    best = int(votes.argmax())
    return ColourVote(PALETTE[best], float(votes[best] / total))


def dominant_colour(region: np.ndarray) -> ColourVote:
    """Centre-weighted palette vote over a BGR region; "unknown" (0.0) when it is empty."""
    if region.size == 0:
        return UNKNOWN_VOTE
    check_image(region)
    labels = classify_pixels(region)
    return tally(labels, centre_weights(*labels.shape))


def sub_box(box: np.ndarray, fractions: tuple[float, float, float, float]) -> np.ndarray:
    """The part of an x1,y1,x2,y2 box given by fractions of its width and height."""
    x1, y1, x2, y2 = np.asarray(box, dtype=np.float32)
    fx1, fy1, fx2, fy2 = fractions
    w, h = x2 - x1, y2 - y1
    return np.array([x1 + fx1 * w, y1 + fy1 * h, x1 + fx2 * w, y1 + fy2 * h], np.float32)


def beside(image: np.ndarray, box: np.ndarray, part: np.ndarray) -> np.ndarray:
    """Pixels (Nx3) of the strips just left and right of the box at the part's rows.

    Empty when the image holds fewer than MIN_RING_PIXELS of them (a box filling
    the picture): no background estimate, no suppression.
    """
    height, width = image.shape[:2]
    x1, _, x2, _ = np.asarray(box, dtype=np.float64).round().astype(int)
    _, top, _, bottom = np.asarray(part, dtype=np.float64).round().astype(int)
    top, bottom = max(0, top), min(height, bottom)
    ring = max(2, round(RING_FRACTION * (x2 - x1)))
    rows = image[top:bottom]

    def strips(left: tuple[int, int], right: tuple[int, int]) -> np.ndarray:
        pieces = [rows[:, max(0, a) : max(0, min(width, b))] for a, b in (left, right)]
        return np.concatenate([p.reshape(-1, 3) for p in pieces])

    outside = strips((x1 - ring, x1), (x2, x2 + ring))
    return outside if len(outside) >= MIN_RING_PIXELS else outside[:0]


def part_colour(
    image: np.ndarray,
    box: np.ndarray,
    fractions: tuple[float, float, float, float],
    *,
    skin: bool,
    grey_max_chroma: int = 0,
    black_weight: float = 1.0,
) -> ColourVote:
    """Vote over one part of a box with skin and background pixels suppressed."""
    part = sub_box(box, fractions)
    region = crop(image, part)
    if region.size == 0:
        return UNKNOWN_VOTE
    # Large parts (close-ups) are sampled on a grid: a colour vote needs no more pixels.
    step = max(1, math.ceil(math.sqrt(region.shape[0] * region.shape[1] / MAX_VOTE_PIXELS)))
    region = np.ascontiguousarray(region[::step, ::step])
    labels = classify_pixels(region, grey_max_chroma)
    weights = centre_weights(*labels.shape)
    if skin:
        is_skin = skin_mask(region)
        if is_skin.mean() <= SKIN_MAX_SHARE:
            weights = weights * ~is_skin
    surround = beside(image, box, part)[:: step * step]
    if len(surround):
        strip = np.ascontiguousarray(surround[None])
        bins = colour_bins(region, labels)
        strip_bins = colour_bins(strip, classify_pixels(strip, grey_max_chroma))
        size = len(PALETTE) * VALUE_LEVELS
        inside = np.bincount(bins.ravel(), weights=weights.ravel(), minlength=size)
        outside = np.bincount(strip_bins.ravel(), minlength=size).astype(np.float64)
        inside_share = inside / max(inside.sum(), 1e-9)
        outside_share = outside / outside.sum()
        # The share of each bin beyond what the surroundings explain.
        keep = np.divide(
            np.maximum(inside_share - outside_share, 0.0),
            inside_share,
            out=np.zeros(size),
            where=inside_share > 0,
        )
        kept = weights * keep[bins]
        if kept.sum() >= MIN_KEPT_WEIGHT * weights.sum():
            weights = kept
    return tally(labels, weights, black_weight)


def is_bust(image: np.ndarray, box: np.ndarray) -> bool:
    """A head-and-shoulders or waist-up picture: box cut by the image bottom, not tall."""
    height = image.shape[0]
    x1, y1, x2, y2 = (float(v) for v in box)
    cut = y2 >= height - max(2.0, BUST_EDGE * height)
    aspect = (y2 - y1) / max(x2 - x1, 1e-6)
    return cut and BUST_ASPECT[0] <= aspect <= BUST_ASPECT[1]


def person_colours(image: np.ndarray, box: np.ndarray) -> dict[str, ColourVote]:
    """Clothing colours "upper" (torso) and "lower" (legs; "unknown" when not in view)."""
    check_image(image)
    if is_bust(image, box):
        return {
            "upper": part_colour(image, box, BUST_UPPER_BODY, skin=True),
            "lower": UNKNOWN_VOTE,
        }
    return {
        "upper": part_colour(image, box, UPPER_BODY, skin=True),
        "lower": part_colour(image, box, LOWER_BODY, skin=True),
    }


def vehicle_colour(image: np.ndarray, box: np.ndarray, label: str | None = None) -> ColourVote:
    """Body colour of a vehicle (label: its COCO label, for two-wheelers' body part)."""
    check_image(image)
    return part_colour(
        image,
        box,
        TWO_WHEELER_BODY if label in TWO_WHEELERS else VEHICLE_BODY,
        skin=False,
        grey_max_chroma=VEHICLE_GREY_MAX_CHROMA,
        black_weight=VEHICLE_BLACK_WEIGHT,
    )


def vehicle_type(label: str) -> str:
    """Coarse vehicle type of a COCO label; COCO "truck" also covers vans and pickups."""
    try:
        return VEHICLE_TYPES[label]
    except KeyError:
        raise VigilError(
            ErrorCode.INVALID_OPTIONS,
            f"{label!r} is not a vehicle label; expected one of {sorted(VEHICLE_TYPES)}",
        ) from None
