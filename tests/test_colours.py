"""Clothing and vehicle colours: the table labelled by eye, and skin/background suppression.

The table (bench/colour_labels.json, in-repo pictures only: vtest.avi frames and the
bundled photos) is named as the Image API does (whole picture) and as the video
pipeline does (best-shot crop of the JPEG-coded frame, through JPEG);
bench/bench_colours.py prints it.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from bench.bench_colours import (
    SETS,
    best_shot,
    evaluate,
    in_repo,
    load_images,
    load_targets,
    namer,
)
from vigil.models import colours
from vigil.models.colours import (
    UNKNOWN,
    dominant_colour,
    person_colours,
    skin_mask,
    vehicle_colour,
)

REQUIRED_SHARE = 0.8

# BGR
YELLOW_WALL = (40, 200, 230)
GRASS = (40, 150, 60)
TARMAC = (120, 120, 120)
RED = (30, 30, 200)
NAVY = (70, 30, 25)  # V 70: dark blue cloth
CCTV_NAVY = (44, 20, 18)  # V 44: navy crushed by a CCTV camera
BLACK = (12, 12, 12)
WARM_BLACK = (14, 18, 32)  # black cloth with a reddish camera cast
SKIN_TONES = [(150, 180, 230), (110, 150, 205), (60, 95, 150), (45, 70, 115)]
SILVER_BLUE_CAST = (180, 168, 150)  # silver car under a blue evening sky


@pytest.fixture(scope="module")
def table() -> list[dict]:
    targets = in_repo(load_targets())
    assert len(targets) >= 20
    return targets


@pytest.fixture(scope="module")
def images(table: list[dict]) -> dict:
    return load_images(table)


@pytest.mark.parametrize("crops", [False, True], ids=["whole picture", "best-shot crop"])
def test_labelled_table_is_at_least_80_percent_right(
    table: list[dict], images: dict, crops: bool
) -> None:
    rows = evaluate(table, colours, images, crops=crops)
    wrong = [
        f"{r.target} {r.part}: {r.got} not {'/'.join(r.expected)}" for r in rows if not r.right
    ]
    share = 1 - len(wrong) / len(rows)
    assert share >= REQUIRED_SHARE, f"{share:.0%} right; wrong: {wrong}"


def test_table_covers_persons_and_vehicles(table: list[dict]) -> None:
    kinds = {t["type"] for t in table}
    assert kinds == {"person", "vehicle"}
    assert all(t["set"] in SETS for t in table)


def test_best_shot_is_the_video_pipelines_crop(table: list[dict], images: dict) -> None:
    """Frame JPEG-coded as the ingestor sends it, box plus margin, JPEG q90: same bytes."""
    from vigil.analysis.frame_analysis import CROP_JPEG_QUALITY, CROP_MARGIN, expanded
    from vigil.analysis.image_analyzer import encode_crop
    from vigil.schemas.camera import CameraConfig
    from vigil.schemas.target import TargetType

    quality = CameraConfig.model_fields["jpeg_quality"].default
    for target in [t for t in table if t["frame"] is not None][:10]:
        frame = images[(target["source"], target["frame"])]
        ok, sent = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, quality])
        received = cv2.imdecode(sent, cv2.IMREAD_COLOR)
        kind = TargetType(target["type"])
        region = expanded(np.asarray(target["box"]), CROP_MARGIN[kind], *frame.shape[1::-1])
        jpeg = encode_crop(received, region, CROP_JPEG_QUALITY)
        shot, _ = best_shot(frame, target)
        assert ok and np.array_equal(cv2.imdecode(np.frombuffer(jpeg, np.uint8), 1), shot)


def test_best_shot_crop_keeps_the_box_on_the_target(table: list[dict], images: dict) -> None:
    target = table[0]
    image = images[(target["source"], target["frame"])]
    shot, moved = best_shot(image, target)
    x1, y1, x2, y2 = (round(v) for v in moved["box"])
    assert 0 < x1 < x2 <= shot.shape[1] and 0 < y1 < y2 <= shot.shape[0]
    assert namer(colours)(shot, moved).keys() == {"upper", "lower"}


# --- skin -----------------------------------------------------------------------------


@pytest.mark.parametrize("bgr", SKIN_TONES)
def test_skin_tones_are_skin(bgr: tuple[int, int, int]) -> None:
    assert skin_mask(np.full((4, 4, 3), bgr, np.uint8)).all()


@pytest.mark.parametrize(
    "bgr",
    [RED, NAVY, BLACK, GRASS, TARMAC, YELLOW_WALL, (20, 90, 240), (245, 245, 245)],
    ids=["red", "navy", "black", "green", "grey", "yellow", "orange", "white"],
)
def test_clothing_colours_are_not_skin(bgr: tuple[int, int, int]) -> None:
    assert not skin_mask(np.full((4, 4, 3), bgr, np.uint8)).any()


def standing_person(
    background: tuple[int, int, int], shirt: tuple[int, int, int], trousers: tuple[int, int, int]
) -> tuple[np.ndarray, np.ndarray]:
    """A 300x200 scene with a 50x150 person box: head, torso and legs narrower than the box."""
    scene = np.full((300, 200, 3), background, np.uint8)
    box = np.array([75, 60, 125, 210], np.float32)
    scene[62:80, 92:108] = SKIN_TONES[1]  # head
    scene[82:135, 90:110] = shirt  # torso: 40% of the box width
    scene[135:206, 91:99] = trousers  # two legs
    scene[135:206, 101:109] = trousers
    return scene, box


def test_red_shirt_in_front_of_a_yellow_wall_is_red() -> None:
    """A walker off-centre in a box widened by an outstretched arm: wall fills the middle."""
    scene = np.full((300, 200, 3), YELLOW_WALL, np.uint8)
    box = np.array([75, 60, 125, 210], np.float32)
    scene[62:80, 82:96] = SKIN_TONES[1]  # head
    scene[82:135, 80:98] = RED  # torso
    scene[100:106, 98:122] = SKIN_TONES[1]  # arm
    scene[135:206, 80:88] = NAVY  # legs
    scene[135:206, 90:98] = NAVY
    votes = person_colours(scene, box)
    assert votes["upper"].name == "red"
    assert votes["lower"].name == "blue"
    torso = colours.crop(scene, colours.sub_box(box, colours.UPPER_BODY))
    assert dominant_colour(torso).name == "yellow"  # without suppression: the wall


def test_red_shorts_on_grass_are_red() -> None:
    scene, box = standing_person(GRASS, (245, 245, 245), RED)
    scene[160:206, 91:109] = GRASS  # short shorts: bare legs below, grass between them
    scene[160:206, 91:97] = SKIN_TONES[0]
    scene[160:206, 103:109] = SKIN_TONES[0]
    assert person_colours(scene, box)["lower"].name == "red"


def test_skin_is_not_voted() -> None:
    """A sleeveless navy top, bare arms folded across the chest: skin holds the centre."""
    scene, box = standing_person(TARMAC, NAVY, BLACK)
    scene[82:135, 88:112] = NAVY
    scene[100:122, 85:115] = SKIN_TONES[1]
    torso = colours.crop(scene, colours.sub_box(box, colours.UPPER_BODY))
    assert dominant_colour(torso).name != "blue"  # skin wins the plain vote
    assert person_colours(scene, box)["upper"].name == "blue"


def test_skin_coloured_shirt_is_kept() -> None:
    """When most of the torso looks like skin it is a beige shirt, not a bare chest."""
    beige = SKIN_TONES[0]
    scene, box = standing_person(TARMAC, beige, NAVY)
    scene[82:135, 87:113] = beige
    expected = dominant_colour(np.full((4, 4, 3), beige, np.uint8)).name
    assert person_colours(scene, box)["upper"].name == expected


def test_grey_trousers_on_grey_tarmac_stay_grey() -> None:
    """Background suppression never empties a part that matches its surroundings."""
    scene, box = standing_person(TARMAC, RED, (110, 110, 110))
    assert person_colours(scene, box)["lower"].name == "grey"


def test_head_and_shoulders_picture_has_no_lower_colour() -> None:
    picture = np.full((300, 250, 3), (200, 150, 90), np.uint8)  # blue backdrop
    picture[40:170, 80:170] = SKIN_TONES[0]  # face
    picture[170:300, 10:240] = NAVY  # uniform
    picture[170:300, 115:135] = (245, 245, 245)  # shirt
    votes = person_colours(picture, np.array([5, 20, 245, 300], np.float32))
    assert votes["upper"].name == "blue"
    assert votes["lower"].name == UNKNOWN and votes["lower"].fraction == 0.0


def test_background_strips_stop_at_the_image_edge() -> None:
    image = np.full((100, 80, 3), TARMAC, np.uint8)
    box = np.array([-10, 10, 40, 90], np.float32)  # past the left edge
    part = colours.sub_box(box, colours.LOWER_BODY)
    rows = round(float(part[3])) - round(float(part[1]))
    ring = round(colours.RING_FRACTION * 50)
    assert colours.beside(image, box, part).shape == (rows * ring, 3)  # right strip only


def test_trousers_at_the_edge_of_a_wide_box_are_named() -> None:
    """An outstretched arm widens the box: its leg band is mostly light tarmac."""
    light_tarmac = (200, 198, 196)
    scene = np.full((300, 200, 3), light_tarmac, np.uint8)
    box = np.array([60, 60, 140, 210], np.float32)
    scene[62:80, 112:126] = SKIN_TONES[1]  # head, right of the box centre
    scene[82:135, 108:130] = BLACK  # coat
    scene[95:101, 62:108] = BLACK  # pointing arm
    scene[135:206, 116:119] = BLACK  # legs at the right of the leg band
    scene[135:206, 121:124] = BLACK
    assert person_colours(scene, box)["lower"].name == "black"


def test_black_coat_beside_a_walker_in_black_stays_black() -> None:
    """The strips see another black coat: little stands out, the plain vote decides."""
    scene, box = standing_person(TARMAC, BLACK, BLACK)
    scene[82:206, 60:80] = BLACK  # a second walker, just left of the box
    assert person_colours(scene, box)["upper"].name == "black"


SIGN = (200, 200, 90)  # BGR: teal-cyan board, S 140


def signed(scene: np.ndarray, top: int, bottom: int, left: int, right: int) -> None:
    """A cyan board with a white frame and white print, on a grey post."""
    scene[bottom:, (left + right) // 2 - 2 : (left + right) // 2 + 2] = (170, 170, 170)
    scene[top:bottom, left:right] = (240, 240, 240)
    scene[top + 2 : bottom - 2, left + 2 : right - 2] = SIGN
    for row in range(top + 8, bottom - 8, 9):  # lines of text
        scene[row : row + 3, left + 6 : right - 6] = (245, 245, 245)


def test_board_hiding_the_torso_gives_unknown() -> None:
    scene, box = standing_person(TARMAC, BLACK, NAVY)
    signed(scene, 78, 140, 80, 120)
    votes = person_colours(scene, box)
    assert votes["upper"].name == UNKNOWN and votes["upper"].fraction == 0.0
    assert votes["lower"].name == "blue"
    torso = colours.crop(scene, colours.sub_box(box, colours.UPPER_BODY))
    assert dominant_colour(torso).name == "cyan"  # without the board rule


def test_board_hiding_half_the_torso_leaves_the_rest() -> None:
    scene, box = standing_person(TARMAC, RED, BLACK)
    signed(scene, 78, 140, 100, 140)
    assert person_colours(scene, box)["upper"].name == "red"


def test_flat_garments_are_not_boards() -> None:
    """A plain flat tabard, or a hi-vis vest with reflective bands, is clothing."""
    hi_vis = (20, 230, 230)
    for bands in (False, True):
        scene, box = standing_person(TARMAC, hi_vis, NAVY)
        scene[82:135, 82:118] = hi_vis  # wide, flat, rectangular
        if bands:
            scene[100:104, 82:118] = (200, 200, 200)
            scene[118:122, 82:118] = (200, 200, 200)
        assert colours.occlusion(scene, box) is None
        assert person_colours(scene, box)["upper"].name == "yellow"


# --- dark colours and vehicles ---------------------------------------------------------


@pytest.mark.parametrize(
    ("bgr", "name"),
    [(CCTV_NAVY, "blue"), (BLACK, "black"), (WARM_BLACK, "black"), ((30, 50, 20), "green")],
    ids=["navy", "black", "warm black", "dark green"],
)
def test_dark_pixels_keep_only_a_cool_tint(bgr: tuple[int, int, int], name: str) -> None:
    assert dominant_colour(np.full((20, 20, 3), bgr, np.uint8)).name == name


@pytest.mark.parametrize(
    ("bgr", "name"),
    [((190, 183, 145), "blue"), ((230, 224, 176), "blue"), ((200, 200, 60), "cyan")],
    ids=["pale silver-blue car", "powder blue", "teal"],
)
def test_pale_cyan_is_light_blue(bgr: tuple[int, int, int], name: str) -> None:
    assert dominant_colour(np.full((20, 20, 3), bgr, np.uint8)).name == name


def test_silver_car_with_a_blue_cast_is_grey() -> None:
    scene = np.full((200, 300, 3), TARMAC, np.uint8)
    scene[40:170, 40:260] = SILVER_BLUE_CAST
    scene[50:90, 70:230] = (60, 40, 30)  # rear window
    box = np.array([40, 40, 260, 170], np.float32)
    assert vehicle_colour(scene, box).name == "grey"
    assert dominant_colour(colours.crop(scene, box)).name == "blue"  # person rules


def test_red_motorcycle_in_front_of_a_yellow_wall_is_red() -> None:
    scene = np.full((240, 320, 3), YELLOW_WALL, np.uint8)
    scene[175:, :] = TARMAC  # floor
    box = np.array([40, 60, 280, 220], np.float32)
    scene[95:115, 100:220] = RED  # tank
    scene[120:130, 60:100] = RED  # rear fender
    scene[85:95, 60:130] = BLACK  # seat
    for cx in (90, 230):  # wheels
        scene[150:220, cx - 35 : cx + 35] = BLACK
    scene[120:165, 135:185] = (150, 150, 150)  # engine
    assert vehicle_colour(scene, box, "motorcycle").name == "red"
    middle = colours.crop(scene, colours.sub_box(box, (0.15, 0.2, 0.85, 0.8)))
    assert dominant_colour(middle).name == "yellow"  # the box's middle, unsuppressed


def test_vehicle_filling_the_picture_is_named() -> None:
    picture = np.full((120, 200, 3), (240, 240, 240), np.uint8)
    assert vehicle_colour(picture, np.array([0, 0, 200, 120], np.float32)).name == "white"
