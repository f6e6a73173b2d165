"""k:N search benchmark: every search path side by side, on 100k and 1M stored features.

Run: python bench/bench_search.py [--sizes 100000,1000000] [--server-uri URI] [--json OUT]
Scale (issue 17): python bench/bench_search.py --scale 1000000,10000000 [--json OUT]
(`--scale` section below: one group of 1M / 10M members served by a real `GroupService`;
recall targets, 1/8/32 client threads with micro-batching off (the baseline) and on,
enrolments during reads with the lock timed, column bytes, memory, and a fresh service
process started from the group's snapshot.)

Data: synthetic 128-D face-like features (`tests.support.synthetic_groups`: people in
look-alike clusters, so a query's 10 nearest neighbours are a real ranking, not
ties), one stored feature per person, metadata `site` with 10 values; queries are
new photos of enrolled people. Top-10, one query at a time, one client thread.

Paths, all measured in the same run:
- `numpy exact`: brute force over the float32 matrix, the baseline (recall 1 by definition);
- `index`: the project's in-memory `GroupIndex` (FAISS IVF above 50k rows: IVF-Flat when the
  table in docs/performance.md was measured, IVF-PQ fast-scan now);
- `faiss HNSW`: the alternative the index could have used (M=32, efSearch=64);
- `Milvus Lite`: `GroupStore` on a .db file (IVF_FLAT, nlist 1024, nprobe 32);
- `Milvus server`: `GroupStore` on Milvus standalone 2.3.5 over gRPC (HNSW M=16, ef 128),
  started from .venv-milvus unless --server-uri is given.
Paths are measured round-robin, query by query, so background load hits them alike.
Reported: p50/p99 latency, queries/s, recall@10 against the exact top-10 (of the same
filter), speed-up over the numpy baseline; and insert/build/scan throughput.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")  # one thread per query, as workers run

import faiss
import numpy as np
from procs import median, percentile, stopwatch

from tests.support.milvus_devserver import DevServer, install
from tests.support.synthetic_groups import Population, StreamedPopulation
from vigil.groups import snapshot
from vigil.groups.catalog import GroupState
from vigil.groups.index import Entry, GroupIndex, State
from vigil.groups.service import GroupService
from vigil.groups.store import FeatureRow, GroupRecord, GroupStore
from vigil.infra.rwlock import RWLock
from vigil.schemas.feature import Feature

REPO = Path(__file__).resolve().parents[1]
K = 10
SITES = 10
FILTER = {"site": ["s3"]}
BATCH = 5000
Search = Callable[[np.ndarray, dict | None], list[int]]


@dataclass
class Timing:
    size: int
    path: str
    filtered: bool
    p50_ms: float
    p99_ms: float
    qps: float
    recall: float
    speedup: float = 1.0


@dataclass
class Throughput:
    size: int
    what: str
    rows_per_s: float
    seconds: float


@dataclass
class Data:
    vectors: np.ndarray
    sites: np.ndarray
    queries: np.ndarray

    @classmethod
    def make(cls, size: int, queries: int) -> Data:
        population = Population.make(size, seed=size)
        rng = np.random.default_rng(1)
        return cls(
            vectors=population.photos(np.arange(size), rng),
            sites=np.arange(size) % SITES,
            queries=population.photos(rng.integers(size, size=queries), rng),
        )

    def metadata(self, row: int) -> dict:
        return {"site": f"s{self.sites[row]}"}


# -- paths --------------------------------------------------------------------------------


def numpy_exact(data: Data) -> Search:
    """The baseline: float32 brute force; the filter is a row mask."""
    matrix = data.vectors
    norms = np.einsum("ij,ij->i", matrix, matrix)
    masks = {f"s{site}": data.sites == site for site in range(SITES)}

    def search(query: np.ndarray, filter: dict | None) -> list[int]:
        scores = norms - 2.0 * (matrix @ query)
        if filter:
            scores = np.where(masks[filter["site"][0]], scores, np.inf)
        top = np.argpartition(scores, K)[:K]
        return top[np.argsort(scores[top])].tolist()

    return search


def project_index(data: Data, throughputs: list[Throughput]) -> Search:
    index = GroupIndex(data.vectors.shape[1])
    size = len(data.vectors)
    with stopwatch() as took:
        for start in range(0, size, BATCH):
            rows = range(start, min(size, start + BATCH))
            index.add([Entry(str(r), str(r), data.vectors[r], data.metadata(r)) for r in rows])
        if index.maintenance_due():
            index.install(index.rebuilt())
    throughputs.append(
        Throughput(size, f"index add + build ({index.kind})", size / took[0], took[0])
    )

    def search(query: np.ndarray, filter: dict | None) -> list[int]:
        return [int(n.feature_id) for n in index.search(query, K, filter)]

    return search


def faiss_hnsw(data: Data, throughputs: list[Throughput]) -> Search:
    """Unfiltered only: filtering HNSW needs a selector over the whole id space per query."""
    size, dim = data.vectors.shape
    index = faiss.IndexHNSWFlat(dim, 32)
    with stopwatch() as took:
        index.add(data.vectors)
    throughputs.append(Throughput(size, "faiss HNSW build (M=32)", size / took[0], took[0]))
    index.hnsw.efSearch = 64

    def search(query: np.ndarray, filter: dict | None) -> list[int]:
        _, ids = index.search(query[None], K)
        return ids[0].tolist()

    return search


def milvus(label: str, store: GroupStore, data: Data, throughputs: list[Throughput]) -> Search:
    size = len(data.vectors)
    group = f"bench{size}"
    collection = store.features_collection(group)
    if store.client.has_collection(collection):
        store.client.drop_collection(collection)
    store.ensure_features(group, data.vectors.shape[1])
    with stopwatch() as took:
        for start in range(0, size, BATCH):
            rows = [
                FeatureRow(str(r), str(r), "bench@1", data.vectors[r], data.metadata(r))
                for r in range(start, min(size, start + BATCH))
            ]
            store.insert(group, rows)
    throughputs.append(Throughput(size, f"{label} insert", size / took[0], took[0]))
    with stopwatch() as took:
        store.client.flush(collection)
        wait_indexed(store, collection, size)
    throughputs.append(Throughput(size, f"{label} flush + index", size / took[0], took[0]))
    with stopwatch() as took:
        scanned = sum(len(batch) for batch in store.scan_features(group))
    throughputs.append(
        Throughput(size, f"{label} scan (index rebuild)", scanned / took[0], took[0])
    )

    def search(query: np.ndarray, filter: dict | None) -> list[int]:
        [hits] = store.search(group, query[None], K, filter)
        return [int(feature_id) for feature_id, _ in hits]

    return search


def wait_indexed(store: GroupStore, collection: str, rows: int, timeout: float = 1800) -> None:
    """Servers index sealed segments in the background; Lite reports nothing to wait for."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        [name] = store.client.list_indexes(collection)
        info = store.client.describe_index(collection, name)
        if "indexed_rows" not in info:
            return
        if int(info["indexed_rows"]) >= rows and not int(info.get("pending_index_rows", 0)):
            return
        time.sleep(1)
    raise TimeoutError(f"{collection}: index not built after {timeout}s")


