"""ID-document mode on synthetic photographed cards (tests/support/id_cards.py)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.support.id_cards import CARD_WIDTH, PHOTOS, random_fields, render_card, render_photo
from vigil.analysis.card_fields import parse_fields
from vigil.analysis.card_geometry import find_card, rectify
from vigil.analysis.faces import every_face
from vigil.cli.main import main
from vigil.compare.id_card import portrait_options, read_card
from vigil.compare.verify import verify
from vigil.errors import ErrorCode, VigilError
from vigil.models.text_reader import TextLine
from vigil.schemas.compare import CARD_PORTRAIT_MIN_SIZE, QueryFaceOptions, query_options
from vigil.schemas.verify import VerifyDecision, VerifyResult
from vigil.workers import compare_tasks

# (identity, seed, face crop): portraits from the first photo of each person, so the
# live pictures below (obama2.jpg) are other photos of the same person.
CARDS = {"obama": ("obama", 0, 0), "biden": ("biden", 1, 0), "hopper": ("grace_hopper", 2, 0)}


@pytest.fixture(scope="module")
def cards():
    return {
        name: render_photo(who, seed, photo=photo) for name, (who, seed, photo) in CARDS.items()
    }


@pytest.fixture(scope="module")
def readings(cards):
    return {name: read_card(card.jpeg) for name, card in cards.items()}


def normal(text: str) -> str:
    return " ".join(text.split()).upper()


# -- geometry and fields: no model -----------------------------------------------------------


def test_the_card_outline_is_found_within_a_few_pixels():
    for seed in range(5):
        for framing in ("phone", "small"):
            card = render_photo("biden", seed, framing=framing)
            corners = find_card(card.image)
            assert corners is not None, (seed, framing)
            error = np.linalg.norm(corners - card.corners, axis=1)
            assert error.mean() < 6 and error.max() < 20, (seed, framing, corners, card.corners)


def line(text: str, x: float, y: float, height: float = 16, width: float = 120) -> TextLine:
    quad = np.array([[x, y], [x + width, y], [x + width, y + height], [x, y + height]], np.float32)
    return TextLine(text=text, confidence=0.99, quad=quad)


def test_fields_are_read_below_their_label_inline_or_from_a_misread_label():
    lines = [
        line("REPUBLIC OF TESTLAND", 10, 5),
        line("Sumame", 200, 50),  # OCR's reading of a small "Surname"
        line("SMITH", 200, 70),
        line("Nationality: TESTLANDIC", 200, 110),
        line("Date of birth", 200, 150),
        line("01.02.1980", 400, 172),  # not under its label: no value
        line("SUMAME", 10, 300),  # an upper-case line is taken for a label only when exact
        line("ANNA", 10, 320),
    ]
    fields = {field.label: field.value for field in parse_fields(lines)}
    assert fields == {"Surname": "SMITH", "Nationality": "TESTLANDIC"}


def test_a_card_portrait_is_held_to_the_card_limit_unless_the_caller_sets_min_size():
    assert CARD_PORTRAIT_MIN_SIZE == 40
    assert portrait_options(QueryFaceOptions()).min_size == CARD_PORTRAIT_MIN_SIZE
    assert portrait_options(query_options({"min_quality": 0.3})).min_size == 40
    assert portrait_options(query_options({"min_size": 30})).min_size == 30
    assert portrait_options(QueryFaceOptions(min_size=0)).min_size == 0
    assert portrait_options(QueryFaceOptions(min_size=64)).min_size == 64
    assert portrait_options(QueryFaceOptions()).min_quality == QueryFaceOptions().min_quality


# -- cards read with the real models ---------------------------------------------------------


def test_the_rectified_card_shows_the_portrait_where_it_was_printed():
    """Flattening undoes the tilt and the rotation (up to 12°): on the flat card, at the
    photo's resolution, the largest face lies inside the portrait's printed place and is
    about half its width (the portrait is cut 1.9 face widths wide)."""
    for framing in ("phone", "small"):
        for seed in range(3):
            who = ("obama", "biden", "grace_hopper")[seed % 3]
            card = render_photo(who, seed, framing=framing)
            flat, _ = rectify(card.image, find_card(card.image))
            rng = np.random.default_rng(seed)  # the card as drawn, before the photo
            _, printed = render_card(rng, PHOTOS / card.portrait_file, random_fields(rng))
            x1, y1, x2, y2 = printed * flat.shape[1] / CARD_WIDTH
            faces = every_face(flat)
            assert faces, (framing, seed)
            box = faces[0].box
            slack = 0.05 * (x2 - x1)
            inside = x1 - slack < box.x1 < box.x2 < x2 + slack and y1 - slack < box.y1 < y2
            assert inside, (framing, seed, box, printed)
            assert 0.35 < box.width / (x2 - x1) < 0.7, (framing, seed, box, printed)


def test_the_portrait_is_found_on_every_card(cards, readings):
    for name, card in cards.items():
        portrait = readings[name].card.portrait
        x1, y1, x2, y2 = card.portrait_box
        centre = ((portrait.box.x1 + portrait.box.x2) / 2, (portrait.box.y1 + portrait.box.y2) / 2)
        assert x1 < centre[0] < x2 and y1 < centre[1] < y2, (name, portrait.box, card.portrait_box)
        assert 40 <= portrait.size <= 100 and portrait.faces_found == 1
        assert readings[name].card.outline is not None


def test_a_card_photographed_upside_down_is_turned(cards):
    card = cards["biden"]
    height, width = card.image.shape[:2]
    read = read_card(np.ascontiguousarray(card.image[::-1, ::-1])).card
    assert read.field("Surname") == card.fields["Surname"] and read.lines[0].text
    x1, y1, x2, y2 = card.portrait_box  # the portrait's box in the turned photo
    box = read.portrait.box
    assert width - x2 < box.x1 < box.x2 < width - x1 and height - y2 < box.y1 < height - y1


def test_a_small_portrait_is_found_on_a_card_held_far_from_the_camera():
    card = render_photo("grace_hopper", 5, framing="small")
    # the caller's own min_size (here: none) replaces the card portrait's 40 px
    portrait = read_card(card.jpeg, QueryFaceOptions(min_size=0)).card.portrait
    x1, y1, x2, y2 = card.portrait_box
    assert x1 < portrait.box.x1 < portrait.box.x2 < x2 and y1 < portrait.box.y1 < y2
    assert 24 <= portrait.size <= 60, portrait.size


def test_a_card_portrait_under_the_card_limit_is_refused_not_decided(images):
    """Grace Hopper's card photographed from far (its portrait ~38 px): face_too_small,
    with the measured size, the limit and what to do, from read_card and from verify."""
    card = render_photo("grace_hopper", 5, framing="small")
    with pytest.raises(VigilError) as caught:
        read_card(card.jpeg)
    assert caught.value.code == ErrorCode.FACE_TOO_SMALL
    message = caught.value.message
    assert "38 px" in message and f"min_size {CARD_PORTRAIT_MIN_SIZE} px" in message, message
    assert "photograph the card closer" in message
    with pytest.raises(VigilError) as caught:
        verify(id_card=card.jpeg, image=str(images / "grace_hopper.jpg"))
    assert caught.value.code == ErrorCode.FACE_TOO_SMALL


def test_the_card_text_and_fields_are_read(cards, readings):
    """Issue 18's bar, at least 90% of fields exact, on nine cards (seeds 0-8): the three
    above and six more. Misses measured: a given name's space dropped, 2 of 36."""
    pairs = [(card, readings[name].card) for name, card in cards.items()]
    for seed in range(3, 9):
        card = render_photo(("obama", "biden", "grace_hopper")[seed % 3], seed)
        pairs.append((card, read_card(card.jpeg).card))
    exact = total = 0
    for card, read in pairs:
        assert normal(read.lines[0].text) == card.header, read.text()
        assert all(0 < line.confidence <= 1 for line in read.lines)
        for label, value in card.fields.items():
            total += 1
            exact += normal(read.field(label) or "") == value
            if label != "Given names":  # one word each: never missed in the bench
                assert normal(read.field(label) or "") == value, (label, value, read.text())
    assert exact / total >= 0.9, [read.fields for _, read in pairs]


