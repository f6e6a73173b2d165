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
  When this leaves under a fifth of the weight (grey trousers on grey tarmac;
  a black coat beside another walker in black) the vote is taken without it,
  unless colours the strips lack (bins kept at 3/4 or more) weigh 3% of the part:
  then they alone are voted. A box wider than its walker (an outstretched arm, a
  loose detection) shows mostly tarmac in its leg band, and the few trouser
  pixels are what differs from it;
- boards (persons): 0 behind a sign or board between the camera and the walker
  (a "fire assembly point" sign on a post), also in the background strips. A
  board is a region of one hue band, over the box and its strips, that is large
  (15% of them), rectangular (80% of its minimum-area rectangle, once thin
  attachments such as the post are opened away), cut by at most one side of the
  window, printed (8% of its outline in other colours, text and symbols, in rows
  and columns that also hold its own colour: bands across a vest do not count)
  and flat (V varies by at most 15% of its mean; cloth folds and shading vary
  more). Only the one sign in vtest passes all of these in the labelled table
  (clothing, grass and walls fail; the nearest misses, a navy puffer and a patch
  of pitch, fail only on size): a narrow rule, checked on few boards. A
  part with over 90% of its weight behind a board is "unknown" (not in view); a
  part partly behind one is named from what shows.

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
| blue   | 80 <= H < 100 and S < 110 (pale cyan: light blue)          |
| cyan   | 80 <= H < 100                                              |
| blue   | 100 <= H < 130                                             |
| purple | 130 <= H < 155                                             |
| pink   | 155 <= H < 170                                             |

Dark but tinted pixels keep a cool hue: CCTV crushes navy to V 20-50 with a
clear blue cast, while black cloth is untinted or takes a warm cast. Red ends
at 10 degrees: a flight suit's international orange (12-16 degrees) is orange.
Vehicles count weakly tinted pixels (C < 40) as grey or white: metallic silver
picks up the sky's blue. Pale cyan (powder blue, a pale silver-blue car at RGB
145,183,190) is what people call light blue; cyan is left to strong turquoise
and teal.

CCTV colour is weak and lighting-dependent: treat the names as a coarse
search filter, never as ground truth. bench/bench_colours.py measures them
against labels set by eye.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from vigil.models.object_detector import check_image, crop
from vigil.schemas.errors import ErrorCode, VigilError

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
PALE_CYAN_MAX_S = 110  # pale cyan (powder blue, a silver-blue car) reads as light blue
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
MIN_KEPT_WEIGHT = 0.2  # below this share of the weight left, vote without suppression,
DISTINCT_KEEP = 0.75  # unless bins kept this much (inside share >= 4x the strips')
MIN_DISTINCT_WEIGHT = 0.03  # weigh this share of the part: then they are voted alone
MAX_VOTE_PIXELS = 4096  # larger parts are sampled on a grid (close-up pictures)

# Boards in front of a person (a sign on a post): one hue band, after text holes are
# filled and thin attachments (the post) opened away, that is all of the following.
OCCLUDER_MIN_AREA = 0.15  # share of the window (the box and its background strips)
OCCLUDER_MIN_RECTANGULARITY = 0.8  # area / its minimum-area rectangle
OCCLUDER_MIN_PRINT = 0.08  # share of its outline in other colours: text, symbols
OCCLUDER_MAX_SHADING = 0.15  # std / mean of V over its colour: flat, evenly lit
OCCLUDER_MAX_CUT_SIDES = 1  # background (grass, a wall) runs out of the window on 2+
OCCLUDER_OPENING = 0.1  # opening kernel, share of the window width (cuts off a post)
OCCLUDER_FRAME = 0.1  # hidden beyond the board's rectangle on each side: its frame
MAX_OCCLUDER_PIXELS = 8192  # larger windows are sampled on a grid
HIDDEN_MAX_SHARE = 0.9  # a part with more of its weight behind a board is "unknown"

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


