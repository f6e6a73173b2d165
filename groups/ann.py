"""FAISS inverted-file indexes over row numbers: the approximate path for large groups.

Groups use IVF with 4-bit product quantisation scanned by FAISS's fast-scan kernels
(`group_codec`: `PQ32x4fs` for 128-D, 16 B a row), the clustering graph IVF-Flat
(`codec="Flat"`, exact distances for its edges). Why IVF-PQ fast-scan for groups:

- speed: the lists probed are scanned ~3x faster than with 8-bit scalar codes (IVF-SQ8,
  used before): 0.37 against 1.01 ms a query at 1M with 100 of 4000 lists probed, both
  re-ranked, recall@10 0.997 for both (`bench/results/search_codecs.log`). The search is
  bound by this scan: 32 clients on 2 cores cannot beat the cores' scanning rate;
- recall: the coarse codes only pick candidates; `over_fetch` times the candidates are
  re-ranked with exact distances from the vectors the `GroupIndex` keeps (in memory or
  in a mapped file), so recall is set by the lists probed, as with SQ8;
- memory: 16 B of code and 8 B of id a row in the lists (SQ8: 128 + 8 B);
- writes: fast-scan lists are packed blocks that FAISS fills itself, so a batch is
  encoded in `append`, under the write lock (~0.1 ms for an enrolment's few rows);
  other codecs (SQ8) are encoded off-lock in `prepare` and only copied in `append`;
- deletes: the `GroupIndex` masks removed rows out of the candidates at once
  (tombstones); their codes leave the lists when the group is compacted;
- recall is a choice (`TARGETS`): `fast` probes fewer lists, `balanced` enough for
  recall@10 >= 0.99 at 1M on look-alike clusters (bench/bench_search.py), `exact` is
  answered by the `GroupIndex` without FAISS.

HNSW cannot remove rows, builds slowly (182 s for 1M rows on 2 cores, M=16) and at
efSearch 64 reached recall@10 0.71 on these look-alike clusters; bench/bench_search.py
measures it side by side.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import faiss
import numpy as np

MIN_LISTS = 64
MAX_LISTS = 8192
TRAIN_PER_LIST = 40
TARGETS = ("fast", "balanced", "exact")
DEFAULT_TARGET = "balanced"
# lists probed = lists / divisor, at least the minimum; calibrated on look-alike clusters:
# balanced gives recall@10 >= 0.99 at 1M (4000 lists, 100 probed), fast ~0.95 at 1/4 the cost
PROBE_DIVISOR = {"fast": 160, "balanced": 40}
PROBE_MIN = {"fast": 8, "balanced": 32}
# threads FAISS may use for a batch of queries (`batcher.py` gathers them). Workers pin
# OpenMP to one thread per process (`vigil worker`); a batch is the one place where the
# threads of a threaded service wait for one call, so it may use the cores they leave.
THREADS_ENV = "VIGIL_GROUPS_SEARCH_THREADS"
search_threads = int(os.environ.get(THREADS_ENV) or os.cpu_count() or 1)


def list_count(rows: int, per_root: int = 2) -> int:
    """`per_root` x sqrt(n) inverted lists (2 for the graph; groups use 4: shorter lists
    scanned per probe, 4000 at 1M, the 8192 cap from 4.2M rows on)."""
    return int(min(MAX_LISTS, max(MIN_LISTS, per_root * math.isqrt(max(rows, 1)))))


def probe_count(lists: int, target: str = DEFAULT_TARGET) -> int:
    return min(lists, max(PROBE_MIN[target], lists // PROBE_DIVISOR[target]))


def group_codec(dim: int) -> str:
    """The codec of a group's index: 4-bit PQ fast-scan with 4 dimensions a sub-quantizer
    (its kernels want an even count), else 8-bit scalar codes."""
    return f"PQ{dim // 4}x4fs" if dim % 8 == 0 else "SQ8"


@dataclass(frozen=True)
class Prepared:
    """A batch made ready for `Ann.append` off-lock: FAISS's standalone codes (the list
    number, then the vector's code), or for fast-scan the vectors (FAISS packs them)."""

    ann: Ann
    codes: np.ndarray | None
    vectors: np.ndarray


