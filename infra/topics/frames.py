"""`vigil.frames`: the JPEG is the record value, the FrameMeta envelope a header.

Keeping pixels out of JSON avoids base64's 33% and lets a consumer read the
metadata without touching the image. Ticks (no detection needed) have no value.
"""

from __future__ import annotations

from pydantic import ValidationError

from vigil.infra.bus.base import Producer, Record
from vigil.infra.topics.json_topic import UndecodableRecord, check_record_size
from vigil.schemas.frame import FrameMeta

META_HEADER = "vigil-meta"


class FrameTopic:
    def __init__(self, name: str = "vigil.frames") -> None:
        self.name = name

    def publish(self, producer: Producer, meta: FrameMeta, jpeg: bytes | None) -> None:
        producer.send(
            self.name,
            jpeg or b"",
            key=meta.camera_id,
            headers={META_HEADER: meta.model_dump_json(exclude_none=True).encode()},
        )

    def decode(self, record: Record) -> tuple[FrameMeta, bytes | None]:
        check_record_size(record)
        raw = record.headers.get(META_HEADER)
        if raw is None:
            raise UndecodableRecord(
                f"{self.name}[{record.partition}]@{record.offset}: no {META_HEADER} header"
            )
        try:
            meta = FrameMeta.model_validate_json(raw)
        except ValidationError as exc:
            raise UndecodableRecord(
                f"{self.name}[{record.partition}]@{record.offset}: bad frame header: {exc}"
            ) from None
        if meta.has_image and not record.value:
            raise UndecodableRecord(
                f"{self.name}[{record.partition}]@{record.offset}: frame says it has an image"
                " but the record is empty"
            )
        return meta, (record.value if meta.has_image else None)
