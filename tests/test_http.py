"""The HTTP API in process (FastAPI's TestClient): every route on real pictures, and its errors.

Stores are Milvus Lite files in a temporary folder, given to the app factory.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from tests.conftest import IMAGES
from tests.support.api_keys import bearer, new_key
from tests.support.id_cards import render_photo
from vigil.http import pictures
from vigil.http.app import create_app
from vigil.http.compute import model_slots
from vigil.http.problems import PROBLEM_MEDIA_TYPE, STATUS
from vigil.schemas.analyze import ImageResult
from vigil.schemas.errors import ErrorCode

LIMIT = 4 * 1024 * 1024  # the body limit of the app under test
JSON = {"content-type": "application/json"}


def picture(name: str) -> bytes:
    return (IMAGES / name).read_bytes()


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    folder = tmp_path_factory.mktemp("http")
    key = new_key(folder / "keys.json")
    app = create_app(
        folder / "groups.db",
        folder / "history.db",
        max_body=LIMIT,
        keys_path=folder / "keys.json",
        rate=0,
    )
    with TestClient(
        app, raise_server_exceptions=False, headers=bearer(key)
    ) as opened:  # lifespan: closes stores
        yield opened


def problem(response: Any, status: int, code: str | None) -> dict[str, Any]:
    """The response is an RFC 9457 problem with this status and Vigil code."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM_MEDIA_TYPE
    body = response.json()
    assert {"type", "title", "status", "detail", "code"} <= set(body)
    assert body["status"] == status and body["code"] == code
    assert body["type"] == (f"urn:vigil:error:{code}" if code else "about:blank")
    assert "Traceback" not in response.text
    return body


def upload(field: str, name: str) -> tuple[str, tuple[str, bytes, str]]:
    return (field, (name, picture(name), "image/jpeg"))


# -- operations ---------------------------------------------------------------------------


def test_health_readiness_and_metrics(client: TestClient):
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["groups"] == ready.json()["history"] == "open"
    assert "face_resnet128" in ready.json()["models"]
    metrics = client.get("/metrics")
    assert metrics.status_code == 200 and metrics.headers["content-type"].startswith("text/plain")
    assert 'vigil_http_requests_total{method="GET",route="/readyz",status="200"}' in metrics.text


def test_openapi_declares_every_route_and_the_problem_shape(client: TestClient):
    document = client.get("/openapi.json").json()
    assert set(document["paths"]) == {
        "/healthz",
        "/readyz",
        "/metrics",
        "/v1/analyze",
        "/v1/compare",
        "/v1/verify",
        "/v1/groups",
        "/v1/groups/{name}",
        "/v1/groups/{name}/members",
        "/v1/groups/{name}/members/{person_id}",
        "/v1/search",
        "/v1/history/search",
        "/v1/groups/{name}/photos/{person_id}",
        "/v1/clusters",
        "/v1/captures",
        "/v1/captures/stream",
        "/v1/alerts",
        "/v1/alerts/stream",
        "/v1/alerts/{alert_id}/ack",
        "/v1/cameras",
        "/v1/cameras/{camera_id}",
    }
    analyze = document["paths"]["/v1/analyze"]["post"]
    assert set(analyze["requestBody"]["content"]) == {"multipart/form-data", "application/json"}
    assert analyze["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ImageResult"
    }
    for path in document["paths"].values():
        for operation in path.values():
            for status, response in operation["responses"].items():
                if int(status) >= 400:
                    assert set(response["content"]) == {PROBLEM_MEDIA_TYPE}
    assert "code" in document["components"]["schemas"]["Problem"]["properties"]
    assert client.get("/docs").status_code == 200


def test_every_error_code_has_one_status():
    assert set(STATUS) == set(ErrorCode)
    assert STATUS[ErrorCode.NOT_AN_IMAGE] == 400
    assert STATUS[ErrorCode.GROUP_NOT_FOUND] == STATUS[ErrorCode.MEMBER_NOT_FOUND] == 404
    assert STATUS[ErrorCode.GROUP_EXISTS] == STATUS[ErrorCode.DUPLICATE] == 409
    assert STATUS[ErrorCode.IMAGE_TOO_LARGE] == STATUS[ErrorCode.FILE_TOO_LARGE] == 413
    assert STATUS[ErrorCode.INVALID_OPTIONS] == 422
    assert STATUS[ErrorCode.STORE_UNAVAILABLE] == 503
    assert STATUS[ErrorCode.INTERNAL] == 500


# -- pictures -----------------------------------------------------------------------------


