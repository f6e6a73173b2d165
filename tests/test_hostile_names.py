"""Unicode names round-trip (groups, members, metadata, captures and alerts on disk, CLI
JSON), names that could deceive or escape are refused, and k outside 1..max is refused
with a code on every search: groups, history and clustering."""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from tests.support.synthetic_captures import face_capture
from tests.test_alert_sinks import make_alert
from vigil.cli.main import main
from vigil.errors import ErrorCode, VigilError
from vigil.groups.service import GroupService
from vigil.infra.config import parse_config
from vigil.outputs.disk import DiskSink, read_captures
from vigil.schemas.alert import Alert
from vigil.schemas.feature import Feature

pytestmark = pytest.mark.timeout(120)

GROUP = "Équipe_שלום_名单"  # Latin with an accent, Hebrew (RTL), CJK
PERSON = "José 😀 محمد e\u0301"  # emoji, Arabic (RTL), a combining accent
NOTE = "Zoë — 東京 🚀"


def cli(capsys, *argv: str) -> tuple[int, dict | list]:
    status = main(list(argv))
    return status, json.loads(capsys.readouterr().out)


@pytest.fixture
def feature_file(tmp_path: Path) -> Path:
    vector = np.random.default_rng(3).normal(size=128).astype(np.float32)
    path = tmp_path / "feature.json"
    path.write_text(
        Feature.from_vector(vector / np.linalg.norm(vector), "face_resnet128@v1").model_dump_json()
    )
    return path


def test_unicode_group_member_and_metadata_round_trip_through_the_cli(
    tmp_path: Path, feature_file: Path, capsys
):
    store = ["--store", str(tmp_path / "groups.db"), "--json"]
    decomposed = unicodedata.normalize("NFD", GROUP)
    status, group = cli(capsys, "group", "create", decomposed, *store)
    assert status == 0 and group["name"] == unicodedata.normalize("NFC", GROUP)
    status, _ = cli(
        capsys, "group", "add", GROUP, PERSON, "--feature", str(feature_file),
        "--meta", f"note={NOTE}", *store,
    )  # fmt: skip
    assert status == 0
    status, members = cli(capsys, "group", "members", GROUP, *store)
    [member] = members["items"]
    assert member["person_id"] == unicodedata.normalize("NFC", PERSON)
    assert member["metadata"] == {"note": NOTE}
    status, found = cli(
        capsys, "search", "--feature", str(feature_file), "--group", GROUP, "--k", "1", *store
    )
    [result] = found["results"]
    assert status == 0 and result["hits"][0]["person_id"] == member["person_id"]


@pytest.mark.parametrize(
    "person",
    ["\u202eevil", "zero\u200bwidth", "bell\x07", " padded", "x" * 129],
    ids=["rtl-override", "zero-width", "control", "spaces", "too-long"],
)
def test_deceptive_person_ids_are_refused(tmp_path: Path, feature_file: Path, capsys, person):
    store = ["--store", str(tmp_path / "groups.db"), "--json"]
    assert cli(capsys, "group", "create", "g", *store)[0] == 0
    status, answer = cli(
        capsys, "group", "add", "g", person, "--feature", str(feature_file), *store
    )
    assert status == 2 and answer["error"]["code"] == "invalid_options"
    assert cli(capsys, "group", "members", "g", *store)[1]["items"] == []


@pytest.mark.parametrize("k", ["0", "-3", "1000000000"])
@pytest.mark.parametrize("command", ["search", "history", "cluster"])
def test_k_out_of_range_is_refused_with_a_code(tmp_path, feature_file, capsys, command, k):
    feature = ["--feature", str(feature_file)]
    argv = {
        "search": ["search", *feature, "--group", "g", "--store", str(tmp_path / "g.db")],
        "history": ["history", "search", *feature, "--store", str(tmp_path / "h.db")],
        "cluster": ["cluster", "--history", str(tmp_path / "h.db")],
    }[command]
    status, answer = cli(capsys, *argv, "--k", k, "--json")
    assert status == 2 and answer["error"]["code"] == "invalid_options"
    assert "k" in answer["error"]["message"]


