"""Camera configuration files: YAML or JSON, validated, errors that name the bad field."""

from __future__ import annotations

import time

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


# --- issue 12.6e: hostile configuration files ---------------------------------------------


def alias_bomb(levels: int = 9) -> str:
    """`levels` lists of 9 aliases of the level below: 9**levels strings once expanded."""
    lines = ["x-bomb:", "  l0: &l0 [face, face, face, face, face, face, face, face, face]"]
    for level in range(1, levels):
        lines.append(f"  l{level}: &l{level} [" + ", ".join([f"*l{level - 1}"] * 9) + "]")
    lines += ["cameras:", f"  - {{id: a, url: x.mp4, types: *l{levels - 1}}}"]
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize(
    ("text", "named"),
    [
        pytest.param(alias_bomb(), "aliases expand the document", id="billion-laughs"),
        pytest.param("a: &a [*a]\ncameras: *a\n", "recursive YAML alias", id="recursive-alias"),
        pytest.param("[" * 100_000, "nested deeper than 32", id="yaml-brackets"),
        pytest.param('{"a": ' * 100_000, "nested deeper than 32", id="json-objects"),
        pytest.param('{"a": ' * 40 + "1" + "}" * 40, "nested deeper than 32", id="json-depth-40"),
        pytest.param("- " * 5_000 + "x", "nested deeper than 32", id="yaml-dashes"),
        pytest.param(
            "defaults: &d {}\ncameras:\n" + "  - {<<: *d, id: c, url: x}\n" * 1001,
            "more than 1000 YAML aliases",
            id="alias-count",
        ),
    ],
)
def test_bombs_and_deep_nesting_are_refused_quickly_with_a_code(text, named):
    started = time.monotonic()
    with pytest.raises(VigilError) as refused:
        parse_config(text, "cams.yaml")
    assert time.monotonic() - started < 2.0
    assert refused.value.code == ErrorCode.INVALID_OPTIONS
    assert named in refused.value.message and "cams.yaml" in refused.value.message


def test_anchors_and_merge_keys_within_the_budget_still_work():
    text = (
        "cameras:\n"
        "  - &first {id: a, url: a.mp4, fps: 2, types: &types [face]}\n"
        "  - {<<: *first, id: b, url: b.mp4, fps: 4}\n"
        "  - {id: c, url: c.mp4, types: *types}\n"
    )
    config = parse_config(text)
    assert [(c.id, c.fps) for c in config.cameras] == [("a", 2), ("b", 4), ("c", 5)]
    assert {t.value for t in config.camera("c").types} == {"face"}


SHADOW = "root:$6$Zq8Wn0sEcReT$hAsHhAsH:19000:0:99999:7:::\ndaemon:*:19000:0:99999:7:::\n"


@pytest.mark.parametrize(
    "content",
    [
        SHADOW,
        "[client]\npassword = 'hunter2-secret-pw'\nuser: [\n",
        "token: !!python/object/apply:os.system ['cat /etc/shadow-secret']\n",
        'cameras: [{id: a, url: x}]\nkey: "unterminated hunter2-secret-pw\n',
        "cameras: [{id: a, url: x}]\nx: *hunter2-secret-pw\n",
    ],
    ids=["shadow", "ini-file", "python-tag", "unterminated-string", "undefined-alias"],
)
def test_errors_never_echo_the_files_content(tmp_path, content):
    path = tmp_path / "not-a-config"
    path.write_text(content)
    with pytest.raises(VigilError) as refused:
        load_config(path)
    message = str(refused.value)
    assert refused.value.code == ErrorCode.INVALID_OPTIONS and str(path) in message
    for secret in ("hAsHhAsH", "Zq8Wn0sEcReT", "hunter2", "shadow-secret", "19000", "os.system"):
        assert secret not in message, message
