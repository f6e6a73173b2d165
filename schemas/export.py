"""The JSON Schema of every public message, and docs/schemas.md, for consumers in any language.

`PUBLIC_MESSAGES` names each message with where it travels: the Kafka topics' values
(Capture, Alert, DeadLetter) and the frames' header (FrameMeta), the Celery tasks'
arguments and results, the CLI's `--json` output. `vigil schema --out schemas/json
--docs docs/schemas.md` rewrites both; a test fails when either is out of date.
"""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel

from vigil.schemas.alert import Alert
from vigil.schemas.analyze import AnalyzeOptions, AnalyzeRequest, AnalyzeResponse, ImageResult
from vigil.schemas.capture import Capture
from vigil.schemas.cluster import AssignResult, ClusterRequest, ClusterResult, ClusterState
from vigil.schemas.compare import CompareResult, EnrollRecord, EnrollSummary
from vigil.schemas.deadletter import DeadLetter
from vigil.schemas.feature import Feature
from vigil.schemas.frame import FrameMeta
from vigil.schemas.groups import FeatureGroup, Member, MemberPage, SearchResponse
from vigil.schemas.history import HistoryPage, HistoryQuery, HistoryRecord, HistoryResult
from vigil.schemas.target import Target
from vigil.schemas.verification_record import VerificationRecord
from vigil.schemas.verify import VerifyResult

# name -> (model, where it travels)
PUBLIC: dict[str, tuple[type[BaseModel], str]] = {
    "Capture": (Capture, "value of `vigil.captures` (key: camera id); the disk sink's JSON Lines"),
    "Alert": (Alert, "value of `vigil.alerts` (key: camera id); the alerts sinks"),
    "FrameMeta": (FrameMeta, "header `vigil-meta` of `vigil.frames` (value: the JPEG)"),
    "DeadLetter": (DeadLetter, "value of `vigil.deadletter`: what failed, where, why"),
    "AnalyzeOptions": (AnalyzeOptions, "options of the Image API (`vigil.image.analyze`)"),
    "AnalyzeRequest": (AnalyzeRequest, "a picture and its options (Image API)"),
    "AnalyzeResponse": (AnalyzeResponse, "`vigil analyze --json`; `vigil.image.analyze` result"),
    "ImageResult": (ImageResult, "one picture's targets (Image API)"),
    "Target": (Target, "a face, person or vehicle with its attributes and feature"),
    "Feature": (Feature, "a feature vector with its model (compare, search, enrol)"),
    "CompareResult": (CompareResult, "`vigil compare --json`; `vigil.compare` result"),
    "VerifyResult": (VerifyResult, "`vigil verify --json`; `vigil.verify` result"),
    "VerificationRecord": (
        VerificationRecord,
        "`vigil verify --record DIR`: one `<attempt_id>.json` per attempt, for audit",
    ),
    "FeatureGroup": (FeatureGroup, "a feature group (`vigil group show --json`)"),
    "Member": (Member, "a group member with its features"),
    "MemberPage": (MemberPage, "`vigil group members --json`"),
    "SearchResponse": (SearchResponse, "`vigil search --json`; `vigil.search` result"),
    "EnrollRecord": (EnrollRecord, "one line of the bulk-enrolment report (JSON Lines)"),
    "EnrollSummary": (EnrollSummary, "`vigil enroll --json`; `vigil.enroll` result"),
    "HistoryQuery": (HistoryQuery, "a history search (`vigil.history.search`)"),
    "HistoryRecord": (HistoryRecord, "one stored capture in the history"),
    "HistoryResult": (HistoryResult, "one history hit"),
    "HistoryPage": (HistoryPage, "`vigil history search --json`"),
    "ClusterRequest": (ClusterRequest, "a clustering run (`vigil.cluster`)"),
    "ClusterResult": (ClusterResult, "`vigil cluster --json`; `vigil.cluster` result"),
    "ClusterState": (ClusterState, "the saved clustering state"),
    "AssignResult": (AssignResult, "incremental assignment of new captures to clusters"),
}
PUBLIC_MESSAGES: dict[str, type[BaseModel]] = {name: model for name, (model, _) in PUBLIC.items()}
DOCS = Path(__file__).resolve().parents[1] / "docs" / "schemas.md"

SCHEMA_DIR = Path(__file__).resolve().parent / "json"


def json_schemas() -> dict[str, dict]:
    return {name: model.model_json_schema() for name, model in PUBLIC_MESSAGES.items()}


def write_json_schemas(directory: Path = SCHEMA_DIR) -> list[Path]:
    """Write one `<Name>.schema.json` per public message; returns the paths written."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, schema in json_schemas().items():
        path = directory / f"{name}.schema.json"
        path.write_text(json.dumps(schema, indent=2, sort_keys=True) + "\n")
        written.append(path)
    return written


def field_type(spec: dict) -> str:
    """A short readable type for one JSON Schema property."""
    if "$ref" in spec:
        return spec["$ref"].rsplit("/", 1)[-1]
    if "anyOf" in spec:
        kinds = [field_type(option) for option in spec["anyOf"]]
        return " or ".join(kind for kind in kinds if kind != "null") + (
            " (optional)" if "null" in kinds else ""
        )
    if spec.get("type") == "array":
        return f"list of {field_type(spec.get('items', {}))}"
    if "enum" in spec:
        return " / ".join(f"`{value}`" for value in spec["enum"])
    kind = spec.get("type", "any")
    return f"{kind} ({spec['format']})" if "format" in spec else str(kind)


def markdown() -> str:
    """docs/schemas.md: every public message, where it travels, and its fields."""
    lines = [
        "# Messages",
        "",
        "Generated by `vigil schema --out schemas/json --docs docs/schemas.md` from the pydantic",
        "models in `schemas/`; the JSON Schema of each is `schemas/json/<Name>.schema.json`.",
        "Every message carries `schema_version`; consumers must ignore fields they do not know.",
        "",
        "| message | travels as |",
        "|---|---|",
    ]
    lines += [f"| [{name}](#{name.lower()}) | {where} |" for name, (_, where) in PUBLIC.items()]
    for name, (model, where) in PUBLIC.items():
        schema = model.model_json_schema()
        required = set(schema.get("required", []))
        lines += ["", f"## {name}", "", where + ".", ""]
        doc = (model.__doc__ or "").strip().split("\n\n")[0].replace("\n", " ")
        if doc:
            lines += [doc, ""]
        lines += ["| field | type | required | description |", "|---|---|---|---|"]
        for field, spec in schema.get("properties", {}).items():
            description = " ".join(str(spec.get("description", "")).split()).replace("|", "\\|")
            mark = "yes" if field in required else ""
            lines.append(f"| `{field}` | {field_type(spec)} | {mark} | {description} |")
    return "\n".join(lines) + "\n"


def write_markdown(path: Path = DOCS) -> Path:
    path.write_text(markdown())
    return path