@dataclass(frozen=True)
class Occlusion:
    """Pixels hidden by a board, on a grid: image pixel (y, x) is
    mask[(y - top) // step, (x - left) // step]; outside the grid nothing is hidden."""

    mask: np.ndarray
    left: int
    top: int
    step: int

    def at(self, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """Hidden or not for every pixel of the grid rows x cols (image coordinates)."""
        r = (np.asarray(rows) - self.top) // self.step
        c = (np.asarray(cols) - self.left) // self.step
        r_in = (r >= 0) & (r < self.mask.shape[0])
        c_in = (c >= 0) & (c < self.mask.shape[1])
        hidden = np.zeros((len(r), len(c)), bool)
        hidden[np.ix_(r_in, c_in)] = self.mask[np.ix_(r[r_in], c[c_in])]
        return hidden


def hue_bands(hsv: np.ndarray) -> np.ndarray:
    """Index into HUE_BANDS of every HSV pixel's hue, -1 where it is grey or dark."""
    hue = np.where(hsv[..., 0] >= 170, 0, hsv[..., 0])
    band_limits = np.array([limit for _, limit in HUE_BANDS])
    bands = np.searchsorted(band_limits, hue, side="right")
    return np.where((hsv[..., 1] >= GREY_MAX_S) & (hsv[..., 2] >= BLACK_MAX_V), bands, -1)


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
        (chromatic == PALETTE.index("cyan")) & (sat < PALE_CYAN_MAX_S),
    ]
    names = ("black", "white", "grey", "brown", "pink", "blue")
    choices = [PALETTE.index(name) for name in names]
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


def beside(
    image: np.ndarray, box: np.ndarray, part: np.ndarray, hidden: Occlusion | None = None
) -> np.ndarray:
    """Pixels (Nx3) of the strips just left and right of the box at the part's rows.

    Pixels behind a board (hidden) are left out. Empty when the image holds fewer
    than MIN_RING_PIXELS of them (a box filling the picture): no background
    estimate, no suppression.
    """
    height, width = image.shape[:2]
    x1, _, x2, _ = np.asarray(box, dtype=np.float64).round().astype(int)
    _, top, _, bottom = np.asarray(part, dtype=np.float64).round().astype(int)
    top, bottom = max(0, top), min(height, bottom)
    ring = max(2, round(RING_FRACTION * (x2 - x1)))
    rows = image[top:bottom]

    def strips(left: tuple[int, int], right: tuple[int, int]) -> np.ndarray:
        pieces = []
        for a, b in (left, right):
            a, b = max(0, a), max(0, min(width, b))
            piece = rows[:, a:b]
            if hidden is not None:
                piece = piece[~hidden.at(np.arange(top, top + len(rows)), np.arange(a, b))]
            pieces.append(piece.reshape(-1, 3))
        return np.concatenate(pieces)

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
    hidden: Occlusion | None = None,
) -> ColourVote:
    """Vote over one part of a box with skin, background and hidden pixels suppressed.

    "unknown" when more than HIDDEN_MAX_SHARE of the part's weight is behind a board.
    """
    part = sub_box(box, fractions)
    region = crop(image, part)
    if region.size == 0:
        return UNKNOWN_VOTE
    # Large parts (close-ups) are sampled on a grid: a colour vote needs no more pixels.
    step = max(1, math.ceil(math.sqrt(region.shape[0] * region.shape[1] / MAX_VOTE_PIXELS)))
    region = np.ascontiguousarray(region[::step, ::step])
    labels = classify_pixels(region, grey_max_chroma)
    weights = centre_weights(*labels.shape)
    if hidden is not None:
        left, top = (max(0, v) for v in np.asarray(part[:2], np.float64).round().astype(int))
        covered = hidden.at(
            np.arange(top, top + region.shape[0] * step, step),
            np.arange(left, left + region.shape[1] * step, step),
        )
        if (weights * covered).sum() > HIDDEN_MAX_SHARE * weights.sum():
            return UNKNOWN_VOTE
        weights = weights * ~covered
    if skin:
        is_skin = skin_mask(region)
        if is_skin.mean() <= SKIN_MAX_SHARE:
            weights = weights * ~is_skin
    surround = beside(image, box, part, hidden)[:: step * step]
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
        else:
            # Little stands out: only colours the surroundings lack may still win.
            distinct = kept * (keep[bins] >= DISTINCT_KEEP)
            if distinct.sum() >= MIN_DISTINCT_WEIGHT * weights.sum():
                weights = distinct
    return tally(labels, weights, black_weight)