def test_text_boxes_are_in_the_photos_pixels(cards, readings):
    card, read = cards["obama"], readings["obama"].card
    corners = card.corners
    for found in read.lines:
        assert corners[:, 0].min() - 5 <= found.box.x1 < found.box.x2 <= corners[:, 0].max() + 5
        assert corners[:, 1].min() - 5 <= found.box.y1 < found.box.y2 <= corners[:, 1].max() + 5


def test_the_card_portrait_matches_another_photo_of_the_same_person(cards, images):
    result = verify(id_card=cards["obama"].jpeg, image=str(images / "obama2.jpg"))
    assert result.decision == VerifyDecision.MATCH, result.similarity
    assert (
        result.card is not None and result.card.field("Surname") == cards["obama"].fields["Surname"]
    )
    assert result.id_face.box == result.card.portrait.box


def test_the_card_portrait_does_not_match_another_person(cards, images):
    for name in ("biden", "hopper"):
        result = verify(id_card=cards[name].jpeg, image=str(images / "obama2.jpg"))
        assert result.decision == VerifyDecision.NO_MATCH, (name, result.similarity)


def test_a_card_without_a_portrait_is_a_coded_error():
    card = render_photo("obama", 4, blank=True)
    with pytest.raises(VigilError) as caught:
        read_card(card.jpeg)
    assert caught.value.code == ErrorCode.NO_CARD_FACE
    assert "no portrait" in caught.value.message


