"""History crops live in day folders on disk, not in Milvus (whose loaded rows sit in RAM)."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from tests.support.synthetic_captures import face_capture
from vigil.history.crops import CROPS_ENV, CropStore, crops_root
from vigil.history.service import HistoryService
from vigil.history.store import COLLECTION, SCALARS
from vigil.infra.milvus import to_us
from vigil.schemas.capture import CaptureEvent

JPEG = b"\xff\xd8\xff\xe0" + bytes(range(200)) + b"\xff\xd9"
CROP = base64.b64encode(JPEG).decode()
DAY = datetime(2026, 3, 10, 23, 30, tzinfo=UTC)


def test_crop_round_trip_by_day_and_hashed_name(tmp_path: Path):
    store = CropStore(tmp_path / "crops")
    hostile = "../../etc/passwd"  # capture ids are free text: never a path
    store.write(hostile, to_us(DAY), CROP)
    [written] = list((tmp_path / "crops").rglob("*.jpg"))
    assert written.parent.name == "2026-03-10" and written.parent.parent == tmp_path / "crops"
    assert store.read(hostile, to_us(DAY)) == CROP
    assert store.read("other", to_us(DAY)) is None
    assert not list((tmp_path / "crops").rglob(".*.tmp")), "no temporary file left"
    assert written.stat().st_mode & 0o644 == 0o644, "readable by every machine sharing it"


def test_undecodable_crop_is_skipped_not_stored(tmp_path: Path):
    store = CropStore(tmp_path)
    store.write("cam/1", to_us(DAY), "not base64 at all!")
    assert store.read("cam/1", to_us(DAY)) is None


def test_purge_drops_only_days_that_ended_before_the_cutoff(tmp_path: Path):
    store = CropStore(tmp_path)
    for days in (0, 1, 2):
        store.write(f"cam/{days}", to_us(DAY + timedelta(days=days)), CROP)
    (tmp_path / "notes").mkdir()  # not a day folder: left alone
    assert store.purge_before(to_us(DAY + timedelta(days=1, hours=-20))) == 1
    assert store.read("cam/0", to_us(DAY)) is None
    assert store.read("cam/1", to_us(DAY + timedelta(days=1))) == CROP
    assert (tmp_path / "notes").is_dir()


def test_crops_root_follows_config_env_and_uri(tmp_path: Path, monkeypatch):
    monkeypatch.delenv(CROPS_ENV, raising=False)
    assert crops_root(str(tmp_path / "h.db")) == tmp_path / "h.crops"
    assert crops_root("http://milvus:19530") == Path("vigil-history-crops")
    monkeypatch.setenv(CROPS_ENV, str(tmp_path / "nfs-mount"))
    assert crops_root("http://milvus:19530") == tmp_path / "nfs-mount"
    assert crops_root("x.db", tmp_path / "configured") == tmp_path / "configured"


def test_service_keeps_crops_on_disk_across_revisions_restarts_and_purge(tmp_path: Path):
    uri = tmp_path / "history.db"
    vector = np.random.default_rng(1).standard_normal(128).astype(np.float32)
    first = face_capture(vector, camera_id="gate", track_id="1", start=DAY)
    first = first.model_copy(update={"crop_jpeg": CROP})
    end = face_capture(
        vector, camera_id="gate", track_id="1", start=DAY, revision=1, event=CaptureEvent.END
    )  # an end revision without a crop keeps the stored one
    with HistoryService(uri) as history:
        assert history.add([first]) == 1 and history.add([end]) == 1
        fields = {
            field["name"]
            for field in history.store.client.describe_collection(COLLECTION)["fields"]
        }
        assert "crop" not in fields and set(SCALARS) <= fields, "no crop in Milvus"
    with HistoryService(uri) as reopened:
        [record] = reopened.get(["gate/1"])
        assert record.revision == 1 and record.crop_jpeg == CROP
        assert reopened.purge(DAY + timedelta(days=2)) == 1
        assert not list((tmp_path / "history.crops").rglob("*.jpg"))
