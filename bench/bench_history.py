"""History search benchmark: latency over 1M stored captures with time and camera filters.

Run: python bench/bench_history.py [--rows 1000000] [--days 30] [--milvus-rows 20000] [--json OUT]

Data: synthetic 128-D face-like features (`tests.support.synthetic_groups`: people in look-alike
clusters, several captures of each person), spread evenly over `--days` on `--cameras`
cameras and arriving *nearly* in time order (each capture up to 30 s late, as tracks
end out of order), added in batches of 1000 as the writer does. Queries are new photos
of stored people; top-10, one query at a time, one thread.

Paths, measured in the same run, query by query (round-robin, so load hits both alike):
- `numpy masked` (baseline): brute force over all rows in arrival order, the filter a
  row mask over every row (gathering the passing rows when they are few) - what the
  groups index does with a metadata filter;
- `history index`: `HistoryIndex`, time-sorted rows, a window is a binary-searched slice.
Both are exact: recall is the index's top-10 overlap with the baseline's (expected 1).
Optionally `Milvus Lite` (`--milvus-rows`, Lite inserts ~3.5k rows/s): `HistoryStore`
searched with the same filter as a Milvus expression, on its own smaller collection
(so on fewer rows than its "rows passing" column says).
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

os.environ.setdefault("OMP_NUM_THREADS", "1")  # one core per query, as a worker runs

import numpy as np
from procs import median, percentile

from tests.support.synthetic_groups import Population
from vigil.history.index import HistoryIndex, Selection
from vigil.history.store import HistoryStore

K = 10
BATCH = 1000
HOUR_US = 3_600_000_000
DAY_US = 24 * HOUR_US
LATE_US = 30_000_000
START_US = 1_700_000_000_000_000
Window = tuple[int | None, int | None, int | None]  # since, until, camera


@dataclass
class Timing:
    scenario: str
    path: str
    rows_passing: float
    p50_ms: float
    p99_ms: float
    speedup_p50: float = 1.0
    recall: float | None = None  # top-10 overlap with the baseline's (exact) top-10


@dataclass
class Data:
    times: np.ndarray  # arrival order
    cameras: np.ndarray
    vectors: np.ndarray
    queries: np.ndarray

    @classmethod
    def make(cls, rows: int, days: float, cameras: int, queries: int) -> Data:
        people = max(1, rows // 5)  # ~5 captures per person
        population = Population.make(people, seed=7)
        rng = np.random.default_rng(3)
        span = int(days * DAY_US)
        ideal = START_US + np.sort(rng.integers(0, span, rows))
        times = ideal - rng.integers(0, LATE_US, rows)  # arrives in `ideal` order, a bit late
        vectors = np.empty((rows, population.dim), np.float32)
        for start in range(0, rows, 100_000):
            stop = min(rows, start + 100_000)
            vectors[start:stop] = population.photos(rng.integers(people, size=stop - start), rng)
        asked = population.photos(rng.integers(people, size=queries), rng)
        return cls(times, rng.integers(cameras, size=rows), vectors, asked)

    def row(self, index: int) -> dict:
        return {
            "capture_id": f"cam{self.cameras[index]}/{index}",
            "camera_id": f"cam{self.cameras[index]}",
            "track_id": str(index),
            "type": "face",
            "event": "end",
            "revision": 1,
            "captured_us": int(self.times[index]),
            "quality": 0.8,
            "age": -1.0,
            "gender": "",
            "upper_colour": "",
            "lower_colour": "",
            "vehicle_type": "",
            "vehicle_colour": "",
            "plate": "",
            "parent_capture_id": "",
            "model": "face_resnet128@dlib-resnet29-v1",
            "has_feature": True,
            "written_us": 0,
            "crop": "",
            "vector": self.vectors[index],
        }


def baseline(data: Data) -> Callable[[np.ndarray, Window], list[str]]:
    """Brute force over every row; the filter a mask over every row."""
    matrix, times, cameras = data.vectors, data.times, data.cameras
    norms = np.einsum("ij,ij->i", matrix, matrix)

    def search(query: np.ndarray, window: Window) -> list[str]:
        since, until, camera = window
        mask = np.ones(len(times), bool)
        if since is not None:
            mask &= (times >= since) & (times <= until)
        if camera is not None:
            mask &= cameras == camera
        if mask.all():
            rows, scores = None, norms - 2.0 * (matrix @ query)
        else:
            rows = np.flatnonzero(mask)
            scores = norms[rows] - 2.0 * (np.take(matrix, rows, axis=0) @ query)
        fetch = min(K, scores.size)
        top = (
            np.argpartition(scores, fetch - 1)[:fetch] if scores.size > fetch else np.arange(fetch)
        )
        top = top[np.argsort(scores[top])]
        picked = top if rows is None else rows[top]
        return [f"cam{data.cameras[r]}/{r}" for r in picked]

    return search


def history_index(
    data: Data, timings: dict[str, float]
) -> Callable[[np.ndarray, Window], list[str]]:
    index = HistoryIndex(data.vectors.shape[1])
    started = time.perf_counter()
    for start in range(0, len(data.times), BATCH):
        index.add([data.row(i) for i in range(start, min(len(data.times), start + BATCH))])
    index.merge()
    timings["index add (rows/s)"] = len(data.times) / (time.perf_counter() - started)
    timings["index MB"] = sum(c.nbytes for c in index.main.columns.values()) / 2**20
    cameras = {f"cam{c}": index.code("camera_id", f"cam{c}") for c in np.unique(data.cameras)}

    def search(query: np.ndarray, window: Window) -> list[str]:
        since, until, camera = window
        selection = Selection(
            since_us=since,
            until_us=until,
            cameras=None if camera is None else [cameras[f"cam{camera}"]],
        )
        hits, _ = index.nearest(query, K, selection)
        return [segment.columns["capture_id"][row] for segment, row, _ in hits]

    return search


def milvus_lite(data: Data, rows: int, timings: dict[str, float], folder: Path):
    store = HistoryStore(folder / "history.db", dim=data.vectors.shape[1])
    picked = np.linspace(0, len(data.times) - 1, rows).astype(int)
    started = time.perf_counter()
    store.upsert([data.row(int(i)) for i in picked])
    timings["Milvus Lite upsert (rows/s)"] = rows / (time.perf_counter() - started)

    def search(query: np.ndarray, window: Window) -> list[str]:
        since, until, camera = window
        terms = [] if since is None else [f"captured_us >= {since}", f"captured_us <= {until}"]
        terms += [] if camera is None else [f'camera_id == "cam{camera}"']
        found = store.client.search(
            "vigil_history",
            data=[query.tolist()],
            limit=K,
            filter=" and ".join(terms),
            search_params={"metric_type": "L2", "params": {}},
            output_fields=["capture_id"],
        )
        return [hit["entity"]["capture_id"] for hit in found[0]]

    return store, search


def scenarios(data: Data, rng: np.random.Generator, count: int) -> dict[str, list[Window]]:
    first, last = int(data.times.min()), int(data.times.max())

    def windows(width: int | None, camera: bool) -> list[Window]:
        made = []
        for _ in range(count):
            since = None if width is None else int(rng.integers(first, last - width))
            made.append(
                (
                    since,
                    None if width is None else since + width,
                    int(rng.integers(data.cameras.max() + 1)) if camera else None,
                )
            )
        return made

    return {
        "no filter": windows(None, False),
        "1-day window": windows(DAY_US, False),
        "1-hour window": windows(HOUR_US, False),
        "one camera": windows(None, True),
        "1 hour, one camera": windows(HOUR_US, True),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--days", type=float, default=30.0)
    parser.add_argument("--cameras", type=int, default=16)
    parser.add_argument("--queries", type=int, default=100, help="per scenario")
    parser.add_argument("--milvus-rows", type=int, default=0, help="also Milvus Lite (0: skip)")
    parser.add_argument("--json", type=Path, help="write the results here")
    args = parser.parse_args()

    data = Data.make(args.rows, args.days, args.cameras, args.queries)
    timings: dict[str, float] = {}
    paths = {"numpy masked": baseline(data), "history index": history_index(data, timings)}
    with tempfile.TemporaryDirectory() as folder:
        store = None
        if args.milvus_rows:
            store, paths["Milvus Lite"] = milvus_lite(data, args.milvus_rows, timings, Path(folder))
        results = run(data, paths, scenarios(data, np.random.default_rng(5), args.queries))
        if store is not None:
            store.close()
    report(args, timings, results)


def run(data: Data, paths: dict, plans: dict[str, list[Window]]) -> list[Timing]:
    results = []
    for scenario, windows in plans.items():
        spent: dict[str, list[float]] = {name: [] for name in paths}
        passing, recalls = [], []
        for query, window in zip(data.queries, windows, strict=True):
            answers = {}
            for name, search in paths.items():
                started = time.perf_counter()
                answers[name] = search(query, window)
                spent[name].append((time.perf_counter() - started) * 1000)
            same = set(answers["history index"]) & set(answers["numpy masked"])
            recalls.append(len(same) / max(1, len(answers["numpy masked"])))
            since, until, camera = window
            mask = np.ones(len(data.times), bool)
            if since is not None:
                mask &= (data.times >= since) & (data.times <= until)
            if camera is not None:
                mask &= data.cameras == camera
            passing.append(int(mask.sum()))
        base = median(spent["numpy masked"])
        for name, values in spent.items():
            results.append(
                Timing(
                    scenario,
                    name,
                    float(np.mean(passing)),
                    round(median(values), 3),
                    round(percentile(values, 99), 3),
                    round(base / median(values), 1),
                    round(float(np.mean(recalls)), 4) if name == "history index" else None,
                )
            )
    return results


def report(args: argparse.Namespace, timings: dict[str, float], results: list[Timing]) -> None:
    print(f"{args.rows:,} captures over {args.days:g} days, {args.cameras} cameras, top-{K}")
    for name, value in timings.items():
        print(f"  {name}: {value:,.0f}")
    head = f"{'scenario':20} {'path':14} {'rows passing':>13} {'p50 ms':>9} {'p99 ms':>9}"
    print(f"{head} {'x':>7} {'recall':>7}")
    for t in results:
        print(
            f"{t.scenario:20} {t.path:14} {t.rows_passing:>13,.0f} {t.p50_ms:>9.3f}"
            f" {t.p99_ms:>9.3f} {t.speedup_p50:>7.1f} {'' if t.recall is None else t.recall:>7}"
        )
    print("(x: p50 speed-up over the numpy masked baseline; recall: top-10 overlap with it)")
    if args.json:
        args.json.write_text(
            json.dumps({"timings": timings, "results": [asdict(t) for t in results]}, indent=2)
        )


if __name__ == "__main__":
    main()