def test_unicode_ids_in_captures_and_alerts_stay_inside_the_archive(tmp_path: Path):
    capture = face_capture(None, camera_id="caméra-東京-😀", track_id="e\u0301/../..")
    alert = make_alert(person=PERSON).model_copy(update={"watchlist": GROUP})
    captures, alerts = DiskSink(tmp_path / "captures"), DiskSink(tmp_path / "alerts", kind="alerts")
    capture_path, alert_path = captures.deliver(capture), alerts.deliver(alert)
    captures.close()
    alerts.close()
    assert capture_path.parent.parent == tmp_path / "captures"
    assert alert_path.parent.parent == tmp_path / "alerts"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["alerts", "captures"]
    assert list(read_captures(capture_path)) == [capture]
    assert list(read_captures(alert_path, Alert)) == [alert]


@pytest.mark.parametrize("camera_id", ["caméra", "cam😀", "cam\u202e1", "../etc"])
def test_camera_ids_are_plain_ascii_labels(camera_id: str):
    """Camera ids are Kafka keys, metric labels and folder names: refused, with the field named."""
    with pytest.raises(VigilError) as refused:
        parse_config(json.dumps({"cameras": [{"id": camera_id, "url": "x.mp4"}]}), "cams.json")
    assert refused.value.code == ErrorCode.INVALID_OPTIONS
    assert "cameras.0.id" in refused.value.message


# --- issue 12.6g: metadata the store cannot hold is invalid_options, not store_unavailable --

INT64 = 2**63


@pytest.fixture
def service(tmp_path: Path) -> Iterator[GroupService]:
    with GroupService(tmp_path / "groups.db") as opened:
        yield opened


def refused_with(code: ErrorCode, action, *args, **kwargs) -> VigilError:
    with pytest.raises(VigilError) as caught:
        action(*args, **kwargs)
    assert caught.value.code == code, caught.value
    return caught.value


def test_metadata_numbers_outside_int64_are_refused_at_the_boundary(service, feature_file):
    feature = Feature.model_validate_json(feature_file.read_text())
    service.create_group("g")
    for value in (10**23, INT64, -INT64 - 1):
        error = refused_with(
            ErrorCode.INVALID_OPTIONS, service.create_group, "h", metadata={"n": value}
        )
        assert "'n'" in error.message and "64-bit" in error.message
        refused_with(
            ErrorCode.INVALID_OPTIONS, service.add_member, "g", "p", [feature], {"n": value}
        )
        refused_with(ErrorCode.INVALID_OPTIONS, service.search, feature, ["g"], filter={"n": value})
    service.add_member("g", "p", [feature], {"lo": -INT64, "hi": INT64 - 1, "big": 1e23})
    refused_with(ErrorCode.INVALID_OPTIONS, service.update_member, "g", "p", {"n": 10**23})
    [member] = service.list_members("g").items
    assert member.metadata == {"lo": -INT64, "hi": INT64 - 1, "big": 1e23}
    assert [group.name for group in service.list_groups()] == ["g"]


def test_the_cli_refuses_a_huge_metadata_integer_with_a_code(tmp_path: Path, capsys):
    store = ["--store", str(tmp_path / "groups.db"), "--json"]
    status, answer = cli(capsys, "group", "create", "g", "--meta", f"n={10**23}", *store)
    assert status == 2 and answer["error"]["code"] == "invalid_options"


# --- issue 12.6h: look-alike group names are one group (NFKC), case is kept -------------


def test_compatibility_look_alikes_name_the_same_group(service, feature_file):
    feature = Feature.model_validate_json(feature_file.read_text())
    assert service.create_group("staff").name == "staff"
    for look_alike in ("ｓｔａｆｆ", "ｓtaｆf"):  # fullwidth, whole or in part
        refused_with(ErrorCode.GROUP_EXISTS, service.create_group, look_alike)
        assert service.get_group(look_alike).name == "staff"
    assert service.create_group("ﬁre").name == "fire"  # the "ﬁ" ligature
    assert service.create_group("Staff").name == "Staff"  # case is not a look-alike
    refused_with(ErrorCode.GROUP_EXISTS, service.rename_group, "Staff", "ｆｉｒｅ")
    refused_with(ErrorCode.INVALID_OPTIONS, service.create_group, "½")  # NFKC: "1⁄2"
    service.add_member("ｓｔａｆｆ", "p", [feature])
    result = service.search(feature, ["ｓｔａｆｆ"], k=1)
    assert result.hits[0].group == "staff"
    assert [group.name for group in service.list_groups()] == ["Staff", "fire", "staff"]
