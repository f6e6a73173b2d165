"""Snapshots of a group's search index beside a store checkpoint: a fast, checked start.

Why: rebuilding the index on start scans the store, 7.5k rows/s from a Milvus server
(22 min for 10M rows) plus FAISS training. A snapshot reloads in seconds: the vectors
are mapped, not read, and only the FAISS codes and per-row arrays are read.

One folder per group, `<root>/<group_id>/`:

- `vectors-<id>.f32`: the index's live matrix (`GroupIndex(storage=folder)` maps it).
  Rows are only ever appended, so its first `rows` rows are the snapshot's even after
  later writes; a compaction writes a new file and the next snapshot drops the old one.
- `ann-<n>.faiss`: the FAISS index, when the group has one.
- `rows-<n>.npz`: the state's other columns (`index.State`): per row tombstones, norms,
  metadata codes, feature ids (fixed-width bytes with their sorted lookup, so a load
  sorts nothing), member codes and chains, quality, times, sources (a UTF-8 blob with
  offsets); per member person ids (likewise), newest row, live rows, metadata code.
  No pickles.
- `meta.json`, written last and atomically: which files, the row count, the metadata
  code tables, and the checkpoint: the journal sequence number `seq` and live rows.

`load` refuses (raises `Stale`, with the reason) what it can tell is wrong on its own: no
or unreadable meta, another format version, group or dimension, a missing or short file.
The service then replays the store's journal after `seq` and compares the result with the
store (row count, a sample of rows): any mismatch is a stale snapshot too, and the group
is rebuilt from the store, never served from a snapshot that does not match it.
"""

from __future__ import annotations

import json
import os
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from vigil.groups.ann import Ann
from vigil.groups.index import ROW_DETAILS, GroupIndex, State, map_matrix
from vigil.groups.keys import Keys, Texts
from vigil.infra.columns import MISSING, grown

VERSION = 2  # 2: column-based members (1 held Python id lists); 1 is rebuilt
META = "meta.json"


class Stale(Exception):
    """The snapshot cannot be trusted; the message says why."""


@dataclass
class Loaded:
    index: GroupIndex
    arrays: dict[str, np.ndarray]
    meta: dict[str, Any]


def save(
    folder: Path,
    index: GroupIndex,
    checkpoint: dict[str, Any],
    arrays: dict[str, np.ndarray] | None = None,
) -> None:
    """Write a snapshot of `index` (whose storage is `folder`) with `checkpoint` in its meta.

    The caller keeps writers out meanwhile (searches may go on). Files are new names,
    then the meta is replaced atomically, then files it no longer names are deleted:
    a crash at any point leaves the previous snapshot or the new one, whole.
    """
    state = index.state
    if index.storage != folder or not isinstance(state.vectors, np.memmap):
        raise ValueError("the index's vectors must be mapped from the snapshot folder")
    rows, tag = state.rows, uuid.uuid4().hex[:12]
    state.vectors.flush()
    ann_name = None
    if state.ann is not None:
        ann_name = f"ann-{tag}.faiss"
        state.ann.write(folder / ann_name)
    columns = {f"column.{key}": column[:rows] for key, column in state.columns.items()}
    members = len(state.person_ids)
    source_blob, source_ends = state.sources.arrays()
    rows_name = f"rows-{tag}.npz"
    payload: dict[str, np.ndarray] = {
        "alive": state.alive[:rows],
        "sq_norms": state.sq_norms[:rows],
        "person": state.person[:rows],
        "next_row": state.next_row[:rows],
        "source_blob": source_blob,
        "source_ends": source_ends,
        "first_row": state.first_row[:members],
        "live_rows": state.live_rows[:members],
        "member_meta": state.member_meta[:members],
        **state.feature_ids.arrays("feature_ids"),
        **state.person_ids.arrays("person_ids"),
        **{f"detail.{key}": column[:rows] for key, column in state.details.items()},
        **columns,
        **{f"extra.{key}": value for key, value in (arrays or {}).items()},
    }
    with (folder / rows_name).open("wb") as file:
        # numpy's stub types **kwds as its own keyword options; they are arrays here
        np.savez(file, **payload)  # type: ignore[arg-type]
    meta = {
        "version": VERSION,
        "dim": index.dim,
        "rows": rows,
        "dead": state.dead,
        "live": state.live,
        "vectors": Path(str(state.vectors.filename)).name,
        "ann": ann_name,
        "trained_on": state.ann.trained_on if state.ann else 0,
        "arrays": rows_name,
        "codes": {
            key: [list(token) for token, _ in sorted(codes.items(), key=lambda item: item[1])]
            for key, codes in index.codes.items()
        },
        **checkpoint,
    }
    temporary = folder / f"{META}.{tag}"
    temporary.write_text(json.dumps(meta))
    os.replace(temporary, folder / META)
    keep = {META, meta["vectors"], rows_name, ann_name}
    for path in folder.iterdir():
        if path.name not in keep:
            path.unlink()


