"""Schemathesis against the HTTP API's own OpenAPI document: every operation, generated requests.

No request may get a 5xx, and every response (status, media type, body, headers) must
be one the document declares. Picture parts are drawn from the real test pictures as
well as from arbitrary bytes, so the happy paths run too, not only the refusals.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis.specs.openapi.checks import negative_data_rejection, positive_data_acceptance

from tests.conftest import IMAGES
from tests.support.api_keys import bearer, new_key
from vigil.http.app import create_app

FOLDER = Path(tempfile.mkdtemp(prefix="vigil-http-schema-"))
KEY = new_key(FOLDER / "keys.json")  # admin: every operation runs, not only its 401
APP = create_app(
    FOLDER / "groups.db",
    FOLDER / "history.db",
    max_body=4 * 1024 * 1024,
    keys_path=FOLDER / "keys.json",
    rate=0,
    alerts_path="",  # the alert book in memory
    max_stream_s=0.3,  # event streams end at once: each generated request gets its answer
)
PICTURES = [(IMAGES / name).read_bytes() for name in ("obama.jpg", "obama2.jpg", "biden.jpg")]
# the picture parts' declared types (`encoding`): real faces or anything at all
pictures = st.sampled_from(PICTURES) | st.binary(max_size=64)
for media_type in ("image/jpeg", "image/png", "image/webp", "image/bmp"):
    schemathesis.openapi.media_type(media_type, pictures)

schema = schemathesis.openapi.from_asgi("/openapi.json", APP)


@pytest.fixture(scope="module", autouse=True)
def stores() -> Iterator[None]:
    yield
    APP.state.live.close()
    APP.state.stores.close()
    shutil.rmtree(FOLDER, ignore_errors=True)


@schema.parametrize()
@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
def test_the_api_keeps_its_openapi_contract(case: schemathesis.Case) -> None:
    # Left out: positive_data_acceptance (a valid-looking picture may hold no face: a coded
    # refusal is right), and negative_data_rejection, which draws JSON-typed "invalid"
    # values for query strings (`lower_colour=false`) that arrive as the valid string
    # "false" (seen once in CI on /v1/captures). No 5xx and every response as declared
    # are still checked on every generated request.
    case.call_and_validate(
        headers=bearer(KEY), excluded_checks=[positive_data_acceptance, negative_data_rejection]
    )
