"""Entry points of each pipeline role; every one runs until stopped or its sources end.

`stop` is the process's shutdown flag (set by SIGTERM or SIGINT in the CLI): every role
polls or waits on it in steps of a fraction of a second, a camera down included (its
reconnect waits share the flag), so each ends within seconds of the signal.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from vigil.capture.worker import CaptureWorker
from vigil.infra.bus.base import Bus
from vigil.outputs.sink_worker import ALERT_STREAM, SinkWorker
from vigil.schemas.alert import Alert
from vigil.schemas.camera import PipelineConfig
from vigil.schemas.capture import Capture
from vigil.workers.pipeline import (
    RunSummary,
    celery_steps,
    ingest_summary,
    prepare_topics,
    run_all,
    start_ingestors,
    wait_for,
)

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
    worker = CaptureWorker(bus, config, on_capture=on_capture, **celery_steps())
    started("capture", f"consuming {config.topics.frames} as {worker.group}")
    try:
        worker.run(stop)
    finally:
        worker.close()


def run_sink(bus: Bus, config: PipelineConfig, stop: threading.Event) -> None:
    """Captures to their outputs and, when `outputs.alerts` names any, alerts to theirs."""
    prepare_topics(bus, config)
    workers = [SinkWorker(bus, config)]
    if config.outputs.alerts.configured:
        workers.append(SinkWorker(bus, config, ALERT_STREAM))
    failed: list[str] = []

    def deliver(worker: SinkWorker) -> None:
        try:
            worker.run(stop)
        except Exception:  # not one record (those are dead-lettered): the sink itself
            log.exception("%s stopped on an error", worker.group)
            failed.append(str(worker.group))
            stop.set()  # the others too: the process ends, for its supervisor to restart

    threads = [threading.Thread(target=deliver, args=(w,), name=w.stream.group) for w in workers]
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
        for worker in workers:
            worker.close()
    if failed:
        raise RuntimeError(f"{', '.join(failed)} stopped on an error; see the log above")


def run_alarm(bus: Bus, config: PipelineConfig, stop: threading.Event) -> None:
    from vigil.alarm.worker import AlarmWorker
    from vigil.groups.service import GroupService

    if not config.watchlists:
        raise ValueError("the configuration names no watchlists: nothing for the alarm to watch")
    prepare_topics(bus, config)
    with GroupService(config.groups_uri) as groups:
        worker = AlarmWorker(bus, config, groups)
        started("alarm", f"watching {config.topics.captures} for {len(config.watchlists)} lists")
        try:
            worker.run(stop)
        finally:
            worker.close()


def run_history(bus: Bus, config: PipelineConfig, stop: threading.Event) -> None:
    """Store every capture in the history (`history:` in the config, else $VIGIL_HISTORY_URI)."""
    from vigil.history.service import HistoryService
    from vigil.history.writer import HistoryWriter

    prepare_topics(bus, config)
    uri, crops = (config.history.uri, config.history.crops) if config.history else (None, None)
    with HistoryService(uri, crops=crops) as history:
        worker = HistoryWriter(bus, config, history)
        started("history", f"storing {config.topics.captures}")
        try:
            worker.run(stop)
        finally:
            worker.close()


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