# -- measuring ----------------------------------------------------------------------------


def measure(
    paths: list[tuple[str, Search, int]], queries: np.ndarray, filter: dict | None
) -> dict[str, tuple[list[float], list[list[int]]]]:
    """Round-robin over the paths, query by query: background load hits all paths alike."""
    found: dict[str, tuple[list[float], list[list[int]]]] = {}
    for name, search, _ in paths:
        search(queries[0], filter)  # warm-up
        found[name] = ([], [])
    for number, query in enumerate(queries):
        for name, search, count in paths:
            if number < count:
                started = time.perf_counter()
                answer = search(query, filter)
                found[name][0].append((time.perf_counter() - started) * 1000)
                found[name][1].append(answer)
    return found


def recall(answers: list[list[int]], truth: list[list[int]]) -> float:
    return float(np.mean([len(set(a) & set(t)) / K for a, t in zip(answers, truth, strict=False)]))


def run_size(
    size: int, args: argparse.Namespace, server_uri: str | None, workdir: Path
) -> tuple[list[Timing], list[Throughput]]:
    data = Data.make(size, args.queries)
    throughputs: list[Throughput] = []
    paths: list[tuple[str, Search, int, bool]] = [
        ("numpy exact", numpy_exact(data), args.queries, True),
        ("index", project_index(data, throughputs), args.queries, True),
    ]
    if size <= args.hnsw_max:
        paths.append(("faiss HNSW", faiss_hnsw(data, throughputs), args.queries, False))
    if size <= args.lite_max:
        lite = GroupStore(workdir / f"lite{size}.db", index_type="IVF_FLAT")
        paths.append(
            ("Milvus Lite", milvus("Milvus Lite", lite, data, throughputs), args.lite_queries, True)
        )
    if server_uri:
        server = GroupStore(server_uri, index_type="HNSW")  # the store's own is FLAT
        paths.append(
            (
                "Milvus server",
                milvus("Milvus server", server, data, throughputs),
                args.queries,
                True,
            )
        )

    timings = []
    for filter in (None, FILTER):
        usable = [
            (name, search, count) for name, search, count, filters in paths if filters or not filter
        ]
        found = measure(usable, data.queries, filter)
        truth = found["numpy exact"][1]
        for name, (latencies, answers) in found.items():
            timings.append(
                Timing(
                    size=size,
                    path=name,
                    filtered=bool(filter),
                    p50_ms=round(median(latencies), 3),
                    p99_ms=round(percentile(latencies, 99), 3),
                    qps=round(1000 * len(latencies) / sum(latencies), 1),
                    recall=round(recall(answers, truth), 4),
                )
            )
    for timing in timings:
        base = next(t for t in timings if t.path == "numpy exact" and t.filtered == timing.filtered)
        timing.speedup = round(base.p50_ms / timing.p50_ms, 2)
    return timings, throughputs


