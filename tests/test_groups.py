"""Feature groups on a Milvus Lite file: CRUD, paging, restart, bad input, concurrency, index."""

from __future__ import annotations

import base64
import math
import subprocess
import sys
import threading
import unicodedata
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from tests.support.synthetic_groups import PHOTO_SPREAD, Population, gaussian
from vigil.errors import ErrorCode, VigilError
from vigil.groups.index import Entry, GroupIndex
from vigil.groups.service import GroupService
from vigil.groups.store import REGISTRY
from vigil.schemas.feature import Feature

MODEL = "face_resnet128@synthetic"
DIM = 128


def centres(count: int, seed: int = 0) -> np.ndarray:
    """People ~1.0 apart (each their own look-alike cluster): clear matches and non-matches."""
    return Population.make(count, DIM, per_cluster=1, seed=seed).people


def photos(centre: np.ndarray, count: int, rng: np.random.Generator) -> np.ndarray:
    """Photos of one person, ~0.3 from each other (a match at FAR 1e-3 is <= 0.6)."""
    return (centre + gaussian(rng, (count, DIM), PHOTO_SPREAD)).astype(np.float32)


def feature(vector: np.ndarray, model: str = MODEL) -> Feature:
    return Feature.from_vector(vector, model)


def enrol(service: GroupService, group: str, people: np.ndarray, per_person: int = 2) -> None:
    rng = np.random.default_rng(1)
    for number, centre in enumerate(people):
        service.add_member(
            group,
            f"p{number:03d}",
            [feature(v) for v in photos(centre, per_person, rng)],
            {"site": "A" if number % 2 else "B", "vip": number % 3 == 0, "floor": number % 4},
        )


def refused(code: ErrorCode, action, *args, **kwargs) -> VigilError:
    with pytest.raises(VigilError) as caught:
        action(*args, **kwargs)
    assert caught.value.code == code, caught.value
    return caught.value


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "groups.db"


@pytest.fixture
def service(db: Path) -> Iterator[GroupService]:
    with GroupService(db) as opened:
        yield opened


def test_group_crud_round_trip(service: GroupService):
    created = service.create_group("staff", "Head office", {"site": "HQ", "level": 2})
    assert (created.name, created.member_count, created.model) == ("staff", 0, None)
    assert service.get_group("staff") == created
    service.create_group("Équipe_2.b")
    assert [g.name for g in service.list_groups()] == ["staff", "Équipe_2.b"]
    renamed = service.rename_group("staff", "office")
    assert (renamed.name, renamed.description, renamed.metadata) == (
        "office",
        "Head office",
        {"site": "HQ", "level": 2},
    )
    refused(ErrorCode.GROUP_NOT_FOUND, service.get_group, "staff")
    service.delete_group("office")
    assert [g.name for g in service.list_groups()] == ["Équipe_2.b"]
    decomposed = unicodedata.normalize("NFD", "Équipe_2.b")  # the same name, spelled apart
    assert service.rename_group(decomposed, "team").name == "team"
    refused(ErrorCode.GROUP_NOT_FOUND, service.delete_group, "office")
    refused(ErrorCode.GROUP_NOT_FOUND, service.get_group, decomposed)


def test_member_crud_paging_and_append(service: GroupService):
    service.create_group("staff")
    people = centres(25)
    enrol(service, "staff", people)
    group = service.get_group("staff")
    assert (group.member_count, group.feature_count, group.model, group.dim) == (25, 50, MODEL, DIM)

    first, second = service.list_members("staff", 0, 10), service.list_members("staff", 10, 10)
    last = service.list_members("staff", 20, 10)
    ids = [m.person_id for page in (first, second, last) for m in page.items]
    assert ids == sorted(f"p{n:03d}" for n in range(25))
    assert (first.total, len(last.items), last.offset) == (25, 5, 20)
    assert service.list_members("staff", 30, 10).items == []

    extra = photos(people[3], 1, np.random.default_rng(9))[0]
    member = service.add_member("staff", "p003", [feature(extra)], sources=["third.jpg"])
    assert len(member.features) == 3 and member.features[-1].source == "third.jpg"
    assert member.metadata == {"site": "A", "vip": True, "floor": 3}  # kept when not given

    updated = service.update_member("staff", "p003", {"site": "C", "badge": 7})
    assert updated.metadata == {"site": "C", "badge": 7}
    with_vectors = service.get_member("staff", "p003", vectors=True)
    assert np.array_equal(with_vectors.features[-1].vector.vector(), extra)
    assert service.get_member("staff", "p003").features[0].vector is None

    service.remove_member("staff", "p003")
    refused(ErrorCode.MEMBER_NOT_FOUND, service.get_member, "staff", "p003")
    assert service.get_group("staff").feature_count == 48