def test_analyze_multipart_with_options(client: TestClient):
    options = {"types": ["face"], "features": True}
    response = client.post(
        "/v1/analyze", files=[upload("image", "obama.jpg")], data={"options": json.dumps(options)}
    )
    assert response.status_code == 200, response.text
    targets = response.json()["targets"]
    assert [target["type"] for target in targets] == ["face"]
    assert targets[0]["feature"]["model"].startswith("face_resnet128@")
    assert response.json()["error"] is None


def test_analyze_json_with_base64(client: TestClient):
    image = base64.b64encode(picture("obama.jpg")).decode()
    response = client.post("/v1/analyze", json={"image": image})
    assert response.status_code == 200, response.text
    assert {"face", "person"} <= {target["type"] for target in response.json()["targets"]}


def test_compare_matches_the_same_person_only(client: TestClient):
    same = client.post("/v1/compare", files=[upload("a", "obama.jpg"), upload("b", "obama2.jpg")])
    assert same.status_code == 200, same.text
    assert same.json()["match"] is True and same.json()["a"]["kind"] == "picture"
    other = client.post(
        "/v1/compare",
        files=[upload("a", "obama.jpg"), upload("b", "biden.jpg")],
        data={"far": "0.0001"},
    )
    assert other.status_code == 200, other.text
    assert other.json()["match"] is False and other.json()["far"] == 0.0001


def test_verify_a_picture_against_an_id_photo(client: TestClient):
    response = client.post(
        "/v1/verify", files=[upload("id_photo", "obama.jpg"), upload("image", "obama2.jpg")]
    )
    assert response.status_code == 200, response.text
    assert response.json()["decision"] == "match"
    refused = client.post(
        "/v1/verify", files=[upload("id_photo", "obama.jpg"), upload("image", "biden.jpg")]
    )
    assert refused.json()["decision"] == "no_match"


def test_verify_a_picture_against_an_id_card(client: TestClient):
    card = render_photo("obama", 0, photo=0)
    response = client.post(
        "/v1/verify",
        files=[("id_card", ("card.jpg", card.jpeg, "image/jpeg")), upload("image", "obama2.jpg")],
    )
    assert response.status_code == 200, response.text
    assert response.json()["decision"] == "match"
    assert card.fields["Surname"] in [line["text"] for line in response.json()["card"]["lines"]]
    blank = render_photo("obama", 4, blank=True).jpeg
    refused = client.post(
        "/v1/verify",
        files=[("id_card", ("card.jpg", blank, "image/jpeg")), upload("image", "obama2.jpg")],
    )
    problem(refused, 422, "no_card_face")
    neither = client.post("/v1/verify", files=[upload("image", "obama2.jpg")])
    problem(neither, 422, "invalid_options")


# -- groups, members, search --------------------------------------------------------------


def test_group_lifecycle_enrol_and_search(client: TestClient):
    created = client.post("/v1/groups", json={"name": "staff", "description": "front desk"})
    assert created.status_code == 201, created.text
    assert created.json()["name"] == "staff" and created.json()["member_count"] == 0
    problem(client.post("/v1/groups", json={"name": "staff"}), 409, "group_exists")
    assert "staff" in [group["name"] for group in client.get("/v1/groups").json()]

    enrolled = client.post(
        "/v1/groups/staff/members",
        files=[upload("image", "obama.jpg")],
        data={"person_id": "obama", "metadata": json.dumps({"role": "president"})},
    )
    assert enrolled.status_code == 201, enrolled.text
    assert enrolled.json()["metadata"] == {"role": "president"}
    assert len(enrolled.json()["features"]) == 1
    page = client.get("/v1/groups/staff/members", params={"limit": 10}).json()
    assert page["total"] == 1 and page["items"][0]["person_id"] == "obama"
    member = client.get("/v1/groups/staff/members/obama", params={"vectors": "true"}).json()
    assert member["features"][0]["vector"]["dim"] == 128

    found = client.post(
        "/v1/search", files=[upload("image", "obama2.jpg")], data={"groups": ["staff"], "k": "5"}
    )
    assert found.status_code == 200, found.text
    [result] = found.json()["results"]
    assert result["decision"] == "match" and result["best"]["person_id"] == "obama"
    stranger = client.post(
        "/v1/search", files=[upload("image", "biden.jpg")], data={"groups": "staff"}
    )
    assert stranger.json()["results"][0]["decision"] == "unknown"

    updated = client.patch("/v1/groups/staff/members/obama", json={"metadata": {"floor": 2}})
    assert updated.status_code == 200 and updated.json()["metadata"] == {"floor": 2}
    renamed = client.patch("/v1/groups/staff", json={"name": "lobby"})
    assert renamed.status_code == 200 and renamed.json()["member_count"] == 1
    assert client.get("/v1/groups/lobby").json()["feature_count"] == 1
    problem(client.get("/v1/groups/staff"), 404, "group_not_found")

    assert client.delete("/v1/groups/lobby/members/obama").status_code == 204
    problem(client.get("/v1/groups/lobby/members/obama"), 404, "member_not_found")
    assert client.delete("/v1/groups/lobby").status_code == 204
    problem(client.get("/v1/groups/lobby"), 404, "group_not_found")