def print_tables(timings: list[Timing], throughputs: list[Throughput]) -> None:
    print("\n| stored | path | filter | p50 ms | p99 ms | queries/s | recall@10 | vs numpy |")
    print("|---:|---|---|---:|---:|---:|---:|---:|")
    for t in timings:
        print(
            f"| {t.size:,} | {t.path} | {'site=s3 (10%)' if t.filtered else '-'} | {t.p50_ms:.2f}"
            f" | {t.p99_ms:.2f} | {t.qps:,.0f} | {t.recall:.3f} | {t.speedup:.2f}x |"
        )
    print("\n| stored | step | rows/s | seconds |")
    print("|---:|---|---:|---:|")
    for w in throughputs:
        print(f"| {w.size:,} | {w.what} | {w.rows_per_s:,.0f} | {w.seconds:.1f} |")


# -- scale (issue 17): one group of 1M / 10M members --------------------------------------


def rss_kinds() -> dict[str, float]:
    """This process's resident memory in GB: all, anonymous (heap) and file-backed (the
    mapped vectors: clean pages the kernel may drop and re-read)."""
    kinds = {"VmRSS": "rss_gb", "RssAnon": "anon_gb", "RssFile": "file_gb"}
    found = {}
    with open("/proc/self/status") as handle:
        for line in handle:
            key = line.split(":")[0]
            if key in kinds:
                found[kinds[key]] = round(int(line.split()[1]) / 2**20, 2)
    return found


def scale_queries(size: int, count: int) -> tuple[StreamedPopulation, np.ndarray]:
    population = StreamedPopulation.make(size, seed=size)
    rng = np.random.default_rng(2)
    return population, population.photos(rng.integers(size, size=count), rng)


