"""Which FAISS codes for a group's IVF index: IVF-SQ8 against IVF-PQ 4-bit fast-scan, 1M.

Run: PYTHONPATH=. python bench/bench_codecs.py  (~4 min on 2 cores; output in
bench/results/search_codecs.log). The same 1M look-alike members and queries as
`bench_search.py --scale 1000000`; every candidate list is re-ranked with exact distances,
as `GroupIndex` does, and recall@10 is against the exact top-10. Per query: one thread
(with the re-rank), and FAISS alone on batches of 32 with 2 threads.
"""

from __future__ import annotations

import time

import faiss
import numpy as np

from tests.support.synthetic_groups import StreamedPopulation

SIZE = 1_000_000


def main() -> None:
    population = StreamedPopulation.make(SIZE, seed=SIZE)
    vectors = np.concatenate(list(population.blocks(np.random.default_rng(1))))
    rng = np.random.default_rng(2)
    queries = population.photos(rng.integers(SIZE, size=400), rng)
    faiss.omp_set_num_threads(2)
    truth = faiss.knn(queries, vectors, 10)[1]
    picked = np.random.default_rng(0).choice(SIZE, 160_000, replace=False)
    sample = vectors[np.sort(picked)]

    def rerank(ids: np.ndarray, query: np.ndarray) -> np.ndarray:
        ids = ids[ids >= 0]
        distances = ((vectors[ids] - query) ** 2).sum(1)
        return ids[np.argsort(distances)[:10]]

    def run(index: faiss.IndexIVF, nprobe: int, fetch: int, label: str) -> None:
        params = faiss.SearchParametersIVF(nprobe=nprobe)  # type: ignore[call-arg]
        faiss.omp_set_num_threads(1)
        started, found = time.perf_counter(), []
        for query in queries:
            ids = index.search(query[None], fetch, params=params)[1][0]
            found.append(rerank(ids, query))
        one = (time.perf_counter() - started) / len(queries) * 1000
        faiss.omp_set_num_threads(2)
        started = time.perf_counter()
        for start in range(0, len(queries), 32):
            index.search(queries[start : start + 32], fetch, params=params)
        batch = (time.perf_counter() - started) / len(queries) * 1000
        pairs = zip(found, truth, strict=True)
        hits = [len(set(f.tolist()) & set(t.tolist())) / 10 for f, t in pairs]
        print(
            f"{label} nprobe={nprobe} fetch={fetch}: 1-thread {one:.3f} ms/q (with rerank),"
            f" batch32 2 threads faiss {batch:.3f} ms/q, recall {np.mean(hits):.4f}",
            flush=True,
        )

    for spec, settings in (
        ("SQ8", ((100, 26), (64, 26))),
        ("PQ32x4fs", ((100, 100), (100, 200), (64, 200), (100, 400))),
        ("PQ64x4fs", ((100, 100), (64, 100), (100, 200))),
    ):
        index = faiss.index_factory(128, f"IVF4000,{spec}")
        started = time.perf_counter()
        index.train(sample)
        index.add(vectors)
        print(f"{spec} build {time.perf_counter() - started:.1f}", flush=True)
        for nprobe, fetch in settings:
            run(index, nprobe, fetch, spec)


if __name__ == "__main__":
    main()
