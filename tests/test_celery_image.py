"""`vigil.image.analyze` through a real Redis broker and a real `vigil worker` process."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.integration
TIMEOUT = 120


@pytest.fixture(scope="module")
def client(celery_client):
    return celery_client


def test_analyze_task_runs_on_a_worker(client, images):
    data = (images / "biden.jpg").read_bytes()
    result = client.send_task(
        "vigil.image.analyze", args=[data, {"types": ["face"], "features": True}]
    ).get(timeout=TIMEOUT, interval=0.01)
    assert result.get("error") is None, result
    [face] = result["targets"]
    assert face["face"]["gender"] == "male"
    assert face["feature"]["dim"] == 128


def test_bad_image_and_bad_options_come_back_as_errors(client):
    bad = client.send_task("vigil.image.analyze", args=[b"\x00\x01junk"]).get(timeout=TIMEOUT)
    assert bad["error"]["code"] == "not_an_image"
    wrong = client.send_task("vigil.image.analyze", args=[b"\x00", {"types": ["unicorn"]}]).get(
        timeout=TIMEOUT
    )
    assert wrong["error"]["code"] == "invalid_options"


def test_batch_task_keeps_order(client, images):
    batch = [(images / "obama.jpg").read_bytes(), b"", (images / "grace_hopper.jpg").read_bytes()]
    response = client.send_task("vigil.image.analyze_batch", args=[batch, {"types": ["face"]}]).get(
        timeout=TIMEOUT
    )
    codes = [r.get("error", {}).get("code") for r in response["results"]]
    assert codes == [None, "empty_input", None]
