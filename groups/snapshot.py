"""Snapshots of a group's search index beside a store checkpoint: a fast, checked start.

Why: rebuilding the index on start scans the store, 7.5k rows/s from a Milvus server
(22 min for 10M rows) plus FAISS training. A snapshot reloads in seconds: the vectors
are mapped, not read, and only the FAISS codes and per-row arrays are read.

One folder per group, `<root>/<group_id>/`:

- `vectors-<id>.f32`: the index's live matrix (`GroupIndex(storage=folder)` maps it).
  Rows are only ever appended, so its first `rows` rows are the snapshot's even after
  later writes; a compaction writes a new file and the next snapshot drops the old one.
- `ann-<n>.faiss`: the FAISS index, when the group has one.
- `rows-<n>.npz`: per-row arrays: tombstones, norms, metadata columns, ids (as UTF-8
  blobs with offsets: no pickles), and the caller's own (the catalog's).
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
from vigil.groups.index import GroupIndex, State, map_matrix
from vigil.infra.columns import MISSING, grown

VERSION = 1
META = "meta.json"


class Stale(Exception):
    """The snapshot cannot be trusted; the message says why."""


@dataclass
class Loaded:
    index: GroupIndex
    arrays: dict[str, np.ndarray]
    meta: dict[str, Any]


def pack(strings: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Strings as one UTF-8 blob and their end offsets (no pickle, any character)."""
    encoded = [text.encode() for text in strings]
    ends = np.cumsum([len(item) for item in encoded], dtype=np.int64)
    return np.frombuffer(b"".join(encoded), np.uint8), ends


def unpack(blob: np.ndarray, ends: np.ndarray) -> list[str]:
    data = blob.tobytes()
    starts = [0, *ends[:-1].tolist()]
    text = data.decode()
    if len(text) == len(data):  # ASCII: slice the decoded text, one decode in all
        return [text[a:b] for a, b in zip(starts, ends.tolist(), strict=True)]
    return [data[a:b].decode() for a, b in zip(starts, ends.tolist(), strict=True)]


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
    feature_blob, feature_ends = pack(state.feature_ids)
    person_blob, person_ends = pack(state.person_ids)
    columns = {f"column.{key}": column[:rows] for key, column in state.columns.items()}
    rows_name = f"rows-{tag}.npz"
    payload: dict[str, np.ndarray] = {
        "alive": state.alive[:rows],
        "sq_norms": state.sq_norms[:rows],
        "feature_blob": feature_blob,
        "feature_ends": feature_ends,
        "person_blob": person_blob,
        "person_ends": person_ends,
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
    state = State(
        vectors=vectors,
        sq_norms=grown(arrays.pop("sq_norms"), capacity, 0.0),
        alive=grown(arrays.pop("alive"), capacity, False),
        columns={},
        rows=rows,
        dead=int(meta["dead"]),
        ann=ann,
    )
    for name in [name for name in arrays if name.startswith("column.")]:
        state.columns[name.removeprefix("column.")] = grown(arrays.pop(name), capacity, MISSING)
    state.feature_ids = unpack(arrays.pop("feature_blob"), arrays.pop("feature_ends"))
    state.person_ids = unpack(arrays.pop("person_blob"), arrays.pop("person_ends"))
    if len(state.feature_ids) != rows or len(state.alive) < rows:
        raise Stale("snapshot arrays do not match its row count")
    live = np.flatnonzero(state.alive[:rows]).tolist()
    state.row_of = {state.feature_ids[row]: row for row in live}
    if len(state.row_of) != state.live:
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
