"""HTTP API benchmark: picture analysis and k:N search through `vigil serve` vs the library.

Run: python -m bench.bench_http [--members 100000] [--concurrency 1,8,32] [--rounds 4]
         [--batch 16] [--model-calls N] [--json bench/results/http.json]

What is compared, in the same run, on the same machine, with the same pictures:
- analysis: POST /v1/analyze (multipart, the picture's bytes) vs `vigil.api.analyze_image`
  on the same bytes, rotating over the bundled sample pictures (a portrait, a football
  scene, a car with a plate);
- search: POST /v1/search (a portrait, top-10 over a group of `--members` members) vs
  `GroupService.search_image` on the same bytes and group; and, for scale, the index
  alone (`GroupService.search` of that portrait's feature).

The group: the portrait's person enrolled from another photo (so the search matches),
plus `--members` synthetic face-like members (`tests.support.synthetic_groups`) written
to the Milvus Lite file in batches through `GroupStore`, as bench_search fills it (one
`add_member` per member would take minutes). The file is then copied, so the server and
the library each load it from Milvus on start, as any process does, and search their own
in-memory copy. `vigil serve` is a real uvicorn subprocess (rate limit off, one API key);
the clients are threads with one `httpx.Client` (keep-alive) each, at each concurrency.
Library and HTTP alternate in rounds of batches, so background load on the shared
machine hits both alike; the server idles while the library runs and the other way round.
Reported per path and concurrency: p50/p99 latency, requests/s, and the HTTP overhead:
the throughput lost (library req/s over HTTP req/s, minus 1) and the p50 latency added.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")  # as workers run; the server inherits it

import httpx
import numpy as np

from bench.procs import median, percentile
from tests.support.api_keys import bearer, new_key
from tests.support.processes import free_port, start_vigil_serve, stop, wait_healthy
from tests.support.synthetic_groups import Population
from vigil.api import analyze_image
from vigil.groups.service import GroupService, picture_features
from vigil.groups.store import FeatureRow
from vigil.http.compute import model_slots
from vigil.infra.settings import Settings
from vigil.samples import SAMPLES_DIR

REPO = Path(__file__).resolve().parents[1]
IMAGES = REPO / "tests" / "media" / "images"
ANALYSED = [SAMPLES_DIR / "grace_hopper.jpg", SAMPLES_DIR / "messi5.jpg",
            SAMPLES_DIR / "car_with_synth_plate.png"]  # fmt: skip
QUERY = IMAGES / "obama.jpg"  # searched; the member is enrolled from obama2.jpg
ENROLLED = IMAGES / "obama2.jpg"
GROUP = "bench"
K = 10
BATCH = 5000
Call = Callable[[int], tuple[object, float | None]]  # number -> answer, its own time (ms)


@dataclass
class Row:
    what: str  # analysis / search / index search
    path: str  # library / http
    concurrency: int
    requests: int
    p50_ms: float
    p99_ms: float
    rps: float
    # analysis: latency minus the analysis's own time (elapsed_ms): transport, parsing,
    # the answer, and (HTTP, more clients than model slots) the wait for a slot
    outside_p50_ms: float | None = None
    overhead_rps_pct: float | None = None  # HTTP: library req/s over HTTP req/s, minus 1
    overhead_p50_pct: float | None = None  # HTTP: p50 latency added, over the library's
    overhead_request_pct: float | None = None  # HTTP, 1 client: outside_p50_ms / library p50


# -- the group --------------------------------------------------------------------------------


def fill(uri: Path, members: int) -> str:
    """A group of `members` synthetic members plus the searched person; its model."""
    service = GroupService(uri)
    try:
        service.create_group(GROUP)
        service.add_member_pictures(GROUP, "obama", [ENROLLED.read_bytes()])
        group = service.get_group(GROUP)
        assert group.model and group.dim
        [record] = [r for r in service.store.list_groups() if r.name == GROUP]
        population = Population.make(members, dim=group.dim, seed=members)
        vectors = population.photos(np.arange(members), np.random.default_rng(1))
        for start in range(0, members, BATCH):
            rows = [
                FeatureRow(f"s{n}", f"synthetic-{n}", group.model, vectors[n], {"n": n % 10})
                for n in range(start, min(members, start + BATCH))
            ]
            service.store.insert(record.group_id, rows)
        return group.model
    finally:
        service.close()


def copy_store(source: Path, target: Path) -> None:
    (shutil.copytree if source.is_dir() else shutil.copy2)(source, target)


# -- the server -------------------------------------------------------------------------------


@contextmanager
def serve(
    workdir: Path, groups: Path, log: Path, model_calls: int | None = None
) -> Iterator[tuple[str, str]]:
    """`vigil serve` on a free port: its base URL and an API key; stopped by SIGTERM.

    `model_calls`: its VIGIL_HTTP_MODEL_CALLS (default: the server's, one per core)."""
    port = free_port()
    key = new_key(workdir / "keys.json")
    env = {"VIGIL_HTTP_RATE": "0"}
    if model_calls is not None:
        env["VIGIL_HTTP_MODEL_CALLS"] = str(model_calls)
    with log.open("w") as output:
        process = start_vigil_serve(port, workdir, output, env, groups=groups)
    try:
        wait_healthy(port, process, timeout=120)  # loading the group takes a while
        yield f"http://127.0.0.1:{port}", key
    finally:
        began = time.monotonic()
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(15)
        finally:
            stop(process)
        print(f"vigil serve stopped in {time.monotonic() - began:.1f} s", flush=True)


class HttpClients:
    """One keep-alive `httpx.Client` per client thread."""

    def __init__(self, base: str, key: str) -> None:
        self.base = base
        self.headers = bearer(key)
        self._local = threading.local()
        self._all: list[httpx.Client] = []
        self._lock = threading.Lock()

    def client(self) -> httpx.Client:
        client = getattr(self._local, "client", None)
        if client is None:
            client = httpx.Client(base_url=self.base, headers=self.headers, timeout=300)
            self._local.client = client
            with self._lock:
                self._all.append(client)
        return client

    def post(self, route: str, files: dict, data: dict | None = None) -> dict:
        response = self.client().post(route, files=files, data=data)
        if response.status_code != 200:
            raise RuntimeError(f"{route}: {response.status_code} {response.text[:300]}")
        return response.json()

    def close(self) -> None:
        for client in self._all:
            client.close()


# -- measuring --------------------------------------------------------------------------------


@dataclass
class Samples:
    latencies: list[float] = field(default_factory=list)  # ms, as the caller waited
    outside: list[float] = field(default_factory=list)  # ms, minus the analysis's own time
    wall: float = 0.0  # s over all batches


def batch(call: Call, requests: int, concurrency: int, into: Samples) -> None:
    """`requests` calls from `concurrency` threads, added to `into`."""

    def one(number: int) -> None:
        started = time.perf_counter()
        _, inside = call(number)
        took = (time.perf_counter() - started) * 1000
        into.latencies.append(took)
        if inside is not None:
            into.outside.append(took - inside)

    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(one, range(requests)))
    into.wall += time.perf_counter() - started


