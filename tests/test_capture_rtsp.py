"""A live RTSP camera through the whole pipeline: captures, server killed, capture resumes."""

from __future__ import annotations

import threading
import time

import pytest

from tests.conftest import VIDEOS
from tests.rtsp_server import RtspServer
from vigil.infra.bus.memory import MemoryBus
from vigil.infra.config import single_camera_config
from vigil.schemas.capture import CaptureEvent
from vigil.workers.pipeline import run_all

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("rtsp_ready")]
WAIT = 90


def wait_until(condition, what: str, server: RtspServer) -> None:
    deadline = time.monotonic() + WAIT
    while not condition():
        assert time.monotonic() < deadline, f"not within {WAIT}s: {what} ({server.status()})"
        time.sleep(0.1)


def test_capture_resumes_after_the_rtsp_server_restarts():
    server = RtspServer(VIDEOS / "carphone_pristine.mp4").start()
    config = single_camera_config(
        server.url, camera_id="rtsp-cam", types=["face"], stall_timeout=5.0
    )
    captures = []
    stop = threading.Event()
    runner = threading.Thread(
        target=run_all, args=(MemoryBus(), config, stop), kwargs={"on_capture": captures.append}
    )
    runner.start()
    try:
        wait_until(
            lambda: any(c.event == CaptureEvent.NEW for c in captures), "a first capture", server
        )
        server.stop()
        wait_until(
            lambda: any(c.event == CaptureEvent.END for c in captures),
            "the face track is closed as soon as the camera drops",
            server,
        )
        before = len(captures)
        server.start()
        wait_until(
            lambda: any(c.event == CaptureEvent.NEW for c in captures[before:]),
            "a new capture after the restart",
            server,
        )
    finally:
        stop.set()
        runner.join(30)
        server.stop()
    assert not runner.is_alive()
    tracks = {c.capture_id for c in captures}
    assert len(tracks) >= 2, "one track before the outage, one after"
    assert all(c.camera_id == "rtsp-cam" for c in captures)