def build_scale_index(size: int, folder: Path, report: dict) -> GroupIndex:
    """Members added block by block as the service adds them (exact rows), then one
    FAISS training over them all (the retraining the service does as a group grows)."""
    population = StreamedPopulation.make(size, seed=size)
    index = GroupIndex(population.dim, storage=folder / "old")
    row = 0
    with stopwatch() as took:
        for block in population.blocks(np.random.default_rng(1)):
            index.add(
                [Entry(f"{r:032x}", f"p{r}", block[r - row]) for r in range(row, row + len(block))]
            )
            row += len(block)
    report["add_rows_per_s"] = round(size / took[0])
    index.storage = folder / "snap"
    with stopwatch() as took:
        index.install(index.rebuilt())
    report["faiss_build_s"] = round(took[0], 1)
    report["lists"] = index.state.ann.index.nlist if index.state.ann else 0
    for path in (folder / "old").iterdir():
        path.unlink()
    return index


def exact_truth(index: GroupIndex, queries: np.ndarray) -> np.ndarray:
    """Row numbers of the exact top-10 (FAISS brute force, chunked over the mapped rows)."""
    faiss.omp_set_num_threads(os.cpu_count() or 1)
    state = index.state
    best = np.full((len(queries), K), np.inf, np.float32)
    rows = np.zeros((len(queries), K), np.int64)
    for start in range(0, state.rows, 1 << 20):
        block = np.ascontiguousarray(state.vectors[start : min(state.rows, start + (1 << 20))])
        distances, found = faiss.knn(queries, block, K)
        merged = np.concatenate([best, distances], 1)
        ids = np.concatenate([rows, found + start], 1)
        order = np.argsort(merged, 1)[:, :K]
        best, rows = np.take_along_axis(merged, order, 1), np.take_along_axis(ids, order, 1)
    faiss.omp_set_num_threads(1)
    return rows


MODEL = "face_resnet128@synthetic"


class TimedLock(RWLock):
    """The service's readers-writer lock, timed: each read's wait (one per batch when
    batching), each write's wait and hold."""

    def __init__(self) -> None:
        super().__init__()
        self.read_waits: list[float] = []
        self.write_holds: list[float] = []

    @contextmanager
    def read(self) -> Iterator[None]:
        started = time.perf_counter()
        with super().read():
            self.read_waits.append(time.perf_counter() - started)
            yield

    @contextmanager
    def write(self) -> Iterator[None]:
        with super().write():
            began = time.perf_counter()
            try:
                yield
            finally:
                self.write_holds.append(time.perf_counter() - began)


def scale_service(
    index: GroupIndex, workdir: Path, state: GroupState | None = None
) -> GroupService:
    """A real `GroupService` (Milvus Lite, empty) serving the built group as "scale": the
    group is created in the store, then its mirror is the index built here (the store
    does not hold the 10M rows: a Lite insert of them would take hours)."""
    service = GroupService(workdir / f"service-{os.getpid()}-{time.monotonic_ns()}.db")
    service.create_group("scale")
    created = service._groups["scale"]
    record = replace(created.record, model=MODEL, dim=index.dim)
    service.store.put_group(record)
    if state is None:
        state = GroupState(record, index=index)
    state.record = record
    service._groups["scale"] = state
    return service


def timed_searches(
    service: GroupService, features: list[Feature], target: str
) -> tuple[list[float], list[list[str]]]:
    latencies, found = [], []
    for feature in features:
        started = time.perf_counter()
        hits = service.search(feature, ["scale"], k=K, target=target).hits
        latencies.append((time.perf_counter() - started) * 1000)
        found.append([hit.feature_id for hit in hits])
    return latencies, found


def rows_of(service: GroupService, found: list[list[str]]) -> list[list[int]]:
    index = service._groups["scale"].index
    assert index is not None
    return [[row for f in ids if (row := index.state.row(f)) is not None] for ids in found]


def one_client(
    service: GroupService, features: list[Feature], truth: np.ndarray, target: str
) -> dict:
    service.search(features[0], ["scale"], k=K, target=target)  # warm-up
    latencies, found = timed_searches(service, features, target)
    return {
        "target": target,
        "clients": 1,
        "batching": service.batching,
        "queries": len(features),
        "p50_ms": round(median(latencies), 3),
        "p99_ms": round(percentile(latencies, 99), 3),
        "qps": round(1000 * len(latencies) / sum(latencies), 1),
        "recall": round(recall(rows_of(service, found), truth[: len(features)].tolist()), 4),
    }


