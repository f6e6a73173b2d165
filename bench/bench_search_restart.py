"""Issue 17 with the Milvus server as the system of record: a restart of a 10M group.

Run: PYTHONPATH=.:bench python bench/bench_search_restart.py --size 10000000 --workdir
/tmp/m10m --slice 200000 --json bench/results/search_scale_10m_server.json (measured at 4M
and at 10M on a shared 2-core machine, about an hour at 10M: docs/performance.md, issue 17)

`bench_search.py --scale` serves a group whose store (Milvus Lite) does not hold its rows.
Here a Milvus standalone server (2.3.5, `tests.support.milvus_devserver`) holds them all,
features and journal, and the service is restarted against it. Each heavy step runs in its
own process, so the memory of one does not add to the next:

1. build (child): the group's index as `bench_search --scale` builds it (the same
   `StreamedPopulation`, seed, feature ids `f"{row:032x}"`, person ids `p<row>`), one FAISS
   training, snapshotted into `<workdir>/snapshots/<group_id>` with the journal sequence
   number the store will hold: the snapshot a service would have written after enrolling.
2. insert (this process): the server; the registry row, the features collection (the
   store's own index choice) and every row through the store's own writers, as
   `GroupService.add_member` writes them: `GroupStore.journal` (1000 ids an entry) then
   `GroupStore.insert`, a block of 65,536 members at a time; then the flush, the index,
   and the journal trimmed below the head (what the snapshot's checkpoint does).
3. restart (child, a fresh process): `GroupService(uri, snapshots=...)`, the real start-up
   path: snapshot load, journal replay after the snapshot's `seq`, the store checks (row
   count, a sample of rows equal), then a first search. Each part timed by wrapping the
   functions the service calls. Then writes through the service (members added, updated,
   removed: journal entries) and a crash (no close, so no new snapshot).
4. replay (child): the same start-up, now with those journal entries to replay.
5. mismatch: rows written to the store behind the service's back (no journal entry); a
   child runs the service's own snapshot check (`GroupService._from_snapshot`) and times
   how soon it refuses the snapshot. The rebuild that follows in the service (a scan of
   the whole store, then FAISS training) is measured on a slice of the scan and
   extrapolated: at 10M it takes far longer than a restart should.

Memory: resident set of each child at the end of its start-up, and of the Milvus server's
process tree (sampled through the run).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")  # as workers run

import faiss
import numpy as np
from bench_search import MODEL, build_scale_index, rss_kinds, scale_queries, wait_indexed
from procs import descendants, median, percentile, rss_bytes, stopwatch

from tests.support.milvus_devserver import DevServer, install
from tests.support.synthetic_groups import BLOCK, StreamedPopulation
from vigil.groups import snapshot
from vigil.groups.catalog import GroupState
from vigil.groups.service import GroupService
from vigil.groups.store import FeatureRow, GroupRecord, GroupStore
from vigil.schemas.feature import Feature

REPO = Path(__file__).resolve().parents[1]
GROUP = "scale"
GROUP_ID = "5ca1e000000000000000000000000017"  # fixed: the snapshot is built before the rows
K = 10


def feature_id(row: int) -> str:
    return f"{row:032x}"


def gb(value: float) -> float:
    return round(value / 2**30, 2)


# -- 1. build (child) ---------------------------------------------------------------------


def build(size: int, workdir: Path, seq: int) -> dict:
    """The snapshot of the group as the service would hold it at journal sequence `seq`."""
    report: dict[str, Any] = {"load_average_at_start": os.getloadavg()[0]}
    folder = workdir / "snapshots" / GROUP_ID
    # Every core for the one FAISS training and add: with one thread (as the workers
    # run) the 10M build ran past 22 min on 2026-12-06 and was stopped; an earlier
    # bench_search scale run took 366 s for the same step.
    faiss.omp_set_num_threads(os.cpu_count() or 1)
    index = build_scale_index(size, workdir / "build", report)
    faiss.omp_set_num_threads(1)
    record = GroupRecord(group_id=GROUP_ID, name=GROUP, model=MODEL, dim=index.dim)
    folder.mkdir(parents=True, exist_ok=True)
    snapshot.clear(folder)
    # the built files move into the group's snapshot folder, then it is saved there
    for path in (workdir / "build" / "snap").iterdir():
        path.rename(folder / path.name)
    index.storage = folder  # the mapped file moved with its name (snapshot.save names it)
    state = GroupState(record, index=index, storage=folder)
    arrays, meta = state.snapshot_arrays()
    with stopwatch() as took:
        snapshot.save(folder, index, {"group_id": GROUP_ID, "seq": seq, **meta}, arrays)
    report["snapshot_write_s"] = round(took[0], 1)
    report["rows"] = state.feature_count
    report["memory_built"] = rss_kinds()
    return report


# -- 2. insert (this process) -------------------------------------------------------------


def journal_entries(size: int) -> int:
    """Entries the inserts write: one `journal` call per block, 1000 ids an entry."""
    blocks = [min(BLOCK, size - start) for start in range(0, size, BLOCK)]
    return sum(-(-rows // 1000) for rows in blocks)


def insert(uri: str, size: int, report: dict, watch: Callable[[], float]) -> int:
    """Every member's row and journal entries through the store's writers; the head seq."""
    store = GroupStore(uri)
    report["store_index"] = store.index_type
    store.put_group(GroupRecord(group_id=GROUP_ID, name=GROUP, model=MODEL, dim=128))
    store.ensure_features(GROUP_ID, 128)
    population = StreamedPopulation.make(size, seed=size)  # as build_scale_index
    seq, row, progress = 0, 0, []
    began = time.perf_counter()
    with stopwatch() as took:
        for block in population.blocks(np.random.default_rng(1)):
            now = datetime.now(UTC)
            rows = [
                FeatureRow(feature_id(r), f"p{r}", MODEL, block[r - row], {}, created_at=now)
                for r in range(row, row + len(block))
            ]
            seq = store.journal(GROUP_ID, seq + 1, "add", [r.feature_id for r in rows])
            store.insert(GROUP_ID, rows)
            row += len(block)
            if row % (16 * BLOCK) == 0 or row == size:
                elapsed = time.perf_counter() - began
                progress.append({"rows": row, "s": round(elapsed, 1), "server_gb": watch()})
                print(f"inserted {row:,} in {elapsed:.0f} s", progress[-1], flush=True)
    report["insert_s"] = round(took[0], 1)
    report["insert_rows_per_s"] = round(size / took[0])
    report["insert_progress"] = progress
    collection = store.features_collection(GROUP_ID)
    with stopwatch() as took:
        store.client.flush(collection)
        store.client.flush("vigil_group_journal")
    report["flush_s"] = round(took[0], 1)
    with stopwatch() as took:
        wait_indexed(store, collection, size, timeout=3600)
    report["index_wait_s"] = round(took[0], 1)
    with stopwatch() as took:
        store.trim_journal(GROUP_ID, seq)
    report["journal_trim_s"] = round(took[0], 1)
    report["journal_head"] = seq
    report["count_after_insert"] = store.count_features(GROUP_ID)
    store.close()
    return seq


# -- 3-5. restarts (children) -------------------------------------------------------------


def timers() -> dict[str, float]:
    """Wrap what the start-up path calls; the dict fills with seconds (and call counts)."""
    spent: dict[str, float] = defaultdict(float)

    def wrap(owner: Any, name: str, label: str) -> None:
        original = getattr(owner, name)

        def timed(*args: Any, **kwargs: Any) -> Any:
            began = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                spent[label] += time.perf_counter() - began
                spent[label + "_calls"] += 1

        setattr(owner, name, timed)

    wrap(GroupStore, "__init__", "connect_and_open_collections")
    wrap(GroupStore, "list_groups", "registry_read")
    wrap(snapshot, "load", "snapshot_load")
    wrap(GroupState, "restore", "snapshot_load")
    wrap(GroupStore, "journal_since", "journal_read")
    wrap(GroupStore, "_open", "collections_open")  # load (+ wait to answer), nested
    wrap(GroupStore, "get_features", "store_get_rows")  # replayed ids and the sample
    wrap(GroupState, "drop_features", "replay_apply")
    wrap(GroupState, "add_rows", "replay_apply")
    wrap(GroupStore, "count_features", "check_count")
    wrap(GroupService, "_compare_sample", "check_sample")
    wrap(GroupService, "_checkpoint", "checkpoint_after_replay")
    wrap(GroupStore, "drop_orphans", "drop_orphans")
    return spent


def since_exec() -> float:
    """Seconds since this process was started (the interpreter and the imports)."""
    with open("/proc/self/stat") as handle:
        started = int(handle.read().rsplit(")", 1)[1].split()[19]) / os.sysconf("SC_CLK_TCK")
    with open("/proc/uptime") as handle:
        return float(handle.read().split()[0]) - started


def restart(uri: str, workdir: Path, size: int, writes: int) -> dict:
    """A fresh service process against the server: start-up timed, searched, then (with
    `writes`) members added, updated and removed through it, and a crash (no snapshot)."""
    imports_s = since_exec()
    spent = timers()
    began = time.perf_counter()
    service = GroupService(uri, snapshots=workdir / "snapshots")
    start_s = time.perf_counter() - began
    _, queries = scale_queries(size, 200)
    features = [Feature.from_vector(query, MODEL) for query in queries]
    with stopwatch() as first:
        result = service.search(features[0], [GROUP], k=K)
    latencies = []
    for feature in features[1:]:
        with stopwatch() as took:
            service.search(feature, [GROUP], k=K)
        latencies.append(took[0] * 1000)
    state = service._groups[GROUP]
    report: dict[str, Any] = {
        "loaded": state.loaded,
        "members": state.member_count,
        "features": state.feature_count,
        "seq": state.seq,
        "service_start_s": round(start_s, 2),
        "first_search_s": round(first[0], 4),
        "searchable_s": round(start_s + first[0], 2),
        "exec_and_imports_s": round(imports_s, 2),  # before GroupService: python, imports
        "first_hit": result.hits[0].person_id if result.hits else None,
        "search_p50_ms": round(median(latencies), 3),
        "search_p99_ms": round(percentile(latencies, 99), 3),
        "parts_s": {key: round(value, 3) for key, value in sorted(spent.items())},
        "memory_ready": rss_kinds(),
    }
    if writes:
        report["writes"] = write_and_crash(service, size, writes)
    return report


def write_and_crash(service: GroupService, size: int, count: int) -> dict:
    """`count` new members (one photo each), `count // 10` metadata updates and removals,
    each a journal entry (and Milvus writes), through the service; no close afterwards."""
    population = StreamedPopulation.make(size + BLOCK, seed=size + 1)
    photos = next(population.blocks(np.random.default_rng(3)))[:count]
    state = service._groups[GROUP]
    run = state.seq  # another run of this step on the same store writes other members
    removable = (f"p{row}" for row in range(size - 1, 0, -1))
    with stopwatch() as took:
        for number, vector in enumerate(photos):
            member = f"new{run}-{number}"
            service.add_member(GROUP, member, [Feature.from_vector(vector, MODEL)])
        for number in range(count // 10):
            service.update_member(GROUP, f"p{number}", {"site": f"moved{run}"})
            gone = next(person for person in removable if state.code(person) is not None)
            service.remove_member(GROUP, gone)
    return {
        "added": count,
        "updated": count // 10,
        "removed": count // 10,
        "seconds": round(took[0], 1),
        "seq_after": state.seq,
        "features_after": state.feature_count,
    }


def mismatch(uri: str, workdir: Path, size: int, behind: int, slice_rows: int) -> dict:
    """Rows written behind the service's back, then the service's snapshot check timed
    (it refuses the snapshot); the rebuild's scan rate measured on a slice."""
    store = GroupStore(uri)
    population = StreamedPopulation.make(size + 2 * BLOCK, seed=size + 2)
    vectors = next(population.blocks(np.random.default_rng(4)))[:behind]
    now = datetime.now(UTC)
    rows = [
        FeatureRow(f"b{n:031x}", f"behind{n}", MODEL, v, {}, created_at=now)
        for n, v in enumerate(vectors)
    ]
    store.insert(GROUP_ID, rows)  # no journal entry: the snapshot cannot know
    store.client.flush(store.features_collection(GROUP_ID))
    store.close()

    class Probe(GroupService):
        """The service with its start-up check only: `reload` is left to the caller."""

        def reload(self) -> None:
            pass

    spent = timers()
    service = Probe(uri, snapshots=workdir / "snapshots")
    [record] = [r for r in service.store.list_groups() if r.group_id == GROUP_ID]
    began = time.perf_counter()
    try:
        service._from_snapshot(record, workdir / "snapshots" / GROUP_ID)
        verdict = "accepted (not detected)"
    except snapshot.Stale as stale:
        verdict = f"stale: {stale}"
    detect_s = time.perf_counter() - began
    report: dict[str, Any] = {
        "rows_behind_its_back": behind,
        "verdict": verdict,
        "detect_s": round(detect_s, 2),
        "parts_s": {key: round(value, 3) for key, value in sorted(spent.items())},
    }
    # the rebuild `_load` would run now: a scan of the store into a new state (a slice)
    scratch = workdir / "rebuild-slice"
    scratch.mkdir(exist_ok=True)
    snapshot.clear(scratch)
    state = GroupState(record, storage=scratch)
    scanned = 0
    with stopwatch() as took:
        for batch in service.store.scan_features(GROUP_ID):
            state.add_rows(batch)
            scanned += len(batch)
            if scanned >= slice_rows:
                break
    report["rebuild_slice_rows"] = scanned
    report["rebuild_slice_s"] = round(took[0], 1)
    report["rebuild_scan_rows_per_s"] = round(scanned / took[0])
    report["memory"] = rss_kinds()
    snapshot.clear(scratch)
    # put the store back as the snapshot knows it (the next restart must match again)
    service.store.delete_features(GROUP_ID, [row.feature_id for row in rows])
    service.store.client.flush(service.store.features_collection(GROUP_ID))
    service.store.close()
    return report


