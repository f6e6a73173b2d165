"""Unicode names round-trip (groups, members, metadata, captures and alerts on disk, CLI
JSON), names that could deceive or escape are refused, and k outside 1..max is refused
with a code on every search: groups, history and clustering."""

from __future__ import annotations

import json
import unicodedata
from pathlib import Path

import numpy as np
import pytest

from tests.test_alert_sinks import make_alert
from vigil.capture.synthetic import face_capture
from vigil.cli.main import main
from vigil.errors import ErrorCode, VigilError
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
