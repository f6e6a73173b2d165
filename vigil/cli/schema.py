"""`vigil schema`: JSON Schema of every public message, for consumers in any language."""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "schema", help="print or write the JSON Schema of every public message"
    )
    parser.add_argument("--out", type=Path, help="write <Name>.schema.json files into this folder")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from vigil.schemas.export import json_schemas, write_json_schemas

    if args.out:
        for path in write_json_schemas(args.out):
            print(path)
    else:
        print(json.dumps(json_schemas(), indent=2, sort_keys=True))
    return 0
