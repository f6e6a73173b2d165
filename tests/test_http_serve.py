"""`vigil serve` as a real process: it answers, refuses a body by its length, stops on SIGTERM."""

from __future__ import annotations

import json
import signal
import socket
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.support.api_keys import bearer, new_key
from tests.support.processes import free_port, start_vigil_serve, stop, wait_healthy
from vigil.cli.main import main


def test_serve_help(capsys: pytest.CaptureFixture[str]):
    with pytest.raises(SystemExit) as done:
        main(["serve", "--help"])
    assert done.value.code == 0
    out = capsys.readouterr().out
    assert all(option in out for option in ("--host", "--port", "--groups-uri", "--history-uri"))


def get(url: str, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url, headers=headers or {})
    with urllib.request.urlopen(request, timeout=5) as response:
        return response.status, response.read()


def post_headers_only(port: int, length: int) -> tuple[int, dict]:
    """POST headers announcing `length` bytes, and not one byte of body; the answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as connection:
        connection.sendall(
            b"POST /v1/analyze HTTP/1.1\r\nHost: localhost\r\n"
            b"Content-Type: application/json\r\n" + f"Content-Length: {length}\r\n\r\n".encode()
        )
        answer = b""
        while b"\r\n\r\n" not in answer or not answer.rstrip().endswith(b"}"):
            chunk = connection.recv(65536)
            if not chunk:
                break
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(body)


def test_vigil_serve_runs_refuses_big_bodies_unread_and_stops_on_sigterm(tmp_path: Path):
    port = free_port()
    key = new_key(tmp_path / "keys.json")
    log = (tmp_path / "serve.log").open("w")
    process = start_vigil_serve(port, tmp_path, log, {"VIGIL_HTTP_MAX_BODY": "4096"})
    try:
        wait_healthy(port, process)
        groups = f"http://127.0.0.1:{port}/v1/groups"
        with pytest.raises(urllib.error.HTTPError) as refused:
            get(groups)
        assert refused.value.code == 401
        assert refused.value.headers["WWW-Authenticate"] == "Bearer"
        assert get(groups, bearer(key)) == (200, b"[]")  # opens the store
        status, problem = post_headers_only(port, 10**9)
        assert (status, problem["code"]) == (413, "file_too_large")
        assert_stops_on_sigterm(process, within=10)
    finally:
        stop(process)
        log.close()
    assert (tmp_path / "groups.db").exists()
    assert key not in (tmp_path / "serve.log").read_text()


def assert_stops_on_sigterm(process, within: float) -> None:
    began = time.monotonic()
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=10) == 0
    assert time.monotonic() - began < within


def test_vigil_serve_stops_promptly_with_an_event_stream_open(tmp_path: Path):
    """uvicorn's graceful stop waits for open responses: an event stream must not hold it."""
    port = free_port()
    key = new_key(tmp_path / "keys.json")
    log = (tmp_path / "serve.log").open("w")
    process = start_vigil_serve(port, tmp_path, log)
    try:
        wait_healthy(port, process)
        with socket.create_connection(("127.0.0.1", port), timeout=30) as stream:
            stream.sendall(
                b"GET /v1/alerts/stream HTTP/1.1\r\nHost: localhost\r\n"
                + f"Authorization: Bearer {key}\r\n\r\n".encode()
            )
            assert b"text/event-stream" in stream.recv(4096)
            assert_stops_on_sigterm(process, within=5)
    finally:
        stop(process)
        log.close()
