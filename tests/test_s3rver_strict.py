"""The local S3 server under the durable broker keeps the guarantees tansu relies on.

tansu's s3:// engine writes each partition's watermark with conditional PUTs. A PUT cut
by a dying broker while it queued behind another on the same key once held that key's
lock for good: every later produce to the partition hung, and the restarted broker
answered the ingestor with UnknownError after 30 s (a flaky broker-restart fault test).
"""

from __future__ import annotations

import http.client
import socket
import threading
import time

import pytest

from tests.support.processes import TANSU_BUCKET, free_port, start_s3rver, stop

pytestmark = pytest.mark.integration


@pytest.fixture
def s3_port(tmp_path):
    port = free_port()
    process = start_s3rver(port, tmp_path / "s3", (tmp_path / "s3rver.log").open("w"))
    try:
        yield port
    finally:
        stop(process)


def put(port: int, key: str, body: bytes, headers: dict[str, str] | None = None) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        connection.request("PUT", f"/{TANSU_BUCKET}/{key}", body=body, headers=headers or {})
        return connection.getresponse().status
    finally:
        connection.close()


def raw_put_head(port: int, key: str, length: int) -> socket.socket:
    """A PUT whose body the caller sends (or never finishes) on the returned socket."""
    sock = socket.create_connection(("127.0.0.1", port))
    head = f"PUT /{TANSU_BUCKET}/{key} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
    sock.sendall(f"{head}Content-Length: {length}\r\n\r\n".encode())
    return sock


def test_create_only_put_refuses_an_existing_object(s3_port):
    assert put(s3_port, "watermark", b"1", {"If-None-Match": "*"}) == 200
    assert put(s3_port, "watermark", b"2", {"If-None-Match": "*"}) == 412


def test_a_put_cut_while_queued_does_not_block_the_key(s3_port):
    slow = raw_put_head(s3_port, "watermark", 10)
    slow.sendall(b"x" * 5)  # holds the key's lock until the rest arrives
    time.sleep(0.3)
    cut = raw_put_head(s3_port, "watermark", 100)
    cut.sendall(b"y" * 10)
    time.sleep(0.1)
    cut.close()  # the broker died mid-upload, queued behind `slow`

    def finish_slow() -> None:
        time.sleep(1.0)
        slow.sendall(b"x" * 5)
        slow.recv(1000)
        slow.close()

    finisher = threading.Thread(target=finish_slow)
    finisher.start()
    try:
        assert put(s3_port, "watermark", b"after the restart") == 200
    finally:
        finisher.join()
