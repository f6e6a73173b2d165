"""Hostile input, generated: the decoders and every consumed topic either answer or refuse cleanly.

A refusal is a coded `VigilError` (pictures, features) or an `UndecodableRecord`
(bus records, which the consumers dead-letter with the reason). Anything else
escaping (IndexError, cv2.error, UnicodeDecodeError, ...) would kill a consumer
or a Celery task with an unhelpful message, and fails these tests.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.synthetic_captures import face_capture
from vigil.analysis.image_decoder import decode_image
from vigil.errors import VigilError
from vigil.infra.bus.base import Record
from vigil.infra.topics.alerts import AlertTopic
from vigil.infra.topics.captures import CaptureTopic
from vigil.infra.topics.frames import META_HEADER, FrameTopic
from vigil.infra.topics.json_topic import UndecodableRecord
from vigil.schemas.validate import as_vector

FUZZ = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def small_picture(extension: str) -> bytes:
    rng = np.random.default_rng(0)
    ok, data = cv2.imencode(extension, rng.integers(0, 255, (24, 32, 3), dtype=np.uint8))
    assert ok
    return data.tobytes()


SEEDS = {ext: small_picture(ext) for ext in (".jpg", ".png", ".bmp", ".webp")}


@st.composite
def mutated(draw: st.DrawFn, seed: bytes) -> bytes:
    """A real picture with bytes flipped, cut or spliced: the decoder's worst day."""
    data = bytearray(seed)
    for _ in range(draw(st.integers(1, 8))):
        position = draw(st.integers(0, len(data) - 1))
        data[position] = draw(st.integers(0, 255))
    cut = draw(st.integers(1, len(data)))
    return bytes(data[:cut]) + draw(st.binary(max_size=64))


def decodes_or_refuses(data: bytes) -> None:
    try:
        pixels = decode_image(data)
    except VigilError as exc:
        assert exc.code.value and exc.message
    else:
        assert pixels.dtype == np.uint8 and pixels.ndim == 3 and pixels.shape[2] == 3


@FUZZ
@given(st.binary(max_size=4096))
def test_random_bytes_never_crash_the_image_decoder(data: bytes):
    decodes_or_refuses(data)


@pytest.mark.parametrize("extension", sorted(SEEDS))
def test_damaged_pictures_never_crash_the_image_decoder(extension: str):
    @FUZZ
    @given(mutated(SEEDS[extension]))
    def check(data: bytes) -> None:
        decodes_or_refuses(data)

    check()


def test_the_fixtures_damaged_never_crash_the_decoder(images: Path):
    """Real camera JPEGs, truncated at every 10% and with their middle zeroed."""
    data = (images / "obama.jpg").read_bytes()
    for tenth in range(1, 10):
        decodes_or_refuses(data[: len(data) * tenth // 10])
        middle = len(data) // 2
        decodes_or_refuses(data[:middle] + bytes(4096) + data[middle + 4096 :])


def record(topic: str, value: bytes, headers: dict[str, bytes] | None = None) -> Record:
    return Record(topic, 0, 7, "cam", value, headers or {})


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner),
    max_leaves=20,
)
VALID_CAPTURE = json.loads(face_capture(np.ones(128, np.float32)).model_dump_json())


@st.composite
def corrupted_capture(draw: st.DrawFn) -> bytes:
    """A valid capture with one field replaced, removed, or the JSON cut short."""
    message = dict(VALID_CAPTURE)
    key = draw(st.sampled_from(sorted(message)))
    if draw(st.booleans()):
        message[key] = draw(JSON_VALUES)
    else:
        del message[key]
    text = json.dumps(message).encode()
    return text[: draw(st.integers(0, len(text)))] if draw(st.booleans()) else text


@FUZZ
@given(st.one_of(st.binary(max_size=512), corrupted_capture()))
def test_json_topics_refuse_malformed_records_with_a_reason(value: bytes):
    for topic in (CaptureTopic("vigil.captures"), AlertTopic("vigil.alerts")):
        try:
            message = topic.decode(record(topic.name, value))
        except UndecodableRecord as exc:
            assert topic.name in str(exc) and "@7" in str(exc), "names where the record was"
        else:
            assert message.message_id


@FUZZ
@given(st.binary(max_size=256), st.one_of(st.none(), st.binary(max_size=256), JSON_VALUES))
def test_frame_records_refuse_malformed_headers(value: bytes, header):
    topic = FrameTopic()
    headers = (
        {}
        if header is None
        else {META_HEADER: header if isinstance(header, bytes) else json.dumps(header).encode()}
    )
    try:
        meta, jpeg = topic.decode(record(topic.name, value, headers))
    except UndecodableRecord as exc:
        assert "vigil.frames" in str(exc)
    else:
        assert meta.camera_id and (jpeg is None or jpeg == value)


@FUZZ
@given(
    st.fixed_dictionaries(
        {"model": st.text(max_size=30), "dim": st.integers(-5, 10**6), "data": st.text(max_size=80)}
    )
)
def test_bad_features_are_refused_with_a_code(feature: dict):
    try:
        _, vector = as_vector(feature)
    except VigilError as exc:
        assert exc.code.value == "invalid_feature"
    else:
        assert vector.size == feature["dim"] and np.all(np.isfinite(vector))