def test_state_survives_a_restart(db: Path):
    people = centres(12)
    query = feature(photos(people[5], 1, np.random.default_rng(7))[0])
    with GroupService(db) as service:
        service.create_group("staff", "desc")
        enrol(service, "staff", people)
        service.update_member("staff", "p001", {"site": "moved"})
        service.remove_member("staff", "p002")
        service.rename_group("staff", "office")
        before = service.search(query, ["office"], k=5)
        groups_before = service.list_groups()
        members_before = service.list_members("office", 0, 100)
    with GroupService(db) as service:
        assert service.list_groups() == groups_before
        assert service.list_members("office", 0, 100) == members_before
        assert service.get_member("office", "p001").metadata == {"site": "moved"}
        assert service.search(query, ["office"], k=5) == before
    assert before.best.person_id == "p005" and before.decision == "match"


def test_an_interrupted_delete_is_finished_on_restart(db: Path):
    with GroupService(db) as service:
        for name in ("gone", "kept"):
            service.create_group(name)
            enrol(service, name, centres(2))
        gone = service._groups["gone"].record.group_id
        service.store.client.delete(REGISTRY, ids=[gone])  # the crash: row deleted, not the rest
    with GroupService(db) as service:
        assert [g.name for g in service.list_groups()] == ["kept"]
        assert service.get_group("kept").member_count == 2
        collections = service.store.client.list_collections()
        assert service.store.features_collection(gone) not in collections
        assert service.store.features_collection(service._groups["kept"].record.group_id) in (
            collections
        )


def test_a_second_process_is_refused_with_a_code(db: Path, service: GroupService):
    script = (
        "from vigil.groups.service import GroupService\n"
        "from vigil.errors import VigilError\n"
        "try:\n"
        f"    GroupService({str(db)!r})\n"
        "except VigilError as exc:\n"
        "    print(exc.code.value)\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert result.stdout.strip() == "store_unavailable", result.stderr[-2000:]


def test_unreachable_server_is_store_unavailable():
    refused(ErrorCode.STORE_UNAVAILABLE, GroupService, "http://127.0.0.1:1")


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GroupService]:
    """One store for all bad-input cases: each must leave it exactly as it was."""
    with GroupService(tmp_path_factory.mktemp("bad") / "groups.db") as service:
        service.create_group("staff")
        service.create_group("other")
        enrol(service, "staff", centres(3))
        yield service


def bad_vector(value: float) -> dict:
    vector = np.zeros(DIM, "<f4")
    vector[3] = value
    return {"model": MODEL, "dim": DIM, "data": base64.b64encode(vector.tobytes()).decode()}


