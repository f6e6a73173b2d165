"""Inference backends: choice, fallback, and every model's conformance on each backend.

The conformance bounds are stated here and in docs/performance.md ("Inference
backends"); the figures come from `bench/backend_agreement.py` against onnxruntime f32,
on which the compare thresholds were calibrated. OpenVINO is in the dev extras, so CI
checks it on every run: its `auto` precision (what pays on the CPU at hand:
`cpu_features.fastest_precision`), f32, and NanoDet's int8 weights with f32 and with
bf16 for the rest; NanoDet's int8 weights on onnxruntime too.
"""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest

from bench import backend_agreement as agreement
from vigil.models import cpu_features, inference, runtime
from vigil.models.backend_onnxruntime import providers_for
from vigil.models.face_embedder import FaceEmbedder
from vigil.models.registry import WEIGHTS_DIR
from vigil.schemas.errors import ErrorCode, VigilError

BACKENDS = [("openvino", "auto"), ("openvino", "f32")]
CONFORMING = [*BACKENDS, ("onnxruntime", "int8"), ("openvino", "int8"), ("openvino", "int8+bf16")]


def int8_weights(setting: str, precision: str, model: str) -> bool:
    chosen = runtime.concrete(inference.parse(setting, precision))
    return runtime.weights_for(model, chosen) != model


@pytest.fixture(scope="module", params=CONFORMING, ids=lambda b: f"{b[0]}-{b[1]}")
def figures(request) -> dict[str, dict[str, float]]:
    setting, precision = request.param
    found = {a.model: a.figures for a in agreement.agreements(setting, precision)}
    found["nanodet"]["int8 weights"] = int8_weights(setting, precision, "nanodet")
    return found


def test_face_detector_conforms(figures):
    face = figures["blazeface_full_192"]
    assert face["reference boxes"] >= 5
    assert face["min IoU"] >= 0.9 and face["unmatched boxes"] == 0, face


def test_object_detector_conforms(figures):
    objects = figures["nanodet"]
    assert objects["reference boxes"] >= 50
    assert objects["mean IoU"] >= 0.97, objects
    if objects["int8 weights"]:
        # a box whose score sits on the threshold may come from a neighbouring cell
        assert objects["boxes under IoU 0.8"] <= 0.02 * objects["reference boxes"], objects
    else:
        assert objects["min IoU"] >= 0.8, objects
    assert objects["label agreement"] >= 0.98, objects
    # a box whose score sits on the 0.35 threshold may appear on one side only
    assert objects["unmatched boxes"] <= 0.05 * objects["reference boxes"], objects


def test_face_mesh_conforms(figures):
    mesh = figures["face_mesh_468"]
    assert mesh["faces"] >= 5
    assert mesh["max landmark shift (face widths)"] <= 0.01, mesh
    assert mesh["max presence change"] <= 0.05, mesh


def test_face_embedder_conforms(figures):
    features = figures["face_resnet128"]
    assert features["features"] >= 30
    assert features["max feature drift (L2)"] <= 0.03, features
    assert features["max pair distance change"] <= 0.02, features


def test_age_and_gender_conform(figures):
    estimates = figures["age_v1 + gender_v1"]
    assert estimates["max age change (years)"] <= 1.5, estimates
    assert estimates["gender agreement"] == 1.0, estimates


@pytest.mark.parametrize("setting, precision", [*BACKENDS, ("openvino", "bf16")])
def test_compare_thresholds_hold(setting, precision):
    """At every calibrated threshold, the only pairs decided differently are pairs
    that sit on the threshold (within 0.01 of it, a fifth of the 0.04-0.05 steps
    between the FAR levels' thresholds), and they are rare: the calibration holds."""
    calibrated = json.loads((WEIGHTS_DIR / "face_resnet128.thresholds.json").read_text())
    reference = agreement.built("onnxruntime", "auto", FaceEmbedder)
    candidate = agreement.built(setting, precision, FaceEmbedder)
    pairs = len(agreement.face_chips()) * (len(agreement.face_chips()) - 1) // 2
    for threshold in calibrated["thresholds"]:
        changed = agreement.decisions_changed(reference, candidate, threshold["distance"])
        assert all(abs(d - threshold["distance"]) <= 0.01 for d in changed), (threshold, changed)
        assert len(changed) <= 0.005 * pairs, (threshold, changed)


