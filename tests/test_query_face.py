"""The query face of compare, verify and search (analysis/faces.choose_query_face), on real
photos through library, CLI, Celery and HTTP: the filters (face_too_small, low_quality),
the refusal of a near-tie (ambiguous_face) and a face named by index or box."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from fastapi.testclient import TestClient

from tests.support.api_keys import bearer, new_key
from vigil.analysis.faces import choose_query_face, face_targets, short_side
from vigil.analysis.quality import framed_score
from vigil.cli.main import main
from vigil.compare.compare import compare
from vigil.compare.verify import verify
from vigil.errors import ErrorCode, VigilError
from vigil.groups.service import GroupService
from vigil.http.app import create_app
from vigil.schemas.compare import QUERY_MIN_SIZE, QueryFaceOptions, parse_face
from vigil.schemas.geometry import Box
from vigil.schemas.target import Quality, QualityParts, Target, TargetType
from vigil.workers import compare_tasks


def jpeg(image: np.ndarray) -> bytes:
    return cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 95])[1].tobytes()


def side_by_side(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    height = max(left.shape[0], right.shape[0])
    canvas = np.full((height, left.shape[1] + right.shape[1], 3), 255, np.uint8)
    canvas[: left.shape[0], : left.shape[1]] = left
    canvas[: right.shape[0], left.shape[1] :] = right
    return canvas


@pytest.fixture(scope="module")
def pictures(images: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """tie.jpg: Obama (left) and Biden at about the same face size; clear.jpg: Biden beside
    a 0.5x Obama; tiny.jpg: Obama's face shrunk to about 18 px."""
    folder = tmp_path_factory.mktemp("query_face")
    obama, biden = cv2.imread(str(images / "obama2.jpg")), cv2.imread(str(images / "biden.jpg"))
    obama_side = short_side(face_targets(images / "obama2.jpg")[0])
    biden_side = short_side(face_targets(images / "biden.jpg")[0])
    biden_as_obama = cv2.resize(biden, None, fx=obama_side / biden_side, fy=obama_side / biden_side)
    small_obama = cv2.resize(
        obama, None, fx=0.5 * biden_side / obama_side, fy=0.5 * biden_side / obama_side
    )
    tiny = cv2.resize(
        obama, None, fx=18 / obama_side, fy=18 / obama_side, interpolation=cv2.INTER_AREA
    )
    tiny = cv2.copyMakeBorder(tiny, 40, 40, 40, 40, cv2.BORDER_REPLICATE)
    paths = {}
    for name, image in {
        "tie": side_by_side(obama, biden_as_obama),
        "clear": side_by_side(biden, small_obama),
        "tiny": tiny,
    }.items():
        paths[name] = folder / f"{name}.jpg"
        paths[name].write_bytes(jpeg(image))
    return paths


@pytest.fixture(scope="module")
def tie_faces(pictures: dict[str, Path]) -> dict[str, int]:
    """The tie picture's face indices (largest first), by who is where: Obama is on the left."""
    faces = face_targets(pictures["tie"], largest_only=False)
    assert len(faces) == 2
    left = min(range(2), key=lambda i: faces[i].box.x1)
    return {"obama": left, "biden": 1 - left}


def refused(code: ErrorCode, call, *args, **kwargs) -> str:
    with pytest.raises(VigilError) as caught:
        call(*args, **kwargs)
    assert caught.value.code == code, caught.value
    return caught.value.message


# -- the rule, on the library -------------------------------------------------------------


def test_a_near_tie_is_refused_listing_both_boxes_never_a_silent_pick(pictures, images):
    message = refused(ErrorCode.AMBIGUOUS_FACE, compare, pictures["tie"], images / "obama.jpg")
    faces = face_targets(pictures["tie"], largest_only=False)
    assert message.startswith(f"picture a: {pictures['tie']}: 2 faces of similar size")
    for index, face in enumerate(faces):
        assert f"#{index} {face.box.as_list()}" in message