def test_enrol_several_photos_as_json(client: TestClient):
    assert client.post("/v1/groups", json={"name": "json-enrol"}).status_code == 201
    photos = [base64.b64encode(picture(name)).decode() for name in ("obama.jpg", "obama2.jpg")]
    response = client.post(
        "/v1/groups/json-enrol/members",
        json={"person_id": "barack", "image": photos, "metadata": {"vip": True}},
    )
    assert response.status_code == 201, response.text
    assert len(response.json()["features"]) == 2


def test_history_search_answers_on_an_empty_history(client: TestClient):
    response = client.post(
        "/v1/history/search",
        files=[upload("image", "obama.jpg")],
        data={"since": "1h", "types": ["face"], "k": "3"},
    )
    assert response.status_code == 200, response.text
    assert response.json()["hits"] == [] and response.json()["candidates"] == 0
    window = client.post(
        "/v1/history/search",
        files=[upload("image", "obama.jpg")],
        data={"since": "1h", "until": "2h"},
    )
    problem(window, 422, "invalid_options")


# -- errors -------------------------------------------------------------------------------


def test_not_an_image_is_400_not_an_image(client: TestClient):
    response = client.post("/v1/analyze", files=[("image", ("a.jpg", b"hello", "image/jpeg"))])
    body = problem(response, 400, "not_an_image")
    assert body["title"] == "Bad Request" and "JPEG" in body["detail"]
    empty = [("a", ("a.jpg", b"", "image/jpeg")), upload("b", "obama.jpg")]
    problem(client.post("/v1/compare", files=empty), 400, "empty_input")


def test_a_picture_without_a_face_is_422_no_face(client: TestClient):
    response = client.post(
        "/v1/compare", files=[upload("a", "obama.jpg"), upload("b", "plate_AB123CD.png")]
    )
    problem(response, 422, "no_face")


def test_unknown_group_is_404_group_not_found(client: TestClient):
    problem(client.get("/v1/groups/nobody"), 404, "group_not_found")
    problem(client.delete("/v1/groups/nobody"), 404, "group_not_found")
    search = client.post("/v1/search", files=[upload("image", "obama.jpg")], data={"groups": "x"})
    problem(search, 404, "group_not_found")
    enrol = client.post(
        "/v1/groups/nobody/members", files=[upload("image", "obama.jpg")], data={"person_id": "p"}
    )
    problem(enrol, 404, "group_not_found")


def test_bad_names_and_malformed_options_are_422_invalid_options(client: TestClient):
    problem(client.post("/v1/groups", json={"name": "../etc"}), 422, "invalid_options")
    problem(client.post("/v1/groups", json={"nom": "x"}), 422, "invalid_options")
    bad_json = client.post(
        "/v1/analyze", files=[upload("image", "obama.jpg")], data={"options": "{types"}
    )
    problem(bad_json, 422, "invalid_options")
    typo = client.post(
        "/v1/analyze", files=[upload("image", "obama.jpg")], data={"options": '{"typo": 1}'}
    )
    body = problem(typo, 422, "invalid_options")
    assert body["errors"] == [
        {"loc": ["body", "options", "typo"], "msg": "Extra inputs are not permitted"}
    ]
    problem(client.post("/v1/analyze", json={"image": "not base64!"}), 422, "invalid_options")
    problem(client.post("/v1/analyze", json={}), 422, "invalid_options")
    problem(client.post("/v1/analyze", content=b"{", headers=JSON), 422, "invalid_options")
    no_file = client.post("/v1/analyze", files=[("image", (None, b"text, not a file"))])
    problem(no_file, 422, "invalid_options")
    problem(client.get("/v1/groups/x/members", params={"limit": 0}), 422, "invalid_options")


def test_other_media_types_are_415(client: TestClient):
    response = client.post("/v1/analyze", content=b"x", headers={"content-type": "text/plain"})
    problem(response, 415, "unsupported_format")


def test_http_errors_are_problems_too(client: TestClient):
    problem(client.get("/v2/nothing"), 404, None)
    wrong = client.put("/v1/analyze")
    problem(wrong, 405, None)
    assert wrong.headers["allow"] == "POST"
    several = client.put("/v1/groups/staff")  # three routes share this path
    problem(several, 405, None)
    assert several.headers["allow"] == "DELETE, GET, PATCH"


