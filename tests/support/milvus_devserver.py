"""A local Milvus standalone server for tests, benchmarks and development.

The PyPI package `milvus` 2.3.5 ships Milvus standalone; its pins (pymilvus<2.4)
clash with the project's pymilvus 3.x client, so it lives in its own venv.
Every port is chosen free, including the embedded etcd's peer port (2380 by
default, which would make two servers on one machine clash), so several test
sessions can run side by side. Production runs a real Milvus deployment instead.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

PORTS = (
    "etcd",
    "root-coord",
    "proxy",
    "proxy-internal",
    "query-coord",
    "query-node",
    "index-coord",
    "index-node",
    "data-coord",
    "data-node",
)
READY = "Ctrl+C to exit"  # printed by milvus-server once its /healthz answers


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def install(venv: Path, requirements: Path, timeout: float = 1200) -> Path:
    """The `milvus-server` launcher of `venv`, creating the venv when missing."""
    binary = venv / "bin" / "milvus-server"
    if not binary.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "-r", str(requirements)]
        subprocess.run(pip, check=True, timeout=timeout)
    return binary


def etcd_config(path: Path, client: int, peer: int) -> Path:
    path.write_text(
        f"listen-client-urls: http://127.0.0.1:{client}\n"
        f"advertise-client-urls: http://127.0.0.1:{client}\n"
        f"listen-peer-urls: http://127.0.0.1:{peer}\n"
        f"initial-advertise-peer-urls: http://127.0.0.1:{peer}\n"
        f"initial-cluster: default=http://127.0.0.1:{peer}\n"
    )
    return path


class DevServer:
    """`with DevServer(binary, workdir) as uri:` a started server, stopped on exit."""

    def __init__(self, binary: Path, workdir: Path, start_timeout: float = 240) -> None:
        self.binary = binary
        self.workdir = workdir
        self.start_timeout = start_timeout
        self.log = workdir / "launcher.log"
        self.process: subprocess.Popen | None = None

    def __enter__(self) -> str:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    def start(self) -> str:
        ports = {name: free_port() for name in PORTS}
        command = [str(self.binary), "--data", str(self.workdir / "data")]
        for name, port in ports.items():
            command += [f"--{name}-port", str(port)]
        etcd = etcd_config(self.workdir / "embedEtcd.yaml", ports["etcd"], free_port())
        with self.log.open("w") as handle:
            self.process = subprocess.Popen(
                command,
                stdout=handle,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group, so stop() reaches the child
                env=dict(os.environ, ETCD_CONFIG_PATH=str(etcd)),  # Milvus reads env config
            )
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return f"http://127.0.0.1:{ports['proxy']}"

    def _wait_ready(self) -> None:
        assert self.process is not None
        deadline = time.monotonic() + self.start_timeout
        text = ""
        while time.monotonic() < deadline and self.process.poll() is None:
            text = self.log.read_text(errors="replace")
            if READY in text:
                return
            time.sleep(0.5)
        raise RuntimeError(f"milvus-server did not start ({self.start_timeout}s):\n{text[-3000:]}")

    def stop(self) -> None:
        """SIGINT lets the launcher stop its `milvus` child; killing the group is the fallback."""
        process, self.process = self.process, None
        if process is None:
            return
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(30)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
