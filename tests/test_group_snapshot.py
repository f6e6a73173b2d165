"""Index snapshots (fast start), journal replay, stale-snapshot rebuilds, recall targets.

Groups of 20,000 rows (200 members x 100 photos) with `exact_max` 2,000, so FAISS
IVF (PQ fast-scan) is on; the big numbers are in bench/bench_search.py.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from tests.support.synthetic_groups import SYNTHETIC_MODEL, Population
from tests.support.synthetic_groups import photo_features as photos
from vigil.errors import ErrorCode, VigilError
from vigil.groups import service as service_module
from vigil.groups.ann import probe_count
from vigil.groups.index import Entry, GroupIndex
from vigil.groups.service import GroupService
from vigil.groups.snapshot import META
from vigil.groups.store import FeatureRow
from vigil.schemas.feature import Feature

MODEL = SYNTHETIC_MODEL
DIM = 128
MEMBERS, PHOTOS = 200, 100
EXACT_MAX = 2000


@pytest.fixture(scope="module")
def population() -> Population:
    return Population.make(MEMBERS + 10, DIM, per_cluster=5, seed=3)


def open_service(tmp: Path, snapshots: bool = True) -> GroupService:
    return GroupService(
        tmp / "groups.db", exact_max=EXACT_MAX, snapshots=tmp / "snap" if snapshots else None
    )


def crash(service: GroupService) -> None:
    """Stop without the snapshot `close()` takes: what a killed process leaves."""
    service.store.close()


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory, population: Population) -> Path:
    folder = tmp_path_factory.mktemp("template")
    service = open_service(folder)
    service.create_group("big")
    for person in range(MEMBERS):
        service.add_member(
            "big", f"p{person}", photos(population, person, PHOTOS, 0), {"n": person}
        )
    assert service._groups["big"].index.kind == "faiss-ivf"
    service.close()  # snapshots
    return folder


@pytest.fixture
def enrolled(template: Path, tmp_path: Path) -> Path:
    """A copy of the enrolled store and its snapshot, for one test to change."""
    shutil.copytree(template, tmp_path / "copy")
    return tmp_path / "copy"


def answers(service: GroupService, population: Population, target: str = "balanced") -> list:
    queries = [photos(population, person, 1, 9)[0] for person in range(0, MEMBERS + 10, 7)]
    return [service.search(query, ["big"], k=5, target=target).hits for query in queries]


def test_a_restart_loads_the_snapshot_and_replays_only_the_journal(
    enrolled: Path, population: Population
):
    service = open_service(enrolled)
    assert service._groups["big"].loaded == "snapshot + 0 journal entries"
    service.add_member("big", "new", photos(population, MEMBERS, 3, 1), {"n": -1})
    service.remove_member("big", "p7")
    service.update_member("big", "p8", {"n": "moved"})
    expected = answers(service, population)
    exact = answers(service, population, "exact")
    members = service.list_members("big", 0, 1000)
    crash(service)

    service = open_service(enrolled)
    state = service._groups["big"]
    assert state.loaded == "snapshot + 3 journal entries"
    assert service.list_members("big", 0, 1000) == members
    assert service.get_member("big", "p8").metadata == {"n": "moved"}
    assert answers(service, population) == expected
    service.close()
    rescanned = open_service(enrolled, snapshots=False)  # the store alone gives the same
    assert rescanned._groups["big"].loaded.startswith("store scan")
    assert answers(rescanned, population, "exact") == exact  # FAISS retrained: compare exact
    rescanned.close()


def written_behind_its_back(service: GroupService, population: Population) -> None:
    """A row the journal does not know: the store changed without the service."""
    [vector] = population.photos(np.array([MEMBERS + 1]), np.random.default_rng(5))
    group_id = service._groups["big"].record.group_id
    service.store.insert(group_id, [FeatureRow("f" * 32, "stranger", MODEL, vector)])


def journal_gap(service: GroupService, population: Population) -> None:
    """Writes, then the journal trimmed past the snapshot (as a process without snapshots
    trims it): the entries needed to replay are gone."""
    service.add_member("big", "late", photos(population, MEMBERS + 2, 2, 1))
    service.add_member("big", "later", photos(population, MEMBERS + 3, 2, 1))
    state = service._groups["big"]
    service.store.trim_journal(state.record.group_id, state.seq)


def vector_changed(service: GroupService, population: Population) -> None:
    """Same rows, same count, one vector different: only the sample comparison sees it."""
    state = service._groups["big"]
    row = state.rows_of("p3", {"n": 3})[0]
    row.vector = row.vector + 0.5
    service.store.insert(state.record.group_id, [row], upsert=True)


def files_damaged(service: GroupService, population: Population) -> None:
    folder = service.snapshots / service._groups["big"].record.group_id
    ann = next(folder.glob("ann-*.faiss"))
    ann.write_bytes(ann.read_bytes()[:1000])


def meta_gone(service: GroupService, population: Population) -> None:
    (service.snapshots / service._groups["big"].record.group_id / META).unlink()


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (written_behind_its_back, "store holds 20001 rows, snapshot 20000"),
        (journal_gap, "or a gap"),
        (vector_changed, "differs from the store"),
        (files_damaged, "unreadable snapshot"),
        (meta_gone, "no snapshot"),
    ],
)
def test_a_stale_snapshot_is_rebuilt_from_the_store(
    enrolled: Path, population: Population, monkeypatch, change, reason
):
    monkeypatch.setattr(service_module, "SAMPLE_ROWS", 10**6)  # compare every row
    service = open_service(enrolled)
    change(service, population)
    crash(service)

    service = open_service(enrolled)
    state = service._groups["big"]
    assert state.loaded.startswith("store scan") and reason in state.loaded, state.loaded
    rescanned_answers = answers(service, population)
    service.close()  # the rebuild was snapshotted: the next start trusts it
    service = open_service(enrolled)
    assert service._groups["big"].loaded == "snapshot + 0 journal entries"
    assert answers(service, population) == rescanned_answers
    if change is written_behind_its_back:
        probe = Feature.from_vector(
            population.photos(np.array([MEMBERS + 1]), np.random.default_rng(6))[0], MODEL
        )
        assert service.search(probe, ["big"], k=1).hits[0].person_id == "stranger"
    service.close()


def test_recall_targets_order_speed_and_recall():
    rng = np.random.default_rng(0)
    population = Population.make(20_000, DIM, seed=1)
    vectors = population.photos(np.arange(20_000), rng)
    index = GroupIndex(DIM, exact_max=EXACT_MAX)
    index.add([Entry(f"f{i}", f"p{i}", vectors[i]) for i in range(20_000)])
    index.install(index.rebuilt())
    assert index.kind == "faiss-ivf"
    queries = population.photos(rng.integers(20_000, size=200), rng)
    truth = vectors @ queries.T
    truth = np.argsort(np.sum(vectors**2, 1)[:, None] - 2 * truth, axis=0)[:10].T
    recall = {}
    for target in ("fast", "balanced", "exact"):
        found = [
            [int(n.feature_id[1:]) for n in index.search(q, 10, target=target)] for q in queries
        ]
        pairs = zip(found, truth, strict=True)
        recall[target] = np.mean([len(set(f) & set(t)) / 10 for f, t in pairs])
    assert recall["exact"] == 1.0
    assert recall["balanced"] >= 0.98 and recall["fast"] >= 0.85, recall
    assert recall["fast"] <= recall["balanced"], recall
    lists = index.state.ann.index.nlist
    assert probe_count(lists, "fast") < probe_count(lists, "balanced") == index.state.ann.nprobe


def test_deletes_are_effective_at_once_and_a_bad_target_is_refused(tmp_path: Path):
    population = Population.make(30, DIM, per_cluster=1, seed=2)
    with open_service(tmp_path) as service:
        service.create_group("g")
        for person in range(30):
            service.add_member("g", f"p{person}", photos(population, person, 100, 0))
        assert service._groups["g"].index.kind == "faiss-ivf"
        probe = photos(population, 4, 1, 7)[0]
        assert service.search(probe, ["g"], k=1).hits[0].person_id == "p4"
        service.remove_member("g", "p4")
        for target in ("fast", "balanced", "exact"):
            hits = service.search(probe, ["g"], k=30, target=target).hits
            assert "p4" not in {hit.person_id for hit in hits} and len(hits) == 29
        with pytest.raises(VigilError) as caught:
            service.search(probe, ["g"], target="perfect")
        assert caught.value.code == ErrorCode.INVALID_OPTIONS
