"""Hostile files named on the command line: devices, pipes and huge files are refused
before they are read, and nothing is read past its limit.

Before `vigil.infra.safe_read`, `vigil analyze /dev/zero` grew to 8 GB in 10 s,
`vigil run /dev/zero` to 23 GB, `vigil search --feature /dev/zero` was killed, and a
FIFO named as a picture (`vigil analyze`, `vigil group add`, a CSV row of `vigil enroll`)
hung for ever. Each command here runs as its own process under a watchdog that kills
it past 1 GB of RSS or its time limit, so a regression fails the test instead of the
machine.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.test_hostile_media import jpeg_claiming, jpeg_with_metadata, png_rgba16
from vigil.errors import VigilError

pytestmark = pytest.mark.timeout(180)
RSS_LIMIT = 1 << 30  # the bound every hostile file must stay under
GIB = 1 << 30


@dataclass
class Outcome:
    returncode: int | None
    stdout: str
    stderr: str
    max_rss: int  # bytes: the child's own high-water mark (VmHWM), sampled every 20 ms
    wall_s: float
    killed: str | None  # why the watchdog killed it, if it did


def rss_of(pid: int, field: str = "VmRSS") -> int:
    """A memory figure of a live process from /proc, in bytes (0 once it is gone).

    Not wait4's ru_maxrss: Linux carries the parent's high-water mark over fork and exec,
    so a child of a pytest process that holds 1 GB of models would report 1 GB itself.
    VmHWM is the child's own address space's peak, reset at exec.
    """
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith(f"{field}:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def vigil(*argv: str | Path, cwd: Path, timeout: float = 60.0, env: dict | None = None) -> Outcome:
    """Run `vigil ARGV` in a child process; kill it past RSS_LIMIT or `timeout`."""
    out, err = cwd / "stdout.txt", cwd / "stderr.txt"
    environment = dict(
        os.environ,
        VIGIL_GROUPS_URI=str(cwd / "groups.db"),
        VIGIL_HISTORY_URI=str(cwd / "history.db"),
        **(env or {}),
    )
    command = [sys.executable, "-m", "vigil.cli.main", *map(str, argv)]
    started = time.monotonic()
    with out.open("wb") as stdout, err.open("wb") as stderr:
        child = subprocess.Popen(command, cwd=cwd, env=environment, stdout=stdout, stderr=stderr)
    killed: list[str] = []
    peak = [0]
    done = threading.Event()

    def watch() -> None:
        while not done.wait(0.02):
            rss = rss_of(child.pid)
            peak[0] = max(peak[0], rss, rss_of(child.pid, "VmHWM"))
            late = time.monotonic() - started > timeout
            if rss > RSS_LIMIT or late:
                killed.append(f"RSS {rss / GIB:.2f} GB" if rss > RSS_LIMIT else f"{timeout} s")
                child.kill()
                return

    watchdog = threading.Thread(target=watch, daemon=True)
    watchdog.start()
    _, status, _ = os.wait4(child.pid, 0)
    done.set()
    watchdog.join()
    child.returncode = os.waitstatus_to_exitcode(status)
    return Outcome(
        returncode=None if killed else child.returncode,
        stdout=out.read_text(errors="replace"),
        stderr=err.read_text(errors="replace"),
        max_rss=peak[0],
        wall_s=time.monotonic() - started,
        killed=killed[0] if killed else None,
    )


def bounded(outcome: Outcome) -> Outcome:
    assert outcome.killed is None, f"killed after {outcome.killed}: {outcome.stderr[-2000:]}"
    assert outcome.max_rss < RSS_LIMIT, f"{outcome.max_rss / GIB:.2f} GB"
    return outcome


@pytest.fixture
def fifo(tmp_path: Path) -> Path:
    path = tmp_path / "pipe.jpg"
    os.mkfifo(path)  # nobody writes: a blocking open would wait for ever
    return path


@pytest.fixture
def sparse(tmp_path: Path) -> Path:
    """3 GB that starts like a JPEG; sparse, so it costs no disk."""
    path = tmp_path / "huge.jpg"
    with path.open("wb") as handle:
        handle.write(b"\xff\xd8\xff\xe0")
        handle.truncate(3 * GIB)
    return path


def test_vigil_analyze_refuses_every_hostile_file_in_bounded_memory_and_time(
    tmp_path: Path, fifo: Path, sparse: Path
):
    """The hostile set of issue 12, one `vigil analyze` process: RSS < 1 GB, seconds."""
    pictures = {
        "rgba16.png": png_rgba16(7000, 7000),  # 381 KB: 392 MB of samples, 2.2 GB before
        "claim.jpg": jpeg_claiming(7000),  # 631 bytes claiming 7000x7000: 7 s before
        "exif.jpg": jpeg_with_metadata(40),  # 40 MB of EXIF on a 16x16 picture
    }
    for name, data in pictures.items():
        (tmp_path / name).write_bytes(data)
    hostile = ["/dev/zero", fifo, sparse, tmp_path, *pictures]
    outcome = bounded(vigil("analyze", "--json", *hostile, cwd=tmp_path, timeout=90))
    assert outcome.returncode == 1, outcome.stderr[-2000:]
    results = json.loads(outcome.stdout)["results"]
    codes = {r["source"]: r["error"]["code"] for r in results}
    assert codes == {
        "/dev/zero": "not_a_regular_file",
        str(fifo): "not_a_regular_file",
        str(sparse): "file_too_large",
        str(tmp_path): "file_not_found",
        "rgba16.png": "image_too_large",
        "claim.jpg": "corrupt_image",
        "exif.jpg": "image_too_large",
    }
    from vigil.infra.safe_read import IMAGE_LIMIT

    messages = {r["source"]: r["error"]["message"] for r in results}
    assert "character device" in messages["/dev/zero"] and "FIFO" in messages[str(fifo)]
    assert f"{IMAGE_LIMIT:,}" in messages[str(sparse)]


def test_configs_are_read_bounded(tmp_path: Path, fifo: Path):
    big = tmp_path / "big.yaml"
    big.write_text("cameras: []\n" + "#" * 2_000_000)  # configs are limited to 1 MiB
    for config, code in [
        ("/dev/zero", "not_a_regular_file"),  # killed by the kernel at 23 GB before
        (fifo, "not_a_regular_file"),  # hung for ever before
        (big, "file_too_large"),
    ]:
        outcome = bounded(vigil("run", config, cwd=tmp_path, timeout=30))
        assert outcome.returncode == 2, outcome.stderr
        assert f"[{code}]" in outcome.stderr and str(config) in outcome.stderr


def test_feature_files_are_read_bounded(tmp_path: Path, fifo: Path):
    from vigil.groups.service import GroupService

    with GroupService(str(tmp_path / "groups.db")) as service:
        service.create_group("staff")
    for feature in ("/dev/zero", fifo):  # /dev/zero: killed (137) before
        outcome = bounded(
            vigil("search", "--feature", feature, "--group", "staff", "--json", cwd=tmp_path)
        )
        assert outcome.returncode == 1, outcome.stderr
        assert json.loads(outcome.stdout)["error"]["code"] == "not_a_regular_file"


def test_group_add_and_enroll_do_not_hang_on_pipes_or_devices(tmp_path: Path, fifo: Path):
    outcome = bounded(vigil("group", "add", "staff", "ann", fifo, "--json", cwd=tmp_path))
    assert outcome.returncode == 1, outcome.stderr
    assert json.loads(outcome.stdout)["error"]["code"] == "not_a_regular_file"

    table = tmp_path / "people.csv"
    table.write_text(f"path,person_id\n{fifo},ann\n/dev/zero,bob\n")
    report = tmp_path / "report.jsonl"
    argv = ["enroll", table, "--group", "staff", "--create", "--report", report, "--json"]
    outcome = bounded(vigil(*argv, cwd=tmp_path))
    assert outcome.returncode == 0, outcome.stderr
    lines = [json.loads(line) for line in report.read_text().splitlines()]
    assert [(r["person_id"], r["reason"]) for r in lines] == [
        ("ann", "unreadable"),
        ("bob", "unreadable"),
    ]
    assert all(r["detail"].startswith("not_a_regular_file") for r in lines)


# --- the helper itself ----------------------------------------------------------------------


def test_read_limited_reads_at_most_its_limit(tmp_path: Path):
    from vigil.infra.safe_read import read_limited

    path = tmp_path / "ten.bin"
    path.write_bytes(b"0123456789")
    assert read_limited(path, 10) == b"0123456789"
    with pytest.raises(VigilError) as caught:
        read_limited(path, 9, what="feature file")
    assert caught.value.code == "file_too_large"
    assert "feature file" in caught.value.message and "9 bytes" in caught.value.message


def test_a_file_larger_than_its_stat_is_still_cut_at_the_limit():
    """/proc files report a size of 0: the read itself stops at limit + 1."""
    from vigil.infra.safe_read import FEATURE_LIMIT, read_limited

    with pytest.raises(VigilError) as caught:
        read_limited("/proc/self/maps", 16)
    assert caught.value.code == "file_too_large"
    assert read_limited("/proc/self/maps", FEATURE_LIMIT).count(b"\n") > 1


@pytest.mark.parametrize("kind", ["fifo", "device", "socket", "directory", "missing"])
def test_read_limited_refuses_what_is_not_a_regular_file(tmp_path: Path, kind: str):
    import socket

    from vigil.infra.safe_read import read_limited

    path = tmp_path / "thing"
    expected = "not_a_regular_file"
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "device":
        path = Path("/dev/null")
    elif kind == "socket":
        server = socket.socket(socket.AF_UNIX)
        server.bind(str(path))
    elif kind == "directory":
        path.mkdir()
        expected = "file_not_found"
    else:
        expected = "file_not_found"
    started = time.monotonic()
    with pytest.raises(VigilError) as caught:
        read_limited(path, 100)
    assert caught.value.code == expected and time.monotonic() - started < 1
    assert str(path) in caught.value.message
