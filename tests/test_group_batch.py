"""Micro-batched searches (`groups/batcher.py`) and the column-based catalog (`keys.py`).

Concurrent searches must answer exactly what each would get alone, a bad query in a
batch must refuse only itself (with its code), and the numpy id columns must find,
grow, compact and reload like the Python lists they replace. Groups of <= 6,000 rows,
`exact_max` 1,000 so FAISS IVF (PQ fast-scan) is on.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import numpy as np
import pytest

from tests.support.synthetic_groups import SYNTHETIC_MODEL, Population
from tests.support.synthetic_groups import photo_features as photos
from vigil.errors import ErrorCode, VigilError
from vigil.groups.batcher import Batcher
from vigil.groups.index import Entry, GroupIndex
from vigil.groups.keys import Keys, Texts
from vigil.groups.service import GroupService, Pending
from vigil.schemas.feature import Feature
from vigil.schemas.groups import SearchQuery

MODEL = SYNTHETIC_MODEL
DIM = 128
MEMBERS, PHOTOS = 300, 20
CLIENTS = 32


@pytest.fixture(scope="module")
def population() -> Population:
    return Population.make(MEMBERS + 20, DIM, per_cluster=5, seed=5)


@pytest.fixture(scope="module")
def service(
    tmp_path_factory: pytest.TempPathFactory, population: Population
) -> Iterator[GroupService]:
    folder = tmp_path_factory.mktemp("batch")
    with GroupService(folder / "groups.db", exact_max=1000) as opened:
        opened.create_group("big")
        opened.create_group("small")
        for person in range(MEMBERS):
            opened.add_member(
                "big", f"p{person}", photos(population, person, PHOTOS, 0), {"site": person % 3}
            )
        for person in range(MEMBERS, MEMBERS + 20):
            opened.add_member("small", f"p{person}", photos(population, person, 2, 0))
        assert opened._groups["big"].index.kind == "faiss-ivf"
        assert opened._groups["small"].index.kind == "exact"
        yield opened


def requests(population: Population) -> list[dict]:
    """Searches of every kind: one or two groups, filters, targets, k."""
    found = []
    for number, person in enumerate(range(0, MEMBERS + 20, 3)):
        [query] = photos(population, person, 1, 7)
        found.append(
            {
                "feature": query,
                "groups": ["big", "small"] if number % 4 == 0 else ["big"],
                "k": (1, 5, 10)[number % 3],
                "filter": {"site": number % 3} if number % 5 == 0 else None,
                "target": ("balanced", "fast", "exact")[number % 3],
            }
        )
    return found


def test_concurrent_searches_return_exactly_what_one_at_a_time_searches_return(
    service: GroupService, population: Population
):
    asked = requests(population)
    alone = [service.search(**request).model_dump() for request in asked]
    batches, answered = service._batcher.batches, service._batcher.requests
    together: list[dict | None] = [None] * len(asked)
    start = threading.Barrier(CLIENTS)

    def client(number: int) -> None:
        start.wait()
        for position in range(number, len(asked), CLIENTS):
            together[position] = service.search(**asked[position]).model_dump()

    threads = [threading.Thread(target=client, args=(n,)) for n in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert together == alone
    assert all(result["hits"] for result in alone)
    ran, served = service._batcher.batches - batches, service._batcher.requests - answered
    assert served == len(asked) and ran < served  # some searches shared a batch


def pending(feature: Feature, groups: list[str], k: int = 5) -> Pending:
    query = SearchQuery(groups=groups, k=k)
    return Pending(feature.model, feature.vector(), query, None, None)


def test_a_bad_query_in_a_batch_refuses_only_itself_with_its_code(
    service: GroupService, population: Population, monkeypatch: pytest.MonkeyPatch
):
    good = [photos(population, person, 1, 8)[0] for person in range(0, 60, 6)]
    other_model = Feature.from_vector(np.ones(64, np.float32), "other@64")
    alone = [service.search(feature, ["big"], k=5) for feature in good]
    batch = [pending(feature, ["big"]) for feature in good]
    batch.insert(3, pending(good[0], ["nowhere"]))
    batch.insert(6, pending(other_model, ["big"]))
    outcomes = service._search_batch(batch)
    assert isinstance(outcomes[3], VigilError) and outcomes[3].code == ErrorCode.GROUP_NOT_FOUND
    assert isinstance(outcomes[6], VigilError) and outcomes[6].code == ErrorCode.FEATURE_MISMATCH
    answers = [
        service._result(batch[n], outcome).model_dump()
        for n, outcome in enumerate(outcomes)
        if n not in (3, 6)
    ]
    assert answers == [a.model_dump() for a in alone]

    # a query the index fails on sinks the grouped search: each is retried alone
    poison = good[4].vector()
    index = service._groups["big"].index
    real = type(index).search_many

    def failing(self, queries, *args, **kwargs):
        if any(np.array_equal(row, poison) for row in queries):
            raise VigilError(ErrorCode.INVALID_FEATURE, "this query cannot be searched")
        return real(self, queries, *args, **kwargs)

    monkeypatch.setattr(type(index), "search_many", failing)
    batch = [pending(feature, ["big"]) for feature in good]
    outcomes = service._search_batch(batch)
    assert isinstance(outcomes[4], VigilError) and outcomes[4].code == ErrorCode.INVALID_FEATURE
    rest = [service._result(batch[n], o).model_dump() for n, o in enumerate(outcomes) if n != 4]
    assert rest == [a.model_dump() for n, a in enumerate(alone) if n != 4]


def test_bad_queries_among_concurrent_ones_get_their_codes_others_their_answers(
    service: GroupService, population: Population
):
    good = [photos(population, person, 1, 9)[0] for person in range(0, MEMBERS, 10)]
    alone = [service.search(feature, ["big"], k=3).model_dump() for feature in good]
    outcomes: dict[int, object] = {}
    start = threading.Barrier(CLIENTS)

    def client(number: int) -> None:
        start.wait()
        for round_ in range(3):
            try:
                if number % 8 == 7:  # every eighth client asks for a group that does not exist
                    service.search(good[0], ["missing"], k=3)
                else:
                    found = service.search(good[number % len(good)], ["big"], k=3).model_dump()
                    outcomes[(number, round_)] = found == alone[number % len(good)]
            except VigilError as exc:
                outcomes[(number, round_)] = exc.code

    threads = [threading.Thread(target=client, args=(n,)) for n in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for (number, _), outcome in outcomes.items():
        assert outcome == (ErrorCode.GROUP_NOT_FOUND if number % 8 == 7 else True)
    assert len(outcomes) == 3 * CLIENTS


def test_batcher_runs_queued_calls_together_and_hands_errors_to_their_callers():
    sizes: list[int] = []

    def run(batch):
        sizes.append(len(batch))
        time.sleep(0.01)  # others queue meanwhile
        return [ValueError(n) if n % 7 == 0 else n * n for n in batch]

    batcher: Batcher[int, int] = Batcher(run, max_batch=8)
    results: dict[int, object] = {}

    def call(n: int) -> None:
        try:
            results[n] = batcher.submit(n)
        except ValueError as exc:
            results[n] = ("refused", exc.args[0])

    threads = [threading.Thread(target=call, args=(n,)) for n in range(1, 41)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == {n: ("refused", n) if n % 7 == 0 else n * n for n in range(1, 41)}
    assert sum(sizes) == 40 and max(sizes) <= 8 and len(sizes) < 40

    def broken(batch):
        raise RuntimeError("the batch itself failed")

    with pytest.raises(RuntimeError, match="batch itself"):
        Batcher(broken).submit(1)
    assert batcher.submit(3) == 9  # idle again: a lone call runs at once


def test_keys_find_grow_merge_compact_and_reload():
    keys = Keys()
    names = [f"{n:032x}" for n in range(5000)] + ["é-person", "x" * 70]
    keys.append(names[:10])
    keys.append(names[10:])  # past MERGE_MIN: the recent keys are merged
    assert keys.width == 70
    assert all(keys.find(name) == [n] for n, name in enumerate(names))
    assert keys.find("missing") == [] and keys.find("y" * 200) == []
    asked = np.array([names[3].encode(), b"missing", names[-1].encode()])  # one recent
    assert keys.find_many(asked).tolist() == [3, -1, len(names) - 1]
    keys.append([names[5]])  # the same key again (a feature removed, then replayed)
    assert keys.find(names[5]) == [5, len(names)]
    picked = np.array([len(names) - 2, 3, 0])
    assert keys.taken(picked).keys(np.arange(3)) == [names[-2], names[3], names[0]]
    saved = keys.arrays("ids")
    again = Keys.restored(saved, "ids", 10)
    assert again.find(names[-2]) == [len(names) - 2] and again.key(4) == names[4]

    texts = Texts()
    texts.append(["a.jpg", "", "日本.png"])
    texts.append(["last"])
    assert [texts.text(n) for n in range(4)] == ["a.jpg", "", "日本.png", "last"]
    taken = texts.taken(np.array([2, 0, 1]))
    assert [taken.text(n) for n in range(3)] == ["日本.png", "a.jpg", ""]


def test_members_as_columns_survive_removal_re_enrolment_and_compaction(population: Population):
    index = GroupIndex(DIM, exact_max=100)
    vectors = population.photos(np.arange(400) % 80, np.random.default_rng(0))
    index.add([Entry(f"f{n}", f"p{n % 80}", vectors[n], quality=n / 400) for n in range(400)])
    state = index.state
    assert state.members == 80 and state.rows_of(state.member("p3")) == [323, 243, 163, 83, 3]
    index.remove([f"f{n}" for n in range(400) if n % 80 < 40])  # members p0-p39 go
    assert state.members == 40 and state.member("p3") is None
    index.add([Entry("again", "p3", vectors[3])])  # the gone member's code is reused
    assert state.member("p3") == state.member_code("p3") and state.members == 41
    index.install(index.rebuilt())  # compaction: rows and members renumbered, FAISS trained
    state = index.state
    assert index.kind == "faiss-ivf" and state.members == 41 and state.rows == 201
    row = state.row("f373")
    assert row is not None and state.details["quality"][row] == pytest.approx(373 / 400)
    assert state.feature_ids.keys(np.array(state.rows_of(state.member("p53")))) == [
        f"f{n}" for n in (373, 293, 213, 133, 53)
    ]
    hits = index.search(vectors[60], 5)
    assert hits[0].person_id == "p60" and len({h.person_id for h in hits}) == 5
