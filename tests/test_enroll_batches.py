"""Enrolment's store writes in batches: the same decisions as one file at a time, fewer writes.

`GroupService.add_members` (several people, one journal entry and one store write) and
the enrolment `Placer` that feeds it, on a real Milvus Lite file with synthetic features.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from vigil.compare.enroll_inputs import EnrollItem
from vigil.compare.enroll_store import Placement, Placer
from vigil.errors import ErrorCode, VigilError
from vigil.groups.service import GroupService, NewMember
from vigil.schemas.compare import EnrollStatus, FileAnalysis, RejectReason
from vigil.schemas.feature import Feature

MODEL = "face_resnet128@synthetic"
LIMIT = 0.15  # the default near-duplicate distance


def feature(vector: np.ndarray, model: str = MODEL) -> Feature:
    return Feature.from_vector(vector.astype(np.float32), model)


def analysed(vector: np.ndarray) -> FileAnalysis:
    return FileAnalysis(feature=feature(vector), quality=0.9, faces=1)


@pytest.fixture
def service(tmp_path: Path) -> Iterator[GroupService]:
    with GroupService(tmp_path / "groups.db") as opened:
        opened.create_group("g")
        yield opened


class Writes:
    """Counts the store's Milvus writes (journal entries and feature inserts)."""

    def __init__(self, service: GroupService, monkeypatch: pytest.MonkeyPatch) -> None:
        self.journal = self.insert = 0
        store = service.store
        journal, insert = store.journal, store.insert

        def counted_journal(*args, **kwargs):
            self.journal += 1
            return journal(*args, **kwargs)

        def counted_insert(*args, **kwargs):
            self.insert += 1
            return insert(*args, **kwargs)

        monkeypatch.setattr(store, "journal", counted_journal)
        monkeypatch.setattr(store, "insert", counted_insert)


def people(count: int, seed: int = 0) -> np.ndarray:
    """Faces far apart (L2 ~1.4): nobody is a near-copy of anybody."""
    rng = np.random.default_rng(seed)
    vectors = rng.normal(size=(count, 128))
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def test_add_members_writes_several_people_at_once(service, monkeypatch):
    writes = Writes(service, monkeypatch)
    faces = people(5)
    members = service.add_members(
        "g",
        [
            NewMember(f"p{n}", [feature(v)], {"n": str(n)}, [f"p{n}.jpg"], [0.8])
            for n, v in enumerate(faces)
        ],
    )
    assert [m.person_id for m in members] == [f"p{n}" for n in range(5)]
    assert (writes.journal, writes.insert) == (1, 1)
    assert service.get_group("g").member_count == 5
    assert service.get_member("g", "p3").metadata == {"n": "3"}
    [hit] = service.search(feature(faces[2]), ["g"], k=1).hits
    assert (hit.person_id, round(hit.distance, 4)) == ("p2", 0.0)


def test_add_members_is_all_or_nothing_and_names_the_refused_member(service, monkeypatch):
    writes = Writes(service, monkeypatch)
    faces = people(3)
    entries = [NewMember("ok", [feature(faces[0])]), NewMember("", [feature(faces[1])])]
    with pytest.raises(VigilError) as caught:
        service.add_members("g", entries)
    assert caught.value.code == ErrorCode.INVALID_OPTIONS
    assert caught.value.message.startswith("member 1 of 2: ")
    twice = [NewMember("a", [feature(faces[0])]), NewMember("a", [feature(faces[1])])]
    with pytest.raises(VigilError) as caught:
        service.add_members("g", twice)
    assert caught.value.code == ErrorCode.INVALID_OPTIONS and "twice" in caught.value.message
    other_model = [NewMember("a", [feature(faces[0])]), NewMember("b", [feature(faces[1], "x@1")])]
    with pytest.raises(VigilError) as caught:
        service.add_members("g", other_model)  # an empty group: the first member fixes it
    assert caught.value.code == ErrorCode.FEATURE_MISMATCH
    assert (writes.journal, writes.insert) == (0, 0)
    assert service.get_group("g").member_count == 0


def test_add_members_appends_to_existing_people_and_rewrites_their_metadata(service):
    faces = people(3)
    service.add_member("g", "old", [feature(faces[0])], {"site": "a"})
    service.add_members(
        "g",
        [
            NewMember("old", [feature(faces[1])], {"site": "b"}),
            NewMember("new", [feature(faces[2])]),
        ],
    )
    old = service.get_member("g", "old")
    assert (len(old.features), old.metadata) == (2, {"site": "b"})
    reopened = GroupService(service.uri)
    try:
        assert reopened.get_member("g", "old").metadata == {
            "site": "b"
        }  # stored, not only mirrored
        assert reopened.get_group("g").member_count == 2
    finally:
        reopened.close()


