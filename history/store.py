"""The capture history's system of record: one Milvus collection, one row per capture.

`vigil_history` holds the latest revision of each capture (`capture_id` is the
primary key, so a later revision is an upsert): scalar fields for every filter,
the face feature (a zero vector when the capture has none: Milvus requires one)
and `written_us`, when the row was written, which lets another process
pick up new rows (`rows_since`). It is searched in memory (`vigil.history.index`);
Milvus is only written and scanned on start. Crops are files (`vigil.history.crops`).

Connection handling, schema creation, scans and error mapping are
`vigil.infra.milvus.MilvusBase`'s: this class only adds the history collection.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
from pymilvus import DataType

from vigil.infra.milvus import WRITE_BATCH, MilvusBase, unavailable

COLLECTION = "vigil_history"
TEXT_FIELDS = {  # VARCHAR fields and their maximum lengths
    "camera_id": 64,
    "track_id": 128,
    "type": 16,
    "event": 8,
    "gender": 16,
    "upper_colour": 32,
    "lower_colour": 32,
    "vehicle_type": 32,
    "vehicle_colour": 32,
    "plate": 32,
    "parent_capture_id": 256,
    "model": 128,
}
NUMBER_FIELDS = {
    "revision": DataType.INT64,
    "captured_us": DataType.INT64,
    "quality": DataType.FLOAT,
}
SCALARS = ["capture_id", *TEXT_FIELDS, *NUMBER_FIELDS, "age", "has_feature", "written_us"]


class HistoryStore(MilvusBase):
    """The `vigil_history` collection in a Milvus Lite file or server."""

    def __init__(self, uri: str | Path, dim: int = 128, **options: Any) -> None:
        self.dim = dim
        super().__init__(uri, **options)

    def _ensure_collections(self) -> None:
        """Called by `MilvusBase.__init__`: the history collection."""
        if self._open(COLLECTION):
            return

        def fields(schema: Any) -> None:
            schema.add_field("capture_id", DataType.VARCHAR, is_primary=True, max_length=256)
            for name, length in TEXT_FIELDS.items():
                schema.add_field(name, DataType.VARCHAR, max_length=length)
            for name, kind in NUMBER_FIELDS.items():
                schema.add_field(name, kind)
            schema.add_field("age", DataType.FLOAT)  # -1: unknown
            schema.add_field("has_feature", DataType.BOOL)
            schema.add_field("written_us", DataType.INT64)
            schema.add_field("vector", DataType.FLOAT_VECTOR, dim=self.dim)

        self._create(COLLECTION, fields, "vector", self.index_type)

    def upsert(self, rows: list[dict[str, Any]]) -> None:
        with unavailable(f"write {len(rows)} captures to {COLLECTION}"):
            for start in range(0, len(rows), WRITE_BATCH):
                batch = rows[start : start + WRITE_BATCH]
                self.client.upsert(
                    COLLECTION,
                    [{**row, "vector": np.asarray(row["vector"], "f4").tolist()} for row in batch],
                )
                self._written(COLLECTION)

    def delete_before(self, captured_us: int) -> None:
        with unavailable(f"purge {COLLECTION}"):
            self.client.delete(COLLECTION, filter=f"captured_us < {int(captured_us)}")

    def rows(self, filter: str = "") -> Iterator[list[dict[str, Any]]]:
        """Stored rows (scalars and vector) passing a Milvus filter, in batches."""
        with unavailable(f"read {COLLECTION}"):
            yield from self._scan(COLLECTION, [*SCALARS, "vector"], filter)

    def rows_since(self, written_us: int) -> Iterator[list[dict[str, Any]]]:
        return self.rows(f"written_us >= {int(written_us)}")

    def count(self) -> int:
        with unavailable(f"count {COLLECTION}"):
            [row] = self.client.query(COLLECTION, filter="", output_fields=["count(*)"])
        return int(row["count(*)"])