@pytest.mark.parametrize(
    ("code", "call"),
    [
        (ErrorCode.GROUP_NOT_FOUND, lambda s, f: s.get_group("nope")),
        (ErrorCode.GROUP_NOT_FOUND, lambda s, f: s.add_member("nope", "x", [f])),
        (ErrorCode.GROUP_NOT_FOUND, lambda s, f: s.search(f, ["staff", "nope"])),
        (ErrorCode.GROUP_EXISTS, lambda s, f: s.create_group("staff")),
        (ErrorCode.GROUP_EXISTS, lambda s, f: s.rename_group("other", "staff")),
        (ErrorCode.INVALID_OPTIONS, lambda s, f: s.create_group("a/b")),
        (ErrorCode.INVALID_OPTIONS, lambda s, f: s.create_group("..")),
        (ErrorCode.INVALID_OPTIONS, lambda s, f: s.create_group("")),
        (ErrorCode.INVALID_OPTIONS, lambda s, f: s.create_group("x" * 65)),
        (ErrorCode.INVALID_OPTIONS, lambda s, f: s.create_group("tab\there")),
        (ErrorCode.INVALID_OPTIONS, lambda s, f: s.add_member("staff", "bad\x00id", [f])),
        (ErrorCode.INVALID_OPTIONS, lambda s, f: s.add_member("staff", "x", [f], {"a b": 1})),
        (ErrorCode.INVALID_OPTIONS, lambda s, f: s.add_member("staff", "x", [f], sources=[])),
        (ErrorCode.MEMBER_NOT_FOUND, lambda s, f: s.get_member("staff", "ghost")),
        (ErrorCode.MEMBER_NOT_FOUND, lambda s, f: s.update_member("staff", "ghost", {})),
        (ErrorCode.MEMBER_NOT_FOUND, lambda s, f: s.remove_member("staff", "ghost")),
        (
            ErrorCode.FEATURE_MISMATCH,
            lambda s, f: s.add_member("staff", "x", [feature(f.vector()[:64])]),
        ),
        (ErrorCode.FEATURE_MISMATCH, lambda s, f: s.search(feature(f.vector()[:64]), ["staff"])),
        (
            ErrorCode.FEATURE_MISMATCH,
            lambda s, f: s.search(feature(f.vector(), "face_resnet128@v2"), ["staff"]),
        ),
        (
            ErrorCode.FEATURE_MISMATCH,
            lambda s, f: s.add_member("staff", "x", [f, feature(f.vector(), "o@1")]),
        ),
        (
            ErrorCode.INVALID_FEATURE,
            lambda s, f: s.add_member("staff", "x", [bad_vector(math.nan)]),
        ),
        (ErrorCode.INVALID_FEATURE, lambda s, f: s.search(bad_vector(math.inf), ["staff"])),
        (
            ErrorCode.INVALID_FEATURE,
            lambda s, f: s.search({**f.model_dump(), "dim": 64}, ["staff"]),
        ),
        (ErrorCode.INVALID_FEATURE, lambda s, f: s.add_member("staff", "x", [])),
        (ErrorCode.INVALID_OPTIONS, lambda s, f: s.search(f, ["staff"], k=0)),
        (ErrorCode.INVALID_OPTIONS, lambda s, f: s.search(f, ["staff"], k=-3)),
        (ErrorCode.INVALID_OPTIONS, lambda s, f: s.search(f, ["staff"], k=10**9)),
        (ErrorCode.INVALID_OPTIONS, lambda s, f: s.search(f, ["staff"], far=0)),
        (ErrorCode.INVALID_OPTIONS, lambda s, f: s.search(f, ["staff"], far=1e-9)),
        (ErrorCode.INVALID_OPTIONS, lambda s, f: s.search(f, [])),
        (ErrorCode.INVALID_OPTIONS, lambda s, f: s.search(f, ["staff"], filter={"a b": 1})),
        (ErrorCode.INVALID_OPTIONS, lambda s, f: s.list_members("staff", -1)),
        (ErrorCode.INVALID_OPTIONS, lambda s, f: s.list_members("staff", 0, 0)),
    ],
)
def test_bad_input_is_refused_with_its_code_and_changes_nothing(seeded, code, call):
    service = seeded
    probe = feature(centres(1, seed=5)[0])
    before = (
        service.list_groups(),
        service.list_members("staff"),
        service.search(probe, ["staff"]),
    )
    refused(code, call, service, probe)
    after = (service.list_groups(), service.list_members("staff"), service.search(probe, ["staff"]))
    assert after == before


def test_search_over_groups_with_filters(service: GroupService):
    people = centres(30)
    service.create_group("a")
    service.create_group("b")
    service.create_group("empty")
    enrol(service, "a", people[:15])
    enrol(service, "b", people[15:])
    rng = np.random.default_rng(3)
    query = feature(photos(people[20], 1, rng)[0])  # p005 of group b
    result = service.search(query, ["a", "b", "empty"], k=4)
    assert [(h.group, h.person_id) for h in result.hits][:1] == [("b", "p005")]
    assert result.decision == "match" and result.best == result.hits[0]
    assert [h.distance for h in result.hits] == sorted(h.distance for h in result.hits)
    assert len(result.hits) == 4
    assert result.threshold.far == pytest.approx(1e-3) and result.model == MODEL

    site_b = service.search(query, ["a", "b"], k=30, filter={"site": "B"})
    assert site_b.hits and all(h.metadata["site"] == "B" for h in site_b.hits)
    assert len(site_b.hits) == 16  # even numbers: 8 in a (0..14), 8 in b (0..14)
    assert site_b.best is None and site_b.decision == "unknown"  # p005 is on site A
    vip = service.search(query, ["a"], k=30, filter={"vip": True, "floor": [0, 1]})
    assert {h.person_id for h in vip.hits} == {"p000", "p009", "p012"}
    typed = service.search(query, ["a"], k=30, filter={"vip": 1})
    assert typed.hits == []  # 1 is not True
    assert service.search(query, ["a"], k=5, filter={"nothing": "x"}).hits == []


def test_top_k_counts_members_not_photos(service: GroupService):
    service.create_group("staff")
    enrol(service, "staff", centres(6), per_person=5)
    probe = feature(centres(6)[2])
    hits = service.search(probe, ["staff"], k=4).hits
    assert len(hits) == 4 and len({h.person_id for h in hits}) == 4


