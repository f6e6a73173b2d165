"""Shared fixtures: paths to the real test media and real services started per session."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.processes import free_port, start_tansu, stop, wait_for_port

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "tests" / "media"  # in the repo; provenance in its README
IMAGES = FIXTURES / "images"
VIDEOS = FIXTURES / "video"


@pytest.fixture(scope="session")
def images() -> Path:
    assert IMAGES.is_dir(), f"test media missing: {IMAGES}"
    return IMAGES


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A private Redis server for this test session (nothing shared with other runs)."""
    binary = shutil.which("redis-server")
    assert binary, "redis-server is not installed (.ci/run installs it)"
    port = free_port()
    workdir = tmp_path_factory.mktemp("redis")
    process = subprocess.Popen(
        [
            binary,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(workdir),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port)
        yield f"redis://127.0.0.1:{port}"
    finally:
        stop(process)


@pytest.fixture(scope="session")
def celery_worker(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """A real `vigil worker` process on the session's Redis; yields the env to reach it."""
    env = dict(
        os.environ,
        VIGIL_CELERY_BROKER=f"{redis_url}/0",
        VIGIL_CELERY_BACKEND=f"{redis_url}/1",
        VIGIL_CELERY_EAGER="false",
        # tasks may read paths only under these roots (infra/safe_read.py): the tests'
        # temporary folders, where they write archives and pictures for the worker
        VIGIL_TASK_FILE_ROOTS=str(tmp_path_factory.getbasetemp()),
    )
    log = tmp_path_factory.mktemp("worker") / "worker.log"
    with log.open("w") as handle:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "vigil.cli.main",
                "worker",
                "--pool",
                "prefork",
                "-c",
                "1",
                "--loglevel",
                "INFO",
            ],
            env=env,
            stdout=handle,
            stderr=subprocess.STDOUT,
        )
    try:
        yield {"env": env, "process": process, "log": log}
    finally:
        stop(process, timeout=20)


@pytest.fixture(scope="session")
def celery_client(celery_worker: dict):
    """A Celery app that submits to the session's real worker (not eager)."""
    from vigil.infra.celery_app import create_app
    from vigil.infra.settings import Settings

    env = celery_worker["env"]
    return create_app(
        Settings(
            celery_broker=env["VIGIL_CELERY_BROKER"],
            celery_backend=env["VIGIL_CELERY_BACKEND"],
            celery_eager=False,
        )
    )


@pytest.fixture(scope="session")
def vtest_first_frame() -> bytes:
    """First frame of the CCTV sample, as PNG bytes (lossless)."""
    import cv2

    capture = cv2.VideoCapture(str(VIDEOS / "vtest.avi"))
    ok, frame = capture.read()
    capture.release()
    assert ok, "could not read vtest.avi"
    return cv2.imencode(".png", frame)[1].tobytes()


def tansu_broker(tmp_path_factory: pytest.TempPathFactory, name: str) -> Iterator[str]:
    """A real Kafka-protocol broker (tansu, in-memory storage); yields its address."""
    port = free_port()
    log = tmp_path_factory.mktemp(name) / "tansu.log"
    with log.open("w") as handle:
        process = start_tansu(port, handle)
    try:
        yield f"127.0.0.1:{port}"
    finally:
        stop(process)


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The test session's broker, shared by every module that does not bring its own."""
    yield from tansu_broker(tmp_path_factory, "tansu")


KAFKA_TEST_TIMEOUTS = {
    "VIGIL_KAFKA_SESSION_TIMEOUT_MS": "6000",
    "VIGIL_KAFKA_MAX_POLL_INTERVAL_MS": "60000",
    "VIGIL_KAFKA_HEARTBEAT_INTERVAL_MS": "1000",
}


@pytest.fixture(scope="session")
def distributed_env(kafka_bootstrap: str, celery_worker: dict) -> dict[str, str]:
    """Environment for `vigil` processes talking to the test broker and Celery workers."""
    return dict(
        celery_worker["env"],
        VIGIL_BUS="kafka",
        VIGIL_KAFKA_BOOTSTRAP=kafka_bootstrap,
        **KAFKA_TEST_TIMEOUTS,
    )


@pytest.fixture(scope="session")
def rtsp_ready() -> None:
    from tests.rtsp_server import RtspServer

    assert RtspServer.available(), (
        "Debian's GStreamer RTSP server is missing: apt-get install $(grep -v '^#'"
        " .ci/apt-packages.txt)"
    )
