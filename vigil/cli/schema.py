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
    parser.add_argument("--docs", type=Path, help="write the messages' Markdown reference here")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from vigil.schemas.export import json_schemas, write_json_schemas, write_markdown

    if args.out or args.docs:
        for path in write_json_schemas(args.out) if args.out else []:
            print(path)
        if args.docs:
            print(write_markdown(args.docs))
    else:
        print(json.dumps(json_schemas(), indent=2, sort_keys=True))
    return 0