# -- the driver ---------------------------------------------------------------------------


def child(step: str, args: argparse.Namespace, *extra: str) -> dict:
    """Run a step in a fresh process (its peak resident memory by /usr/bin/time)."""
    command = [sys.executable, __file__, "--step", step, "--size", str(args.size)]
    command += ["--workdir", str(args.workdir), *extra]
    timing = args.workdir / f"time-{step}.txt"
    if Path("/usr/bin/time").exists():
        command = ["/usr/bin/time", "-v", "-o", str(timing), *command]
    began = time.perf_counter()
    done = subprocess.run(command, check=True, stdout=subprocess.PIPE, text=True)
    wall = time.perf_counter() - began
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result["process_wall_s"] = round(wall, 2)  # interpreter start and imports included
    if timing.exists():
        for line in timing.read_text().splitlines():
            if "Maximum resident set size" in line:
                result["peak_rss_gb"] = round(int(line.split()[-1]) / 2**20, 2)
    print(step, json.dumps(result), flush=True)
    return result


def built(workdir: Path) -> dict:
    """The report of a build run apart (waits for it to end)."""
    while not (workdir / "build.json").exists():
        time.sleep(5)
    report = json.loads((workdir / "build.json").read_text())
    timing = workdir / "time-build.txt"  # when run under /usr/bin/time -v -o there
    time.sleep(2)
    for line in timing.read_text().splitlines() if timing.exists() else []:
        if "Maximum resident set size" in line:
            report["peak_rss_gb"] = round(int(line.split()[-1]) / 2**20, 2)
    return report