def compare(
    what: str, paths: dict[str, Call], concurrency: int, requests: int, rounds: int
) -> list[Row]:
    """Library then HTTP, `rounds` times over, `requests` calls each per round; a row each."""
    found = {name: Samples() for name in paths}
    for _ in range(rounds):
        for name, call in paths.items():
            batch(call, requests, concurrency, found[name])
    rows = [
        Row(
            what=what,
            path=name,
            concurrency=concurrency,
            requests=len(samples.latencies),
            p50_ms=round(median(samples.latencies), 2),
            p99_ms=round(percentile(samples.latencies, 99), 2),
            rps=round(len(samples.latencies) / samples.wall, 2),
            outside_p50_ms=round(median(samples.outside), 2) if samples.outside else None,
        )
        for name, samples in found.items()
    ]
    library, http = rows
    http.overhead_rps_pct = round((library.rps / http.rps - 1) * 100, 1)
    http.overhead_p50_pct = round((http.p50_ms / library.p50_ms - 1) * 100, 1)
    if http.outside_p50_ms is not None and concurrency == 1:  # above, it includes the line
        http.overhead_request_pct = round(http.outside_p50_ms / library.p50_ms * 100, 1)
    for row in rows:
        show(row)
    return rows


def show(row: Row) -> None:
    overhead = ""
    if row.overhead_rps_pct is not None:
        overhead = (
            f"  overhead: {row.overhead_rps_pct:+.1f}% req/s, {row.overhead_p50_pct:+.1f}% p50"
        )
    if row.overhead_request_pct is not None:
        overhead += f", {row.outside_p50_ms:.1f} ms per request ({row.overhead_request_pct:.1f}%)"
    print(
        f"{row.what:13} {row.path:8} c={row.concurrency:<3} n={row.requests:<4}"
        f" p50 {row.p50_ms:8.1f} ms  p99 {row.p99_ms:8.1f} ms  {row.rps:7.1f} req/s{overhead}",
        flush=True,
    )


