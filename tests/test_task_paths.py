"""What a Celery task may read and write on its worker, through a real `vigil worker`.

Policy: tasks take pictures as bytes. A path argument (a picture, an enrolment source
or report, a capture archive) is read or written only inside the folders the worker's
operator lists in VIGIL_TASK_FILE_ROOTS (none by default), after symlinks and `..` are
resolved; anything else is `path_not_allowed`, and no error echoes a file's content.
Before, `vigil.image.analyze("/etc/shadow")` answered `not_an_image ... starts with
726f6f74...` and `vigil.enroll(..., report="/any/dir/x")` created folders and appended
to any file as the worker's user.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from tests.support.processes import stop

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]
SECRET = b"root:$6$hash-that-must-never-be-echoed:19000:0:99999:7:::\n"
TIMEOUT = 120


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, images: Path) -> Path:
    """The one folder the worker serves: two portraits and a few traps."""
    root = tmp_path_factory.mktemp("served").resolve()
    (root / "people" / "obama").mkdir(parents=True)
    for name in ("obama.jpg", "obama2.jpg"):
        (root / "people" / "obama" / name).write_bytes((images / name).read_bytes())
    return root


@pytest.fixture(scope="module")
def secret(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("elsewhere").resolve() / "etc" / "shadow"
    path.parent.mkdir()
    path.write_bytes(SECRET)
    return path


@pytest.fixture(scope="module")
def client(redis_url: str, tmp_path_factory: pytest.TempPathFactory, served: Path) -> Iterator:
    """A `vigil worker` (solo pool) serving `served` only, on its own Redis databases."""
    from vigil.infra.celery_app import create_app
    from vigil.infra.settings import Settings

    home = tmp_path_factory.mktemp("worker-home")
    env = dict(
        os.environ,
        VIGIL_CELERY_BROKER=f"{redis_url}/8",
        VIGIL_CELERY_BACKEND=f"{redis_url}/9",
        VIGIL_CELERY_EAGER="false",
        VIGIL_TASK_FILE_ROOTS=str(served),
        VIGIL_GROUPS_URI=str(home / "groups.db"),
        VIGIL_HISTORY_URI=str(home / "history.db"),
    )
    command = [sys.executable, "-m", "vigil.cli.main", "worker", "--pool", "solo"]
    with (home / "worker.log").open("w") as log:
        worker = subprocess.Popen(command, cwd=home, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        yield create_app(
            Settings(
                celery_broker=env["VIGIL_CELERY_BROKER"],
                celery_backend=env["VIGIL_CELERY_BACKEND"],
                celery_eager=False,
            )
        )
    finally:
        stop(worker, timeout=20)


def call(client, name: str, *args: Any, **kwargs: Any) -> Any:
    return client.send_task(name, args=args, kwargs=kwargs).get(timeout=TIMEOUT, interval=0.01)


def leaks(result: Any) -> bool:
    text = json.dumps(result)
    return any(s in text for s in ("726f6f74", "root:", "hash-that", "never-be-echoed"))


def way_to(secret: Path, served: Path, form: str) -> str:
    """A path argument that names `secret` from outside or tries to reach it from inside."""
    if form == "absolute":
        return str(secret)
    if form == "dot-dot":
        return f"{served}/../{secret.relative_to(served.parent)}"
    if form == "symlink":
        link = served / "innocent.jpg"
        if not link.is_symlink():
            link.symlink_to(secret)
        return str(link)
    return "etc/shadow"  # relative: to the worker's working directory, or a root?


@pytest.mark.parametrize("form", ["absolute", "dot-dot", "symlink", "relative"])
def test_image_analyze_reads_no_file_outside_the_served_folders(
    client, served: Path, secret: Path, form: str
):
    path = way_to(secret, served, form)
    result = call(client, "vigil.image.analyze", path, {"types": ["face"]})
    assert result["error"]["code"] == "path_not_allowed", result
    assert result["source"] == path and not leaks(result)


def test_every_task_that_takes_a_picture_refuses_outside_paths(client, secret: Path, images):
    path = str(secret)
    jpeg = (images / "obama.jpg").read_bytes()
    batch = call(client, "vigil.image.analyze_batch", [path, jpeg], {"types": ["face"]})
    assert [r.get("error", {}).get("code") for r in batch["results"]] == ["path_not_allowed", None]
    outcomes = {
        "compare": call(client, "vigil.compare", path, jpeg),
        "verify": call(client, "vigil.verify", jpeg, path),
        "members.add": call(client, "vigil.groups.members.add", "staff", "ann", [path]),
        "search": call(client, "vigil.search", path, ["staff"]),
        "history.search": call(client, "vigil.history.search", path),
        "cluster": call(client, "vigil.cluster", {}, archive=[str(secret.parent)]),
    }
    for name, outcome in outcomes.items():
        assert outcome.get("error", {}).get("code") == "path_not_allowed", (name, outcome)
        assert not leaks(outcome), name
    analysis = call(client, "vigil.enroll.analyze", path)
    assert analysis["reason"] == "unreadable" and analysis["detail"].startswith("path_not_allowed")
    assert not leaks(analysis) and not leaks(batch)


def test_a_picture_inside_the_served_folders_is_analysed(client, served: Path):
    path = str(served / "people" / "obama" / "obama.jpg")
    result = call(client, "vigil.image.analyze", path, {"types": ["face"]})
    assert result.get("error") is None and len(result["targets"]) == 1
    assert result["source"] == path
    compared = call(client, "vigil.compare", path, str(served / "people/obama/obama2.jpg"))
    assert compared["match"] is True


def test_enroll_reads_and_writes_only_inside_the_served_folders(client, served: Path, secret: Path):
    outside = secret.parent.parent
    people = str(served / "people")
    report = outside / "made" / "report.jsonl"
    refused = call(client, "vigil.enroll", people, "staff", {}, True, str(report))
    assert refused["error"]["code"] == "path_not_allowed"
    assert not (outside / "made").exists(), "no folder created outside the served folders"
    into_a_picture = str(served / "people" / "obama" / "obama.jpg")
    refused = call(client, "vigil.enroll", people, "staff", {}, True, into_a_picture)
    message = refused["error"]["message"]
    assert refused["error"]["code"] == "path_not_allowed" and ".jsonl" in message
    refused = call(client, "vigil.enroll", str(outside), "staff", {}, True)
    assert refused["error"]["code"] == "path_not_allowed"

    (served / "people" / "eve.jpg").symlink_to(secret)  # a portrait that leads outside
    (served / "list.csv").write_text(f"path,person_id\n{secret},mallory\n")
    summary = call(client, "vigil.enroll", people, "staff", {}, True, str(served / "r.jsonl"))
    assert summary.get("error") is None, summary
    assert (summary["enrolled"], summary["rejected"]) == (2, 1)
    assert Path(summary["report"]).parent == served
    lines = [json.loads(line) for line in (served / "r.jsonl").read_text().splitlines()]
    [eve] = [line for line in lines if line["person_id"] == "eve"]
    assert eve["reason"] == "unreadable" and eve["detail"].startswith("path_not_allowed")
    assert "sha256" not in eve, "not even the hash of a file outside is computed"
    table = call(client, "vigil.enroll", str(served / "list.csv"), "staff", {}, False)
    assert table["rejected"] == 1 and not leaks(table)
    assert Path(table["report"]) == served / "vigil-enroll-staff.jsonl"


def test_clients_may_lower_max_pixels_but_not_raise_it(client, images):
    big = cv2.imencode(".jpg", np.full((7000, 7200, 3), 90, np.uint8))[1].tobytes()  # 50.4 MP
    raised = call(client, "vigil.image.analyze", big, {"max_pixels": 400_000_000})
    assert raised["error"]["code"] == "image_too_large", raised
    assert "50,000,000" in raised["error"]["message"]
    small = (images / "obama.jpg").read_bytes()
    lowered = call(client, "vigil.image.analyze", small, {"max_pixels": 1000})
    assert lowered["error"]["code"] == "image_too_large"


def test_a_pipe_inside_the_served_folders_is_refused_without_blocking(client, served: Path):
    """Last: before the fix the open blocked the (solo) worker for ever."""
    pipe = served / "pipe.jpg"
    os.mkfifo(pipe)
    result = call(client, "vigil.image.analyze", str(pipe))
    assert result["error"]["code"] == "not_a_regular_file"
    device = served / "zero.jpg"
    device.symlink_to("/dev/zero")
    result = call(client, "vigil.image.analyze", str(device))
    assert result["error"]["code"] == "path_not_allowed"


def test_in_process_calls_read_the_callers_own_paths_and_never_echo_content(secret: Path):
    """An eager task (no broker, e.g. `vigil demo`) runs in the caller's process: its paths
    are the caller's own, as in the library; the content stays out of the error."""
    from vigil.workers import image_tasks

    result = image_tasks.analyze.apply(args=[str(secret)]).get()
    assert result["error"]["code"] == "not_an_image" and not leaks(result)
