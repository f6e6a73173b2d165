"""Entry point of the `vigil` command: one sub-command per module in `vigil.cli`."""

from __future__ import annotations

import argparse
import sys

from vigil import __version__
from vigil.cli import (
    analyze,
    cluster,
    compare,
    deadletters,
    demo,
    enroll,
    groups,
    history,
    inference,
    keys,
    pipeline,
    schema,
    serve,
    verify,
    worker,
)
from vigil.infra.logs import configure_logging
from vigil.schemas.errors import VigilError

COMMANDS = (
    demo,
    pipeline,
    analyze,
    compare,
    verify,
    enroll,
    groups,
    history,
    cluster,
    deadletters,
    schema,
    serve,
    keys,
    worker,
    inference,
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vigil",
        description="Vigil: video capture, image analysis, compare and search for faces,"
        " persons and vehicles.",
    )
    parser.add_argument("--version", action="version", version=f"vigil {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    parser.add_argument(
        "--log-format",
        choices=["text", "json"],
        help="log lines (default: $VIGIL_LOG_FORMAT or text)",
    )
    commands = parser.add_subparsers(title="commands", metavar="COMMAND", required=True)
    for command in COMMANDS:
        command.register(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    configure_logging(args.verbose, args.log_format)
    try:
        return args.run(args)
    except VigilError as exc:
        print(f"vigil: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