def test_a_card_and_an_id_photo_together_or_a_named_card_face_are_refused(cards, images):
    photo = str(images / "obama.jpg")
    for kwargs in ({"id_photo": photo}, {"id_face": 0}, {}):
        with pytest.raises(VigilError) as caught:
            verify(
                **kwargs,
                id_card=None if not kwargs else cards["obama"].jpeg,
                image=photo,
            )
        assert caught.value.code == ErrorCode.INVALID_OPTIONS, kwargs


def test_cli_prints_the_card_as_json_and_for_people(cards, images, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("vigil.cli.main.configure_logging", lambda *_: None)
    path = tmp_path / "card.jpg"
    path.write_bytes(cards["obama"].jpeg)
    argv = ["verify", "--id-card", str(path), "--image", str(images / "obama2.jpg")]
    assert main([*argv, "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    result = VerifyResult.model_validate(printed)
    assert result.card is not None and result.card.source == str(path)
    assert [line["text"] for line in printed["card"]["lines"]] == result.card.text()
    assert set(printed["card"]["lines"][0]) == {"text", "confidence", "box"}
    assert {field["label"] for field in printed["card"]["fields"]} >= {"Surname", "Date of birth"}
    assert main(argv) == 0
    shown = capsys.readouterr().out
    assert shown.startswith("MATCH at FAR 0.001") and "card text (" in shown
    assert f"Surname: {cards['obama'].fields['Surname']}" in shown
    with pytest.raises(SystemExit):  # argparse: --id-card and --id-photo exclude each other
        main(["verify", "--id-card", str(path), "--id-photo", str(path), "--image", "x"])


def test_celery_task_takes_an_id_card(cards, images):
    picture = str(images / "obama2.jpg")
    result = compare_tasks.verify.apply(
        args=[None, picture], kwargs={"id_card": cards["obama"].jpeg}
    )
    answer = result.get()
    assert answer["decision"] == "match" and answer["card"]["lines"], answer.get("error")
    blank = render_photo("obama", 4, blank=True).jpeg
    failed = compare_tasks.verify.apply(args=[None, picture], kwargs={"id_card": blank}).get()
    assert failed["error"]["code"] == "no_card_face"
