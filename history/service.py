"""`HistoryService`: every capture kept, searchable by picture, attributes and plate.

Milvus (`store.py`) is the system of record; searches and queries are served from
the in-memory mirror (`index.py`) rebuilt from Milvus when the service opens. A
capture goes to Milvus first and reaches memory only once Milvus accepted it
(`vigil.infra.milvus.Mirrored`, shared with the groups: writer mutex, readers-writer lock).

One row per capture_id: a later revision (update, end) replaces the earlier one; an
older revision arriving late (a replay) is ignored, so the final `end` revision stays.

Several processes on one Milvus server: each keeps its own mirror and, before a
search, picks up rows others wrote (`refresh`, by the rows' write time) when its
mirror is older than `REFRESH_SECONDS`. A purge made by another process shows
after `reload()`; purges normally run in one place (the Celery beat task).
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from vigil.analysis.faces import face_targets
from vigil.history.crops import CropStore, crops_root
from vigil.history.index import HistoryIndex, Selection, plate_key
from vigil.history.store import HistoryStore
from vigil.infra.milvus import Mirrored, from_us, to_us
from vigil.models.scoring import similarity, threshold_for
from vigil.schemas.capture import Capture
from vigil.schemas.errors import ErrorCode, VigilError
from vigil.schemas.feature import Feature
from vigil.schemas.history import (
    HistoryHit,
    HistoryPage,
    HistoryQuery,
    HistoryRecord,
    HistoryResult,
    HistorySearchOptions,
)
from vigil.schemas.target import TargetType
from vigil.schemas.threshold import DEFAULT_FAR
from vigil.schemas.validate import as_vector, checked

URI_ENV = "VIGIL_HISTORY_URI"
DEFAULT_URI = "vigil-history.db"
FACE_MODEL = "face_resnet128"  # the threshold family of a bare vector query
REFRESH_SECONDS = 2.0
CLOCK_MARGIN_US = 10_000_000  # rows written this long before the last seen one are re-read
MAX_LIMIT = 10_000
Query = Feature | dict | np.ndarray | bytes | str | Path


def default_uri() -> str:
    return os.environ.get(URI_ENV) or DEFAULT_URI


def colour(attribute: Any) -> str:
    return attribute.name if attribute is not None else ""


def capture_row(capture: Capture, dim: int, written_us: int) -> dict[str, Any]:
    """The stored row of a capture; refuses a feature that is invalid or of another size."""
    target = capture.target
    vector, model = np.zeros(dim, np.float32), ""
    if target.feature is not None:
        model, vector = as_vector(target.feature)
        if vector.size != dim:
            raise VigilError(
                ErrorCode.FEATURE_MISMATCH,
                f"{capture.capture_id}: {vector.size}-d feature; the history holds {dim}-d",
            )
    face, person, vehicle = target.face, target.person, target.vehicle
    plate = vehicle.plate.text if vehicle and vehicle.plate else ""
    return {
        "capture_id": capture.capture_id,
        "camera_id": capture.camera_id,
        "track_id": capture.track_id,
        "type": target.type.value,
        "event": capture.event.value,
        "revision": capture.revision,
        "captured_us": to_us(capture.captured_at),
        "quality": target.quality.score,
        "age": face.age if face and face.age is not None else -1.0,
        "gender": (face.gender if face else None) or "",
        "upper_colour": colour(person.upper_colour if person else None),
        "lower_colour": colour(person.lower_colour if person else None),
        "vehicle_type": (vehicle.vehicle_type if vehicle else None) or "",
        "vehicle_colour": colour(vehicle.colour if vehicle else None),
        "plate": plate[:32],
        "parent_capture_id": capture.parent_capture_id or "",
        "model": model,
        "has_feature": target.feature is not None,
        "written_us": written_us,
        "vector": vector,
    }


class HistoryService(Mirrored[HistoryStore]):
    """The capture history in Milvus (Lite file by default, server by URI), searched in memory."""

    def __init__(
        self,
        uri: str | Path | None = None,
        *,
        dim: int = 128,
        index_type: str | None = None,
        crops: str | Path | None = None,
    ) -> None:
        self.uri = str(uri or default_uri())
        self.dim = dim
        self.crops = CropStore(crops_root(self.uri, crops))
        super().__init__(HistoryStore(self.uri, dim=dim, index_type=index_type))
        self.index = HistoryIndex(dim)
        self._seen_us = 0
        self._refreshed = time.monotonic()
        self._start()

    def __len__(self) -> int:
        return len(self.index)

    # -- loading --------------------------------------------------------------------------

    def reload(self) -> None:
        """Rebuild the mirror from Milvus (done on open)."""
        with self._writer:
            index, seen = HistoryIndex(self.dim), 0
            for rows in self.store.rows():
                index.add(rows)
                seen = max(seen, max(row["written_us"] for row in rows))
            index.merge()
            with self._rw.write():
                self.index, self._seen_us = index, seen
            self._refreshed = time.monotonic()

    def refresh(self) -> int:
        """Take in rows other processes wrote since the last look; returns how many."""
        with self._writer:
            taken = 0
            for rows in self.store.rows_since(self._seen_us - CLOCK_MARGIN_US):
                self._seen_us = max(self._seen_us, max(row["written_us"] for row in rows))
                newer = [row for row in rows if self._is_newer(row, strictly=True)]
                with self._rw.write():
                    self.index.add(newer)
                taken += len(newer)
            self._refreshed = time.monotonic()
            return taken

    def _refresh_if_stale(self) -> None:
        """Only a server is shared: a Lite file is this process's, so its mirror is current."""
        if self.store.is_server and time.monotonic() - self._refreshed > REFRESH_SECONDS:
            self.refresh()

    def _is_newer(self, row: dict[str, Any], strictly: bool = False) -> bool:
        stored = self.index.revision(row["capture_id"])
        if stored is None:
            return True
        return row["revision"] > stored if strictly else row["revision"] >= stored

    # -- writes ---------------------------------------------------------------------------

    def add(self, captures: Sequence[Capture | dict]) -> int:
        """Store captures (the latest revision of each wins); returns the rows written.

        Every capture is checked first: one bad capture refuses the batch, nothing stored.
        """
        now_us = to_us(datetime.now(UTC))
        latest: dict[str, Capture] = {}
        for item in captures:
            capture = checked(Capture, item, "capture")
            kept = latest.get(capture.capture_id)
            if kept is None or capture.revision >= kept.revision:
                latest[capture.capture_id] = capture
        rows = [capture_row(capture, self.dim, now_us) for capture in latest.values()]
        with self._writer:
            fresh = [row for row in rows if self._is_newer(row)]
            for row in fresh:  # before the row: a stored row never misses its crop
                capture = latest[row["capture_id"]]
                if crop := capture.crop_jpeg or capture.target.crop_jpeg:
                    self.crops.write(row["capture_id"], row["captured_us"], crop)
            if fresh:
                self.store.upsert(fresh)
                with self._rw.write():
                    self.index.add(fresh)
                self._seen_us = max(self._seen_us, now_us)
            return len(fresh)

    def purge(self, older_than: datetime) -> int:
        """Delete captures taken before `older_than`; returns how many were dropped."""
        cutoff = to_us(checked(datetime, older_than, "older_than").astimezone(UTC))
        with self._writer:
            self.store.delete_before(cutoff)
            self.crops.purge_before(cutoff)
            with self._rw.write():
                return self.index.purge(cutoff)

    # -- reads ----------------------------------------------------------------------------

    def search(
        self,
        query: Query,
        k: int = 10,
        cameras: list[str] | None = None,
        since: datetime | str | None = None,
        until: datetime | str | None = None,
        types: list[str] | None = None,
        attributes: dict[str, Any] | None = None,
        far: float = DEFAULT_FAR,
        crops: bool = True,
    ) -> HistoryResult:
        """Past captures nearest to a feature, a vector or a picture's largest face.

        Only captures with a feature of the query's model are ranked; `match` marks the
        hits within the threshold of the false-accept rate `far`.
        """
        options = checked(HistorySearchOptions, {"k": k, "far": far, "crops": crops}, "search")
        wanted = self._query(cameras, since, until, types, attributes, None)
        model, vector = self._vector(query)
        threshold = threshold_for(model, options.far)
        self._refresh_if_stale()
        with self._rw.read():
            selection = self._selection(wanted, models=self.index.known("model", [model]))
            nearest, allowed = self.index.nearest(vector, options.k, selection)
            found = [(self.index.fields(s, row), distance) for s, row, distance in nearest]
        records = self._records([fields for fields, _ in found], options.crops)
        hits = [
            HistoryHit(
                record=record,
                distance=round(distance, 6),
                similarity=similarity(distance),
                match=distance <= threshold.distance,
            )
            for record, (_, distance) in zip(records, found, strict=True)
        ]
        return HistoryResult(hits=hits, threshold=threshold, model=model, candidates=allowed)

    def query(
        self,
        cameras: list[str] | None = None,
        since: datetime | str | None = None,
        until: datetime | str | None = None,
        types: list[str] | None = None,
        attributes: dict[str, Any] | None = None,
        plate: str | None = None,
        limit: int = 100,
        crops: bool = False,
    ) -> HistoryPage:
        """Captures by camera, time, type, attributes and plate, newest first.

        A plate matches when its letters and digits contain the query's: "AB123" finds
        "AB-123-CD".
        """
        limit = checked(int, limit, "limit")
        if not 1 <= limit <= MAX_LIMIT:
            raise VigilError(ErrorCode.INVALID_OPTIONS, f"limit must be 1..{MAX_LIMIT}")
        wanted = self._query(cameras, since, until, types, attributes, plate)
        self._refresh_if_stale()
        with self._rw.read():
            places, total = self.index.newest(self._selection(wanted), limit)
            found = [self.index.fields(segment, row) for segment, row in places]
        return HistoryPage(records=self._records(found, crops), total=total)

    def faces(
        self,
        cameras: list[str] | None = None,
        since: datetime | str | None = None,
        until: datetime | str | None = None,
    ) -> tuple[list[HistoryRecord], np.ndarray]:
        """Face captures with a feature, oldest first, and their float32 vectors (one row each).

        Records carry no crop (ask `get` for the few wanted). For clustering.
        """
        wanted = self._query(cameras, since, until, [TargetType.FACE], None, None)
        self._refresh_if_stale()
        with self._rw.read():
            selection = self._selection(wanted, models=list(self.index.codes["model"].values()))
            places, vectors = self.index.ordered(selection)
            found = [self.index.fields(segment, row) for segment, row in places]
        return self._records(found, crops=False), vectors

    def get(self, capture_ids: list[str], crops: bool = True) -> list[HistoryRecord]:
        """The stored captures of these ids (unknown ids are skipped), in the order asked."""
        ids = checked(list[str], capture_ids, "capture ids")
        with self._rw.read():
            places = [self.index.where.get(capture_id) for capture_id in ids]
            found = [self.index.fields(*self.index.locate(p)) for p in places if p is not None]
        return self._records(found, crops)

    # -- helpers --------------------------------------------------------------------------

    @staticmethod
    def _query(
        cameras: Any, since: Any, until: Any, types: Any, attributes: Any, plate: Any
    ) -> HistoryQuery:
        values = {
            "cameras": cameras,
            "since": since,
            "until": until,
            "types": types,
            "attributes": attributes,
            "plate": plate,
        }
        return checked(HistoryQuery, values, "history query")

    def _selection(self, query: HistoryQuery, models: list[int] | None = None) -> Selection:
        index = self.index
        plate = None
        if query.plate is not None:
            plate = plate_key(query.plate)
            if not plate:
                raise VigilError(ErrorCode.INVALID_OPTIONS, "plate holds no letter or digit")
        return Selection(
            since_us=None if query.since is None else to_us(query.since),
            until_us=None if query.until is None else to_us(query.until),
            cameras=None if query.cameras is None else index.known("camera_id", query.cameras),
            types=None if query.types is None else index.known("type", query.types),
            attributes={
                key: index.known(key, values) for key, values in (query.attributes or {}).items()
            },
            models=models,
            plate=plate,
        )

    def _vector(self, query: Query) -> tuple[str, np.ndarray]:
        if isinstance(query, Feature | dict):
            model, vector = as_vector(query)
        elif isinstance(query, np.ndarray) and query.dtype != np.uint8:
            vector = np.asarray(query, np.float32).ravel()
            if not np.all(np.isfinite(vector)):
                raise VigilError(ErrorCode.INVALID_FEATURE, "the query vector holds NaN or inf")
            models = self.index.values["model"]
            if len(models) > 1:
                raise VigilError(
                    ErrorCode.FEATURE_MISMATCH,
                    f"the history holds features of {', '.join(models)}: give a Feature",
                )
            model = models[0] if models else FACE_MODEL
        else:  # a picture: bytes, a path, or a decoded uint8 image
            [face] = face_targets(query, largest_only=True)
            assert face.feature is not None  # face_targets returns only faces with one
            model, vector = as_vector(face.feature)
        if vector.size != self.dim:
            raise VigilError(
                ErrorCode.FEATURE_MISMATCH,
                f"a {vector.size}-d query; the history holds {self.dim}-d features",
            )
        return model, vector

    def _records(self, found: list[dict[str, Any]], crops: bool) -> list[HistoryRecord]:
        records = []
        for fields in found:
            fields = dict(fields)
            captured_us = fields.pop("captured_us")
            fields["captured_at"] = from_us(captured_us)
            fields["crop_jpeg"] = (
                self.crops.read(fields["capture_id"], captured_us) if crops else None
            )
            records.append(HistoryRecord.model_construct(**fields))  # trusted: from the store
        return records
