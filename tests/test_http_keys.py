"""API keys of the HTTP API: `vigil keys` create/list/revoke, 401/403/429, CORS.

Routes that need no model (GET /v1/groups, POST /v1/groups) keep these tests quick.
"""

from __future__ import annotations

import logging
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.support.api_keys import bearer, new_key
from vigil.cli.main import main
from vigil.http.app import create_app
from vigil.infra.api_keys import KeyStore, Scope

ORIGIN = "https://console.example.com"


def problem(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == code
    return response.json()


def vigil_keys(capsys: pytest.CaptureFixture[str], path: Path, *argv: str) -> str:
    assert main(["keys", "--file", str(path), *argv]) == 0
    return capsys.readouterr().out


def client_for(folder: Path, **options: Any) -> TestClient:
    app = create_app(
        folder / "groups.db", folder / "history.db", keys_path=folder / "keys.json", **options
    )
    return TestClient(app, raise_server_exceptions=False)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    return tmp_path


@pytest.fixture
def client(folder: Path) -> Iterator[TestClient]:
    with client_for(folder, rate=0) as opened:
        yield opened


# -- the CLI ------------------------------------------------------------------------------


def test_create_list_revoke_with_the_cli(
    capsys: pytest.CaptureFixture[str], folder: Path, client: TestClient
):
    path = folder / "keys.json"
    key = vigil_keys(capsys, path, "create", "--name", "ci", "--scope", "read").strip()
    assert key.startswith("vk_") and len(key) > 40
    text = path.read_text()
    assert key not in text and key.split("_", 2)[2] not in text  # only the digest is kept
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    [record] = KeyStore(path).load()
    assert record.name == "ci" and record.scopes == [Scope.READ]

    listed = vigil_keys(capsys, path, "list")
    assert record.id in listed and "ci" in listed and "read" in listed and key not in listed
    assert client.get("/v1/groups", headers=bearer(key)).status_code == 200

    assert record.id in vigil_keys(capsys, path, "revoke", record.id)
    assert record.id not in vigil_keys(capsys, path, "list")
    problem(client.get("/v1/groups", headers=bearer(key)), 401, "unauthorized")
    assert main(["keys", "--file", str(path), "revoke", record.id]) == 2  # gone already


def test_scopes_are_required_choices(capsys: pytest.CaptureFixture[str], folder: Path):
    with pytest.raises(SystemExit):
        main(["keys", "--file", str(folder / "k.json"), "create", "--name", "x", "--scope", "root"])
    with pytest.raises(SystemExit):
        main(["keys", "--file", str(folder / "k.json"), "create", "--name", "x"])
    assert not (folder / "k.json").exists()


# -- 401, 403 -----------------------------------------------------------------------------


def test_no_key_file_refuses_every_v1_request_and_says_how_to_create_one(
    folder: Path, caplog: pytest.LogCaptureFixture
):
    with caplog.at_level(logging.WARNING), client_for(folder) as client:
        body = problem(client.get("/v1/groups"), 401, "unauthorized")
        assert "vigil keys create" in body["detail"]
        problem(client.get("/v1/groups", headers=bearer("vk_00000000_x")), 401, "unauthorized")
        assert client.get("/healthz").status_code == 200
    assert "vigil keys create" in caplog.text


def test_401_without_a_key_or_with_a_wrong_one(folder: Path, client: TestClient):
    key = new_key(folder / "keys.json", Scope.READ)
    missing = client.get("/v1/groups")
    problem(missing, 401, "unauthorized")
    assert missing.headers["www-authenticate"] == "Bearer"
    wrong = key[:-4] + ("aaaa" if not key.endswith("aaaa") else "bbbb")
    for headers in (
        bearer(wrong),
        {"X-API-Key": wrong},
        bearer("not-a-key"),
        {"Authorization": f"Basic {key}"},
    ):
        problem(client.get("/v1/groups", headers=headers), 401, "unauthorized")
    assert client.get("/v1/groups", headers={"X-API-Key": key}).status_code == 200
    problem(client.post("/v1/analyze", json={}), 401, "unauthorized")  # before the body
    assert client.get("/healthz").status_code == 200
    problem(client.get("/metrics"), 401, "unauthorized")


def test_a_read_key_cannot_write_a_write_key_can(folder: Path, client: TestClient):
    reader = new_key(folder / "keys.json", Scope.READ, name="reader")
    writer = new_key(folder / "keys.json", Scope.WRITE, name="writer")
    body = problem(
        client.post("/v1/groups", json={"name": "staff"}, headers=bearer(reader)), 403, "forbidden"
    )
    assert "write" in body["detail"] and reader not in body["detail"]
    problem(client.delete("/v1/groups/staff", headers=bearer(reader)), 403, "forbidden")
    problem(client.get("/metrics", headers=bearer(reader)), 403, "forbidden")
    created = client.post("/v1/groups", json={"name": "staff"}, headers=bearer(writer))
    assert created.status_code == 201, created.text
    assert client.get("/v1/groups/staff", headers=bearer(reader)).status_code == 200
    assert client.get("/v1/groups/staff", headers=bearer(writer)).status_code == 200
    problem(client.get("/metrics", headers=bearer(writer)), 403, "forbidden")


def test_admin_can_do_everything(folder: Path, client: TestClient):
    admin = bearer(new_key(folder / "keys.json", Scope.ADMIN))
    assert client.post("/v1/groups", json={"name": "a"}, headers=admin).status_code == 201
    assert client.patch("/v1/groups/a", json={"name": "b"}, headers=admin).status_code == 200
    assert client.get("/v1/groups", headers=admin).json()[0]["name"] == "b"
    assert client.delete("/v1/groups/b", headers=admin).status_code == 204
    assert client.get("/metrics", headers=admin).status_code == 200


def test_openapi_declares_the_security_schemes_and_401_403_429(client: TestClient):
    document = client.get("/openapi.json").json()
    schemes = document["components"]["securitySchemes"]
    assert schemes["HTTPBearer"]["scheme"] == "bearer"
    assert schemes["APIKeyHeader"] == {
        "type": "apiKey",
        "in": "header",
        "name": "X-API-Key",
        "description": "the same API key in X-API-Key",
    }
    for path, operations in document["paths"].items():
        for operation in operations.values():
            protected = path.startswith("/v1/") or path == "/metrics"
            assert bool(operation.get("security")) == protected, path
            assert {"401", "403", "429"} <= set(operation["responses"]) or not protected
    assert (
        "WWW-Authenticate" in document["paths"]["/v1/groups"]["get"]["responses"]["401"]["headers"]
    )


# -- the rate limit -----------------------------------------------------------------------


def test_429_after_the_burst_with_retry_after(folder: Path):
    key = new_key(folder / "keys.json", Scope.READ)
    other = new_key(folder / "keys.json", Scope.READ)
    with client_for(folder, rate=0.01, burst=3) as client:
        for _ in range(3):
            assert client.get("/v1/groups", headers=bearer(key)).status_code == 200
        refused = client.get("/v1/groups", headers=bearer(key))
        problem(refused, 429, "rate_limited")
        assert int(refused.headers["retry-after"]) >= 1
        assert client.get("/v1/groups", headers=bearer(other)).status_code == 200  # per key
        assert client.get("/healthz").status_code == 200


def test_the_rate_comes_from_the_settings(folder: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("VIGIL_HTTP_RATE", "5")
    monkeypatch.setenv("VIGIL_HTTP_BURST", "7")
    app = client_for(folder).app
    limits = app.state.rate_limits  # type: ignore[attr-defined]
    assert (limits.rate, limits.burst) == (5.0, 7)


# -- logs, CORS ---------------------------------------------------------------------------


def test_the_key_is_never_logged(
    folder: Path, client: TestClient, caplog: pytest.LogCaptureFixture
):
    key = new_key(folder / "keys.json", Scope.READ)
    with caplog.at_level(logging.DEBUG):
        assert client.get("/v1/groups", headers=bearer(key)).status_code == 200
        client.post("/v1/groups", json={"name": "x"}, headers=bearer(key))  # 403
        client.get("/v1/groups", headers=bearer(key + "x"))  # 401
        client.get("/v1/groups", headers={"X-API-Key": key})
    secret = key.split("_", 2)[2]
    assert secret not in caplog.text


def test_cors_is_off_by_default(client: TestClient):
    response = client.get("/healthz", headers={"Origin": ORIGIN})
    assert "access-control-allow-origin" not in response.headers
    preflight = client.options(
        "/v1/groups", headers={"Origin": ORIGIN, "Access-Control-Request-Method": "GET"}
    )
    assert "access-control-allow-origin" not in preflight.headers


def test_cors_for_the_configured_origins_only(folder: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("VIGIL_HTTP_CORS_ORIGINS", f"{ORIGIN}, https://other.example.com")
    key = new_key(folder / "keys.json", Scope.READ)
    with client_for(folder) as client:
        response = client.get("/v1/groups", headers={"Origin": ORIGIN, **bearer(key)})
        assert response.status_code == 200
        assert response.headers["access-control-allow-origin"] == ORIGIN
        preflight = client.options(
            "/v1/groups",
            headers={
                "Origin": ORIGIN,
                "Access-Control-Request-Method": "GET",
                "Access-Control-Request-Headers": "authorization",
            },
        )
        assert preflight.status_code == 200
        assert preflight.headers["access-control-allow-origin"] == ORIGIN
        stranger = client.get("/healthz", headers={"Origin": "https://evil.example.com"})
        assert "access-control-allow-origin" not in stranger.headers