def read_meta(folder: Path) -> dict[str, Any]:
    try:
        meta = json.loads((folder / META).read_text())
    except FileNotFoundError:
        raise Stale("no snapshot") from None
    except (OSError, ValueError) as exc:
        raise Stale(f"unreadable snapshot meta: {exc}") from None
    if not isinstance(meta, dict) or meta.get("version") != VERSION:
        raise Stale(f"snapshot format {meta.get('version') if isinstance(meta, dict) else '?'}")
    return meta


def load(folder: Path, dim: int, exact_max: int, checkpoint: dict[str, Any]) -> Loaded:
    """The snapshot in `folder` as an index mapped from it; `Stale` if it cannot be used.

    `checkpoint` holds the meta values that must match (the group id, say).
    """
    meta = read_meta(folder)
    for key, value in checkpoint.items():
        if meta.get(key) != value:
            raise Stale(f"snapshot {key} {meta.get(key)!r}, expected {value!r}")
    if meta["dim"] != dim:
        raise Stale(f"snapshot of {meta['dim']}-d vectors, the group holds {dim}-d")
    rows = int(meta["rows"])
    try:
        vectors = map_matrix(folder / meta["vectors"], dim)
        if len(vectors) < rows:
            raise Stale(f"vector file holds {len(vectors)} rows, the snapshot {rows}")
        with np.load(folder / meta["arrays"]) as stored:
            arrays = {name: stored[name] for name in stored.files}
        ann = None
        if meta["ann"]:
            ann = Ann.read(folder / meta["ann"], int(meta["trained_on"]))
    except (OSError, ValueError, KeyError, RuntimeError) as exc:
        raise Stale(f"unreadable snapshot: {exc}") from None
    if ann is not None and ann.index.ntotal != rows:
        raise Stale(f"FAISS holds {ann.index.ntotal} rows, the snapshot {rows}")
    capacity = len(vectors)
    index = GroupIndex(dim, exact_max, storage=folder)
    try:
        state = State(
            vectors=vectors,
            sq_norms=grown(arrays.pop("sq_norms"), capacity, 0.0),
            alive=grown(arrays.pop("alive"), capacity, False),
            columns={},
            details={},
            feature_ids=Keys.restored(arrays, "feature_ids", capacity),
            person=grown(arrays.pop("person"), capacity, -1),
            next_row=grown(arrays.pop("next_row"), capacity, -1),
            sources=Texts(arrays.pop("source_blob"), arrays.pop("source_ends")),
            person_ids=Keys.restored(arrays, "person_ids", 0),
            first_row=arrays.pop("first_row"),
            live_rows=arrays.pop("live_rows"),
            member_meta=arrays.pop("member_meta"),
            rows=rows,
            dead=int(meta["dead"]),
            ann=ann,
        )
        named = ("column.", "detail.", "feature_ids", "person_ids")
        for name in [name for name in arrays if name.startswith(named)]:
            kind, _, key = name.partition(".")
            column = arrays.pop(name)
            if kind == "column":
                state.columns[key] = grown(column, capacity, MISSING)
            elif kind == "detail":
                state.details[key] = grown(column, capacity, ROW_DETAILS[key][1])
    except (KeyError, ValueError) as exc:
        raise Stale(f"snapshot arrays incomplete: {exc}") from None
    members = len(state.person_ids)
    if (
        len(state.feature_ids) != rows
        or len(state.alive) < rows
        or len(state.sources) != rows
        or not len(state.first_row) == len(state.live_rows) == len(state.member_meta) == members
        or state.details.keys() != ROW_DETAILS.keys()
    ):
        raise Stale("snapshot arrays do not match its row count")
    live = int(np.count_nonzero(state.alive[:rows]))
    if int(state.live_rows.sum()) != state.live or live != state.live:
        raise Stale("snapshot tombstones do not match its counts")
    index.state = state
    index.codes = {
        key: {(kind, value): code for code, (kind, value) in enumerate(tokens)}
        for key, tokens in meta["codes"].items()
    }
    extra = {name.removeprefix("extra."): value for name, value in arrays.items()}
    return Loaded(index, extra, meta)


def clear(folder: Path) -> None:
    """Empty a group's snapshot folder (before a rebuild writes a new index there)."""
    folder.mkdir(parents=True, exist_ok=True)
    for path in folder.iterdir():
        path.unlink()
