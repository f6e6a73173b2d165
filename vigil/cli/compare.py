"""`vigil compare A B`: are two faces the same person? Pictures or Feature JSON files.

Exit status: 0 compared (match or not: read the output), 1 refused (no face,
bad feature, ...; the code is printed, as JSON with --json), 2 wrong options.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from vigil.cli.options import query_face_arguments, query_face_options
from vigil.schemas.errors import ErrorCode, VigilError

if TYPE_CHECKING:
    from vigil.schemas.compare import CompareResult
    from vigil.schemas.feature import Feature


def probability(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0.0 < value < 1.0:
        raise argparse.ArgumentTypeError(f"{value:g} is not in (0, 1)")
    return value


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "compare",
        help="1:1 face compare of two pictures or features",
        description="Compare two faces: each a picture (its largest face, or the one named"
        " with --face-a/--face-b; refused when another face is about as large) or a"
        " Feature JSON file (*.json). Prints the L2 distance, a 0-100 similarity and the"
        " decision at each calibrated false-accept rate. " + __doc__.split("\n\n")[1],
    )
    parser.add_argument("a", type=Path, help="picture or Feature JSON")
    parser.add_argument("b", type=Path, help="picture or Feature JSON")
    parser.add_argument(
        "--far", type=probability, default=None, help="false-accept rate for MATCH (default 1e-3)"
    )
    query_face_arguments(parser, ("--face-a", "A's face"), ("--face-b", "B's face"))
    parser.add_argument("--json", action="store_true", help="print the CompareResult as JSON")
    parser.set_defaults(run=run)


def side(path: Path) -> str | Feature:
    if path.suffix.lower() == ".json":
        from vigil.cli.groups import read_feature

        return read_feature(path)
    return str(path)


def refused(exc: VigilError, as_json: bool) -> int:
    """Print a coded error the way every `vigil` command does; the exit status for it."""
    if as_json:
        print(json.dumps({"error": {"code": exc.code.value, "message": exc.message}}))
    else:
        print(f"vigil: error: [{exc.code.value}] {exc.message}", file=sys.stderr)
    return 2 if exc.code == ErrorCode.INVALID_OPTIONS else 1


def print_result(result: CompareResult) -> None:
    verdict = "MATCH" if result.match else "NO MATCH"
    print(
        f"{verdict} at FAR {result.far:g}: distance {result.distance:.4f},"
        f" similarity {result.similarity:.1f}/100 ({result.model})"
    )
    for decision in result.decisions:
        mark = "match" if decision.match else "no match"
        print(
            f"  FAR {decision.far:<7g} distance <= {decision.threshold_distance:.4f}"
            f"  similarity >= {decision.threshold_similarity:5.1f}  {mark}"
        )


def run(args: argparse.Namespace) -> int:
    from vigil.compare.compare import compare

    try:
        result = compare(
            side(args.a),
            side(args.b),
            args.far,
            options=query_face_options(args),
            face_a=args.face_a,
            face_b=args.face_b,
        )
    except VigilError as exc:
        return refused(exc, args.json)
    if args.json:
        print(result.model_dump_json(indent=2, exclude_none=True))
    else:
        print_result(result)
    return 0