def test_the_named_face_decides_by_index_or_by_box(pictures, images, tie_faces):
    obama, biden = tie_faces["obama"], tie_faces["biden"]
    same = compare(pictures["tie"], images / "obama.jpg", face_a=obama)
    assert same.match and same.a.index == obama and same.a.faces_found == 2
    other = compare(pictures["tie"], images / "obama.jpg", face_a=str(biden))
    assert not other.match and other.a.index == biden
    box = face_targets(pictures["tie"], largest_only=False)[obama].box
    drawn = Box(x1=box.x1 + 5, y1=box.y1 - 5, x2=box.x2 + 5, y2=box.y2 + 8)  # not exact
    by_box = compare(
        pictures["tie"], images / "obama.jpg", face_a=",".join(map(str, drawn.as_list()))
    )
    assert by_box.a.index == obama and by_box.distance == same.distance


def test_a_clearly_largest_face_is_used_as_before(pictures, images):
    result = compare(pictures["clear"], images / "biden.jpg")
    assert result.match and result.a.index == 0 and result.a.faces_found == 2


def test_a_named_face_that_is_not_there_is_no_face(pictures, images):
    message = refused(ErrorCode.NO_FACE, compare, pictures["tie"], images / "obama.jpg", face_a=2)
    assert "no face #2: the picture holds 2" in message
    far_away = [0, 0, 10, 10]
    message = refused(
        ErrorCode.NO_FACE, compare, pictures["tie"], images / "obama.jpg", face_a=far_away
    )
    assert "no face at [0.0, 0.0, 10.0, 10.0]" in message


def test_a_face_too_small_for_the_calibrated_far_says_its_size_and_the_limit(pictures, images):
    message = refused(ErrorCode.FACE_TOO_SMALL, compare, pictures["tiny"], images / "obama.jpg")
    found = short_side(face_targets(pictures["tiny"])[0])
    assert found < QUERY_MIN_SIZE
    assert f"is {found:.0f} px (short side), under min_size {QUERY_MIN_SIZE} px" in message
    loose = compare(
        pictures["tiny"], images / "obama.jpg", options={"min_size": 0, "min_quality": 0}
    )
    assert loose.a.box is not None and min(loose.a.box.width, loose.a.box.height) == found


def test_a_face_under_min_quality_says_its_quality_and_the_limit(images):
    quality = framed_score(face_targets(images / "obama.jpg")[0].quality)
    message = refused(
        ErrorCode.LOW_QUALITY,
        compare,
        images / "obama.jpg",
        images / "obama2.jpg",
        options=QueryFaceOptions(min_quality=0.99),
    )
    assert f"has quality {quality:.2f}, under min_quality 0.99" in message


def test_a_face_cropped_to_its_box_is_not_taken_for_a_cut_one(images):
    """A query crop touches every edge: the edge part of quality does not refuse it."""
    picture = cv2.imread(str(images / "obama.jpg"))
    face = face_targets(images / "obama.jpg")[0]
    x1, y1, x2, y2 = (max(0, round(v)) for v in face.box.as_list())
    tight = jpeg(picture[y1:y2, x1:x2])
    cropped = face_targets(tight)[0]
    assert cropped.quality.parts.edge == 0 and framed_score(cropped.quality) >= 0.2
    assert compare(tight, images / "obama2.jpg").match


@pytest.mark.parametrize(
    ("kwargs", "text"),
    [
        ({"face_a": "left"}, "give an index or a box"),
        ({"face_a": -1}, "an index is 0 or more"),
        ({"face_a": [3, 3, 1, 1]}, "out of order"),
        ({"face_a": "nan,0,1,1"}, "finite"),
        ({"face_a": [1, 2, 3]}, "give an index or a box"),
        ({"options": {"min_size": -3}}, "min_size"),
        ({"options": {"dominance": 0}}, "dominance"),
    ],
)
def test_bad_face_choices_and_options_are_invalid_options_before_any_work(kwargs, text):
    message = refused(ErrorCode.INVALID_OPTIONS, compare, b"never decoded", b"never", **kwargs)
    assert text in message


def test_a_face_cannot_be_named_on_a_feature(images):
    feature = face_targets(images / "biden.jpg")[0].feature.model_dump()
    message = refused(ErrorCode.INVALID_OPTIONS, compare, images / "obama.jpg", feature, face_b=0)
    assert "b is a feature" in message


def test_parse_face_reads_every_wire_form():
    box = Box(x1=1, y1=2, x2=3, y2=4)
    for form in (
        [1, 2, 3, 4],
        "1,2,3,4",
        "[1, 2, 3, 4]",
        {"x1": 1, "y1": 2, "x2": 3, "y2": 4},
        box,
    ):
        assert parse_face(form) == box
    assert parse_face("2") == parse_face(2) == 2 and parse_face(None) is None