def test_openvino_auto_runs_what_pays_on_this_cpu():
    import openvino

    capabilities = openvino.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")
    fastest = cpu_features.fastest_precision()
    with agreement.backend("openvino"):
        embedder = runtime.session("face_resnet128").runs_on
        objects = runtime.session("nanodet").runs_on
    if fastest is None:  # flags unknown: OpenVINO's own default
        assert embedder == f"openvino:CPU:{'bf16' if 'BF16' in capabilities else 'f32'}"
        return
    floats = "bf16" if fastest in ("bf16", "int8+bf16") else "f32"
    assert embedder == f"openvino:CPU:{floats}"
    if fastest in ("int8", "int8+bf16"):  # int8 weights keep their float layers in f32
        assert objects == "openvino:CPU:f32, nanodet.int8 weights"
    else:
        assert objects == f"openvino:CPU:{floats}"
    with agreement.backend("openvino", "f32"):
        assert runtime.session("face_resnet128").runs_on == "openvino:CPU:f32"
        assert runtime.session("nanodet").runs_on == "openvino:CPU:f32"


@pytest.mark.parametrize(
    "setting, fastest, expected",
    [
        ("openvino", "bf16", "bf16"),
        ("openvino", "int8", "int8"),
        ("openvino", "int8+bf16", "int8+bf16"),
        ("openvino", "f32", "f32"),
        ("openvino", None, "auto"),  # not Linux: OpenVINO decides
        ("openvino:gpu", "int8", "auto"),  # a GPU's default is the GPU's business
        ("onnxruntime", "int8", "auto"),  # f32, the calibrated reference
    ],
)
def test_auto_precision_is_what_pays_on_the_cpu(monkeypatch, setting, fastest, expected):
    monkeypatch.setattr(runtime, "fastest_precision", lambda: fastest)
    assert runtime.concrete(inference.parse(setting)).precision == expected
    assert runtime.concrete(inference.parse(setting, "f32")).precision == "f32"


def test_int8_weights_only_where_a_model_ships_them():
    int8 = inference.parse("onnxruntime", "int8")
    assert runtime.weights_for("nanodet", int8) == "nanodet.int8"
    assert runtime.weights_for("face_resnet128", int8) == "face_resnet128"
    assert runtime.weights_for("nanodet", inference.parse("onnxruntime")) == "nanodet"
    assert "nanodet.int8" not in runtime.load_all()  # a variant is not a model of its own


# -- choice and fallback --------------------------------------------------------------


@pytest.mark.parametrize(
    "text, expected",
    [
        ("onnxruntime", inference.Inference("onnxruntime", ("cpu",))),
        ("", inference.Inference("onnxruntime", ("cpu",))),
        ("onnxruntime:cuda,cpu", inference.Inference("onnxruntime", ("cuda", "cpu"))),
        ("OpenVINO:GPU", inference.Inference("openvino", ("gpu",))),
    ],
)
def test_settings_parse(text, expected):
    assert inference.parse(text) == expected


@pytest.mark.parametrize(
    "text, precision, words",
    [
        ("tensorflow", "auto", "unknown backend 'tensorflow'"),
        ("onnxruntime:cdua", "auto", "no target 'cdua'"),
        ("openvino:cuda", "auto", "no target 'cuda'"),
        ("openvino", "int4", "'int4' is not one of"),
    ],
)
def test_a_misspelt_setting_is_refused_at_start(text, precision, words):
    with pytest.raises(VigilError) as refused:
        inference.parse(text, precision)
    assert refused.value.code == ErrorCode.INVALID_OPTIONS
    assert words in refused.value.message


def test_providers_keep_the_order_asked_and_end_with_the_cpu(caplog):
    asked = inference.parse("onnxruntime:tensorrt,cuda")
    available = ["CUDAExecutionProvider", "CPUExecutionProvider"]
    with caplog.at_level(logging.WARNING):
        chosen = providers_for(asked, available)
    assert chosen == ["CUDAExecutionProvider", "CPUExecutionProvider"]
    assert "lacks TensorrtExecutionProvider" in caplog.text


