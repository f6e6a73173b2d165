"""Dead letters read back and their originals replayed: on the embedded bus (the logic)
and through `vigil deadletters` on a real Kafka-protocol broker (the command)."""

from __future__ import annotations

import json
import uuid
from contextlib import closing

import pytest

from tests.conftest import KAFKA_TEST_TIMEOUTS
from vigil.cli.main import main
from vigil.infra.bus.kafka import KafkaBus
from vigil.infra.bus.memory import MemoryBus
from vigil.infra.topics.deadletter import DeadLetterTopic, dead_letter_for
from vigil.infra.topics.replay import LetterFilter, list_letters, replay

QUICK = 0.2  # the memory bus answers at once: a short idle wait ends a read


def originals_with_letters(bus, source: str, letters: str, stages: list[str]) -> list:
    """One original per stage on `source`, each dead-lettered on `letters` by that stage."""
    producer = bus.producer()
    for n, _ in enumerate(stages):
        producer.send(source, f"capture {n}".encode(), key="cam-a", headers={"n": str(n).encode()})
    producer.flush(timeout=30)
    reader = bus.consumer([source], f"reader-{uuid.uuid4().hex[:6]}")
    records: list = []
    while len(records) < len(stages):
        records += reader.poll(timeout=1.0)
    reader.close()
    for record, stage in zip(records, stages, strict=True):
        DeadLetterTopic(letters).send(producer, dead_letter_for(record, stage, f"{stage} failed"))
    producer.flush(timeout=30)
    return records


def read_all(bus, topic: str, expected: int) -> list:
    reader = bus.consumer([topic], f"check-{uuid.uuid4().hex[:6]}")
    records: list = []
    for _ in range(60):
        records += reader.poll(timeout=0.5)
        if len(records) >= expected:
            break
    reader.close()
    return records


def test_replay_publishes_each_selected_original_once():
    bus = MemoryBus()
    originals = originals_with_letters(bus, "captures", "dead", ["sink.webhook", "alarm"])
    only_webhook = LetterFilter(stages=frozenset({"sink.webhook"}))

    dry = replay(bus, "dead", only_webhook, dry_run=True, idle_s=QUICK)
    assert (dry.read, dry.matched, dry.replayed) == (2, 1, 1)
    assert bus.end_offset(("captures", 0)) == 2, "a dry run publishes nothing"

    summary = replay(bus, "dead", only_webhook, idle_s=QUICK)
    assert (summary.read, summary.matched, summary.replayed, summary.gone) == (2, 1, 1, 0)
    again = bus.fetch("captures", 0, 2)
    assert again is not None
    assert (again.value, again.key, again.headers) == (
        originals[0].value,
        originals[0].key,
        originals[0].headers,
    )
    assert replay(bus, "dead", only_webhook, idle_s=QUICK).read == 0, "the group kept its place"


def test_letters_whose_original_is_gone_or_missing_are_counted_not_replayed():
    bus = MemoryBus(retention=2)
    originals_with_letters(bus, "captures", "dead", ["sink.webhook"])
    producer = bus.producer()
    for _ in range(3):  # retention pushes the original out
        producer.send("captures", b"later", key="cam-a")
    producer.send("dead", b"not a dead letter")
    summary = replay(bus, "dead", LetterFilter(), to="redo", idle_s=QUICK)
    assert (summary.read, summary.replayed, summary.gone, summary.unreplayable) == (2, 0, 1, 1)
    assert bus.end_offset(("redo", 0)) == 0


def test_list_filters_by_stage_and_code_without_consuming():
    bus = MemoryBus()
    originals_with_letters(bus, "captures", "dead", ["tracker", "alarm", "tracker"])
    trackers = list_letters(bus, "dead", LetterFilter(stages=frozenset({"tracker"})), QUICK)
    assert [letter.offset for letter in trackers] == [0, 2]
    assert len(list_letters(bus, "dead", LetterFilter(), QUICK)) == 3, "listing commits nothing"
    assert not list_letters(bus, "dead", LetterFilter(codes=frozenset({"x"})), QUICK)


@pytest.mark.integration
def test_vigil_deadletters_on_kafka(kafka_bootstrap, monkeypatch, capsys):
    monkeypatch.setenv("VIGIL_BUS", "kafka")
    monkeypatch.setenv("VIGIL_KAFKA_BOOTSTRAP", kafka_bootstrap)
    for name, value in KAFKA_TEST_TIMEOUTS.items():
        monkeypatch.setenv(name, value)
    with closing(
        KafkaBus(kafka_bootstrap, session_timeout_ms=6000, heartbeat_interval_ms=1000)
    ) as bus:
        check_command_on(bus, capsys)


def check_command_on(bus: KafkaBus, capsys) -> None:
    run = uuid.uuid4().hex[:6]
    source, letters, redo = f"{run}.captures", f"{run}.deadletter", f"{run}.redo"
    bus.ensure_topics([source, letters, redo], 1)
    originals = originals_with_letters(bus, source, letters, ["sink.webhook", "alarm"])

    second = bus.fetch(source, 0, originals[1].offset)  # inside the batch the first opens
    assert second is not None and second.value == originals[1].value
    assert bus.fetch(source, 0, originals[1].offset + 1, timeout=2) is None

    assert main(["deadletters", "list", "--topic", letters, "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [(item["stage"], item["offset"]) for item in listed] == [
        ("sink.webhook", originals[0].offset),
        ("alarm", originals[1].offset),
    ]

    command = ["deadletters", "replay", "--topic", letters, "--stage", "sink.webhook"]
    assert main([*command, "--to", redo, "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary | {"dry_run": False} == {
        "read": 2,
        "matched": 1,
        "replayed": 1,
        "gone": 0,
        "unreplayable": 0,
        "dry_run": False,
    }
    replayed = read_all(bus, redo, 1)
    assert [(r.value, r.key, r.headers) for r in replayed] == [
        (originals[0].value, originals[0].key, originals[0].headers)
    ]
    assert main([*command, "--to", redo, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["read"] == 0, "each letter is replayed once"
