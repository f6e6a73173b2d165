"""`vigil inference`: what each model runs on here, as an operator checks it before sizing."""

from __future__ import annotations

import json

import pytest

from vigil.cli.main import main
from vigil.models import cpu_features, runtime
from vigil.models.registry import model_names


def report(capsys, *options: str) -> dict:
    assert main(["inference", "--json", *options]) == 0
    return json.loads(capsys.readouterr().out)


def test_every_model_is_opened_as_the_environment_says(monkeypatch, capsys):
    monkeypatch.delenv("VIGIL_INFERENCE", raising=False)
    monkeypatch.delenv("VIGIL_INFERENCE_PRECISION", raising=False)
    monkeypatch.delenv("VIGIL_MODEL_THREADS", raising=False)
    found = report(capsys)
    assert found["setting"] == "onnxruntime:cpu" and found["precision"] == "auto"
    assert sorted(found["models"]) == model_names()  # int8 variants are not models
    for row in found["models"].values():
        assert row["runs_on"] == "onnxruntime:CPUExecutionProvider"
        assert "ms_per_call" not in row  # timed only when asked
    assert found["inference_flags"] == cpu_features.inference_flags()
    assert found["model_threads"] == 1


def test_options_override_the_environment_and_int8_weights_show(monkeypatch, capsys):
    monkeypatch.setenv("VIGIL_INFERENCE", "onnxruntime")
    found = report(capsys, "--backend", "openvino", "--precision", "int8")
    assert found["setting"] == "openvino:cpu" and found["precision"] == "int8"
    assert found["models"]["nanodet"]["runs_on"] == "openvino:CPU:f32, nanodet.int8 weights"
    assert found["models"]["face_resnet128"]["runs_on"] == "openvino:CPU:f32"


def test_auto_is_reported_as_this_cpu_decides(monkeypatch, tmp_path, capsys):
    """On an AVX2-only CPU OpenVINO's auto is f32 with NanoDet's int8 weights."""
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("vendor_id\t: AuthenticAMD\nmodel name\t: Test EPYC\nflags\t\t: fpu avx2\n")
    monkeypatch.setattr(cpu_features, "CPUINFO", cpuinfo)
    cpu_features.cpuinfo.cache_clear()
    try:
        found = report(capsys, "--backend", "onnxruntime")
        assert found["cpu"] == "Test EPYC" and found["inference_flags"] == ["avx2"]
        assert found["auto_precision"] == "auto"  # onnxruntime keeps its f32 reference
        assert found["openvino_auto_precision"] == "int8"
        assert runtime.openvino_installed() == found["openvino_installed"]
        assert main(["inference", "--backend", "openvino"]) == 0
        shown = capsys.readouterr().out
        assert "auto here: int8" in shown and "nanodet.int8 weights" in shown
    finally:
        cpu_features.cpuinfo.cache_clear()


def test_speed_times_every_model(capsys):
    found = report(capsys, "--backend", "onnxruntime", "--speed", "3")
    for name, row in found["models"].items():
        assert 0 < row["ms_per_call"] < 5000, name
    assert main(["inference", "--backend", "onnxruntime", "--speed", "2"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert sum(line.rstrip().endswith(" ms") for line in lines) == len(model_names())


@pytest.mark.parametrize("options", [["--backend", "tensorflow"], ["--precision", "int4"]], ids=str)
def test_a_bad_setting_is_a_coded_error(capsys, options):
    assert main(["inference", *options]) == 2
    assert "invalid_options" in capsys.readouterr().err


def test_speed_needs_at_least_one_call(capsys):
    with pytest.raises(SystemExit) as exited:
        main(["inference", "--speed", "0"])
    assert exited.value.code == 2
    assert "at least 1 call" in capsys.readouterr().err
