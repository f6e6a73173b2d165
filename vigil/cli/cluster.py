"""`vigil cluster`: group the face captures of a time window into identities.

Captures come from the history (`--history URI`, default $VIGIL_HISTORY_URI) or
from capture archives written by the disk sink (`--captures PATH`, repeatable).
`--assign-to STATE.json` places the captures in the clusters saved there (created
when missing) instead of clustering from scratch. Exit status: 0 done, 1 refused,
2 wrong options.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from vigil.cli.options import print_outcome
from vigil.schemas.errors import ErrorCode, VigilError


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "cluster",
        help="group face captures into identities (one cluster per person)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--history", metavar="URI", help="history Milvus file or server")
    source.add_argument(
        "--captures",
        type=Path,
        action="append",
        metavar="PATH",
        help="capture JSON Lines file or archive folder (repeatable)",
    )
    parser.add_argument("--camera", action="append", help="only this camera (repeatable)")
    parser.add_argument("--since", help="ISO-8601 or an age such as 1h")
    parser.add_argument("--until", help="ISO-8601 or an age such as 10m")
    parser.add_argument("--far", type=float, help="false-accept rate of a link (1e-4)")
    parser.add_argument("--threshold", type=float, help="L2 distance of a link (overrides --far)")
    parser.add_argument("--k", type=int, help="neighbours linked per capture (32)")
    parser.add_argument("--method", choices=["whispers", "components"], help="graph clustering")
    parser.add_argument("--mutual", action="store_true", help="link mutual neighbours only")
    parser.add_argument("--min-size", type=int, help="list clusters of at least N captures")
    parser.add_argument("--json", action="store_true", help="print JSON for machines")
    parser.add_argument("--sheet", type=Path, metavar="OUT.jpg", help="write a contact sheet")
    parser.add_argument("--assign-to", type=Path, metavar="STATE.json", help="incremental state")
    parser.set_defaults(run=run)


def request(args: argparse.Namespace) -> Any:
    from vigil.schemas.cluster import ClusterRequest
    from vigil.schemas.validate import checked

    fields = {
        "cameras": args.camera,
        "since": args.since,
        "until": args.until,
        "far": args.far,
        "threshold": args.threshold,
        "k": args.k,
        "method": args.method,
        "mutual": args.mutual or None,
        "min_size": args.min_size,
    }
    given = {key: value for key, value in fields.items() if value is not None}
    return checked(ClusterRequest, given, "cluster options")


def captures(args: argparse.Namespace, query: Any) -> tuple[list, Any]:
    if args.captures:
        from vigil.cluster.sources import archived_faces

        return archived_faces(args.captures, query)
    from vigil.history.service import HistoryService

    with HistoryService(args.history) as history:
        return history.faces(query.cameras, query.since, query.until)


def clustered(args: argparse.Namespace) -> Any:
    from vigil.cluster.service import cluster_faces, model_of

    query = request(args)
    records, vectors = captures(args, query)
    model = model_of(records)
    if args.assign_to is not None:
        return assigned(args.assign_to, records, vectors, query, model)
    result = cluster_faces(records, vectors, query.options(), model)
    if args.sheet is not None:
        import cv2

        from vigil.cluster.sheet import cluster_sheet

        by_id = {record.capture_id: record for record in records}
        if not cv2.imwrite(str(args.sheet), cluster_sheet(result.clusters, by_id)):
            raise VigilError(ErrorCode.INVALID_OPTIONS, f"cannot write {args.sheet}")
    return result


def assigned(path: Path, records: list, vectors: Any, query: Any, model: str) -> Any:
    from vigil.cluster.assign import assign, empty_state, load_state, save_state

    state = load_state(path) if path.exists() else empty_state(query.options(), model)
    if state.model != model and records:
        raise VigilError(ErrorCode.FEATURE_MISMATCH, f"state is for {state.model}, not {model}")
    result = assign(state, records, vectors, query.options())
    save_state(path, state)
    return result


def run(args: argparse.Namespace) -> int:
    return print_outcome(lambda: clustered(args), args.json, print_result)


def print_result(output: Any) -> None:
    if hasattr(output, "assignments"):
        joined = len(output.assignments) - sum(a.new_cluster for a in output.assignments)
        print(
            f"{len(output.assignments)} captures: {joined} joined existing clusters,"
            f" {output.created} new clusters; {output.clusters} clusters in the state"
        )
    else:
        print_clusters(output)


def print_clusters(result: Any) -> None:
    far = f" (FAR {result.far:g})" if result.far else ""
    print(
        f"{result.captures} face captures -> {len(result.clusters)} clusters"
        f" [{result.method}, link distance {result.distance:.3f}{far}, {result.edges} links,"
        f" {result.graph_ms + result.cluster_ms:.0f} ms]"
    )
    for number, cluster in enumerate(result.clusters, 1):
        best = cluster.representative
        print(
            f"{number:>4}. {cluster.cluster_id}  {cluster.size:>5} captures"
            f"  {cluster.first_seen:%Y-%m-%d %H:%M:%S} .. {cluster.last_seen:%H:%M:%S}"
            f"  cameras {','.join(cluster.cameras)}  best {best.capture_id} q{best.quality:.2f}"
        )
