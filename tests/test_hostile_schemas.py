"""Every message schema under fuzz: any JSON either validates or is refused with a
pydantic ValidationError (which every consumer turns into a coded error or a dead
letter), and every message refuses a schema major version it does not know."""

from __future__ import annotations

import importlib
import json
import pkgutil

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

import vigil.schemas
from vigil.schemas.base import SCHEMA_VERSION, VigilMessage, VigilModel

FUZZ = settings(
    max_examples=5, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def all_subclasses(cls: type) -> set[type]:
    found = set()
    for sub in cls.__subclasses__():
        found |= {sub} | all_subclasses(sub)
    return found


for module in pkgutil.iter_modules(vigil.schemas.__path__):
    importlib.import_module(f"vigil.schemas.{module.name}")
MODELS = sorted(
    (m for m in all_subclasses(VigilModel) if m.__module__.startswith("vigil.schemas")),
    key=lambda m: f"{m.__module__}.{m.__name__}",
)
MESSAGES = [m for m in MODELS if issubclass(m, VigilMessage)]

SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False)
    | st.text(max_size=30)
    | st.sampled_from(["", "1.0", "9.0", "face", "2026-01-01T00:00:00Z", "NaN", "\u202e"])
)
JSON_VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner),
    max_leaves=15,
)


def validates_or_refuses(model: type[BaseModel], text: str | bytes) -> None:
    try:
        model.model_validate_json(text)
    except ValidationError as exc:
        assert exc.error_count() >= 1
    # anything else (TypeError, RecursionError, ...) escapes and fails the test


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_any_json_validates_or_is_refused_cleanly(model: type[BaseModel]):
    fields = sorted(model.model_fields) or ["x"]

    @FUZZ
    @given(st.dictionaries(st.sampled_from(fields) | st.text(max_size=8), JSON_VALUES, max_size=8))
    def check(document: dict) -> None:
        validates_or_refuses(model, json.dumps(document))

    check()


@FUZZ
@given(st.binary(max_size=300))
def test_bytes_that_are_no_json_are_refused_cleanly(data: bytes):
    for model in MESSAGES:
        validates_or_refuses(model, data)


def test_messages_are_found():
    names = {m.__name__ for m in MESSAGES}
    assert {"Capture", "Alert", "FrameMeta", "DeadLetter"} <= names, names


@pytest.mark.parametrize("model", MESSAGES, ids=lambda m: m.__name__)
@pytest.mark.parametrize(
    ("version", "accepted"),
    [("9.0", False), ("0.1", False), ("1", False), ("1.0.0", False), ("x.y", False),
     ("١.٠", False), (SCHEMA_VERSION, True), ("1.7", True)],
)  # fmt: skip
def test_every_message_refuses_a_major_version_it_does_not_know(model, version, accepted):
    try:
        model.model_validate({"schema_version": version})
        errors = []
    except ValidationError as refused:
        errors = refused.errors()
    at_version = [e for e in errors if e["loc"] == ("schema_version",)]
    assert bool(at_version) != accepted, errors
