"""Bulk enrolment throughput: images/s of `enroll` on the fixture portraits repeated.

Run: python bench/bench_enroll.py [--images 60] [--workers 1,2] [--json]

The five clean fixture portraits (Obama x3, Biden, Grace Hopper; 512 to 2333 px
tall) are copied round-robin into one folder per person until there are
`--images` files, and enrolled into a fresh Milvus Lite group, once per worker
count. Each copy is its own person and the near-duplicate check is off
(duplicate_distance 0), so every file goes the whole way: read, hash, analyse,
search the group, write the store and the journal. Times are end to end, as a
user of `vigil enroll` sees them, including model loading in every process; the
1-worker run is the baseline measured in the same run.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=60)
    parser.add_argument("--workers", default="1,2", help="comma-separated worker counts")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    counts = [int(word) for word in args.workers.split(",")]
    with tempfile.TemporaryDirectory(prefix="vigil-bench-enroll-") as temporary:
        root = Path(temporary)
        folder = portrait_folder(root, args.images)
        rows = [run(folder, root, workers) for workers in counts]
    baseline = rows[0]["images_per_s"]
    for row in rows:
        row["speed_up_vs_first"] = round(row["images_per_s"] / baseline, 2) if baseline else None
    if args.json:
        print(json.dumps(rows, indent=2))
        return
    print(f"{'workers':>7} {'images':>7} {'seconds':>8} {'images/s':>9} {'vs first':>9}")
    for row in rows:
        print(
            f"{row['workers']:>7} {row['images']:>7} {row['seconds']:>8.1f}"
            f" {row['images_per_s']:>9.2f} {row['speed_up_vs_first']:>9}"
        )


if __name__ == "__main__":
    main()
