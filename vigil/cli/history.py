"""`vigil history search | query | purge | write`: the capture history.

The store is `--store URI`, else VIGIL_HISTORY_URI, else ./vigil-history.db (a Milvus
Lite file, or http://host:port for a Milvus server). Times are ISO-8601 (naive = UTC)
or ages: `--since 1h` means one hour ago. Tables for people, `--json` for machines
(crops are left out of the JSON; `--crops DIR` writes them as JPEG files).
Exit status: 0 done, 1 refused (error and code printed), 2 wrong options.
"""

from __future__ import annotations

import argparse
import base64
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vigil.cli.groups import read_feature
from vigil.cli.options import print_outcome
from vigil.schemas.errors import ErrorCode, VigilError

if TYPE_CHECKING:
    from vigil.history.service import HistoryService

Action = Callable[["HistoryService", argparse.Namespace], Any]


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "history",
        help="past captures: search by picture, query by attributes or plate, purge, write",
        description="Search and manage the capture history (every capture, with crops).",
    )
    actions = parser.add_subparsers(title="actions", metavar="ACTION", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--store",
        metavar="URI",
        help="Milvus Lite file or http://host:port (default: $VIGIL_HISTORY_URI or"
        " ./vigil-history.db)",
    )
    common.add_argument("--json", action="store_true", help="print JSON for machines")
    filters = argparse.ArgumentParser(add_help=False)
    filters.add_argument("--camera", action="append", help="camera id (repeatable)")
    filters.add_argument("--since", help="ISO time or an age like 1h, 30m, 2d")
    filters.add_argument("--until", help="ISO time or an age")
    filters.add_argument(
        "--type", action="append", choices=["face", "person", "vehicle"], help="(repeatable)"
    )
    filters.add_argument(
        "--attribute",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="gender, upper_colour, lower_colour, vehicle_type or vehicle_colour (repeatable;"
        " a key twice means either value)",
    )
    filters.add_argument("--crops", type=Path, metavar="DIR", help="write the crops here")

    search = actions.add_parser(
        "search",
        parents=[common, filters],
        help="past captures most like a picture's largest face or a feature",
        description="Rank past face captures by similarity to the largest face of IMAGE"
        " (or a Feature JSON file), within the filters.",
    )
    search.add_argument("image", nargs="?", type=Path, help="picture to search")
    search.add_argument("--feature", type=Path, metavar="FILE", help="Feature JSON instead")
    search.add_argument("--k", type=int, default=10, help="captures to return, 1-1000")
    search.add_argument("--far", type=float, default=1e-3, help="false-accept rate of 'match'")
    search.set_defaults(run=main, action=do_search)

    query = actions.add_parser(
        "query",
        parents=[common, filters],
        help="captures by camera, time, type, attributes or plate, newest first",
        description="List captures by camera, time, type, attributes and plate.",
    )
    query.add_argument("--plate", help="plate text or a part of it (case, spaces, dashes ignored)")
    query.add_argument("--limit", type=int, default=100, help="captures to list, 1-10000")
    query.set_defaults(run=main, action=do_query)

    purge = actions.add_parser("purge", parents=[common], help="delete captures older than an age")
    purge.add_argument("--older-than", required=True, help="an age (30d) or an ISO time")
    purge.set_defaults(run=main, action=do_purge)

    write = actions.add_parser(
        "write",
        help="the history writer role: store every capture from the captures topic",
        description="Consume the captures topic (group vigil-history) into the history."
        " Bus settings come from the environment (VIGIL_BUS=kafka, ...).",
    )
    write.add_argument("config", type=Path, help="cameras YAML/JSON (topics, history.uri)")
    write.set_defaults(run=run_writer)


def main(args: argparse.Namespace) -> int:
    from vigil.history.service import HistoryService

    def compute() -> Any:
        with HistoryService(args.store) as service:
            return args.action(service, args)

    return print_outcome(compute, args.json, lambda output: TABLES[type(output).__name__](output))


