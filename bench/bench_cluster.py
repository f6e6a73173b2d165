"""Face clustering benchmark: time per stage and pairwise precision/recall at 10k and 100k.

Run: python bench/bench_cluster.py [--sizes 10000,100000] [--exact-max 20000] [--real]

Data: synthetic 128-D face-like captures (`tests.support.synthetic_groups.Population`: people
in look-alike clusters), 1-9 captures per person (5 on average), at the default link
distance (calibrated FAR 1e-4, 0.486) and k=32. Measured in the same run:
- graph: k-NN by exact FAISS flat scan (the baseline) and by the IVF-Flat index
  (`groups.ann`), with the share of the exact graph's edges the IVF graph found;
- clustering on the same graph: connected components (baseline) and Chinese
  whispers + supported merges (the default), time and pairwise P/R/F1;
- `cluster_faces` end to end (graph, clustering, building the clusters).
`--real`: pairwise P/R on the real fixture faces (Obama x4 photos, Biden, Grace Hopper,
Messi, the astronaut, the carphone video's man) and 22 augmented views of each, embedded
by the project's models: the only identity-labelled real faces available offline.
"""

from __future__ import annotations

import argparse
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from tests.support.cluster_quality import pairwise_scores
from tests.support.synthetic_groups import Population
from vigil.cluster.graph import DEFAULT_K, knn_graph
from vigil.cluster.service import cluster_faces
from vigil.cluster.sources import FaceCapture
from vigil.cluster.whispers import chinese_whispers, connected_components, merge_supported

DISTANCE = 0.486  # face_resnet128 at FAR 1e-4 (models/weights/face_resnet128.thresholds.json)
FIXTURES = Path(__file__).resolve().parents[1] / "tests" / "media"


def captures(size: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    counts = rng.integers(1, 10, size=size // 2 + 1)  # mean 5: plenty, cut at size
    who = np.repeat(np.arange(counts.size), counts)[:size]
    return Population.make(counts.size, seed=seed).photos(who, rng), who


def timed(work):
    started = time.perf_counter()
    value = work()
    return value, time.perf_counter() - started


def edge_keys(graph) -> np.ndarray:
    return graph.src.astype(np.int64) * graph.nodes + graph.dst


def report(name: str, labels: np.ndarray, who: np.ndarray, seconds: float) -> None:
    scores = pairwise_scores(labels, who)
    found, people = np.unique(labels).size, np.unique(who).size
    print(f"  {name:28} {seconds:8.2f} s  {scores}  clusters {found} (people {people})")


def bench_size(size: int, exact_max: int) -> None:
    vectors, who = captures(size)
    print(
        f"\n{size} captures, {np.unique(who).size} people, link distance {DISTANCE}, k={DEFAULT_K}"
    )
    ivf, ivf_s = timed(lambda: knn_graph(vectors, DISTANCE, exact_max=0))
    print(f"  graph IVF-Flat (groups.ann)  {ivf_s:8.2f} s  {ivf.edges} edges")
    if size <= exact_max:
        exact, exact_s = timed(lambda: knn_graph(vectors, DISTANCE, exact_max=size))
        found = np.isin(edge_keys(exact), edge_keys(ivf)).mean()
        print(
            f"  graph exact flat (baseline)  {exact_s:8.2f} s  {exact.edges} edges;"
            f" IVF found {found:.4f} of them, {exact_s / ivf_s:.1f}x faster"
        )
    components, cc_s = timed(lambda: connected_components(ivf))
    report("components (baseline)", components, who, cc_s)
    whispers, cw_s = timed(lambda: chinese_whispers(ivf))
    report("whispers", whispers, who, cw_s)
    merged, merge_s = timed(lambda: merge_supported(ivf, whispers))
    report("whispers + merge (default)", merged, who, cw_s + merge_s)
    print(f"  whispers+merge / components time: {(cw_s + merge_s) / max(cc_s, 1e-9):.1f}x")
    start = datetime(2024, 1, 1, tzinfo=UTC)
    records = [
        FaceCapture(f"cam/{i}", "cam", start + timedelta(seconds=i), 0.5, "face_resnet128", None)
        for i in range(size)
    ]
    result, total_s = timed(lambda: cluster_faces(records, vectors))
    print(
        f"  cluster_faces end to end     {total_s:8.2f} s  (graph {result.graph_ms / 1000:.2f} s,"
        f" clustering {result.cluster_ms / 1000:.2f} s, {len(result.clusters)} clusters)"
    )


def bench_real() -> None:
    from tools.calibration.data import (
        embed_views,
        photo_sources,
        skimage_sources,
        video_sources,
    )

    sources = [
        *photo_sources(FIXTURES / "images"),
        *video_sources(FIXTURES / "video" / "carphone_pristine.mp4"),
        *(s for s in skimage_sources([]) if s.labelled),
    ]
    views = [view for source in sources for view in embed_views(source)[0]]
    vectors = np.stack([v.vector for v in views])
    who = np.array([v.identity for v in views])
    print(
        f"\nreal fixture faces + augmented views: {len(views)} faces of"
        f" {np.unique(who).size} people (no labelled real face data set exists offline)"
    )
    for distance, far in ((0.4404, "1e-5"), (0.486, "1e-4"), (0.5273, "1e-3")):
        graph = knn_graph(vectors, distance)
        print(f" link distance {distance} (FAR {far}), {graph.edges} edges")
        report("components", connected_components(graph), who, 0)
        whispers = chinese_whispers(graph)
        report("whispers", whispers, who, 0)
        report("whispers + merge (default)", merge_supported(graph, whispers), who, 0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="10000,100000", help="captures, comma list")
    parser.add_argument("--exact-max", type=int, default=20_000, help="exact graph up to this")
    parser.add_argument("--real", action="store_true", help="also the real fixture faces")
    args = parser.parse_args()
    for size in (int(s) for s in args.sizes.split(",")):
        bench_size(size, args.exact_max)
    if args.real:
        bench_real()


if __name__ == "__main__":
    main()
