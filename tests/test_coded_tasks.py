"""Every public Celery task answers through workers/coded.py: a value or a coded error."""

from __future__ import annotations

import pytest

from vigil.infra.celery_app import TASK_MODULES, app
from vigil.schemas.errors import ErrorCode, VigilError
from vigil.workers.coded import coded

PIPELINE_TASKS = {"vigil.frame.detect", "vigil.capture.describe"}  # failures go to resubmit


def public_tasks() -> dict:
    app.loader.import_default_modules()
    for module in TASK_MODULES:
        __import__(module)
    return {
        name: task
        for name, task in app.tasks.items()
        if name.startswith("vigil.") and name not in PIPELINE_TASKS
    }


def test_every_public_task_is_declared_coded():
    tasks = public_tasks()
    assert len(tasks) >= 20, sorted(tasks)
    plain = [name for name, task in tasks.items() if not hasattr(task.run, "__wrapped__")]
    assert plain == []


def test_a_coded_error_keeps_its_code():
    def refuse():
        raise VigilError(ErrorCode.GROUP_NOT_FOUND, "no group 'x'")

    assert coded(refuse)() == {"error": {"code": "group_not_found", "message": "no group 'x'"}}


def test_a_bug_answers_internal_error_and_is_logged(caplog):
    def bug():
        raise KeyError("box")

    with caplog.at_level("ERROR"):
        answer = coded(bug)()
    assert answer["error"]["code"] == "internal_error"
    assert "KeyError" in answer["error"]["message"]
    assert "task bug failed" in caplog.text


@pytest.mark.parametrize(
    "name, args",
    [
        ("vigil.compare", [b"not a picture", b"nor this"]),
        ("vigil.image.analyze_batch", [[b"x"], {"types": ["no such type"]}]),
        ("vigil.cluster", [{"since": "not a time"}]),
    ],
)
def test_bad_input_answers_a_code_not_a_task_failure(name, args):
    answer = app.tasks[name].apply(args=args).get()
    assert answer["error"]["code"] in {"not_an_image", "invalid_options", "corrupt_image"}


def test_enroll_analyze_answers_a_rejected_portrait():
    answer = app.tasks["vigil.enroll.analyze"].apply(args=[b"", {"min_size": "big"}]).get()
    assert answer["reason"] == "unreadable", answer
    assert answer["detail"].startswith("invalid_options: "), answer


def test_enroll_analyze_many_answers_each_portrait_in_order():
    task = app.tasks["vigil.enroll.analyze_many"]
    answers = task.apply(args=[[b"", b"\xff\xd8 not a jpeg"], {"min_size": 40}]).get()
    assert [answer["reason"] for answer in answers] == ["unreadable", "unreadable"]
    assert answers[0]["detail"].startswith("empty_input: ")
    assert answers[1]["detail"].split(":")[0] in {"not_an_image", "corrupt_image"}
    refused = task.apply(args=[[b""], {"min_size": "big"}]).get()
    assert refused[0]["detail"].startswith("invalid_options: ")
