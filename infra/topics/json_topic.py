"""A topic whose values are one pydantic model as JSON, keyed by camera id."""

from __future__ import annotations

from typing import Generic, TypeVar

from pydantic import BaseModel, ValidationError

from vigil.infra.bus.base import Producer, Record

Message = TypeVar("Message", bound=BaseModel)


class UndecodableRecord(ValueError):
    """A record that is not a valid message of its topic; it goes to the dead-letter topic."""


class JsonTopic(Generic[Message]):
    def __init__(self, name: str, model: type[Message]) -> None:
        self.name = name
        self.model = model

    def publish(self, producer: Producer, message: Message, key: str | None) -> None:
        producer.send(self.name, message.model_dump_json(exclude_none=True).encode(), key=key)

    def decode(self, record: Record) -> Message:
        try:
            return self.model.model_validate_json(record.value)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(part) for part in first.get("loc", ())) or "message"
            raise UndecodableRecord(
                f"{self.name}[{record.partition}]@{record.offset}: not a valid"
                f" {self.model.__name__} ({where}: {first.get('msg')}; {exc.error_count()} errors)"
            ) from None