def run_writer(args: argparse.Namespace) -> int:
    import threading

    from vigil.cli.pipeline import STOP_DEADLINE_S, install_stop_handlers
    from vigil.infra.bus.factory import bus_from_settings
    from vigil.infra.config import load_config
    from vigil.infra.settings import Settings
    from vigil.workers.roles import run_role

    stop = threading.Event()
    install_stop_handlers(stop, deadline=STOP_DEADLINE_S)
    run_role("history", bus_from_settings(Settings.from_env()), load_config(args.config), stop)
    return 0


# -- actions ------------------------------------------------------------------------------


def filters(args: argparse.Namespace) -> dict[str, Any]:
    from vigil.groups.filters import parse_pairs

    pairs = parse_pairs(args.attribute)
    return {
        "cameras": args.camera,
        "since": args.since,
        "until": args.until,
        "types": args.type,
        "attributes": {key: [str(v) for v in values] for key, values in pairs.items()} or None,
    }


def do_search(service: HistoryService, args: argparse.Namespace) -> Any:
    if (args.image is None) == (args.feature is None):
        raise VigilError(ErrorCode.INVALID_OPTIONS, "give either IMAGE or --feature FILE")
    if args.image is not None and not args.image.is_file():
        raise VigilError(ErrorCode.FILE_NOT_FOUND, f"{args.image}: no such file")
    query = read_feature(args.feature) if args.feature else args.image
    crops = args.crops is not None
    result = service.search(query, args.k, far=args.far, crops=crops, **filters(args))
    save_crops([hit.record for hit in result.hits], args.crops)
    return result


def do_query(service: HistoryService, args: argparse.Namespace) -> Any:
    crops = args.crops is not None
    page = service.query(plate=args.plate, limit=args.limit, crops=crops, **filters(args))
    save_crops(page.records, args.crops)
    return page


def do_purge(service: HistoryService, args: argparse.Namespace) -> Any:
    from pydantic import TypeAdapter, ValidationError

    from vigil.schemas.history import When

    try:
        cutoff = TypeAdapter(When).validate_python(args.older_than)
    except ValidationError:
        raise VigilError(
            ErrorCode.INVALID_OPTIONS, f"--older-than {args.older_than!r}: an age or ISO time"
        ) from None
    return {"purged": service.purge(cutoff), "before": cutoff.isoformat()}


def save_crops(records: list, folder: Path | None) -> None:
    """Each record's crop to FOLDER/<capture_id>.jpg; the crop then leaves the record."""
    if folder is not None:
        folder.mkdir(parents=True, exist_ok=True)
    for record in records:
        if folder is not None and record.crop_jpeg:
            name = record.capture_id.replace("/", "_") + ".jpg"
            (folder / name).write_bytes(base64.b64decode(record.crop_jpeg))
        record.crop_jpeg = None


# -- tables -------------------------------------------------------------------------------


def describe(record: Any) -> str:
    keys = ("gender", "age", "upper_colour", "lower_colour", "vehicle_type", "vehicle_colour")
    values = {key: getattr(record, key) for key in keys if getattr(record, key) is not None}
    if record.plate:
        values["plate"] = record.plate
    return " ".join(
        f"{key}={value:.0f}" if key == "age" else f"{key}={value}" for key, value in values.items()
    )


def line(record: Any) -> str:
    return (
        f"{record.capture_id:28} {record.camera_id:12} {record.captured_at:%Y-%m-%d %H:%M:%S}"
        f"  {record.type:7}"
    )


def print_result(result: Any) -> None:
    limit = result.threshold
    print(
        f"{len(result.hits)} of {result.candidates} captures"
        f"  [match: distance <= {limit.distance:.3f} at FAR {limit.far:g}]"
    )
    for rank, hit in enumerate(result.hits, 1):
        mark = "MATCH" if hit.match else "     "
        print(
            f"{rank:>4}. {mark} similarity {hit.similarity:6.2f} distance {hit.distance:.3f}"
            f"  {line(hit.record)} {describe(hit.record)}"
        )


def print_page(page: Any) -> None:
    print(f"{len(page.records)} of {page.total} captures, newest first")
    for record in page.records:
        print(f"  {line(record)} {describe(record)}")


TABLES: dict[str, Callable[[Any], None]] = {
    "HistoryResult": print_result,
    "HistoryPage": print_page,
    "dict": lambda output: print(", ".join(f"{k}: {v}" for k, v in output.items())),
}