def boxed(width: float, height: float, x: float = 0, quality: float = 0.9) -> Target:
    parts = QualityParts(detector=1, size=quality, sharpness=1, pose=1, edge=1)
    return Target(
        id=0,
        type=TargetType.FACE,
        label="face",
        box=Box(x1=x, y1=0, x2=x + width, y2=height),
        score=1,
        quality=Quality(score=quality, parts=parts),
    )


def test_the_rule_on_boxes_rivals_by_short_side_within_dominance_and_over_min_size():
    options = QueryFaceOptions()  # dominance 0.8, min_size 24
    assert choose_query_face([boxed(200, 200), boxed(159, 159, 300)], options) == 0
    with pytest.raises(VigilError) as caught:
        choose_query_face([boxed(200, 200), boxed(160, 160, 300)], options)
    assert caught.value.code == ErrorCode.AMBIGUOUS_FACE and "#1 [300.0" in caught.value.message
    # largest first is by area: a wide, short face (#1) is no rival, a later square one (#2) is,
    # and the refusal gives #2 its own index
    faces = [boxed(100, 100), boxed(210, 40, 200), boxed(90, 90, 500)]  # 10000, 8400, 8100 px²
    with pytest.raises(VigilError) as caught:
        choose_query_face(faces, options)
    assert "#2 [500.0" in caught.value.message and "#1" not in caught.value.message
    # a second face under min_size could not be a query, so it is no rival
    small = QueryFaceOptions(min_size=20)
    assert choose_query_face([boxed(22, 22), boxed(19, 19, 100)], small) == 0
    # a named face still has to pass the filters
    with pytest.raises(VigilError) as caught:
        choose_query_face([boxed(200, 200), boxed(160, 160, 300, quality=0.1)], options, 1)
    assert caught.value.code == ErrorCode.LOW_QUALITY


# -- verify and search use the same rule ---------------------------------------------------


def test_verify_refuses_an_ambiguous_id_photo_and_takes_a_named_one(pictures, images, tie_faces):
    message = refused(ErrorCode.AMBIGUOUS_FACE, verify, pictures["tie"], image=images / "obama.jpg")
    assert message.startswith(f"ID photo {pictures['tie']}: 2 faces of similar size")
    result = verify(pictures["tie"], image=images / "obama.jpg", id_face=tie_faces["obama"])
    assert result.match and result.id_face.index == tie_faces["obama"]
    other = verify(pictures["tie"], image=images / "obama.jpg", id_face=tie_faces["biden"])
    assert not other.match


def test_verify_compares_every_usable_face_of_a_picture_or_the_named_one(
    pictures, images, tie_faces
):
    every = verify(images / "obama.jpg", image=pictures["tie"])  # a tie is fine: all compared
    assert every.match and every.faces == 2
    named = verify(images / "obama.jpg", image=pictures["tie"], face=tie_faces["biden"])
    assert not named.match and named.faces == 1
    refused(ErrorCode.FACE_TOO_SMALL, verify, images / "obama.jpg", image=pictures["tiny"])
    refused(ErrorCode.INVALID_OPTIONS, verify, images / "obama.jpg", source="x.mp4", face=0)


@pytest.fixture(scope="module")
def service(images: Path, tmp_path_factory: pytest.TempPathFactory):
    with GroupService(tmp_path_factory.mktemp("store") / "groups.db") as opened:
        opened.create_group("people")
        for name in ("obama", "biden"):
            [face] = face_targets(images / f"{name}.jpg")
            opened.add_member("people", name, [face.feature])
        yield opened


def test_search_refuses_a_tie_searches_a_named_face_and_filters_all_faces(
    service, pictures, tie_faces
):
    refused(ErrorCode.AMBIGUOUS_FACE, service.search_image, pictures["tie"], ["people"])
    for person, index in tie_faces.items():
        [result] = service.search_image(pictures["tie"], ["people"], face=index)
        assert result.best is not None and result.best.person_id == person
    every = service.search_image(pictures["tie"], ["people"], all_faces=True)
    assert {r.best.person_id for r in every} == {"obama", "biden"}
    clear = face_targets(pictures["clear"], largest_only=False)
    between = round((short_side(clear[0]) + short_side(clear[1])) / 2)
    big_only = service.search_image(
        pictures["clear"], ["people"], all_faces=True, options={"min_size": between}
    )
    assert [r.best.person_id for r in big_only] == ["biden"]  # the small Obama is filtered out
    refused(
        ErrorCode.FACE_TOO_SMALL, service.search_image, pictures["tiny"], ["people"], all_faces=True
    )
    refused(
        ErrorCode.INVALID_OPTIONS,
        service.search_image,
        pictures["tie"],
        ["people"],
        all_faces=True,
        face=0,
    )