def placements(service: GroupService, files: list[tuple[str, np.ndarray]], batch: int) -> list:
    placer: Placer[int] = Placer(service, "g", LIMIT, batch=batch)
    decided: list[tuple[int, Placement]] = []
    for number, (person, vector) in enumerate(files):
        analysis = (
            analysed(vector)
            if vector is not None
            else FileAnalysis(reason=RejectReason.NO_FACE, detail="no face")
        )
        decided += placer.offer(number, EnrollItem(Path(f"/{number}.jpg"), person), analysis)
    decided += placer.flush()
    return [(key, p.status, p.reason, p.created) for key, p in decided]


def a_folder() -> list[tuple[str, np.ndarray | None]]:
    """Nineteen files: near-copies inside one batch, a person twice, a bad id, no face."""
    faces = people(16, seed=3)
    nudge = np.zeros(128)
    nudge[0] = 0.05  # a re-encoded copy: L2 0.05 < 0.15
    return [
        *[(f"p{n}", faces[n]) for n in range(5)],
        ("p0", faces[0] + nudge),  # the same photo again: duplicate of the waiting p0
        ("p9", faces[1] + nudge),  # p1's photo under another name: conflict
        ("p2", faces[5]),  # a second photo of p2: appended
        ("bad id with\nnewline", faces[6]),
        ("p10", None),
        *[(f"p{n}", faces[n]) for n in range(11, 16)],
        ("p12", faces[13] + nudge),  # a copy of p13's, waiting in the second batch
        ("p7", faces[7]),
        ("p8", faces[8]),
        ("p3", faces[9]),
    ]


def test_placer_decides_as_one_file_at_a_time_with_fewer_writes(tmp_path, monkeypatch):
    results = {}
    for batch in (1, 16):
        with GroupService(tmp_path / f"b{batch}.db") as service:
            service.create_group("g")
            writes = Writes(service, monkeypatch)
            results[batch] = placements(service, a_folder(), batch)
            results[batch, "writes"] = writes.journal + writes.insert
            results[batch, "members"] = service.get_group("g").member_count
    assert results[16] == results[1]  # every decision, in input order
    assert [key for key, *_ in results[16]] == list(range(19))
    statuses = {key: (status, reason) for key, status, reason, _ in results[16]}
    assert statuses[5] == (EnrollStatus.REJECTED, RejectReason.DUPLICATE)
    assert statuses[6] == (EnrollStatus.REJECTED, RejectReason.CONFLICT)
    assert statuses[7] == (EnrollStatus.ENROLLED, None)
    assert statuses[8] == (EnrollStatus.REJECTED, RejectReason.REFUSED)
    assert statuses[9] == (EnrollStatus.REJECTED, RejectReason.NO_FACE)
    assert statuses[15] == (EnrollStatus.REJECTED, RejectReason.CONFLICT)
    assert results[16, "members"] == results[1, "members"] == 12
    assert results[1, "writes"] == 2 * 14  # journal + rows per enrolment
    assert results[16, "writes"] < results[1, "writes"]  # near-copies flush early here


def test_a_clean_folder_is_written_sixteen_files_at_a_time(service, monkeypatch):
    writes = Writes(service, monkeypatch)
    decided = placements(service, [(f"p{n}", v) for n, v in enumerate(people(40))], 16)
    assert [status for _, status, _, _ in decided] == [EnrollStatus.ENROLLED] * 40
    assert (writes.journal, writes.insert) == (3, 3)  # 16 + 16 + 8


def test_decisions_without_a_waiting_write_come_out_at_once(service):
    placer: Placer[str] = Placer(service, "g", LIMIT, batch=16)
    item = EnrollItem(Path("/x.jpg"), "x")
    refused = FileAnalysis(reason=RejectReason.NO_FACE, detail="no face")
    assert [(k, p.status) for k, p in placer.offer("x", item, refused)] == [
        ("x", EnrollStatus.REJECTED)
    ]
    assert placer.offer("y", EnrollItem(Path("/y.jpg"), "y"), analysed(people(1)[0])) == []
    assert [k for k, _ in placer.offer("z", item, refused)] == []  # behind y's write
    assert [k for k, _ in placer.flush()] == ["y", "z"]
    assert service.get_group("g").member_count == 1