def many_clients(
    service: GroupService,
    features: list[Feature],
    truth: np.ndarray,
    clients: int,
    seconds: float,
    batching: bool,
    writes: np.ndarray | None = None,
) -> dict:
    """`clients` threads calling `service.search` back to back for `seconds`, batched or
    each alone under the shared read lock (`batching`). With `writes`, one thread enrols
    members (4 photos each) through `service.add_member` meanwhile (Milvus Lite write,
    FAISS encoding off-lock, then the write lock for the copies), and the lock is timed."""
    service.batching = batching
    lock = service._rw = TimedLock()
    batcher = service._batcher
    batches, requests = batcher.batches, batcher.requests
    stop = time.perf_counter() + seconds
    latencies: list[list[float]] = [[] for _ in range(clients)]
    found: list[list[tuple[int, list[str]]]] = [[] for _ in range(clients)]
    written = [0]

    def client(number: int) -> None:
        position = number
        while time.perf_counter() < stop:
            feature = features[position % len(features)]
            started = time.perf_counter()
            hits = service.search(feature, ["scale"], k=K).hits
            latencies[number].append((time.perf_counter() - started) * 1000)
            found[number].append((position % len(features), [h.feature_id for h in hits]))
            position += clients

    def writer() -> None:
        assert writes is not None
        for start in range(0, len(writes), 4):
            if time.perf_counter() >= stop:
                return
            photos = [Feature.from_vector(v, MODEL) for v in writes[start : start + 4]]
            service.add_member("scale", f"w{start}", photos, {"site": "w"})
            written[0] += len(photos)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    if writes is not None:
        threads.append(threading.Thread(target=writer))
    began = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - began
    every = [value for values in latencies for value in values]
    pairs = [pair for pairs in found for pair in pairs]
    answers = rows_of(service, [ids for _, ids in pairs])
    result = {
        "target": "balanced",
        "clients": clients,
        "batching": batching,
        "queries": len(every),
        "p50_ms": round(median(every), 3),
        "p99_ms": round(percentile(every, 99), 3),
        "qps": round(len(every) / elapsed, 1),
        "recall": round(recall(answers, [truth[q].tolist() for q, _ in pairs]), 4),
    }
    if batching:
        ran = batcher.batches - batches
        result["mean_batch"] = round((batcher.requests - requests) / max(ran, 1), 1)
    if writes is not None:
        waits = [w * 1000 for w in lock.read_waits]
        holds = [h * 1000 for h in lock.write_holds]
        result |= {
            "rows_written": written[0],
            "write_lock_hold_ms_p50": round(median(holds), 3) if holds else None,
            "write_lock_hold_ms_max": round(max(holds, default=0), 3),
            "read_lock_wait_ms_p99": round(percentile(waits, 99), 3),
            "read_lock_wait_ms_max": round(max(waits), 3),
        }
    service.batching = True
    return result


