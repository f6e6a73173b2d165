"""Contracts of feature groups and k:N search (`vigil.groups.*`, `vigil.search`).

Names are validated here, once, so that the store, the CLI and the Celery tasks
all refuse the same things: a group name is a label (never a path), a person id
is printable, and metadata keys can be used in a filter without escaping.

A group name a caller gives (`GivenGroupName`: create, rename, every lookup) is
NFKC-normalised first, so look-alikes that Unicode calls compatibility variants name
one group: fullwidth `ｓｔａｆｆ`, `ﬁre` with a ligature, half-width katakana. Case is
kept (`Staff` and `staff` are two groups, as they always were, and read differently).
Metadata values must fit the store: integers within int64, finite floats, strings of
at most TEXT_MAX characters.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BeforeValidator, Field

from vigil.schemas.base import VigilModel, utc_now
from vigil.schemas.feature import Feature
from vigil.schemas.geometry import Box
from vigil.schemas.threshold import DEFAULT_FAR, Threshold

MAX_K = 1000
GROUP_NAME_MAX = 64
PERSON_ID_MAX = 128
TEXT_MAX = 1024
METADATA_MAX_KEYS = 64
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1  # Milvus JSON numbers
METADATA_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]{0,63}$")
NAME_PUNCTUATION = frozenset("_-.")
UNPRINTABLE = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})


def _nfc(value: object) -> object:
    """One spelling per name: a decomposed 'é' and a composed one are the same group."""
    return unicodedata.normalize("NFC", value) if isinstance(value, str) else value


def _nfkc(value: object) -> object:
    """One name per look-alike: compatibility variants (fullwidth, ligatures) fold."""
    return unicodedata.normalize("NFKC", value) if isinstance(value, str) else value


def _printable(value: str, what: str) -> str:
    bad = [c for c in value if unicodedata.category(c) in UNPRINTABLE]
    if bad:
        raise ValueError(f"{what} contains control or invisible characters: {bad[0]!r}")
    return value


def _group_name(value: str) -> str:
    if not 1 <= len(value) <= GROUP_NAME_MAX:
        raise ValueError(f"group name must be 1-{GROUP_NAME_MAX} characters, got {len(value)}")
    bad = sorted({c for c in value if not (c.isalnum() or c in NAME_PUNCTUATION)})
    if bad:
        raise ValueError(
            f"group name {value!r} may hold letters, digits and _-. only; found {bad[0]!r}"
        )
    if set(value) == {"."}:
        raise ValueError(f"group name {value!r} is a path component")
    return value


def _person_id(value: str) -> str:
    if not 1 <= len(value) <= PERSON_ID_MAX:
        raise ValueError(f"person id must be 1-{PERSON_ID_MAX} characters, got {len(value)}")
    if value != value.strip():
        raise ValueError("person id has leading or trailing spaces")
    return _printable(value, "person id")


def _text(value: str) -> str:
    return _printable(value, "text")


def _keys(value: Mapping[str, object]) -> None:
    """Metadata keys are identifiers, so filters (ours and Milvus's) need no escaping."""
    for key in value:
        if not METADATA_KEY.match(key):
            raise ValueError(
                f"metadata key {key!r}: 1-64 of A-Z a-z 0-9 _ . -, not starting with a digit"
            )


def _metadata(value: dict[str, str | int | float | bool]) -> dict[str, str | int | float | bool]:
    if len(value) > METADATA_MAX_KEYS:
        raise ValueError(f"metadata holds {len(value)} keys; at most {METADATA_MAX_KEYS}")
    _keys(value)
    for key, item in value.items():
        _storable(item, f"metadata {key!r}")
        if isinstance(item, str):
            _printable(item, f"metadata {key!r}")
    return value


def _storable(item: object, what: str) -> None:
    """Numbers the store can hold: a larger int made Milvus refuse the whole write."""
    if isinstance(item, float) and not math.isfinite(item):
        raise ValueError(f"{what} is not a finite number")
    if isinstance(item, int) and not isinstance(item, bool) and not INT64_MIN <= item <= INT64_MAX:
        raise ValueError(f"{what} is an integer outside the 64-bit range (-2**63 .. 2**63-1)")


def _filter_values(value: dict[str, object]) -> dict[str, object]:
    _keys(value)
    for key, item in value.items():
        for one in item if isinstance(item, list) else [item]:
            _storable(one, f"filter {key!r}")
    return value


GroupName = Annotated[str, BeforeValidator(_nfc), AfterValidator(_group_name)]
# What callers give (create, rename, lookups); stored names are read back as GroupName,
# so a group created before NFKC under a name it changes is still listed as it is.
GivenGroupName = Annotated[str, BeforeValidator(_nfkc), AfterValidator(_group_name)]
PersonId = Annotated[str, BeforeValidator(_nfc), AfterValidator(_person_id)]
Text = Annotated[str, Field(max_length=TEXT_MAX), AfterValidator(_text)]
Scalar = Annotated[str, Field(max_length=TEXT_MAX)] | bool | int | float
Metadata = Annotated[dict[str, Scalar], AfterValidator(_metadata)]
FilterValue = Scalar | Annotated[list[Scalar], Field(min_length=1, max_length=1000)]
Filter = Annotated[
    dict[str, FilterValue], Field(max_length=METADATA_MAX_KEYS), AfterValidator(_filter_values)
]


class FeatureGroup(VigilModel):
    """A named set of members whose features all come from one model (set by the first)."""

    name: GroupName
    description: Text = ""
    model: str | None = Field(default=None, description="name@version; None until the first member")
    dim: int | None = Field(default=None, gt=0, description="feature length of `model`")
    member_count: int = Field(default=0, ge=0)
    feature_count: int = Field(default=0, ge=0)
    created_at: datetime = Field(default_factory=utc_now)
    metadata: Metadata = Field(default_factory=dict)


class MemberFeature(VigilModel):
    """One enrolled feature of a member (one photo)."""

    feature_id: str = Field(description="unique id given at enrolment")
    model: str
    quality: float | None = Field(default=None, ge=0, le=1, description="face quality if known")
    source: Text | None = Field(default=None, description="where it came from, e.g. a file name")
    created_at: datetime = Field(default_factory=utc_now)
    vector: Feature | None = Field(default=None, description="only when asked for (vectors=True)")


class Member(VigilModel):
    """A person in a group: metadata and one or more features (several photos)."""

    group: GroupName
    person_id: PersonId
    metadata: Metadata = Field(default_factory=dict)
    features: list[MemberFeature] = Field(default_factory=list)


class MemberPage(VigilModel):
    """One page of a group's members, ordered by person id."""

    items: list[Member]
    total: int = Field(ge=0)
    offset: int = Field(ge=0)
    limit: int = Field(ge=1)


class SearchQuery(VigilModel):
    """Options of a k:N search; `filter` keeps members whose metadata equals (or is in) a value."""

    groups: list[GroupName] = Field(min_length=1, max_length=100)
    k: int = Field(default=10, ge=1, le=MAX_K)
    far: float = Field(default=DEFAULT_FAR, gt=0, lt=1, description="false-accept rate")
    filter: Filter | None = None
    all_faces: bool = Field(
        default=False, description="pictures: every face passing the filters, not one"
    )
    target: Literal["fast", "balanced", "exact"] = Field(
        default="balanced",
        description="recall wanted in large groups: fast (~0.95 recall@10), balanced"
        " (>= 0.99), exact (every row compared; slowest)",
    )


class SearchHit(VigilModel):
    """A member's closest feature to the query (one hit per member)."""

    group: GroupName
    person_id: PersonId
    feature_id: str
    distance: float = Field(ge=0, description="L2 distance between raw features")
    similarity: float = Field(ge=0, le=100, description="0-100, see models/scoring.py")
    metadata: Metadata = Field(default_factory=dict)


class SearchResult(VigilModel):
    """The answer for one query feature (one face): hits best first and the decision."""

    hits: list[SearchHit] = Field(default_factory=list)
    best: SearchHit | None = Field(default=None, description="the first hit if it passes")
    decision: Literal["match", "unknown"]
    threshold: Threshold = Field(description="the threshold used, with its FAR")
    model: str
    box: Box | None = Field(default=None, description="the face searched, for a picture")


class SearchResponse(VigilModel):
    """Results of one search request: one per face searched (one for a feature)."""

    results: list[SearchResult]
