"""A topic whose values are one pydantic model as JSON, keyed by camera id."""

from __future__ import annotations

from typing import Generic, TypeVar

from pydantic import BaseModel, ValidationError

from vigil.infra.bus.base import Producer, Record

Message = TypeVar("Message", bound=BaseModel)
MAX_RECORD_BYTES = 16 * 1024 * 1024
"""Largest record a consumer parses. Producers refuse anything over the bus limit
(1 MB by default), so a bigger record came from a foreign or hostile producer; it is
refused before parsing so it cannot make a consumer build a huge object."""


class UndecodableRecord(ValueError):
    """A record that is not a valid message of its topic; it goes to the dead-letter topic."""


def record_at(record: Record) -> str:
    """`topic[partition]@offset`: how every refusal names the record it refused."""
    return f"{record.topic}[{record.partition}]@{record.offset}"


def check_record_size(record: Record, limit: int = MAX_RECORD_BYTES) -> None:
    size = len(record.value) + sum(len(value) for value in record.headers.values())
    if size > limit:
        raise UndecodableRecord(
            f"{record_at(record)}: record of {size:,} bytes exceeds the {limit:,} byte limit"
        )


class JsonTopic(Generic[Message]):
    def __init__(self, name: str, model: type[Message]) -> None:
        self.name = name
        self.model = model

    def publish(self, producer: Producer, message: Message, key: str | None) -> None:
        producer.send(self.name, message.model_dump_json(exclude_none=True).encode(), key=key)

    def decode(self, record: Record) -> Message:
        check_record_size(record)
        try:
            return self.model.model_validate_json(record.value)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(part) for part in first.get("loc", ())) or "message"
            raise UndecodableRecord(
                f"{self.name}[{record.partition}]@{record.offset}: not a valid"
                f" {self.model.__name__} ({where}: {first.get('msg')}; {exc.error_count()} errors)"
            ) from None
