"""The `vigil.groups.*` and `vigil.search` Celery tasks, run eagerly (the default settings)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import msgpack
import pytest

from vigil.infra.celery_app import app
from vigil.workers import group_tasks


def call(name: str, *args, **kwargs):
    """Run a task by its public name; the result must survive msgpack like a real reply."""
    result = app.tasks[name].apply_async(args=args, kwargs=kwargs).get()
    assert msgpack.unpackb(msgpack.packb(result)) == result
    return result


@pytest.fixture(scope="module", autouse=True)
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    assert app.conf.task_always_eager
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("VIGIL_GROUPS_URI", str(tmp_path_factory.mktemp("tasks") / "groups.db"))
        group_tasks.service.cache_clear()
        yield
        group_tasks.service().close()
        group_tasks.service.cache_clear()


def test_group_tasks_round_trip():
    created = call("vigil.groups.create", "staff", "Head office", {"site": "HQ"})
    assert created["name"] == "staff" and created["member_count"] == 0
    assert call("vigil.groups.create", "staff")["error"]["code"] == "group_exists"
    assert call("vigil.groups.rename", "staff", "office")["name"] == "office"
    assert call("vigil.groups.get", "office")["description"] == "Head office"
    assert [g["name"] for g in call("vigil.groups.list")] == ["office"]
    assert call("vigil.groups.delete", "office") == {"deleted": "office"}
    assert call("vigil.groups.get", "office")["error"]["code"] == "group_not_found"


def test_member_tasks_round_trip(images: Path):
    call("vigil.groups.create", "members")
    obama = (images / "obama.jpg").read_bytes()
    added = call("vigil.groups.members.add", "members", "obama", [obama], {"role": "president"})
    assert len(added["features"]) == 1 and added["features"][0]["quality"] > 0
    with_vector = call("vigil.groups.members.get", "members", "obama", vectors=True)
    feature = with_vector["features"][0]["vector"]
    again = call("vigil.groups.members.add", "members", "obama", [feature], sources=["copy"])
    assert [f.get("source") for f in again["features"]] == [None, "copy"]
    page = call("vigil.groups.members.list", "members", 0, 10)
    assert (page["total"], page["items"][0]["person_id"]) == (1, "obama")
    updated = call("vigil.groups.members.update", "members", "obama", {"role": "former"})
    assert updated["metadata"] == {"role": "former"}
    bad = {**feature, "dim": 3}
    assert call("vigil.groups.members.add", "members", "x", [bad])["error"]["code"] == (
        "invalid_feature"
    )
    assert call("vigil.groups.members.remove", "members", "obama")["removed"] == "obama"
    assert call("vigil.groups.members.get", "members", "obama")["error"]["code"] == (
        "member_not_found"
    )


def test_search_task_by_picture_and_by_feature(images: Path):
    call("vigil.groups.create", "search")
    for person in ("obama", "biden"):
        call("vigil.groups.members.add", "search", person, [str(images / f"{person}.jpg")])
    by_picture = call("vigil.search", (images / "obama2.jpg").read_bytes(), ["search"], k=2)
    [result] = by_picture["results"]
    assert result["decision"] == "match" and result["best"]["person_id"] == "obama"
    feature = call("vigil.groups.members.get", "search", "biden", vectors=True)
    query = feature["features"][0]["vector"]
    [exact] = call("vigil.search", query, ["search"], k=1, filter={"missing": "x"})["results"]
    assert exact["decision"] == "unknown" and exact["hits"] == []
    assert call("vigil.search", query, ["search"], k=0)["error"]["code"] == "invalid_options"
    assert call("vigil.search", query, ["nope"])["error"]["code"] == "group_not_found"