class ServerMemory:
    """The Milvus server's process tree, resident GB, sampled every few seconds."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak = 0.0
        self._stop = threading.Event()
        threading.Thread(target=self._run, daemon=True).start()

    def now(self) -> float:
        value = gb(sum(rss_bytes(pid) for pid in descendants(self.pid)))
        self.peak = max(self.peak, value)
        return value

    def _run(self) -> None:
        while not self._stop.wait(5):
            self.now()

    def stop(self) -> None:
        self._stop.set()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=10_000_000)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/m10m"))
    parser.add_argument("--json", type=Path)
    parser.add_argument("--writes", type=int, default=1000, help="members added before a crash")
    parser.add_argument("--behind", type=int, default=1000, help="rows written behind its back")
    parser.add_argument("--slice", type=int, default=300_000, help="rows of the rebuild scan")
    parser.add_argument("--skip-build", action="store_true", help="reuse the snapshot built")
    parser.add_argument(
        "--skip-insert", action="store_true", help="reuse the server's data (workdir/milvus)"
    )
    parser.add_argument("--step", help=argparse.SUPPRESS)
    parser.add_argument("--uri", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.step:
        if args.step == "build":
            result = build(args.size, args.workdir, journal_entries(args.size))
            (args.workdir / "build.json").write_text(json.dumps(result))
        elif args.step.startswith("restart"):
            result = restart(args.uri, args.workdir, args.size, args.writes)
        else:
            result = mismatch(args.uri, args.workdir, args.size, args.behind, args.slice)
        print(json.dumps(result))
        sys.stdout.flush()
        os._exit(0)  # no close: a crash, so the service writes no snapshot on the way out

    args.workdir.mkdir(parents=True, exist_ok=True)
    report: dict[str, Any] = {"size": args.size, "load_average_at_start": os.getloadavg()[0]}
    if not args.skip_build:
        report["build"] = child("build", args)
    binary = install(
        Path(os.environ.get("VIGIL_TEST_CACHE", Path.home() / ".cache/vigil-tests"))
        / "venv-milvus",
        REPO / ".ci" / "milvus-requirements.txt",
    )
    (args.workdir / "milvus").mkdir(exist_ok=True)
    server = DevServer(binary, args.workdir / "milvus")
    memory: ServerMemory | None = None
    try:
        uri = server.start()
        assert server.process is not None
        memory = ServerMemory(server.process.pid)
        if not args.skip_insert:
            inserted: dict[str, Any] = {"load_average_at_start": os.getloadavg()[0]}
            head = insert(uri, args.size, inserted, memory.now)
            assert head == journal_entries(args.size), (head, journal_entries(args.size))
            inserted["server_rss_gb_after"] = memory.now()
            inserted["server_rss_gb_peak"] = memory.peak
            report["insert"] = inserted
            print("insert", json.dumps(inserted), flush=True)
        if args.skip_build:  # built alongside (`--step build` run apart) or earlier
            report["build"] = built(args.workdir)
        uri_arg = ["--uri", uri]
        steps = [
            ("restart", ["--writes", str(args.writes)]),  # then writes and a crash
            ("restart-replay", ["--writes", "0"]),  # replays those writes' journal
            ("restart-after-replay", ["--writes", "0"]),  # from the replay's checkpoint
            ("mismatch", ["--behind", str(args.behind), "--slice", str(args.slice)]),
        ]
        for step, extra in steps:
            report[step] = child(step, args, *uri_arg, *extra)
            report[step]["server_rss_gb"] = memory.now()
        report["rebuild_estimate_s"] = round(
            args.size / report["mismatch"]["rebuild_scan_rows_per_s"]
            + report.get("build", {}).get("faiss_build_s", 0),
        )
        # both restarted: the server first (its collections load when the service opens them)
        memory.stop()
        server.stop()
        with stopwatch() as took:
            uri = server.start()
        report["server_restart_s"] = round(took[0], 1)
        assert server.process is not None
        peak, memory = memory.peak, ServerMemory(server.process.pid)
        memory.peak = peak
        report["restart-cold-server"] = child("restart-cold", args, "--uri", uri, "--writes", "0")
        report["restart-cold-server"]["server_rss_gb"] = memory.now()
    finally:
        if memory is not None:
            report["server_rss_gb_end"] = memory.now()
            report["server_rss_gb_peak"] = memory.peak
            memory.stop()
        server.stop()
        if args.json:
            args.json.write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
