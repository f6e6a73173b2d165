"""Synthetic ID cards, photographed at an angle, with their ground truth.

No photographed identity document may be shipped, so tests and `bench/bench_id_card.py`
render their own: a card background (a two-colour gradient), a header, a portrait
cut from a test photo (`tests/media/images/`, around the face box BlazeFace finds on
it, listed in `FACE_BOXES`) and four labelled fields with random but known values, in
OpenCV's Hershey fonts (always available, no font file needed). The card is then
"photographed": warped by a perspective (tilt and rotation) onto a textured background at
a random scale, blurred a little and saved as JPEG. Everything is drawn from one seed,
so a card is reproducible.

>>> card = render_photo("obama", seed=3)
>>> card.fields["Surname"], card.image.shape
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

PHOTOS = Path(__file__).resolve().parents[1] / "media" / "images"

# The card as drawn, ISO/IEC 7810 ID-1 proportions (85.6 x 54 mm) at 10 px/mm.
CARD_WIDTH, CARD_HEIGHT = 856, 540
HEADER = "REPUBLIC OF TESTLAND IDENTITY CARD"
LABELS = ("Surname", "Given names", "Date of birth", "Document No.")
SURNAMES = ("SMITH", "GARCIA", "MUELLER", "NOVAK", "JOHANSSON", "ROSSI", "DUBOIS", "KOWALSKI")
GIVEN = ("ANNA", "JOHN", "MARIA", "PETER", "LUCAS", "EMMA", "OLIVER", "SOFIA", "DAVID")
FONT = cv2.FONT_HERSHEY_DUPLEX

# The photos of each identity, and the face box [x1, y1, x2, y2] found on each by
# `vigil.analysis.faces.face_targets` (measured once, so rendering needs no model).
IDENTITIES = {
    "obama": ("obama.jpg", "obama2.jpg", "obama3.jpg"),
    "biden": ("biden.jpg",),
    "grace_hopper": ("grace_hopper.jpg",),
}
FACE_BOXES = {
    "obama.jpg": (352, 126, 640, 413),
    "obama2.jpg": (142, 268, 474, 599),
    "obama3.jpg": (651, 316, 937, 602),
    "biden.jpg": (431, 227, 750, 545),
    "grace_hopper.jpg": (161, 122, 369, 331),
}


@dataclass
class CardPhoto:
    """A photographed card and what is on it."""

    image: np.ndarray  # BGR photo
    jpeg: bytes  # the same photo as the JPEG file a phone would send
    identity: str
    portrait_file: str
    header: str
    fields: dict[str, str] = field(default_factory=dict)
    corners: np.ndarray | None = None  # (4, 2) card corners in the photo: TL, TR, BR, BL
    portrait_box: np.ndarray | None = None  # [x1, y1, x2, y2] of the portrait in the photo


# The flat card's corners, clockwise from the top left (the warps map them into the photo).
CARD_CORNERS = np.array(
    [[0, 0], [CARD_WIDTH, 0], [CARD_WIDTH, CARD_HEIGHT], [0, CARD_HEIGHT]], np.float32
)


def random_fields(rng: np.random.Generator) -> dict[str, str]:
    """Known values for the four fields."""
    given = " ".join(rng.choice(GIVEN, size=int(rng.integers(1, 3)), replace=False))
    day, month, year = (
        int(rng.integers(1, 29)),
        int(rng.integers(1, 13)),
        int(rng.integers(1950, 2006)),
    )
    letters = "".join(rng.choice(list("ABCDEFGHJKLMNPRSTUVWXYZ"), size=2))
    return {
        "Surname": str(rng.choice(SURNAMES)),
        "Given names": given,
        "Date of birth": f"{day:02d}.{month:02d}.{year}",
        "Document No.": f"{letters}{int(rng.integers(1_000_000, 9_999_999))}",
    }


def gradient(height: int, width: int, top: np.ndarray, bottom: np.ndarray) -> np.ndarray:
    """A vertical two-colour gradient, BGR uint8."""
    t = np.linspace(0.0, 1.0, height, dtype=np.float32)[:, None, None]
    rows = top[None, None, :] * (1 - t) + bottom[None, None, :] * t
    return np.repeat(rows, width, axis=1).astype(np.uint8)


def portrait(photo_file: Path, height: int) -> np.ndarray:
    """A passport-style portrait (3:4) cut around the photo's face: the face's box
    spans about half the portrait's width, a little above its centre."""
    photo = cv2.imread(str(photo_file))
    if photo is None:
        raise FileNotFoundError(photo_file)
    x1, y1, x2, y2 = FACE_BOXES[photo_file.name]
    width = 1.9 * (x2 - x1)
    tall = width * 4 / 3
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2 + 0.12 * (y2 - y1)
    margin = round(tall)
    padded = cv2.copyMakeBorder(photo, margin, margin, margin, margin, cv2.BORDER_REPLICATE)
    left, top = round(cx - width / 2) + margin, round(cy - tall / 2) + margin
    cut = padded[top : top + round(tall), left : left + round(width)]
    return cv2.resize(cut, (round(height * 0.75), height), interpolation=cv2.INTER_AREA)