def occlusion(image: np.ndarray, box: np.ndarray) -> Occlusion | None:
    """Boards (a sign on a post) between the camera and a person; None when there are none.

    Looked for over the box and its background strips, on a grid of at most
    MAX_OCCLUDER_PIXELS: each hue band present there, its text holes filled and its
    thin attachments opened away, is a board where it passes is_board. A board
    hides its minimum-area rectangle grown by OCCLUDER_FRAME of its shorter side
    on every side (at least one grid step): its frame, print and JPEG fringe.
    """
    height, width = image.shape[:2]
    x1, y1, x2, y2 = np.asarray(box, dtype=np.float64).round().astype(int)
    ring = max(2, round(RING_FRACTION * (x2 - x1)))
    left, top = max(0, x1 - ring), max(0, y1)
    right, bottom = min(width, x2 + ring), min(height, y2)
    if right <= left or bottom <= top:
        return None
    step = max(1, math.ceil(math.sqrt((right - left) * (bottom - top) / MAX_OCCLUDER_PIXELS)))
    window = np.ascontiguousarray(image[top:bottom:step, left:right:step])
    hsv = cv2.cvtColor(window, cv2.COLOR_BGR2HSV)
    bands = hue_bands(hsv)
    area = bands.size
    present, counts = np.unique(bands[bands >= 0], return_counts=True)
    small = np.ones((3, 3), np.uint8)
    size = max(3, 2 * round(OCCLUDER_OPENING * window.shape[1] / 2) + 1)
    opening = np.ones((size, size), np.uint8)
    hidden = np.zeros(bands.shape, np.uint8)
    # A board's own colour fills most of its outline: skip bands with far too few pixels.
    for band in present[counts >= OCCLUDER_MIN_AREA * area / 2]:
        colour = (bands == band).astype(np.uint8)
        closed = cv2.morphologyEx(colour, cv2.MORPH_CLOSE, small)
        outlines, _ = cv2.findContours(closed, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        filled = np.zeros_like(closed)
        cv2.drawContours(filled, outlines, -1, 1, cv2.FILLED)
        core = cv2.morphologyEx(filled, cv2.MORPH_OPEN, opening)
        outlines, _ = cv2.findContours(core, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        for outline in outlines:
            shape = np.zeros_like(core)
            cv2.drawContours(shape, [outline], -1, 1, cv2.FILLED)
            if is_board(outline, shape.astype(bool), colour.astype(bool), hsv[..., 2]):
                # Its frame and print too: the rectangle, grown on every side.
                centre, (side_a, side_b), angle = cv2.minAreaRect(outline)
                grow = 2 * max(1.0, OCCLUDER_FRAME * min(side_a, side_b))
                corners = cv2.boxPoints((centre, (side_a + grow, side_b + grow), angle))
                cv2.fillConvexPoly(hidden, np.round(corners).astype(np.int32), 1)
    if not hidden.any():
        return None
    return Occlusion(hidden.astype(bool), left, top, step)


def is_board(outline: np.ndarray, shape: np.ndarray, colour: np.ndarray, value: np.ndarray) -> bool:
    """A printed board rather than clothing or background (see the OCCLUDER_ limits).

    outline: its contour; shape: the pixels inside it; colour: the pixels of its hue
    band; value: HSV V of the window. Large, rectangular, cut by at most one side of
    the window, with print on it (printed_share), and one flat, evenly lit colour:
    cloth folds and shading vary more.
    """
    height, width = shape.shape
    inside = int(shape.sum())
    if inside < OCCLUDER_MIN_AREA * shape.size:
        return False
    _, (side_a, side_b), _ = cv2.minAreaRect(outline)
    if cv2.contourArea(outline) < OCCLUDER_MIN_RECTANGULARITY * side_a * side_b:
        return False
    x, y, w, h = cv2.boundingRect(outline)
    if (x == 0) + (y == 0) + (x + w == width) + (y + h == height) > OCCLUDER_MAX_CUT_SIDES:
        return False
    if printed_share(shape, colour) < OCCLUDER_MIN_PRINT:
        return False
    own = shape & colour
    lightness = value[own].astype(np.float64)
    return float(lightness.std()) <= OCCLUDER_MAX_SHADING * float(lightness.mean())


def printed_share(shape: np.ndarray, colour: np.ndarray) -> float:
    """Share of a shape in other colours with its own colour in the same row and
    column: text and symbols. Rows or columns with none of its colour (bands
    across a hi-vis vest, stripes of a jumper, a gap between two garments) do not
    count.
    """
    own = shape & colour
    other = shape & ~colour
    other &= own.any(axis=1, keepdims=True) & own.any(axis=0, keepdims=True)
    return float(other.sum() / max(1, int(shape.sum())))


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
    hidden = occlusion(image, box)
    if is_bust(image, box):
        return {
            "upper": part_colour(image, box, BUST_UPPER_BODY, skin=True, hidden=hidden),
            "lower": UNKNOWN_VOTE,
        }
    return {
        "upper": part_colour(image, box, UPPER_BODY, skin=True, hidden=hidden),
        "lower": part_colour(image, box, LOWER_BODY, skin=True, hidden=hidden),
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