def test_a_missing_gpu_provider_falls_back_to_the_cpu_with_a_warning(caplog):
    with caplog.at_level(logging.WARNING), agreement.backend("onnxruntime:cuda,tensorrt"):
        session = runtime.session("face_resnet128")
        chips = np.zeros((1, 3, 150, 150), np.float32)
        (features,) = session.run({session.input_name: chips})
    assert session.runs_on == "onnxruntime:CPUExecutionProvider"
    assert features.shape == (1, 128)
    assert "CUDAExecutionProvider" in caplog.text


def test_a_missing_openvino_device_falls_back_to_the_cpu(caplog):
    with caplog.at_level(logging.WARNING), agreement.backend("openvino:npu,gpu"):
        session = runtime.session("blazeface_full_192")
    assert session.runs_on.startswith("openvino:CPU:")
    assert "none of npu, gpu" in caplog.text


def test_openvino_not_installed_falls_back_to_onnxruntime(monkeypatch, caplog):
    monkeypatch.setattr(runtime, "openvino_installed", lambda: False)
    with caplog.at_level(logging.WARNING), agreement.backend("openvino"):
        session = runtime.session("age_v1")
    assert session.runs_on == "onnxruntime:CPUExecutionProvider"
    assert "pip install 'vigil[openvino]'" in caplog.text


def test_sessions_are_safe_across_threads():
    """OpenVINO infer requests are per thread; answers must not mix between threads."""
    from concurrent.futures import ThreadPoolExecutor

    with agreement.backend("openvino"):
        session = runtime.session("face_resnet128")
        rng = np.random.default_rng(1)
        blobs = [rng.random((1, 3, 150, 150), dtype=np.float32) * 255 for _ in range(8)]
        alone = [session.run({session.input_name: blob})[0] for blob in blobs]
        with ThreadPoolExecutor(4) as pool:
            together = list(
                pool.map(lambda blob: session.run({session.input_name: blob})[0], blobs * 4)
            )
    for index, answer in enumerate(together):
        np.testing.assert_array_equal(answer, alone[index % len(blobs)])


INTEL, AMD = "GenuineIntel", "AuthenticAMD"


@pytest.mark.parametrize(
    "vendor, flags, expected",
    [
        (INTEL, "fpu avx2 avx512f avx512_vnni avx512_bf16 amx_bf16 amx_tile", "bf16"),
        (INTEL, "fpu avx2 avx512f avx512_vnni avx512_bf16", "int8"),  # a VM hiding AMX
        (AMD, "fpu avx2 avx512f avx512_vnni avx512_bf16", "int8+bf16"),  # Zen 4: native bf16
        (AMD, "fpu avx2 avx512f avx512_vnni", "int8"),
        (INTEL, "fpu avx2 avx_vnni", "int8"),
        (AMD, "fpu avx2 fma", "int8"),  # AVX2's int8 kernels pay without VNNI
        (INTEL, "fpu sse4_2", "f32"),  # int8 not measured there
    ],
)
def test_the_fastest_precision_follows_the_cpu(monkeypatch, tmp_path, vendor, flags, expected):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(
        f"processor\t: 0\nvendor_id\t: {vendor}\nmodel name\t: Test CPU\nflags\t\t: {flags}\n"
        f"\nprocessor\t: 1\nvendor_id\t: Other\nmodel name\t: Other CPU\nflags\t\t: fpu\n"
    )
    monkeypatch.setattr(cpu_features, "CPUINFO", cpuinfo)
    cpu_features.cpuinfo.cache_clear()
    try:
        assert cpu_features.fastest_precision() == expected
        assert cpu_features.cpuinfo() == ("Test CPU", frozenset(flags.split()), vendor)
    finally:
        cpu_features.cpuinfo.cache_clear()


def test_unknown_cpu_flags_leave_the_backend_default(monkeypatch, tmp_path):
    monkeypatch.setattr(cpu_features, "CPUINFO", tmp_path / "missing")
    cpu_features.cpuinfo.cache_clear()
    try:
        assert cpu_features.fastest_precision() is None
    finally:
        cpu_features.cpuinfo.cache_clear()
