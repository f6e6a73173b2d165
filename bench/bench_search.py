"""k:N search benchmark: every search path side by side, on 100k and 1M stored features.

Run: python bench/bench_search.py [--sizes 100000,1000000] [--server-uri URI] [--json OUT]

Data: synthetic 128-D face-like features (`tests.support.synthetic_groups`: people in
look-alike clusters, so a query's 10 nearest neighbours are a real ranking, not
ties), one stored feature per person, metadata `site` with 10 values; queries are
new photos of enrolled people. Top-10, one query at a time, one client thread.

Paths, all measured in the same run:
- `numpy exact`: brute force over the float32 matrix, the baseline (recall 1 by definition);
- `index`: the project's in-memory `GroupIndex` (FAISS IVF-Flat above 50k rows);
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
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")  # one thread per query, as workers run

import faiss
import numpy as np
from procs import median, percentile, stopwatch

from tests.support.milvus_devserver import DevServer, install
from tests.support.synthetic_groups import Population
from vigil.groups.index import Entry, GroupIndex
from vigil.groups.store import FeatureRow, GroupStore

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
        server = GroupStore(server_uri)
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="100000,1000000", help="stored features, comma list")
    parser.add_argument("--queries", type=int, default=500)
    parser.add_argument("--lite-queries", type=int, default=30, help="Lite is ~linear: fewer")
    parser.add_argument("--lite-max", type=int, default=1_000_000, help="skip Lite above")
    parser.add_argument("--hnsw-max", type=int, default=1_000_000, help="skip FAISS HNSW above")
    parser.add_argument("--server-uri", help="a Milvus server; default: start one")
    parser.add_argument("--no-server", action="store_true", help="skip the Milvus server path")
    parser.add_argument("--json", type=Path, help="also write the numbers here")
    args = parser.parse_args()
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
