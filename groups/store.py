"""The system of record: feature groups in Milvus through pymilvus's `MilvusClient`.

`uri` is a path to a `.db` file (Milvus Lite, embedded, the default) or
`http://host:port` (a Milvus server, for production and for several processes:
a Lite file can be opened by one process only, others get `store_unavailable`).

Collections (names are ASCII because Milvus allows nothing else; the group's
own name lives in a field, so renaming a group rewrites one row):

- `vigil_groups`, the registry, one row per group: `group_id` (primary key,
  32 hex), `name`, `description`, `model`, `dim` (0 until the first member),
  `created_us`, `metadata` (JSON) and `pad`, a 2-D vector Milvus requires in
  every collection.
- `vigil_features_<group_id>`, one per group, one row per enrolled feature:
  `feature_id` (primary key), `person_id`, `model`, `quality` (-1 = unknown),
  `source`, `created_us`, `metadata` (the member's, copied onto each of its
  rows so Milvus-side filters work), `vector` (FLOAT_VECTOR of the group's dim,
  L2). A collection per group makes deleting a group a single drop that cannot
  touch another group, and lets each group have its own dimension.
- `vigil_group_journal`, the change journal of every group: `entry_id` (primary
  key, group id + sequence), `group_id`, `seq` (1, 2, ... per group, no gaps),
  `op` (add / meta / remove) and `feature_ids` (JSON list). The service writes an
  entry before each feature change, so a snapshot of the index taken at sequence
  S is brought up to date by replaying the entries after S (`vigil.groups.snapshot`),
  and a gap in the sequence proves a snapshot stale. Trimming always keeps a group's
  newest entry, the high-water mark.

Milvus is not searched by the service (see `vigil.groups.index`); `search`
here exists for the benchmark. So a server's feature collections get a FLAT index (only
to be loadable: `GroupStore.SERVER_INDEX`), not the HNSW of the other stores. Milvus's
L2 is squared; `search` returns plain L2.

Connection, error mapping, collection creation, scans and Lite write pacing are
`vigil.infra.milvus.MilvusBase`'s; this module adds the group collections only.
"""

from __future__ import annotations

import math
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
from pymilvus import DataType

from vigil.infra.milvus import (
    SEARCH_PARAMS,
    WRITE_BATCH,
    MilvusBase,
    from_us,
    quote,
    to_us,
    unavailable,
)

REGISTRY = "vigil_groups"
FEATURES_PREFIX = "vigil_features_"
JOURNAL = "vigil_group_journal"
PAD_DIM = 2
GET_BATCH = 1000  # ids per Milvus `get`
JOURNAL_IDS = 1000  # feature ids per journal entry (Milvus JSON values are bounded)


@dataclass(frozen=True)
class JournalEntry:
    seq: int
    op: str
    feature_ids: list[str]


def journal_ids(value: Any) -> list[str]:
    """A journal entry's feature ids: `{"ids": [...]}` (a bare list from Milvus Lite files
    written before the server's JSON rule was known is read too)."""
    return list(value["ids"] if isinstance(value, dict) else value)


def new_ids(count: int, now: datetime) -> list[str]:
    """32-hex feature ids that sort by creation, then by position in the batch."""
    stamp = to_us(now)
    return [f"{stamp:014x}{n:04x}{secrets.token_hex(7)}" for n in range(count)]


@dataclass
class GroupRecord:
    """A registry row."""

    group_id: str
    name: str
    description: str = ""
    model: str = ""
    dim: int = 0
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass
class FeatureRow:
    """A features row: one enrolled feature with its member's metadata."""

    feature_id: str
    person_id: str
    model: str
    vector: np.ndarray
    metadata: dict[str, Any] = field(default_factory=dict)
    quality: float | None = None
    source: str | None = None
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))


FEATURE_FIELDS = ["feature_id", "person_id", "model", "quality", "source", "created_us"]


