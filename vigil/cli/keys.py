"""`vigil keys`: create, list and revoke the HTTP API's keys (`vigil serve`).

`create` prints the new key once, on stdout; the key file keeps only its SHA-256 digest
(`vigil.infra.api_keys`). The file is $VIGIL_HTTP_KEYS, default ./vigil-keys.json.
"""

from __future__ import annotations

import argparse
import sys

from vigil.infra.api_keys import KeyStore, Scope


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "keys",
        help="create, list and revoke API keys of the HTTP API",
        description="API keys of `vigil serve`. Scopes: read (analyze, compare, verify,"
        " searches, GETs), write (read, and changes to groups and members), admin"
        " (everything, /metrics too).",
    )
    parser.add_argument(
        "--file",
        metavar="PATH",
        help="the key file (default: $VIGIL_HTTP_KEYS or ./vigil-keys.json)",
    )
    actions = parser.add_subparsers(title="actions", metavar="ACTION", required=True)
    create = actions.add_parser("create", help="a new key, printed once")
    create.add_argument("--name", required=True, help="who or what uses it")
    create.add_argument(
        "--scope",
        action="append",
        required=True,
        choices=[scope.value for scope in Scope],
        help="read, write or admin (repeatable)",
    )
    create.set_defaults(run=run_create)
    listing = actions.add_parser("list", help="the keys: id, name, scopes, created")
    listing.set_defaults(run=run_list)
    revoke = actions.add_parser("revoke", help="revoke a key by its id")
    revoke.add_argument("id", help="the key's id (`vigil keys list`)")
    revoke.set_defaults(run=run_revoke)


def store(args: argparse.Namespace) -> KeyStore:
    return KeyStore(args.file) if args.file else KeyStore.from_env()


def run_create(args: argparse.Namespace) -> int:
    keys = store(args)
    record, key = keys.create(args.name, [Scope(scope) for scope in args.scope])
    print(key)
    print(
        f"key {record.id} ({record.name}, {','.join(record.scopes)}) saved to {keys.path};"
        " this is the only time the key is shown",
        file=sys.stderr,
    )
    return 0


def run_list(args: argparse.Namespace) -> int:
    records = store(args).load()
    print(f"{'id':8}  {'created':25}  {'scopes':16}  name")
    for record in records:
        created = record.created.isoformat()
        print(f"{record.id:8}  {created:25}  {','.join(record.scopes):16}  {record.name}")
    return 0


def run_revoke(args: argparse.Namespace) -> int:
    record = store(args).revoke(args.id)
    print(f"revoked key {record.id} ({record.name})")
    return 0