class Ann:
    """One trained IVF index; ids are row numbers of the owning state."""

    def __init__(
        self,
        vectors: np.ndarray,
        nprobe: int | None = None,
        codec: str = "Flat",
        per_root: int = 2,
    ) -> None:
        rows, dim = vectors.shape
        lists = list_count(rows, per_root)
        # "IVFn,codec" makes the IVF index itself (owning its quantizer), not a wrapper
        self.index = cast(faiss.IndexIVF, faiss.index_factory(dim, f"IVF{lists},{codec}"))
        sample = min(rows, TRAIN_PER_LIST * lists)
        picked = np.random.default_rng(0).choice(rows, sample, replace=False)
        self.index.train(np.ascontiguousarray(vectors[np.sort(picked)]))
        for start in range(0, rows, 1_000_000):  # bounded copies of a mapped matrix
            block = np.ascontiguousarray(vectors[start : start + 1_000_000], np.float32)
            self.index.add_with_ids(block, np.arange(start, start + len(block), dtype=np.int64))
        self.nprobe = nprobe or probe_count(lists)
        self.trained_on = rows

    @property
    def fast_scan(self) -> bool:
        return isinstance(self.index, faiss.IndexIVFFastScan)

    @property
    def over_fetch(self) -> int:
        """Candidates re-ranked per one wanted: 4-bit codes rank coarsely (measured at 1M:
        4x keeps the recall of the lists probed)."""
        return 4 if self.fast_scan else 1

    @classmethod
    def read(cls, path: Path, trained_on: int) -> Ann:
        ann = cls.__new__(cls)
        ann.index = cast(faiss.IndexIVF, faiss.read_index(str(path)))  # the subclass written
        ann.nprobe = probe_count(ann.index.nlist)
        ann.trained_on = trained_on
        return ann

    def write(self, path: Path) -> None:
        faiss.write_index(self.index, str(path))

    # -- writes ---------------------------------------------------------------------------

    def prepare(self, vectors: np.ndarray) -> Prepared:
        """Assign and encode a batch (not for fast-scan: see the module): reads only the
        trained quantizer and codec, so it runs while searches do (no lock)."""
        vectors = np.ascontiguousarray(vectors, np.float32)
        return Prepared(self, None if self.fast_scan else self.index.sa_encode(vectors), vectors)

    def append(self, prepared: Prepared, rows: np.ndarray) -> None:
        """Add a prepared batch as `rows` (caller holds the write lock): one FAISS call,
        without the GIL, that copies the codes into their lists (fast-scan: encodes too)."""
        assert prepared.ann is self, "prepared for another index"
        ids = np.asarray(rows, np.int64)
        if prepared.codes is None:
            self.index.add_with_ids(prepared.vectors, ids)
        else:
            self.index.add_sa_codes(prepared.codes, ids)

    def add(self, vectors: np.ndarray, rows: np.ndarray) -> None:
        self.append(self.prepare(vectors), rows)

    # -- reads ----------------------------------------------------------------------------

    def search(
        self,
        queries: np.ndarray,
        count: int,
        allowed: np.ndarray | None,
        share: float = 1.0,
        target: str = DEFAULT_TARGET,
    ) -> np.ndarray:
        """Candidate rows of each query, nearest first, -1 padded: (queries, count).

        `allowed` is a row mask (pre-filter). `share`, the fraction of rows a filter lets
        through, scales the lists probed: a 10% filter leaves 10% of each list, so ten
        times the lists keep the recall. Rows the filter refuses are skipped before any
        distance is computed. Several queries in one call share the coarse search (one
        matrix product) and run in parallel on FAISS's threads, without the GIL.
        """
        base = self.nprobe if target == DEFAULT_TARGET else probe_count(self.index.nlist, target)
        nprobe = min(self.index.nlist, math.ceil(base / max(share, 1e-9)))
        # faiss's stub gives SearchParameters a bare __init__; its wrapper sets keyword fields.
        params = faiss.SearchParametersIVF(nprobe=nprobe)  # type: ignore[call-arg]
        if allowed is not None:  # the bitmap and selector must outlive the search: locals
            bitmap = np.packbits(allowed, bitorder="little")
            selector = faiss.IDSelectorBitmap(bitmap.size, faiss.swig_ptr(bitmap))
            params.sel = selector
        queries = np.ascontiguousarray(queries, np.float32).reshape(-1, self.index.d)
        if len(queries) == 1:  # FAISS runs one query on one thread whatever the setting
            return self.index.search(queries, count, params=params)[1]
        before = faiss.omp_get_max_threads()  # this thread's OpenMP setting: put back after
        faiss.omp_set_num_threads(search_threads)
        try:
            return self.index.search(queries, count, params=params)[1]
        finally:
            faiss.omp_set_num_threads(before)
