"""Celery tasks of feature groups and k:N search. Task names are public API.

Arguments are msgpack-friendly (str, int, float, dict, list, bytes); results are
model dicts. Bad input never raises: the result is `{"error": {"code", "message"}}`.
Each worker process keeps one `GroupService` (Milvus store from VIGIL_GROUPS_URI and
the in-memory index); with several processes use a Milvus server and send group
writes to one of them (e.g. a dedicated queue), see `vigil.groups.service`.
Pictures travel as bytes; a worker reads a path only inside VIGIL_TASK_FILE_ROOTS.

>>> app.send_task("vigil.search", args=[jpeg_bytes, ["staff"]], kwargs={"k": 5}).get()
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

from vigil.infra.safe_read import is_local, task_input
from vigil.workers.coded import Source, coded_task, dump

if TYPE_CHECKING:
    from vigil.schemas.feature import Feature


@functools.cache
def service():
    """This process's GroupService, opened on first use (imports pymilvus lazily)."""
    from vigil.groups.service import GroupService

    return GroupService()


def is_feature(source: Source) -> bool:
    return isinstance(source, dict)


# -- groups -------------------------------------------------------------------------------


@coded_task("vigil.groups.create")
def create(name: str, description: str = "", metadata: dict | None = None) -> dict:
    return dump(service().create_group(name, description, metadata))


@coded_task("vigil.groups.list")
def list_groups() -> list[dict]:
    return [dump(group) for group in service().list_groups()]


@coded_task("vigil.groups.get")
def get(name: str) -> dict:
    return dump(service().get_group(name))


@coded_task("vigil.groups.rename")
def rename(name: str, new_name: str) -> dict:
    return dump(service().rename_group(name, new_name))


@coded_task("vigil.groups.delete")
def delete(name: str) -> dict:
    service().delete_group(name)
    return {"deleted": name}


# -- members ------------------------------------------------------------------------------


@coded_task("vigil.groups.members.add")
def add_member(
    group: str,
    person_id: str,
    features: list[Source],
    metadata: dict | None = None,
    sources: list[str | None] | None = None,
) -> dict:
    """`features`: Feature dicts, or pictures (bytes or a served path): their largest face."""
    from vigil.analysis.faces import face_targets

    vectors: list[Source | Feature] = []
    qualities: list[float | None] = []
    local = is_local(add_member)
    for item in features:
        if is_feature(item):
            vectors.append(item)  # validated by the service: invalid_feature
            qualities.append(None)
        else:
            [face] = face_targets(task_input(item, local=local), largest_only=True)
            assert face.feature is not None  # face_targets returns only faces with one
            vectors.append(face.feature)
            qualities.append(face.quality.score)
    member = service().add_member(group, person_id, vectors, metadata, sources, qualities=qualities)
    return dump(member)


@coded_task("vigil.groups.members.get")
def get_member(group: str, person_id: str, vectors: bool = False) -> dict:
    return dump(service().get_member(group, person_id, vectors=vectors))


@coded_task("vigil.groups.members.list")
def list_members(group: str, offset: int = 0, limit: int = 100) -> dict:
    return dump(service().list_members(group, offset, limit))


@coded_task("vigil.groups.members.update")
def update_member(group: str, person_id: str, metadata: dict) -> dict:
    return dump(service().update_member(group, person_id, metadata))


@coded_task("vigil.groups.members.remove")
def remove_member(group: str, person_id: str) -> dict:
    service().remove_member(group, person_id)
    return {"removed": person_id, "group": group}


# -- search -------------------------------------------------------------------------------


@coded_task("vigil.search")
def search(
    source: Source,
    groups: list[str],
    k: int = 10,
    far: float = 1e-3,
    filter: dict | None = None,
    all_faces: bool = False,
    target: str = "balanced",
    options: dict | None = None,
    face: Any = None,
) -> dict:
    """Search a Feature dict, or a picture (bytes or a served path); `SearchResponse` dict.

    `target`: fast, balanced or exact (recall against speed in large groups). A
    picture's face: `options` (QueryFaceOptions as a dict) and `face` (an index,
    largest first, or a box [x1, y1, x2, y2]), as `GroupService.search_image` takes them.
    """
    from vigil.schemas.groups import SearchResponse

    source = task_input(source, local=is_local(search))
    if is_feature(source):
        results = [service().search(source, groups, k, far, filter, target)]
    else:
        results = service().search_image(
            source, groups, k, far, filter, all_faces, target, options=options, face=face
        )
    return dump(SearchResponse(results=results))