def test_deletes_during_searches_give_only_coded_errors_and_consistent_results(db: Path):
    people = centres(160)
    rng = np.random.default_rng(11)
    queries = [feature(photos(c, 1, rng)[0]) for c in people]
    with GroupService(db, exact_max=200) as service:  # 'a' starts above: FAISS, then exact
        service.create_group("a")
        service.create_group("b")
        enrol(service, "a", people[:120])
        enrol(service, "b", people[120:])
        assert service._groups["a"].index.kind == "faiss-ivf"
        stop = threading.Event()
        failures: list[BaseException] = []
        counts = {"ok": 0, "not_found": 0}

        def search_loop(groups: list[str], seed: int) -> None:
            local = np.random.default_rng(seed)
            while not stop.is_set():
                query = queries[int(local.integers(len(queries)))]
                try:
                    result = service.search(query, groups, k=5, filter=None)
                    distances = [h.distance for h in result.hits]
                    keys = [(h.group, h.person_id) for h in result.hits]
                    assert distances == sorted(distances) and len(set(keys)) == len(keys)
                    counts["ok"] += 1
                except VigilError as exc:
                    if exc.code != ErrorCode.GROUP_NOT_FOUND:
                        failures.append(exc)
                    counts["not_found"] += 1
                except BaseException as exc:
                    failures.append(exc)

        threads = [
            threading.Thread(target=search_loop, args=(["a", "b"], 1)),
            threading.Thread(target=search_loop, args=(["a"], 2)),
            threading.Thread(target=search_loop, args=(["a"], 3)),
        ]
        for thread in threads:
            thread.start()
        for number in range(100):
            service.remove_member("a", f"p{number:03d}")
        service.delete_group("b")
        stop.set()
        for thread in threads:
            thread.join()

        assert failures == []
        assert counts["ok"] > 0
        assert service._groups["a"].index.kind == "exact"  # 40 left: back below the line
        for number in range(100, 120):
            best = service.search(queries[number], ["a"], k=3).best
            assert best is not None and best.person_id == f"p{number:03d}"
        removed = service.search(queries[5], ["a"], k=40).hits
        assert len(removed) == 20 and all(int(h.person_id[1:]) >= 100 for h in removed)
        refused(ErrorCode.GROUP_NOT_FOUND, service.search, queries[130], ["b"])


def clustered_entries(count: int, seed: int = 0) -> tuple[list[Entry], np.ndarray]:
    """4 photos a person, people in look-alike clusters; and 40 queries of random people."""
    rng = np.random.default_rng(seed)
    population = Population.make(count // 4, DIM, seed=seed)
    vectors = population.photos(np.arange(count) // 4, rng)
    entries = [
        Entry(f"f{i}", f"p{i // 4}", vectors[i], {"tenth": i % 10, "hundredth": i % 100})
        for i in range(count)
    ]
    return entries, population.photos(rng.integers(count // 4, size=40), rng)


def test_faiss_agrees_with_exact_numpy():
    entries, queries = clustered_entries(12_000)
    exact, approximate = GroupIndex(DIM, exact_max=10**9), GroupIndex(DIM, exact_max=100)
    for index in (exact, approximate):
        index.add(entries)
        if index.maintenance_due():
            index.install(index.rebuilt())
    assert (exact.kind, approximate.kind) == ("exact", "faiss-ivf")
    for filter in (None, {"tenth": [1]}, {"hundredth": [1]}):  # 10% and 1% pass: FAISS too
        recalls = []
        for query in queries:
            truth = exact.search(query, 10, filter)
            found = approximate.search(query, 10, filter)
            assert found[0] == truth[0]  # same nearest member, same exact distance
            recalls.append(len({n.person_id for n in truth} & {n.person_id for n in found}) / 10)
        assert np.mean(recalls) >= 0.95, (filter, np.mean(recalls))


def test_removing_and_compacting_keeps_answers():
    entries, queries = clustered_entries(6000, seed=4)
    index = GroupIndex(DIM, exact_max=1000)
    index.add(entries)
    index.install(index.rebuilt())
    gone = [e.feature_id for e in entries[::2]]
    index.remove(gone)
    assert index.maintenance_due()  # 3000 tombstones: compact
    before = [index.search(q, 5) for q in queries]
    index.install(index.rebuilt())
    fresh = GroupIndex(DIM, exact_max=10**9)
    fresh.add(entries[1::2])
    assert len(index) == 3000 and not any(f in index for f in gone)
    for query, old in zip(queries, before, strict=True):
        assert index.search(query, 5)[0] == fresh.search(query, 5)[0] == old[0]
