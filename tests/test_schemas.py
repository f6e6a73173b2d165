"""Contracts: features round-trip exactly, bad values are refused, JSON Schema is exported."""

from __future__ import annotations

import base64
import json

import numpy as np
import pytest
from pydantic import ValidationError

from vigil.schemas import AnalyzeOptions, Box, Feature, ImageResult
from vigil.schemas.export import PUBLIC_MESSAGES, write_json_schemas


def test_feature_round_trip_is_exact():
    vector = np.random.default_rng(1).normal(size=128).astype(np.float32)
    feature = Feature.from_vector(vector, "face_resnet128@v1")
    again = Feature.model_validate_json(feature.model_dump_json())
    assert np.array_equal(again.vector(), vector)


def test_feature_refuses_nan_and_wrong_length():
    bad = np.ones(4, np.float32)
    bad[2] = np.nan
    with pytest.raises(ValidationError, match="NaN"):
        Feature.from_vector(bad, "m@1")
    data = base64.b64encode(np.ones(3, np.float32).tobytes()).decode()
    with pytest.raises(ValidationError, match="3 float32 values but dim is 4"):
        Feature(model="m@1", dim=4, data=data)


def test_options_refuse_unknown_fields_and_values():
    with pytest.raises(ValidationError):
        AnalyzeOptions.model_validate({"typos": ["face"]})
    with pytest.raises(ValidationError):
        AnalyzeOptions.model_validate({"types": ["cat"]})
    with pytest.raises(ValidationError):
        AnalyzeOptions.model_validate({"min_quality": 2})
    with pytest.raises(ValidationError):
        AnalyzeOptions.model_validate({"types": []})


def test_options_serialise_sorted():
    dumped = json.loads(AnalyzeOptions(types={"vehicle", "face"}).model_dump_json())
    assert dumped["types"] == ["face", "vehicle"]


def test_box_corners_must_be_ordered():
    with pytest.raises(ValidationError):
        Box(x1=10, y1=0, x2=5, y2=5)


def test_json_schema_is_written_for_every_public_message(tmp_path):
    paths = write_json_schemas(tmp_path)
    assert {p.name for p in paths} == {f"{n}.schema.json" for n in PUBLIC_MESSAGES}
    schema = json.loads((tmp_path / "ImageResult.schema.json").read_text())
    assert "targets" in schema["properties"]
    assert ImageResult.model_json_schema()["title"] == "ImageResult"


def test_the_committed_json_schemas_and_docs_are_up_to_date(tmp_path):
    """schemas/json and docs/schemas.md are what `vigil schema` writes today."""
    from vigil.schemas.export import DOCS, SCHEMA_DIR, markdown

    for path in write_json_schemas(tmp_path):
        committed = SCHEMA_DIR / path.name
        assert committed.is_file(), f"{committed} missing: run vigil schema --out schemas/json"
        assert committed.read_text() == path.read_text(), f"{committed.name} is out of date"
    assert DOCS.read_text() == markdown(), "docs/schemas.md is out of date: vigil schema --docs"


def test_every_kafka_message_is_public():
    assert {"Capture", "Alert", "FrameMeta", "DeadLetter"} <= set(PUBLIC_MESSAGES)
