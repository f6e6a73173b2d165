"""Writes the JSON Schema of every public message, for topic consumers in other languages."""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel

from vigil.schemas.analyze import AnalyzeOptions, AnalyzeRequest, AnalyzeResponse, ImageResult
from vigil.schemas.cluster import AssignResult, ClusterRequest, ClusterResult, ClusterState
from vigil.schemas.feature import Feature
from vigil.schemas.history import HistoryPage, HistoryQuery, HistoryRecord, HistoryResult
from vigil.schemas.target import Target

PUBLIC_MESSAGES: dict[str, type[BaseModel]] = {
    "AnalyzeOptions": AnalyzeOptions,
    "AnalyzeRequest": AnalyzeRequest,
    "AnalyzeResponse": AnalyzeResponse,
    "ImageResult": ImageResult,
    "Target": Target,
    "Feature": Feature,
    "HistoryQuery": HistoryQuery,
    "HistoryRecord": HistoryRecord,
    "HistoryResult": HistoryResult,
    "HistoryPage": HistoryPage,
    "ClusterRequest": ClusterRequest,
    "ClusterResult": ClusterResult,
    "ClusterState": ClusterState,
    "AssignResult": AssignResult,
}

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