def test_an_unexpected_error_is_500_without_a_traceback(
    client: TestClient, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
):
    def broken(*_: object, **__: object) -> None:
        raise RuntimeError("secret internals")

    monkeypatch.setattr("vigil.http.pictures.compare", broken)
    pair = [upload("a", "obama.jpg"), upload("b", "biden.jpg")]
    response = client.post("/v1/compare", files=pair)
    body = problem(response, 500, "internal_error")
    assert "secret" not in response.text and "RuntimeError" not in body["detail"]
    assert "secret internals" in caplog.text  # logged, with its traceback, for the operator
    assert client.get("/healthz").status_code == 200


# -- the body limit -----------------------------------------------------------------------


def test_a_body_over_the_limit_is_413(client: TestClient):
    response = client.post("/v1/analyze", content=b"x" * (LIMIT + 1), headers=JSON)
    body = problem(response, 413, "file_too_large")
    assert "VIGIL_HTTP_MAX_BODY" in body["detail"]


def keyed_app(folder: Path, max_body: int) -> tuple[Any, list[tuple[bytes, bytes]]]:
    """An app with a key file of one admin key, and the header that sends the key."""
    key = new_key(folder / "keys.json")
    app = create_app(
        folder / "g.db", folder / "h.db", max_body=max_body, keys_path=folder / "keys.json"
    )
    return app, [(b"authorization", f"Bearer {key}".encode())]


def asgi_post(app: Any, headers: list[tuple[bytes, bytes]], chunks: list[bytes]):
    """POST /v1/analyze straight into the ASGI app; (status, body, chunks it read)."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/v1/analyze",
        "raw_path": b"/v1/analyze",
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"testserver"), *headers],
        "client": ("127.0.0.1", 5000),
        "server": ("testserver", 80),
    }
    pending, read, sent = list(chunks), [], []

    async def receive() -> dict[str, Any]:
        if not pending:
            return {"type": "http.disconnect"}
        read.append(pending.pop(0))
        return {"type": "http.request", "body": read[-1], "more_body": bool(pending)}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    status = next(m["status"] for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return status, json.loads(body), len(read)


def test_a_declared_length_over_the_limit_is_refused_before_reading_the_body(tmp_path: Path):
    app, key = keyed_app(tmp_path, 1024)
    headers = [*key, (b"content-type", b"application/json"), (b"content-length", b"1000000000")]
    status, body, read = asgi_post(app, headers, [b"x" * 1024] * 4)
    assert (status, body["code"], read) == (413, "file_too_large", 0)


def test_a_streamed_body_is_refused_once_it_grows_past_the_limit(tmp_path: Path):
    app, key = keyed_app(tmp_path, 1024)
    headers = [*key, (b"content-type", b"multipart/form-data; boundary=b")]
    chunks = [b"--b\r\nContent-Disposition: form-data; name=image; filename=a\r\n\r\n"]
    chunks += [b"x" * 400] * 20
    status, body, read = asgi_post(app, headers, chunks)
    assert (status, body["code"]) == (413, "file_too_large")
    assert read <= 4, "reading stopped at the limit"


def test_the_limit_comes_from_vigil_http_max_body(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    monkeypatch.setenv("VIGIL_HTTP_MAX_BODY", "2048")
    app = create_app(tmp_path / "g.db", tmp_path / "h.db")
    assert app.state.max_body == 2048


# -- model slots ----------------------------------------------------------------------------


def test_model_slots_default_to_the_usable_cores_over_the_network_threads():
    cores = len(os.sched_getaffinity(0))
    assert model_slots(0, 1) == cores and model_slots(0, 64) == 1 and model_slots(3, 1) == 3


def test_model_calls_run_at_most_the_configured_slots_at_once(tmp_path, monkeypatch):
    """Eight analyses at once with two slots: two run, the others wait without a thread."""
    running, peak = 0, 0
    lock = threading.Lock()

    def slow_analysis(image: bytes, options: object, label: str) -> ImageResult:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        time.sleep(0.1)
        with lock:
            running -= 1
        return ImageResult(source=label)

    monkeypatch.setenv("VIGIL_HTTP_MODEL_CALLS", "2")
    monkeypatch.setattr(pictures, "analyze_image", slow_analysis)
    key = new_key(tmp_path / "keys.json")
    app = create_app(tmp_path / "groups.db", tmp_path / "history.db",
                     keys_path=tmp_path / "keys.json", rate=0)  # fmt: skip

    async def analyse_eight() -> list[int]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://vigil", headers=bearer(key)
        ) as client:
            answers = await asyncio.gather(
                *(
                    client.post("/v1/analyze", files=[upload("image", "obama.jpg")])
                    for _ in range(8)
                )
            )
        return [answer.status_code for answer in answers]

    assert asyncio.run(analyse_eight()) == [200] * 8
    assert peak == 2
