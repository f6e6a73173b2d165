"""Metadata filters: `{key: value}` or `{key: [values]}`, every key must match (AND).

A member passes when its metadata holds the key with one of the values. Values
compare by type family: `True` is not `1`, `"1"` is not `1`, but `1 == 1.0`.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import TypeAdapter, ValidationError

from vigil.schemas.errors import ErrorCode, VigilError
from vigil.schemas.groups import Filter

FILTER = TypeAdapter(Filter)
NormalFilter = dict[str, list[Any]]


def token(value: Any) -> tuple[str, Any]:
    """A hashable key that keeps bools, numbers and strings apart (True == 1 in Python)."""
    if isinstance(value, bool):
        return ("b", value)
    if isinstance(value, int | float):
        return ("n", value)
    return ("s", value)


def normalize(filter: dict[str, Any] | None) -> NormalFilter | None:
    """Validate a filter; every value becomes a list. None or {} means no filter."""
    if not filter:
        return None
    try:
        checked = FILTER.validate_python(filter)
    except ValidationError as exc:
        raise VigilError(ErrorCode.INVALID_OPTIONS, f"bad metadata filter: {exc}") from None
    return {key: value if isinstance(value, list) else [value] for key, value in checked.items()}


def matches(metadata: dict[str, Any], filter: NormalFilter | None) -> bool:
    if not filter:
        return True
    return all(
        key in metadata and token(metadata[key]) in {token(v) for v in values}
        for key, values in filter.items()
    )


def parse_value(text: str) -> Any:
    """CLI `key=value`: JSON scalars (30, 1.5, true) stay typed, anything else is a string."""
    try:
        value = json.loads(text)
    except ValueError:
        return text
    return value if isinstance(value, bool | int | float | str) else text


def parse_pairs(pairs: list[str]) -> dict[str, Any]:
    """`["site=A", "site=B", "vip=true"]` -> `{"site": ["A", "B"], "vip": [True]}`."""
    parsed: dict[str, list[Any]] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise VigilError(ErrorCode.INVALID_OPTIONS, f"expected key=value, got {pair!r}")
        parsed.setdefault(key.strip(), []).append(parse_value(value))
    return parsed
