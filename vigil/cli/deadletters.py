"""`vigil deadletters list | replay`: what the pipeline could not process, and a second try.

The bus comes from the environment (VIGIL_BUS=kafka, VIGIL_KAFKA_BOOTSTRAP, ...): the
embedded bus keeps nothing between runs, so these act on Kafka. The topic is
`--topic`, else the one named in CONFIG, else vigil.deadletter. `replay` publishes each
original again (same key and headers) to its topic, or to `--to`; its consumer group
remembers what it has read, so a letter is replayed once. Exit status: 0 done,
1 refused (error and code printed), 2 wrong options.
"""

from __future__ import annotations

import argparse
from contextlib import closing
from pathlib import Path
from typing import Any

from vigil.cli.options import print_outcome
from vigil.schemas.deadletter import DeadLetter, ReplaySummary
from vigil.schemas.errors import ErrorCode, VigilError

REASON_WIDTH = 90


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "deadletters",
        help="list the dead-letter topic; replay originals once their cause is fixed",
        description="List what the pipeline could not process; replay it once fixed.",
    )
    actions = parser.add_subparsers(title="actions", metavar="ACTION", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("config", nargs="?", type=Path, help="cameras YAML/JSON (its topics)")
    common.add_argument("--topic", help="dead-letter topic (default: CONFIG's or vigil.deadletter)")
    common.add_argument("--stage", action="append", help="only this stage (repeatable)")
    common.add_argument("--code", action="append", help="only this error code (repeatable)")
    common.add_argument("--since", help="only letters written since: ISO time or an age (1h)")
    common.add_argument("--json", action="store_true", help="print JSON for machines")
    listing = actions.add_parser(
        "list", parents=[common], help="print the dead letters, oldest first"
    )
    listing.set_defaults(run=run_list)
    again = actions.add_parser(
        "replay", parents=[common], help="publish the originals of new dead letters again"
    )
    again.add_argument("--to", metavar="TOPIC", help="publish here instead of the original topic")
    again.add_argument("--group", help="consumer group keeping the replay's place")
    again.add_argument("--dry-run", action="store_true", help="count, publish nothing")
    again.set_defaults(run=run_replay)


def topic_of(args: argparse.Namespace) -> str:
    if args.topic:
        return args.topic
    if args.config:
        from vigil.infra.config import load_config

        return load_config(args.config).topics.deadletter
    from vigil.schemas.camera import TopicNames

    return TopicNames().deadletter


def letter_filter(args: argparse.Namespace):
    from vigil.infra.topics.replay import LetterFilter
    from vigil.schemas.history import parse_when

    try:
        since = parse_when(args.since) if args.since else None
    except ValueError as exc:
        raise VigilError(ErrorCode.INVALID_OPTIONS, f"--since: {exc}") from None
    return LetterFilter(frozenset(args.stage or ()), frozenset(args.code or ()), since)


def kafka_bus():
    from vigil.infra.bus.factory import bus_from_settings
    from vigil.infra.settings import Settings

    settings = Settings.from_env()
    if settings.bus == "memory":
        raise VigilError(
            ErrorCode.INVALID_OPTIONS,
            "the embedded bus keeps no dead letters between runs: set VIGIL_BUS=kafka"
            " and VIGIL_KAFKA_BOOTSTRAP",
        )
    return bus_from_settings(settings)


def run_list(args: argparse.Namespace) -> int:
    from vigil.infra.topics.replay import list_letters

    def compute() -> list[DeadLetter]:
        with closing(kafka_bus()) as bus:
            return list_letters(bus, topic_of(args), letter_filter(args))

    return print_outcome(compute, args.json, print_letters)


def run_replay(args: argparse.Namespace) -> int:
    from vigil.infra.topics.replay import REPLAY_GROUP, replay

    def compute() -> ReplaySummary:
        with closing(kafka_bus()) as bus:
            return replay(
                bus,
                topic_of(args),
                letter_filter(args),
                to=args.to,
                group=args.group or REPLAY_GROUP,
                dry_run=args.dry_run,
            )

    return print_outcome(compute, args.json, print_summary)


def origin(letter: DeadLetter) -> str:
    if letter.topic is None:
        return "-"
    return f"{letter.topic}[{letter.partition}]@{letter.offset}"


def print_letters(letters: list[DeadLetter]) -> None:
    for letter in letters:
        reason = letter.reason
        if len(reason) > REASON_WIDTH:
            reason = reason[: REASON_WIDTH - 1] + "…"
        print(
            f"{letter.created_at:%Y-%m-%d %H:%M:%S}  {letter.stage:<14} "
            f"{letter.error_code or '-':<18} {origin(letter):<32} {reason}"
        )
    print(f"{len(letters)} dead letter(s)")


def print_summary(summary: Any) -> None:
    verb = "would replay" if summary.dry_run else "replayed"
    print(
        f"{summary.read} read, {summary.matched} selected: {verb} {summary.replayed},"
        f" {summary.gone} gone from their topic, {summary.unreplayable} without an original"
    )
