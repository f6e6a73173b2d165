"""Camera configuration files: YAML or JSON, validated, errors that name the bad field."""

from __future__ import annotations

import pytest

from vigil.errors import ErrorCode, VigilError
from vigil.infra.config import load_config, parse_config

GOOD = """
cameras:
  - id: gate-1
    url: rtsp://127.0.0.1:8554/stream
    types: [face, person]
  - id: lobby
    url: /data/lobby.mp4
    fps: 10
outputs:
  disk: /tmp/captures
"""


def test_yaml_with_several_cameras():
    config = parse_config(GOOD)
    assert [c.id for c in config.cameras] == ["gate-1", "lobby"]
    assert config.camera("lobby").fps == 10
    assert {t.value for t in config.camera("gate-1").types} == {"face", "person"}
    assert config.topics.frames == "vigil.frames"


def test_json_is_accepted_too():
    config = parse_config('{"cameras": [{"id": "a", "url": "x.mp4"}]}')
    assert config.cameras[0].fps == 5.0


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("cameras:\n  - {id: a, url: x}\n  - {id: a, url: y}\n", "used twice"),
        ("cameras:\n  - {id: '../etc', url: x}\n", "cameras.0.id"),
        ("cameras:\n  - {id: a, url: x, fps: -1}\n", "cameras.0.fps"),
        ("cameras:\n  - {id: a, url: x, typo: 1}\n", "cameras.0.typo"),
        ("cameras:\n  - {id: a, url: x, types: [cat]}\n", "cameras.0.types"),
        ("cameras: []\n", "cameras"),
        ("just text", "expected a mapping"),
        ("cameras: [", "not valid YAML/JSON"),
    ],
)
def test_errors_name_the_problem(text, named):
    with pytest.raises(VigilError) as caught:
        parse_config(text, "cams.yaml")
    assert caught.value.code == ErrorCode.INVALID_OPTIONS
    assert named in caught.value.message and "cams.yaml" in caught.value.message


def test_missing_file(tmp_path):
    with pytest.raises(VigilError) as caught:
        load_config(tmp_path / "none.yaml")
    assert caught.value.code == ErrorCode.FILE_NOT_FOUND
