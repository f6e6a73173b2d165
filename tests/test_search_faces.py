"""k:N search with real pictures: enrol three people, find Obama, refuse a stranger."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest

from vigil.analysis.faces import face_targets
from vigil.errors import ErrorCode, VigilError
from vigil.groups.service import GroupService
from vigil.models.scoring import thresholds

ENROLLED = {"obama": "obama.jpg", "biden": "biden.jpg", "hopper": "grace_hopper.jpg"}


@pytest.fixture(scope="module")
def service(images: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GroupService]:
    with GroupService(tmp_path_factory.mktemp("faces") / "groups.db") as opened:
        opened.create_group("people")
        for person, name in ENROLLED.items():
            [face] = face_targets(images / name)
            opened.add_member("people", person, [face.feature], {"file": name}, sources=[name])
        yield opened


@pytest.mark.parametrize("picture", ["obama2.jpg", "obama3.jpg"])
def test_obama_is_found_first_above_the_far_threshold(service, images, picture):
    [result] = service.search_image(images / picture, ["people"], k=3, far=1e-3)
    limit = thresholds("face_resnet128").at(1e-3)
    assert result.decision == "match"
    assert result.best is not None and result.best.person_id == "obama"
    assert result.hits[0] == result.best
    assert result.best.distance <= limit.distance and result.best.similarity >= limit.similarity
    assert result.threshold == limit and len(result.hits) == 3
    assert all(hit.distance > limit.distance for hit in result.hits[1:])


def test_a_stranger_is_unknown(service, images):
    [result] = service.search_image(images / "messi5.jpg", ["people"], k=3)
    assert result.decision == "unknown" and result.best is None
    assert result.hits and result.hits[0].distance > result.threshold.distance


def test_all_faces_searches_each_face_the_default_the_largest(service, images):
    """A picture of Biden beside a smaller Obama: one result per face, largest first."""
    biden = cv2.imread(str(images / "biden.jpg"))
    obama = cv2.imread(str(images / "obama2.jpg"))
    small = cv2.resize(obama, None, fx=0.6, fy=0.6)
    canvas = np.full((max(biden.shape[0], small.shape[0]), biden.shape[1] + small.shape[1], 3), 255)
    canvas[: biden.shape[0], : biden.shape[1]] = biden
    canvas[: small.shape[0], biden.shape[1] :] = small
    picture = cv2.imencode(".png", canvas.astype(np.uint8))[1].tobytes()

    every = service.search_image(picture, ["people"], k=2, all_faces=True)
    assert [r.best.person_id for r in every] == ["biden", "obama"]
    assert all(r.box is not None for r in every)
    [largest] = service.search_image(picture, ["people"], k=2)
    assert largest.best.person_id == "biden" and largest.box == every[0].box


def test_a_picture_without_a_face_is_refused_with_a_code(service, images):
    with pytest.raises(VigilError) as caught:
        service.search_image(images / "plate_AB123CD.png", ["people"])
    assert caught.value.code == ErrorCode.NO_FACE
    with pytest.raises(VigilError) as caught:
        service.search_image(b"not a picture", ["people"])
    assert caught.value.code == ErrorCode.NOT_AN_IMAGE


def test_cli_enrols_searches_and_reports_codes(images, tmp_path, capsys):
    from vigil.cli.main import build_parser

    store = ["--store", str(tmp_path / "cli.db")]

    def vigil(*argv: str) -> tuple[int, str]:
        """The command as `vigil` runs it, minus the process-wide logging set-up."""
        args = build_parser().parse_args([*argv[:2], *store, *argv[2:]])
        return args.run(args), capsys.readouterr().out

    assert vigil("group", "create", "staff", "--meta", "site=HQ")[0] == 0
    status, out = vigil(
        "group", "add", "staff", "obama", str(images / "obama.jpg"), "--meta", "vip=true"
    )
    assert status == 0 and "obama" in out and "obama.jpg" in out
    assert vigil("group", "add", "staff", "biden", str(images / "biden.jpg"))[0] == 0
    status, out = vigil("search", str(images / "obama3.jpg"), "--group", "staff", "--json")
    [result] = json.loads(out)["results"]
    assert status == 0 and result["best"]["person_id"] == "obama"
    status, out = vigil(
        "search", str(images / "obama3.jpg"), "--group", "staff", "--filter", "vip=false"
    )
    assert status == 0 and "UNKNOWN" in out and "obama" not in out
    status, out = vigil("group", "members", "staff", "--json")
    assert [m["person_id"] for m in json.loads(out)["items"]] == ["biden", "obama"]
    status, out = vigil("group", "show", "nope", "--json")
    assert status == 1 and json.loads(out)["error"]["code"] == "group_not_found"
    assert vigil("search", str(images / "obama3.jpg"), "--group", "staff", "--k", "0")[0] == 2
