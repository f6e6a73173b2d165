"""Bulk enrolment throughput: images/s of `enroll` on the fixture portraits repeated.

Run: python -m bench.bench_enroll [--images 60] [--workers 1,2] [--json]
         [--backends onnxruntime,openvino] [--celery [--shared-files]]

The five clean fixture portraits (Obama x3, Biden, Grace Hopper; 512 to 2333 px
tall) are copied round-robin into one folder per person until there are
`--images` files, and enrolled into a fresh Milvus Lite group, once per worker
count. Each copy is its own person and the near-duplicate check is off
(duplicate_distance 0), so every file goes the whole way: read, hash, analyse,
search the group, write the store and the journal. Times are end to end, as a
user of `vigil enroll` sees them, including model loading in every process; the
1-worker run is the baseline measured in the same run. With `--backends`, each
inference backend (VIGIL_INFERENCE) runs in a fresh process, one after the other,
and the first backend's 1-worker run is the baseline of all.

With `--celery`, the analysis runs on Celery instead of a process pool, as `vigil
enroll --celery` does it: a private Redis and, per worker count N, a fresh `vigil
worker -c N` (prefork) that loads its models on its first files; the enrolling
process reads the files, puts their bytes beside the messages in that Redis
(`infra/blobs.py`), sends four a task (`vigil.enroll.analyze_many`), searches and
writes Milvus Lite. The 1-worker run is again the baseline. With `--shared-files` the
workers read the files themselves (VIGIL_TASK_FILE_ROOTS) and are sent paths.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")

from vigil.compare.enroll import enroll
from vigil.groups.service import GroupService
from vigil.schemas.compare import EnrollOptions

FIXTURES = Path(__file__).resolve().parents[1] / "tests" / "media" / "images"
PORTRAITS = ("obama.jpg", "obama2.jpg", "obama3.jpg", "biden.jpg", "grace_hopper.jpg")


def portrait_folder(root: Path, count: int) -> Path:
    folder = root / "portraits"
    for index in range(count):
        name = PORTRAITS[index % len(PORTRAITS)]
        person = folder / f"person{index:04d}"
        person.mkdir(parents=True)
        shutil.copy(FIXTURES / name, person / name)
    return folder


def run(
    folder: Path, root: Path, workers: int, celery: Any = None, shared_files: bool = False
) -> dict:
    options = EnrollOptions(duplicate_distance=0.0)
    with GroupService(root / f"bench-{workers}.db") as service:
        summary = enroll(
            folder,
            "bench",
            service=service,
            options=options,
            report=root / f"bench-{workers}.jsonl",
            create=True,
            workers=workers,
            celery=celery,
            shared_files=shared_files,
        )
    assert summary.enrolled == summary.files, summary
    return {
        "workers": workers,
        "images": summary.files,
        "seconds": summary.elapsed_s,
        "images_per_s": summary.images_per_s,
    }


def measure(
    images: int, counts: list[int], celery: bool = False, shared_files: bool = False
) -> list[dict]:
    with tempfile.TemporaryDirectory(prefix="vigil-bench-enroll-") as temporary:
        root = Path(temporary)
        folder = portrait_folder(root, images)
        if not celery:
            return [run(folder, root, workers) for workers in counts]
        with celery_workers(root) as start:
            return [run(folder, root, workers, start(workers), shared_files) for workers in counts]


@contextmanager
def celery_workers(root: Path) -> Iterator[Callable[[int], Any]]:
    """A private Redis; `start(N)` stops the last `vigil worker`, starts one of
    concurrency N and returns a Celery app that sends to it."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from tests.support.processes import free_port, start_redis, stop
    from vigil.infra.celery_app import create_app
    from vigil.infra.settings import Settings

    port = free_port()
    redis = start_redis(port, root)
    env = {
        "VIGIL_CELERY_BROKER": f"redis://127.0.0.1:{port}/0",
        "VIGIL_CELERY_BACKEND": f"redis://127.0.0.1:{port}/1",
        "VIGIL_CELERY_EAGER": "false",
        "VIGIL_TASK_FILE_ROOTS": str(root.resolve()),  # for --shared-files
    }
    os.environ.update(env)  # this process is the Celery client: its app reads them
    workers: list[subprocess.Popen] = []

    def start(count: int) -> Any:
        while workers:
            stop(workers.pop(), timeout=20)
        command = [sys.executable, "-m", "vigil.cli.main", "worker", "--pool", "prefork"]
        log = (root / f"worker-{count}.log").open("w")
        workers.append(
            subprocess.Popen([*command, "-c", str(count)], stdout=log, stderr=subprocess.STDOUT)
        )
        app = create_app(Settings.from_env())
        deadline = time.monotonic() + 60
        while not app.control.ping(timeout=1.0):  # the worker is up (models load later)
            if time.monotonic() > deadline:
                raise RuntimeError(f"vigil worker -c {count} did not start: see {log.name}")
        return app

    try:
        yield start
    finally:
        while workers:
            stop(workers.pop(), timeout=20)
        stop(redis, timeout=10)


def on_backend(
    backend: str, images: int, workers: str, celery: bool = False, shared: bool = False
) -> list[dict]:
    """This benchmark in a fresh process on `backend` (its models load there)."""
    command = [sys.executable, "-m", "bench.bench_enroll", "--json", "--images", str(images)]
    command += ["--workers", workers] + (["--celery"] if celery else [])
    command += ["--shared-files"] if shared else []
    env = {**os.environ, "VIGIL_INFERENCE": backend}
    output = subprocess.run(command, env=env, check=True, capture_output=True, text=True)
    rows = json.loads(output.stdout)
    for row in rows:
        row["backend"] = backend
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=60)
    parser.add_argument("--workers", default="1,2", help="comma-separated worker counts")
    parser.add_argument("--backends", help="comma-separated VIGIL_INFERENCE values")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--celery", action="store_true", help="analyse on Celery workers")
    parser.add_argument("--shared-files", action="store_true", help="with --celery: send paths")
    args = parser.parse_args()
    if args.backends:
        rows = []
        for backend in args.backends.split(","):
            rows += on_backend(backend, args.images, args.workers, args.celery, args.shared_files)
    else:
        counts = [int(word) for word in args.workers.split(",")]
        rows = measure(args.images, counts, args.celery, args.shared_files)
        for row in rows:
            row["backend"] = os.environ.get("VIGIL_INFERENCE", "onnxruntime")
    for row in rows:
        row["analysis"] = "process pool"
        if args.celery:
            row["analysis"] = "celery, paths" if args.shared_files else "celery, bytes"
    baseline = rows[0]["images_per_s"]
    for row in rows:
        row["speed_up_vs_first"] = round(row["images_per_s"] / baseline, 2) if baseline else None
    if args.json:
        print(json.dumps(rows, indent=2))
        return
    header = ("backend", "workers", "images", "seconds", "images/s", "vs first")
    print(f"{header[0]:>12} " + " ".join(f"{h:>8}" for h in header[1:]))
    for row in rows:
        print(
            f"{row['backend']:>12} {row['workers']:>7} {row['images']:>7} {row['seconds']:>8.1f}"
            f" {row['images_per_s']:>9.2f} {row['speed_up_vs_first']:>9}"
        )


if __name__ == "__main__":
    main()
