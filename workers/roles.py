"""Entry points of each pipeline role; every one runs until stopped or its sources end.

`stop` is the process's shutdown flag (set by SIGTERM or SIGINT in the CLI): every role
polls or waits on it in steps of a fraction of a second, a camera down included (its
reconnect waits share the flag), so each ends within seconds of the signal.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from vigil.infra.bus.base import Bus
from vigil.outputs.sink_worker import SinkWorker
from vigil.schemas.alert import Alert
from vigil.schemas.camera import PipelineConfig
from vigil.schemas.capture import Capture
from vigil.workers.pipeline import (
    RunSummary,
    ingest_summary,
    prepare_topics,
    run_all,
    start_ingestors,
    wait_for,
)
from vigil.workers.wiring import Callbacks, build

log = logging.getLogger(__name__)


def started(role: str, what: str) -> None:
    """One line once a role is set up: from here a signal stops it cleanly."""
    log.info("%s: %s until SIGTERM or SIGINT", role, what)


def run_ingest(bus: Bus, config: PipelineConfig, stop: threading.Event) -> RunSummary:
    prepare_topics(bus, config)
    ingestors = start_ingestors(bus, config, stop)
    started("ingest", f"publishing {config.topics.frames} from {len(ingestors)} camera(s)")
    wait_for(ingestors)
    return ingest_summary(ingestors)


def run_capture(
    bus: Bus,
    config: PipelineConfig,
    stop: threading.Event,
    on_capture: Callable[[Capture], None] | None = None,
) -> None:
    prepare_topics(bus, config)
    with build(bus, config, ["capture"], Callbacks(on_capture=on_capture)) as stages:
        assert stages.capture is not None
        started("capture", f"consuming {config.topics.frames} as {stages.capture.group}")
        stages.capture.run(stop)


def run_sink(bus: Bus, config: PipelineConfig, stop: threading.Event) -> None:
    """Captures to their outputs and, when `outputs.alerts` names any, alerts to theirs."""
    prepare_topics(bus, config)
    with build(bus, config, ["sink", "alert-sink"]) as stages:
        workers = [*stages.sinks, *stages.alert_sinks]
        failed: list[str] = []

        def deliver(worker: SinkWorker) -> None:
            try:
                worker.run(stop)
            except Exception:  # not one record (those are dead-lettered): the sink itself
                log.exception("%s stopped on an error", worker.group)
                failed.append(str(worker.group))
                stop.set()  # the others too: the process ends, for its supervisor to restart

        threads = [
            threading.Thread(target=deliver, args=(w,), name=w.stream.group) for w in workers
        ]
        started("sink", "delivering " + ", ".join(w.topic.name for w in workers))
        try:
            for thread in threads:
                thread.start()
            for thread in threads:
                while thread.is_alive():  # small steps, so signals are still handled
                    thread.join(0.2)
        finally:
            stop.set()
            for thread in threads:
                thread.join(30)
    if failed:
        raise RuntimeError(f"{', '.join(failed)} stopped on an error; see the log above")


def run_alarm(bus: Bus, config: PipelineConfig, stop: threading.Event) -> None:
    if not config.watchlists:
        raise ValueError("the configuration names no watchlists: nothing for the alarm to watch")
    prepare_topics(bus, config)
    with build(bus, config, ["alarm"]) as stages:
        assert stages.alarm is not None
        started("alarm", f"watching {config.topics.captures} for {len(config.watchlists)} lists")
        stages.alarm.run(stop)


def run_history(bus: Bus, config: PipelineConfig, stop: threading.Event) -> None:
    """Store every capture in the history (`history:` in the config, else $VIGIL_HISTORY_URI)."""
    prepare_topics(bus, config)
    with build(bus, config, ["history"]) as stages:
        assert stages.history is not None
        started("history", f"storing {config.topics.captures}")
        stages.history.run(stop)


def run_role(
    role: str,
    bus: Bus,
    config: PipelineConfig,
    stop: threading.Event,
    on_capture: Callable[[Capture], None] | None = None,
    on_alert: Callable[[Alert], None] | None = None,
) -> RunSummary | None:
    if role == "run":
        return run_all(bus, config, stop, on_capture=on_capture, on_alert=on_alert)
    if role == "ingest":
        return run_ingest(bus, config, stop)
    if role == "capture":
        run_capture(bus, config, stop, on_capture)
        return None
    if role == "alarm":
        run_alarm(bus, config, stop)
        return None
    if role == "history":
        run_history(bus, config, stop)
        return None
    run_sink(bus, config, stop)
    return None