def restart(folder: Path, size: int, queries: int, workdir: Path) -> dict:
    """A fresh process loads the snapshot and searches: start-up time and its memory."""
    command = [sys.executable, __file__, "--restart", str(folder), "--size", str(size)]
    command += ["--queries", str(queries), "--workdir", str(workdir)]
    done = subprocess.run(command, check=True, capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def restarted(folder: Path, size: int, count: int, workdir: Path) -> None:
    """The child of `restart`: a `GroupService` whose group is loaded from the snapshot
    (index and catalog columns; the store checks are skipped: Milvus does not hold the
    rows here), searched by one client through `service.search`. Prints one JSON line."""
    started = time.perf_counter()
    loaded = snapshot.load(folder, 128, 50_000, {"group_id": "bench"})
    index = loaded.index
    record = GroupRecord(group_id="bench", name="scale", model=MODEL, dim=index.dim)
    state = GroupState(record, index=index, storage=folder)
    state.restore(loaded.arrays, loaded.meta)
    load_s = time.perf_counter() - started
    service = scale_service(index, workdir, state)
    service_s = time.perf_counter() - started - load_s
    _, queries = scale_queries(size, count)
    features = [Feature.from_vector(query, MODEL) for query in queries]
    first = time.perf_counter()
    service.search(features[0], ["scale"], k=K)
    first_s = time.perf_counter() - first
    latencies, _ = timed_searches(service, features, "balanced")
    print(
        json.dumps(
            {
                "load_s": round(load_s, 2),
                "service_start_s": round(service_s, 2),
                "first_search_s": round(first_s, 3),
                "members": state.member_count,
                "p50_ms": round(median(latencies), 3),
                "p99_ms": round(percentile(latencies, 99), 3),
                **rss_kinds(),
            }
        )
    )


def column_bytes(state: State) -> dict:
    """Bytes per row of the group's columns (the catalog and the index, not the vectors)."""
    per_row = [state.sq_norms, state.alive, state.person, state.next_row]
    per_row += [*state.details.values(), *state.columns.values()]
    ids = [state.feature_ids.values, state.feature_ids.sorted, state.feature_ids.positions]
    members = [state.person_ids.values, state.person_ids.sorted, state.person_ids.positions]
    members += [state.first_row, state.live_rows, state.member_meta]
    rows = max(state.rows, 1)
    return {
        "row_columns": round(sum(a[: state.rows].nbytes for a in per_row) / rows, 1),
        "feature_ids": round(sum(a[: state.rows].nbytes for a in ids) / rows, 1),
        "sources": round((state.sources.arrays()[0].nbytes + 8 * state.rows) / rows, 1),
        "members": round(sum(a.nbytes for a in members) / max(state.members, 1), 1),
    }


def faiss_hnsw_scale(index: GroupIndex, queries: np.ndarray, truth: np.ndarray) -> dict:
    """FAISS HNSW (M=16, built on all cores) over the same rows, for comparison."""
    state = index.state
    hnsw = faiss.IndexHNSWFlat(index.dim, 16)
    hnsw.hnsw.efConstruction = 40
    faiss.omp_set_num_threads(os.cpu_count() or 1)
    with stopwatch() as took:
        for start in range(0, state.rows, 1 << 20):  # rows only: the file has spare room
            stop = min(state.rows, start + (1 << 20))
            hnsw.add(np.ascontiguousarray(state.vectors[start:stop]))
    faiss.omp_set_num_threads(1)
    hnsw.hnsw.efSearch = 64
    latencies, found = [], []
    for query in queries:
        began = time.perf_counter()
        _, ids = hnsw.search(query[None], K)
        latencies.append((time.perf_counter() - began) * 1000)
        found.append(ids[0].tolist())
    return {
        "target": "faiss HNSW M=16 ef 64",
        "clients": 1,
        "queries": len(queries),
        "build_s": round(took[0], 1),
        "p50_ms": round(median(latencies), 3),
        "p99_ms": round(percentile(latencies, 99), 3),
        "qps": round(1000 * len(latencies) / sum(latencies), 1),
        "recall": round(recall(found, truth[: len(queries)].tolist()), 4),
    }


def run_scale(size: int, args: argparse.Namespace, workdir: Path) -> dict:
    report: dict = {"size": size, "load_average_at_start": os.getloadavg()[0]}
    folder = workdir / f"scale{size}"
    index = build_scale_index(size, folder, report)
    print(f"{size:,}: built {report}", flush=True)
    _, queries = scale_queries(size, args.queries)
    features = [Feature.from_vector(query, MODEL) for query in queries]
    truth = exact_truth(index, queries)
    service = scale_service(index, workdir)
    report["memory_service_ready"] = rss_kinds()
    runs = []
    for batching in (False, True):
        service.batching = batching
        runs += [one_client(service, features, truth, t) for t in ("fast", "balanced")]
    runs.append(one_client(service, features[: args.exact_queries], truth, "exact"))
    for row in runs:
        print(row, flush=True)
    for clients in (1, 8, 32):
        for batching in (False, True):
            runs.append(many_clients(service, features, truth, clients, args.seconds, batching))
            print(runs[-1], flush=True)
    population = StreamedPopulation.make(size + 200_000, seed=size + 1)
    writes = next(population.blocks(np.random.default_rng(3)))
    for batching in (False, True):
        runs.append(
            many_clients(service, features, truth, 32, args.seconds, batching, writes[:20_000])
        )
        print(runs[-1], flush=True)
    report["memory_after_runs"] = rss_kinds()
    report["bytes"] = column_bytes(index.state) | {
        "faiss_codes_and_ids": index.state.ann.index.code_size + 8 if index.state.ann else 0,
        "exact_vector_mapped": 4 * index.dim,
    }
    state = service._groups["scale"]
    arrays, meta = state.snapshot_arrays()
    with stopwatch() as took:
        snapshot.save(folder / "snap", index, {"group_id": "bench", "seq": 0, **meta}, arrays)
    report["snapshot_write_s"] = round(took[0], 1)
    if size <= args.hnsw_max:
        runs.append(faiss_hnsw_scale(index, queries, truth))
        print(runs[-1], flush=True)
    service.close()
    del index, service, state
    report["restart"] = restart(folder / "snap", size, args.queries, workdir)
    print(report["restart"], flush=True)
    report["runs"] = runs
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="100000,1000000", help="stored features, comma list")
    parser.add_argument("--queries", type=int, default=500)
    parser.add_argument("--lite-queries", type=int, default=30, help="Lite is ~linear: fewer")
    parser.add_argument("--lite-max", type=int, default=1_000_000, help="skip Lite above")
    parser.add_argument("--hnsw-max", type=int, default=1_000_000, help="skip FAISS HNSW above")
    parser.add_argument("--server-uri", help="a Milvus server; default: start one")
    parser.add_argument("--no-server", action="store_true", help="skip the Milvus server path")
    parser.add_argument("--workdir", help="folder for the scale runs' files (default /tmp)")
    parser.add_argument("--json", type=Path, help="also write the numbers here")
    parser.add_argument("--scale", help="issue-17 scale runs at these sizes, comma list")
    parser.add_argument("--seconds", type=float, default=10.0, help="per concurrent run")
    parser.add_argument("--exact-queries", type=int, default=20, help="exact target: fewer")
    parser.add_argument("--restart", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--size", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.restart:
        restarted(args.restart, args.size, args.queries, Path(args.workdir))
        return
    if args.scale:
        with tempfile.TemporaryDirectory(prefix="bench-scale-", dir=args.workdir) as tmp:
            reports = [run_scale(int(size), args, Path(tmp)) for size in args.scale.split(",")]
        if args.json:
            args.json.write_text(json.dumps(reports, indent=2))
        return
    sizes = [int(size) for size in args.sizes.split(",")]
    print(
        f"faiss {faiss.__version__}, numpy {np.__version__}, {os.cpu_count()} cores,"
        f" load average {os.getloadavg()[0]:.2f} at start"
    )

    timings: list[Timing] = []
    throughputs: list[Throughput] = []
    with tempfile.TemporaryDirectory(prefix="bench-search-") as tmp:
        workdir = Path(tmp)
        server = None
        if not args.no_server and not args.server_uri:
            binary = install(REPO / ".venv-milvus", REPO / ".ci" / "milvus-requirements.txt")
            (workdir / "milvus").mkdir()
            server = DevServer(binary, workdir / "milvus")
        try:
            uri = None if args.no_server else args.server_uri or server.start()
            for size in sizes:
                found, done = run_size(size, args, uri, workdir)
                print_tables(found, done)  # as measured: the 1M size takes long
                timings += found
                throughputs += done
        finally:
            if server:
                server.stop()
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "timings": [asdict(t) for t in timings],
                    "throughputs": [asdict(w) for w in throughputs],
                },
                indent=2,
            )
        )


if __name__ == "__main__":
    main()
