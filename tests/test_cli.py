"""The `vigil` command as a user runs it: help, JSON, annotation, errors, exit codes."""

from __future__ import annotations

import json
import subprocess
import sys

import cv2
import pytest

from vigil.cli.main import main


def test_help_lists_commands(capsys):
    with pytest.raises(SystemExit) as exited:
        main(["--help"])
    assert exited.value.code == 0
    out = capsys.readouterr().out
    for command in ("analyze", "demo", "worker", "schema"):
        assert command in out


def test_analyze_json_and_annotate(images, tmp_path, capsys):
    out = tmp_path / "obama.annotated.jpg"
    code = main(
        [
            "analyze",
            str(images / "obama.jpg"),
            "--json",
            "--types",
            "face",
            "--features",
            "--annotate",
            str(out),
        ]
    )
    assert code == 0
    response = json.loads(capsys.readouterr().out)
    [result] = response["results"]
    assert len(result["targets"]) == 1
    assert result["targets"][0]["feature"]["dim"] == 128
    annotated = cv2.imread(str(out))
    assert annotated is not None and annotated.shape[:2] == (1137, 910)


def test_analyze_bad_file_gives_exit_1_and_names_error(images, tmp_path, capsys):
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"GIF89a nonsense")
    code = main(["analyze", str(broken), str(images / "grace_hopper.jpg"), "--types", "face"])
    out = capsys.readouterr().out
    assert code == 1
    assert "broken.jpg: ERROR" in out
    assert "grace_hopper.jpg" in out and "1 targets" in out


def test_analyze_rejects_unknown_type():
    completed = subprocess.run(
        [sys.executable, "-m", "vigil.cli.main", "analyze", "x.jpg", "--types", "cat"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert completed.returncode == 2
    assert "unknown value(s) cat" in completed.stderr


def test_schema_command_writes_files(tmp_path, capsys):
    assert main(["schema", "--out", str(tmp_path)]) == 0
    assert (tmp_path / "Target.schema.json").is_file()


def test_json_logs_are_one_object_per_line(capsys):
    import logging

    from vigil.infra.logs import configure_logging

    configure_logging(fmt="json")
    logging.getLogger("vigil.test").warning("camera %s down", "gate-1", extra={"camera": "gate-1"})
    line = capsys.readouterr().err.strip().splitlines()[-1]
    entry = json.loads(line)
    assert entry["message"] == "camera gate-1 down"
    assert entry["camera"] == "gate-1" and entry["level"] == "warning"