# -- CLI, Celery, HTTP ---------------------------------------------------------------------


def test_cli_compare_and_verify_take_the_options_and_print_the_codes(
    pictures, images, tie_faces, capsys, monkeypatch
):
    monkeypatch.setattr("vigil.cli.main.configure_logging", lambda *_: None)  # see test_enroll
    tie, obama = str(pictures["tie"]), str(images / "obama.jpg")
    assert main(["compare", tie, obama, "--json"]) == 1
    assert json.loads(capsys.readouterr().out)["error"]["code"] == "ambiguous_face"
    assert main(["compare", tie, obama, "--face-a", str(tie_faces["obama"]), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["match"] is True
    assert main(["compare", str(pictures["tiny"]), obama, "--json"]) == 1
    assert json.loads(capsys.readouterr().out)["error"]["code"] == "face_too_small"
    assert main(["compare", obama, obama, "--min-quality", "0.99", "--json"]) == 1
    assert json.loads(capsys.readouterr().out)["error"]["code"] == "low_quality"
    assert main(["compare", tie, obama, "--face-a", "left"]) == 2
    assert "[invalid_options]" in capsys.readouterr().err
    assert main(["verify", "--id-photo", tie, "--image", obama, "--json"]) == 2
    assert json.loads(capsys.readouterr().out)["error"]["code"] == "ambiguous_face"
    args = ["verify", "--id-photo", tie, "--image", obama, "--id-face", str(tie_faces["obama"])]
    assert main(args) == 0
    assert capsys.readouterr().out.startswith("MATCH")


def test_cli_search_names_a_face(pictures, images, tie_faces, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("vigil.cli.main.configure_logging", lambda *_: None)
    store = str(tmp_path / "groups.db")
    assert main(["group", "create", "people", "--store", store]) == 0
    assert (
        main(["group", "add", "people", "biden", str(images / "biden.jpg"), "--store", store]) == 0
    )
    capsys.readouterr()
    search = ["search", str(pictures["tie"]), "--group", "people", "--store", store, "--json"]
    assert main(search) == 1
    assert json.loads(capsys.readouterr().out)["error"]["code"] == "ambiguous_face"
    assert main([*search, "--face", str(tie_faces["biden"])]) == 0
    [result] = json.loads(capsys.readouterr().out)["results"]
    assert result["best"]["person_id"] == "biden"


def test_celery_tasks_take_options_and_faces_and_answer_codes(pictures, images, tie_faces, service):
    tie, obama = pictures["tie"].read_bytes(), (images / "obama.jpg").read_bytes()
    failed = compare_tasks.compare.apply(args=[tie, obama]).get()
    assert failed["error"]["code"] == "ambiguous_face"
    result = compare_tasks.compare.apply(
        args=[tie, obama], kwargs={"face_a": tie_faces["obama"]}
    ).get()
    assert result["match"] is True and result["a"]["index"] == tie_faces["obama"]
    tiny = pictures["tiny"].read_bytes()
    assert (
        compare_tasks.compare.apply(args=[tiny, obama]).get()["error"]["code"] == "face_too_small"
    )
    loose = compare_tasks.compare.apply(
        args=[tiny, obama, None, {"min_size": 0, "min_quality": 0}]
    ).get()
    assert "error" not in loose
    strict = compare_tasks.compare.apply(args=[obama, obama, None, {"min_quality": 0.99}]).get()
    assert strict["error"]["code"] == "low_quality"
    verified = compare_tasks.verify.apply(
        args=[tie, obama], kwargs={"id_face": [*face_box(pictures, tie_faces)]}
    ).get()
    assert verified["decision"] == "match"


def face_box(pictures, tie_faces) -> list[float]:
    return face_targets(pictures["tie"], largest_only=False)[tie_faces["obama"]].box.as_list()


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory):
    folder = tmp_path_factory.mktemp("http")
    key = new_key(folder / "keys.json")
    app = create_app(
        folder / "groups.db", folder / "history.db", keys_path=folder / "keys.json", rate=0
    )
    with TestClient(app, raise_server_exceptions=False, headers=bearer(key)) as opened:
        yield opened


def test_http_compare_verify_search_take_the_options_and_answer_422(
    client, pictures, images, tie_faces
):
    def files(**named: Path) -> list:
        return [
            (field, (path.name, path.read_bytes(), "image/jpeg")) for field, path in named.items()
        ]

    tie, obama = pictures["tie"], images / "obama.jpg"
    response = client.post("/v1/compare", files=files(a=tie, b=obama))
    assert response.status_code == 422 and response.json()["code"] == "ambiguous_face"
    response = client.post(
        "/v1/compare", files=files(a=tie, b=obama), data={"face_a": str(tie_faces["obama"])}
    )
    assert response.status_code == 200 and response.json()["match"] is True
    response = client.post("/v1/compare", files=files(a=pictures["tiny"], b=obama))
    assert response.status_code == 422 and response.json()["code"] == "face_too_small"
    response = client.post(
        "/v1/compare", files=files(a=obama, b=obama), data={"min_quality": "0.99"}
    )
    assert response.status_code == 422 and response.json()["code"] == "low_quality"
    response = client.post("/v1/compare", files=files(a=obama, b=obama), data={"min_size": "-1"})
    assert response.status_code == 422 and response.json()["code"] == "invalid_options"
    response = client.post("/v1/verify", files=files(id_photo=tie, image=obama))
    assert response.status_code == 422 and response.json()["code"] == "ambiguous_face"
    as_json = {  # a JSON body: base64 pictures, the box as four numbers
        "a": base64.b64encode(tie.read_bytes()).decode(),
        "b": base64.b64encode(obama.read_bytes()).decode(),
        "face_a": face_box(pictures, tie_faces),
    }
    response = client.post("/v1/compare", json=as_json)
    assert response.status_code == 200 and response.json()["a"]["index"] == tie_faces["obama"]
    box = ",".join(map(str, face_box(pictures, tie_faces)))
    response = client.post(
        "/v1/verify", files=files(id_photo=tie, image=obama), data={"id_face": box}
    )
    assert response.status_code == 200 and response.json()["decision"] == "match"
    assert client.post("/v1/groups", json={"name": "people"}).status_code == 201
    response = client.post("/v1/search", files=files(image=tie), data={"groups": "people"})
    assert response.status_code == 422 and response.json()["code"] == "ambiguous_face"
    response = client.post(
        "/v1/search", files=files(image=tie), data={"groups": "people", "face": "0"}
    )
    assert response.status_code == 200


# -- the calibration of the defaults -------------------------------------------------------


def test_query_face_rows_count_genuine_against_other_pictures_and_missed_views_as_refused():
    from tools.calibration.query_faces import Probe, row

    near, far = np.zeros(2), np.array([1.0, 0.0])
    originals = [
        Probe("a", "a1", "original", 100, 0.9, near),
        Probe("a", "a2", "original", 100, 0.9, near),
        Probe("b", "b1", "original", 100, 0.9, far),
    ]
    probes = [
        Probe("a", "a1", "size24", 25, 0.24, near),  # vs a2 only: accepted
        Probe("a", "a2", "size24", None, None, None),  # no face: refused against a1
    ]
    result = row("24 px", probes, originals, threshold=0.5)
    assert (result.genuine, result.accepted, result.gar) == (2, 1, 0.5)
    assert (result.impostor, result.impostor_accepted, result.closest_impostor) == (1, 0, 1.0)
    assert (result.views, result.found, result.side) == (2, 1, 25)


def test_the_model_card_justifies_the_defaults_the_code_uses():
    from vigil.models.scoring import thresholds_path
    from vigil.schemas.compare import QUERY_DOMINANCE, QUERY_MIN_QUALITY

    card = thresholds_path("face_resnet128").with_name("face_resnet128.md").read_text()
    section = card[card.index("## Query faces") :]
    assert "GAR @ FAR 1e-3" in section
    for size in (16, 20, 24, 32, 48, 64, 96):
        assert f"\n| {size} px |" in section
    assert f"**`min_size` {QUERY_MIN_SIZE} px**" in section
    assert f"**`min_quality` {QUERY_MIN_QUALITY}**" in section
    assert f"**`dominance` {QUERY_DOMINANCE}**" in section
