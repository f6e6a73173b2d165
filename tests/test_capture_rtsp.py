"""A live RTSP camera through the whole pipeline: captures, server killed, capture resumes.

The outage test keeps the camera away for VIGIL_RTSP_OUTAGE_S seconds (10 in CI; the
field's "gone for a minute" is `VIGIL_RTSP_OUTAGE_S=60`, which also waits out the
reconnect backoff's 30 s cap).
"""

from __future__ import annotations

import os
import signal
import threading
import time
import uuid

import pytest

from tests.conftest import VIDEOS
from tests.rtsp_server import RtspServer
from vigil.infra.bus.memory import MemoryBus
from vigil.infra.config import single_camera_config
from vigil.infra.metrics import REGISTRY, SOURCE_STATES
from vigil.schemas.capture import CaptureEvent
from vigil.workers.pipeline import run_all

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("rtsp_ready")]
WAIT = 90
OUTAGE_S = float(os.environ.get("VIGIL_RTSP_OUTAGE_S", "10"))


def wait_until(condition, what: str, server: RtspServer) -> None:
    deadline = time.monotonic() + WAIT
    while not condition():
        assert time.monotonic() < deadline, f"not within {WAIT}s: {what} ({server.status()})"
        server.revive_if_crashed()
        time.sleep(0.1)


def test_a_test_server_that_crashed_is_revived_on_its_port():
    server = RtspServer().start()
    try:
        port = server.port
        server._signal(signal.SIGABRT)  # what GStreamer's failed assertion does
        server._process.wait()
        assert server.revive_if_crashed()
        assert (server.port, server.crashes) == (port, 1)
        assert not server.revive_if_crashed(), "running again"
    finally:
        server.stop()


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


def source_state(camera: str) -> str | None:
    """The camera's state as /metrics shows it."""
    labels = {"camera": camera}
    return next(
        (
            state
            for state in SOURCE_STATES
            if REGISTRY.get_sample_value(
                "vigil_source_state", {**labels, "vigil_source_state": state}
            )
        ),
        None,
    )


def reconnects(camera: str) -> float:
    return REGISTRY.get_sample_value("vigil_reconnects_total", {"camera": camera}) or 0.0


class StateLog:
    """Samples a camera's state every 20 ms: (seconds since start, state) at each change."""

    def __init__(self, camera: str) -> None:
        self.camera = camera
        self.changes: list[tuple[float, str | None]] = []
        self._stop = threading.Event()
        self._start = time.monotonic()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()

    def now(self) -> float:
        return time.monotonic() - self._start

    def between(self, start: float, end: float) -> set[str | None]:
        """States held at any time in [start, end]."""
        held = {state for at, state in self.changes if start <= at <= end}
        before = [state for at, state in self.changes if at < start]
        return held | set(before[-1:])

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)

    def _watch(self) -> None:
        while not self._stop.wait(0.02):
            state = source_state(self.camera)
            if not self.changes or self.changes[-1][1] != state:
                self.changes.append((self.now(), state))


def test_camera_gone_for_a_while_reconnects_and_capture_resumes():
    camera = f"rtsp-outage-{uuid.uuid4().hex[:6]}"  # metrics are per process: a fresh label
    server = RtspServer(VIDEOS / "carphone_pristine.mp4").start()
    config = single_camera_config(server.url, camera_id=camera, types=["face"], stall_timeout=5.0)
    states = StateLog(camera)
    captures: list[tuple[float, object]] = []
    stop = threading.Event()
    runner = threading.Thread(
        target=run_all,
        args=(MemoryBus(), config, stop),
        kwargs={"on_capture": lambda c: captures.append((states.now(), c))},
    )
    runner.start()

    def events(kind: CaptureEvent, after: float = 0.0) -> list:
        return [c for at, c in captures if c.event == kind and at >= after]

    try:
        wait_until(lambda: events(CaptureEvent.NEW), "a first capture", server)
        assert source_state(camera) == "streaming"
        reconnects_before = reconnects(camera)
        server.stop()
        dropped = states.now()
        wait_until(lambda: source_state(camera) == "reconnecting", "reconnecting", server)
        wait_until(lambda: events(CaptureEvent.END), "open tracks ended on the drop", server)
        time.sleep(max(0.0, dropped + OUTAGE_S - states.now()))
        open_before = {c.capture_id for c in events(CaptureEvent.NEW)}
        server.start()
        restarted = states.now()
        wait_until(lambda: source_state(camera) == "streaming", "streaming again", server)
        wait_until(
            lambda: events(CaptureEvent.NEW, after=restarted), "a capture after the outage", server
        )
        recovered = states.now()
    finally:
        stop.set()
        runner.join(30)
        server.stop()
        states.close()
    assert not runner.is_alive()
    during = states.between(dropped + 1.0, restarted)
    assert "streaming" not in during and "reconnecting" in during, states.changes
    assert reconnects(camera) >= reconnects_before + 1
    ended = {c.capture_id for at, c in captures if c.event == CaptureEvent.END and at < restarted}
    assert open_before <= ended, "every track open at the drop ended during the outage"
    after = {c.capture_id for c in events(CaptureEvent.NEW, after=restarted)}
    assert after and not after & open_before, "new tracks after the outage, none reopened"
    streaming = next(at for at, state in states.changes if at > restarted and state == "streaming")
    print(
        f"outage {OUTAGE_S:.0f}s: streaming {streaming - restarted:.1f}s and a new capture"
        f" {recovered - restarted:.1f}s after the restart; reconnect attempts"
        f" {reconnects(camera) - reconnects_before:.0f}"
    )