def render_card(
    rng: np.random.Generator, photo_file: Path, fields: dict[str, str], blank: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """The flat card (CARD_HEIGHT x CARD_WIDTH) and its portrait box [x1, y1, x2, y2];
    `blank`: the portrait's place is left empty (a card without a face)."""
    top = rng.uniform(200, 250, 3).astype(np.float32)
    bottom = rng.uniform(170, 230, 3).astype(np.float32)
    card = gradient(CARD_HEIGHT, CARD_WIDTH, top, bottom)
    band = tuple(int(v) for v in rng.uniform(150, 215, 3))  # a pastel band, dark text
    cv2.rectangle(card, (0, 0), (CARD_WIDTH, 70), band, -1)
    cv2.putText(card, HEADER, (28, 48), FONT, 0.95, (40, 30, 30), 2, cv2.LINE_AA)
    height = round(CARD_HEIGHT * rng.uniform(0.28, 0.36))  # portrait ~ a third of the card
    face = portrait(photo_file, height)
    if blank:
        face[:] = face.reshape(-1, 3).mean(axis=0).astype(np.uint8)
    x, y = 40, 100
    card[y : y + height, x : x + face.shape[1]] = face
    cv2.rectangle(card, (x, y), (x + face.shape[1], y + height), (90, 90, 90), 1)
    left, row = x + face.shape[1] + 40, 115
    for label in LABELS:
        cv2.putText(card, label, (left, row), FONT, 0.6, (90, 90, 90), 1, cv2.LINE_AA)
        cv2.putText(card, fields[label], (left, row + 40), FONT, 1.0, (20, 20, 20), 2, cv2.LINE_AA)
        row += 95
    return card, np.array([x, y, x + face.shape[1], y + height], np.float32)


def table(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """A darker textured background for the card to lie on (a desk, a hand)."""
    base = rng.uniform(40, 110, 3).astype(np.float32)
    noise = rng.normal(0, 12, (height // 8 + 1, width // 8 + 1, 1)).astype(np.float32)
    noise = cv2.resize(noise, (width, height), interpolation=cv2.INTER_CUBIC)[..., None]
    return np.clip(base[None, None, :] + noise, 0, 255).astype(np.uint8)


def photograph(
    rng: np.random.Generator,
    card: np.ndarray,
    photo_size: tuple[int, int] = (1024, 768),
    card_width: tuple[float, float] = (0.38, 0.6),
    tilt: float = 0.12,
    rotation: float = 12.0,
) -> tuple[np.ndarray, np.ndarray]:
    """The card warped into a photo: (photo, homography card -> photo).

    The card spans `card_width` of the photo's width; each corner moves by up to
    `tilt` of the card's width (a perspective), and the whole by up to `rotation` deg.
    """
    width, height = photo_size
    span = rng.uniform(*card_width) * width
    scale = span / CARD_WIDTH
    w, h = CARD_WIDTH * scale, CARD_HEIGHT * scale
    corners = np.array([[-w / 2, -h / 2], [w / 2, -h / 2], [w / 2, h / 2], [-w / 2, h / 2]])
    # a perspective: one edge of the card nearer the camera than the opposite one
    squeeze = rng.uniform(-tilt, tilt, 2) * w
    corners[[0, 3], 1] *= 1 - squeeze[0] / w  # left edge shorter or longer
    corners[[1, 2], 1] *= 1 + squeeze[0] / w
    corners[[0, 1], 0] *= 1 - squeeze[1] / w  # top edge shorter or longer
    corners[[2, 3], 0] *= 1 + squeeze[1] / w
    angle = np.deg2rad(rng.uniform(-rotation, rotation))
    turn = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    corners = corners @ turn.T
    centre = np.array([width / 2, height / 2]) + rng.uniform(-0.08, 0.08, 2) * (width, height)
    corners = (corners + centre).astype(np.float32)
    homography = cv2.getPerspectiveTransform(CARD_CORNERS, corners)
    photo = table(rng, height, width)
    warped = cv2.warpPerspective(card, homography, (width, height), flags=cv2.INTER_AREA)
    mask = cv2.warpPerspective(
        np.full(card.shape[:2], 255, np.uint8), homography, (width, height), flags=cv2.INTER_AREA
    )
    alpha = (mask.astype(np.float32) / 255)[..., None]
    photo = (warped * alpha + photo * (1 - alpha)).astype(np.uint8)
    photo = cv2.GaussianBlur(photo, (0, 0), rng.uniform(0.4, 0.9))
    return photo, homography


# How the card is framed: (photo width, height) and the share of its width the card spans.
# "phone": the card held up to a phone camera (its portrait's face about 55-80 px);
# "small": the card further away, a stress case (face about 25-55 px).
FRAMINGS = {
    "phone": ((1280, 960), (0.55, 0.75)),
    "small": ((1024, 768), (0.38, 0.6)),
}


def render_photo(
    identity: str,
    seed: int,
    photos: Path = PHOTOS,
    photo: int | None = None,
    blank: bool = False,
    framing: str = "phone",
) -> CardPhoto:
    """One photographed card of `identity` (its `photo`-th photo, default by seed);
    `blank`: without the portrait; `framing`: one of FRAMINGS."""
    rng = np.random.default_rng(seed)
    files = IDENTITIES[identity]
    portrait_file = files[(seed if photo is None else photo) % len(files)]
    fields = random_fields(rng)
    card, box = render_card(rng, photos / portrait_file, fields, blank)
    photo_size, card_width = FRAMINGS[framing]
    image, homography = photograph(rng, card, photo_size, card_width)
    ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(80, 93))])
    assert ok
    jpeg = encoded.tobytes()
    decoded = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    corners = cv2.perspectiveTransform(CARD_CORNERS[None], homography)[0]
    quad = np.array([[box[0], box[1]], [box[2], box[1]], [box[2], box[3]], [box[0], box[3]]])
    placed = cv2.perspectiveTransform(quad[None].astype(np.float32), homography)[0]
    return CardPhoto(
        image=decoded,
        jpeg=jpeg,
        identity=identity,
        portrait_file=portrait_file,
        header=HEADER,
        fields=fields,
        corners=corners,
        portrait_box=np.concatenate([placed.min(axis=0), placed.max(axis=0)]),
    )
