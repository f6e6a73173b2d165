"""The audit record of a verification attempt: one JSON file per attempt, written whole.

>>> verify(id_card="card.jpg", image="selfie.jpg", record_to="/var/lib/vigil/records")
(writes /var/lib/vigil/records/<attempt_id>.json, a `VerificationRecord`)

An audit trail that can lose records silently is worse than none, so:
- the folder is checked (created if missing, then written to) before any face is
  looked at: a caller whose records cannot be kept learns it before the attempt,
  not after;
- a record is written to a hidden temporary file in the same folder, flushed to disk
  and renamed into place: a reader never sees half a record, a crash leaves at most a
  `.*.tmp` file and never a truncated `<attempt_id>.json`;
- any failure is the coded error RECORD_NOT_WRITTEN naming the folder and the
  attempt; the answer is not returned as if it had been recorded.
Attempts refused before a decision (no face on the ID photo or card, bad options) are
errors returned to the caller and are not recorded.
"""

from __future__ import annotations

import base64
import contextlib
import os
import tempfile
import uuid
from pathlib import Path

import numpy as np

from vigil.analysis.description import model_versions
from vigil.analysis.image_analyzer import encode_crop
from vigil.analysis.image_decoder import load_image
from vigil.analysis.pictures import ImageSource
from vigil.compare.compare import decisions_at
from vigil.schemas.errors import ErrorCode, VigilError
from vigil.schemas.geometry import Box
from vigil.schemas.id_card import IdCard
from vigil.schemas.verification_record import RecordInputs, VerificationRecord
from vigil.schemas.verify import VerifyResult


def record_directory(directory: str | Path) -> Path:
    """The folder records go to, created if missing and proven writable; else
    RECORD_NOT_WRITTEN (checked before the attempt, so no work is done for nothing)."""
    path = Path(directory)
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".probe-", suffix=".tmp"):
            pass
    except OSError as exc:
        raise VigilError(
            ErrorCode.RECORD_NOT_WRITTEN,
            f"verification records cannot be written to {path}: {exc.strerror or exc}",
        ) from None
    return path


def photo_crop(id_photo: ImageSource, box: Box | None) -> str | None:
    """Base64 JPEG of the ID photo's face (the photo is decoded again: records only)."""
    if box is None:
        return None
    crop = encode_crop(load_image(id_photo), np.asarray(box.as_list()))
    return base64.b64encode(crop).decode() if crop else None


def build_record(
    result: VerifyResult,
    *,
    reference: str,
    reference_crop_jpeg: str | None,
    card: IdCard | None = None,
    attempt_id: uuid.UUID | None = None,
) -> VerificationRecord:
    """The record of `result` (a card's text and OCR model are added when one was used)."""
    models = model_versions()
    if card is not None:
        models["ocr"] = card.ocr_model
    return VerificationRecord(
        attempt_id=attempt_id or uuid.uuid4(),
        inputs=RecordInputs(
            reference_kind="id_card" if card is not None else "id_photo",
            reference=reference,
            live=result.source,
        ),
        reference_crop_jpeg=reference_crop_jpeg,
        live_crop_jpeg=result.crop_jpeg,
        similarity=result.similarity,
        distance=result.distance,
        decisions=[] if result.distance is None else decisions_at(result.distance),
        result=result,
        card_text=None if card is None else card.text(),
        models=models,
    )


def write_record(record: VerificationRecord, directory: Path) -> Path:
    """`directory/<attempt_id>.json`, atomically (temporary file, fsync, rename)."""
    final = directory / f"{record.attempt_id}.json"
    data = record.model_dump_json(indent=2, exclude_none=True).encode()
    temporary: str | None = None
    try:
        handle, temporary = tempfile.mkstemp(dir=directory, prefix=f".{final.stem}-", suffix=".tmp")
        with os.fdopen(handle, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, final)
        temporary = None
    except OSError as exc:
        raise VigilError(
            ErrorCode.RECORD_NOT_WRITTEN,
            f"verification record {record.attempt_id} could not be written to {directory}:"
            f" {exc.strerror or exc}",
        ) from None
    finally:
        if temporary is not None:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
    return final


def record_attempt(
    directory: Path,
    result: VerifyResult,
    *,
    reference: str,
    reference_crop_jpeg: str | None,
    card: IdCard | None = None,
) -> VerifyResult:
    """Write the attempt's record; returns `result` with the record's path in `record`."""
    attempt = uuid.uuid4()
    result = result.model_copy(update={"record": str(directory / f"{attempt}.json")})
    record = build_record(
        result,
        reference=reference,
        reference_crop_jpeg=reference_crop_jpeg,
        card=card,
        attempt_id=attempt,
    )
    write_record(record, directory)
    return result