def feature_row(row: dict[str, Any]) -> FeatureRow:
    """A features row as Milvus returns it."""
    return FeatureRow(
        feature_id=row["feature_id"],
        person_id=row["person_id"],
        model=row["model"],
        vector=np.asarray(row["vector"], dtype=np.float32),
        metadata=dict(row["metadata"] or {}),
        quality=None if row["quality"] < 0 else float(row["quality"]),
        source=row["source"] or None,
        created_at=from_us(int(row["created_us"])),
    )


def filter_expression(filter: dict[str, list[Any]] | None) -> str:
    """Milvus expression of a normalised metadata filter (keys are checked identifiers).

    Milvus 2.3 accepts `in [...]` on plain fields only, so a list becomes `==` ors.
    """

    def literal(value: Any) -> str:
        if isinstance(value, bool):
            return "true" if value else "false"
        return quote(value) if isinstance(value, str) else repr(value)

    return " and ".join(
        "(" + " or ".join(f'metadata["{key}"] == {literal(v)}' for v in values) + ")"
        for key, values in (filter or {}).items()
    )


class GroupStore(MilvusBase):
    """Registry and per-group feature collections in one Milvus (Lite file or server)."""

    # The service never searches Milvus (its own index does), yet a server collection needs
    # a vector index to be loaded, and it must be loaded for the start-up checks (count,
    # get). FLAT costs a copy of each sealed segment; HNSW cost hours of CPU and a graph
    # in memory at 10M rows on 2 cores (docs/performance.md, issue 17). Pass index_type
    # for another (the benchmark's Milvus-side search path names HNSW).
    SERVER_INDEX = "FLAT"

    def _ensure_collections(self) -> None:
        """The registry and journal (feature collections are per group, `ensure_features`)."""

        def fields(schema: Any) -> None:
            schema.add_field("group_id", DataType.VARCHAR, is_primary=True, max_length=32)
            schema.add_field("name", DataType.VARCHAR, max_length=256)
            schema.add_field("description", DataType.VARCHAR, max_length=4096)
            schema.add_field("model", DataType.VARCHAR, max_length=256)
            schema.add_field("dim", DataType.INT64)
            schema.add_field("created_us", DataType.INT64)
            schema.add_field("metadata", DataType.JSON)
            schema.add_field("pad", DataType.FLOAT_VECTOR, dim=PAD_DIM)

        if not self._open(REGISTRY):
            self._create(REGISTRY, fields, "pad", "FLAT")
        if not self._open(JOURNAL):

            def journal_fields(schema: Any) -> None:
                schema.add_field("entry_id", DataType.VARCHAR, is_primary=True, max_length=64)
                schema.add_field("group_id", DataType.VARCHAR, max_length=32)
                schema.add_field("seq", DataType.INT64)
                schema.add_field("op", DataType.VARCHAR, max_length=16)
                schema.add_field("feature_ids", DataType.JSON)
                schema.add_field("pad", DataType.FLOAT_VECTOR, dim=PAD_DIM)

            self._create(JOURNAL, journal_fields, "pad", "FLAT")

    @staticmethod
    def features_collection(group_id: str) -> str:
        return FEATURES_PREFIX + group_id

    def ensure_features(self, group_id: str, dim: int) -> None:
        """Create the group's features collection if missing (idempotent)."""
        name = self.features_collection(group_id)
        with unavailable(f"create collection {name}"):
            if self._open(name):
                return

            def fields(schema: Any) -> None:
                schema.add_field("feature_id", DataType.VARCHAR, is_primary=True, max_length=32)
                schema.add_field("person_id", DataType.VARCHAR, max_length=512)
                schema.add_field("model", DataType.VARCHAR, max_length=256)
                schema.add_field("quality", DataType.FLOAT)
                schema.add_field("source", DataType.VARCHAR, max_length=4096)
                schema.add_field("created_us", DataType.INT64)
                schema.add_field("metadata", DataType.JSON)
                schema.add_field("vector", DataType.FLOAT_VECTOR, dim=dim)

            self._create(name, fields, "vector", self.index_type)

    # -- registry -------------------------------------------------------------------------

    def list_groups(self) -> list[GroupRecord]:
        fields = ["group_id", "name", "description", "model", "dim", "created_us", "metadata"]
        with unavailable("read the group registry"):
            return [
                GroupRecord(
                    group_id=row["group_id"],
                    name=row["name"],
                    description=row["description"],
                    model=row["model"],
                    dim=int(row["dim"]),
                    created_at=from_us(int(row["created_us"])),
                    metadata=dict(row["metadata"] or {}),
                )
                for batch in self._scan(REGISTRY, fields)
                for row in batch
            ]

    def put_group(self, record: GroupRecord) -> None:
        row = {
            "group_id": record.group_id,
            "name": record.name,
            "description": record.description,
            "model": record.model,
            "dim": record.dim,
            "created_us": to_us(record.created_at),
            "metadata": record.metadata,
            "pad": [0.0] * PAD_DIM,
        }
        with unavailable(f"write group {record.name!r}"):
            self.client.upsert(REGISTRY, [row])

    def delete_group(self, group_id: str) -> None:
        """Registry row first: a crash in between leaves an orphan collection, not a half group."""
        with unavailable(f"delete group {group_id}"):
            self.client.delete(REGISTRY, ids=[group_id])
            self.client.delete(JOURNAL, filter=f"group_id == {quote(group_id)}")
            self.client.drop_collection(self.features_collection(group_id))
            self._loaded.discard(self.features_collection(group_id))

    def drop_orphans(self, group_ids: set[str]) -> list[str]:
        """Drop feature collections whose registry row is gone (an interrupted delete).

        Rows are re-read after listing collections: another process writes a group's
        row before its collection, so a collection it is creating is never taken here.
        """
        with unavailable("list collections"):
            candidates = {
                name.removeprefix(FEATURES_PREFIX): name
                for name in self.client.list_collections()
                if name.startswith(FEATURES_PREFIX)
                and name.removeprefix(FEATURES_PREFIX) not in group_ids
            }
            if not candidates:
                return []
            registered = self.client.get(REGISTRY, ids=list(candidates), output_fields=["group_id"])
            for row in registered:
                candidates.pop(row["group_id"], None)
            for name in candidates.values():
                self.client.drop_collection(name)
        return sorted(candidates.values())

    # -- features -------------------------------------------------------------------------

    @staticmethod
    def _row(row: FeatureRow) -> dict[str, Any]:
        return {
            "feature_id": row.feature_id,
            "person_id": row.person_id,
            "model": row.model,
            "quality": -1.0 if row.quality is None else float(row.quality),
            "source": row.source or "",
            "created_us": to_us(row.created_at),
            "metadata": row.metadata,
            "vector": np.asarray(row.vector, dtype=np.float32).tolist(),
        }

    def insert(self, group_id: str, rows: list[FeatureRow], upsert: bool = False) -> None:
        name = self.features_collection(group_id)
        write = self.client.upsert if upsert else self.client.insert
        with unavailable(f"write {len(rows)} features to {name}"):
            for start in range(0, len(rows), WRITE_BATCH):
                write(name, [self._row(row) for row in rows[start : start + WRITE_BATCH]])
                self._written(name)

    def delete_features(self, group_id: str, feature_ids: list[str]) -> None:
        name = self.features_collection(group_id)
        with unavailable(f"delete {len(feature_ids)} features from {name}"):
            self.client.delete(name, ids=feature_ids)
            self._written(name)

    # -- journal --------------------------------------------------------------------------

    def journal(self, group_id: str, seq: int, op: str, feature_ids: list[str]) -> int:
        """Record a change about to be made, as entries seq, seq+1, ...; the last seq used."""
        rows = [
            {
                "entry_id": f"{group_id}{number:016x}",
                "group_id": group_id,
                "seq": number,
                "op": op,
                # an object, not a bare list: the Milvus server's JSON field takes objects
                "feature_ids": {"ids": feature_ids[start : start + JOURNAL_IDS]},
                "pad": [0.0] * PAD_DIM,
            }
            for number, start in enumerate(range(0, max(1, len(feature_ids)), JOURNAL_IDS), seq)
        ]
        with unavailable(f"journal a change of group {group_id}"):
            self.client.insert(JOURNAL, rows)
            self._written(JOURNAL)
        return seq + len(rows) - 1

    def journal_since(self, group_id: str, seq: int) -> list[JournalEntry]:
        """A group's entries from `seq` on (inclusive), in order."""
        fields = ["seq", "op", "feature_ids"]
        expression = f"group_id == {quote(group_id)} and seq >= {int(seq)}"
        with unavailable(f"read the journal of group {group_id}"):
            entries = [
                JournalEntry(int(row["seq"]), row["op"], journal_ids(row["feature_ids"]))
                for batch in self._scan(JOURNAL, fields, expression)
                for row in batch
            ]
        return sorted(entries, key=lambda entry: entry.seq)

    def journal_head(self, group_id: str) -> int:
        """The group's newest sequence number (0: none yet)."""
        entries = self.journal_since(group_id, 0)  # trimmed: a few entries at most
        return entries[-1].seq if entries else 0

    def trim_journal(self, group_id: str, below: int) -> None:
        """Forget entries older than `below` (callers keep the newest, the high-water mark)."""
        with unavailable(f"trim the journal of group {group_id}"):
            self.client.delete(
                JOURNAL, filter=f"group_id == {quote(group_id)} and seq < {int(below)}"
            )
            self._written(JOURNAL)

    # -- features, continued --------------------------------------------------------------

    def count_features(self, group_id: str) -> int:
        name = self.features_collection(group_id)
        with unavailable(f"count {name}"):
            if not self._open(name):
                return 0
            [row] = self.client.query(name, filter="", output_fields=["count(*)"])
        return int(row["count(*)"])

    def get_features(self, group_id: str, feature_ids: list[str]) -> list[FeatureRow]:
        """The stored rows among `feature_ids` (absent ids are skipped)."""
        name = self.features_collection(group_id)
        fields = [*FEATURE_FIELDS, "metadata", "vector"]
        with unavailable(f"read {name}"):
            if not feature_ids or not self._open(name):
                return []
            return [
                feature_row(row)
                for start in range(0, len(feature_ids), GET_BATCH)
                for row in self.client.get(
                    name, ids=feature_ids[start : start + GET_BATCH], output_fields=fields
                )
            ]

    def scan_features(self, group_id: str) -> Iterator[list[FeatureRow]]:
        """Every stored feature of a group, in batches (the index rebuild reads this)."""
        name = self.features_collection(group_id)
        with unavailable(f"read {name}"):
            if not self._open(name):
                return
            for batch in self._scan(name, [*FEATURE_FIELDS, "metadata", "vector"]):
                yield [feature_row(row) for row in batch]

    def search(
        self,
        group_id: str,
        queries: np.ndarray,
        k: int,
        filter: dict[str, list[Any]] | None = None,
    ) -> list[list[tuple[str, float]]]:
        """Milvus-side top-k (feature id, L2 distance) per query; for the benchmark.

        Bounded consistency: a Strong search waits for the next time tick (~0.3 s).
        """
        name = self.features_collection(group_id)
        params = {"metric_type": "L2", "params": SEARCH_PARAMS[self.index_type]}
        with unavailable(f"search {name}"):
            answers = self.client.search(
                name,
                data=np.asarray(queries, dtype=np.float32).tolist(),
                limit=k,
                filter=filter_expression(filter),
                search_params=params,
                output_fields=["person_id"],
                consistency_level="Bounded",
            )
        return [
            [
                (hit.get("id", hit.get("feature_id")), math.sqrt(max(hit["distance"], 0.0)))
                for hit in hits
            ]
            for hits in answers
        ]
