"""Bulk enrolment throughput: images/s of `enroll` on the fixture portraits repeated.

Run: python -m bench.bench_enroll [--images 60] [--workers 1,2] [--json]
         [--backends onnxruntime,openvino]

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
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

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


def run(folder: Path, root: Path, workers: int) -> dict:
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
        )
    assert summary.enrolled == summary.files, summary
    return {
        "workers": workers,
        "images": summary.files,
        "seconds": summary.elapsed_s,
        "images_per_s": summary.images_per_s,
    }


def measure(images: int, counts: list[int]) -> list[dict]:
    with tempfile.TemporaryDirectory(prefix="vigil-bench-enroll-") as temporary:
        root = Path(temporary)
        folder = portrait_folder(root, images)
        return [run(folder, root, workers) for workers in counts]


def on_backend(backend: str, images: int, workers: str) -> list[dict]:
    """This benchmark in a fresh process on `backend` (its models load there)."""
    command = [sys.executable, "-m", "bench.bench_enroll", "--json", "--images", str(images)]
    command += ["--workers", workers]
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
    args = parser.parse_args()
    if args.backends:
        rows = []
        for backend in args.backends.split(","):
            rows += on_backend(backend, args.images, args.workers)
    else:
        rows = measure(args.images, [int(word) for word in args.workers.split(",")])
        for row in rows:
            row["backend"] = os.environ.get("VIGIL_INFERENCE", "onnxruntime")
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