def same(paths: dict[str, Call], numbers: range, what: str) -> None:
    """Library and HTTP did the same work: the same targets, or hits, came back."""
    for number in numbers:
        library, http = (call(number)[0] for call in paths.values())
        if library != http:
            raise AssertionError(f"{what}: library and HTTP answers differ:\n{library}\n{http}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--members", type=int, default=100_000)
    parser.add_argument("--concurrency", default="1,8,32")
    parser.add_argument("--rounds", type=int, default=4, help="library/HTTP alternations")
    parser.add_argument(
        "--batch", type=int, default=16, help="calls per path per round (at least the clients)"
    )
    parser.add_argument(
        "--model-calls", type=int, help="the server's VIGIL_HTTP_MODEL_CALLS (default: its own)"
    )
    parser.add_argument("--json", type=Path, help="write the report here")
    args = parser.parse_args()
    levels = [int(c) for c in args.concurrency.split(",")]

    pictures = [(path.name, path.read_bytes()) for path in ANALYSED]
    query = QUERY.read_bytes()
    workdir = Path(tempfile.mkdtemp(prefix="vigil-bench-http-"))
    rows: list[Row] = []
    try:
        started = time.perf_counter()
        model = fill(workdir / "groups.db", args.members)
        copy_store(workdir / "groups.db", workdir / "groups-http.db")
        print(f"group of {args.members + 1} members ({model}) in"
              f" {time.perf_counter() - started:.0f} s", flush=True)  # fmt: skip
        service = GroupService(workdir / "groups.db")
        server = serve(workdir, workdir / "groups-http.db", workdir / "serve.log", args.model_calls)
        with server as (base, key):
            http = HttpClients(base, key)

            def analyse_library(number: int) -> tuple[dict, float]:
                _, data = pictures[number % len(pictures)]
                answer = analyze_image(data, label="image").model_dump(mode="json")
                return answer, answer.pop("elapsed_ms")

            def analyse_http(number: int) -> tuple[dict, float]:
                name, data = pictures[number % len(pictures)]
                answer = http.post("/v1/analyze", {"image": (name, data)})
                return answer, answer.pop("elapsed_ms")

            def search_library(number: int) -> tuple[dict, None]:
                [result] = service.search_image(query, [GROUP], K)
                return result.model_dump(mode="json"), None

            def search_http(number: int) -> tuple[dict, None]:
                fields = {"groups": GROUP, "k": str(K)}
                answer = http.post("/v1/search", {"image": (QUERY.name, query)}, fields)
                [result] = answer["results"]
                return result, None

            analysis = {"library": analyse_library, "http": analyse_http}
            search = {"library": search_library, "http": search_http}
            same(analysis, range(len(pictures)), "analysis")  # and the warm-up
            same(search, range(1), "search")
            [result] = service.search_image(query, [GROUP], K)
            assert result.best is not None and result.best.person_id == "obama", result.best
            print(f"the search matches {result.best.person_id} ({result.best.similarity})")

            for what, paths in (("analysis", analysis), ("search", search)):
                for concurrency in levels:
                    requests = max(args.batch, concurrency)
                    rows += compare(what, paths, concurrency, requests, args.rounds)

            [feature], _ = picture_features([query])
            alone = Samples()
            batch(lambda _: (service.search(feature, [GROUP], K), None), 500, 1, alone)
            rows.append(
                Row(
                    "index search",
                    "library",
                    1,
                    len(alone.latencies),
                    round(median(alone.latencies), 3),
                    round(percentile(alone.latencies, 99), 3),
                    round(len(alone.latencies) / alone.wall, 1),
                )
            )
            show(rows[-1])
            http.close()
        service.close()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    report = {
        "command": " ".join(["python -m bench.bench_http", *sys.argv[1:]]),
        "members": args.members + 1,
        "cpus": os.cpu_count(),
        "load_average_1m_at_end": round(os.getloadavg()[0], 2),
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
        "server_model_calls": args.model_calls or model_slots(0, Settings.from_env().model_threads),
        "rows": [asdict(row) for row in rows],
    }
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
