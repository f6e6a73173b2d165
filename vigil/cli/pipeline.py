"""`vigil run | ingest | capture | sink`: the video pipeline, whole or one role per process.

Bus and Celery come from the environment (VIGIL_BUS=kafka, VIGIL_KAFKA_BOOTSTRAP,
VIGIL_CELERY_BROKER, ...); with none set, `vigil run` is fully embedded.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
from pathlib import Path

ROLES = {
    "run": "run the whole pipeline in this process (embedded defaults, no servers)",
    "ingest": "decode the cameras and publish frames to the bus",
    "capture": "track and publish captures (consumes frames; Celery does the models)",
    "sink": "deliver captures and alerts to disk / callback URL",
    "alarm": "match face captures against the watchlists and publish alerts",
}

ENVIRONMENT = """\
environment (unset: everything in this process, nothing to start):
  VIGIL_BUS=kafka                 the Kafka-protocol bus instead of the in-process one
  VIGIL_KAFKA_BOOTSTRAP=host:port its brokers
  VIGIL_CELERY_BROKER=redis://... Celery broker for the model workers (`vigil worker`)
  VIGIL_CELERY_BACKEND=redis://... its result backend"""


def register(commands: argparse._SubParsersAction) -> None:
    for role, text in ROLES.items():
        parser = commands.add_parser(
            role,
            help=text,
            description=f"{text}.",
            epilog=ENVIRONMENT,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        source = parser.add_mutually_exclusive_group(required=True)
        source.add_argument("config", nargs="?", type=Path, help="cameras YAML/JSON file")
        source.add_argument("--source", help="one camera: a video file, folder or stream URL")
        parser.add_argument("--out", type=Path, help="also write captures to this folder")
        parser.add_argument("--json", action="store_true", help="print captures as JSON lines")
        parser.set_defaults(run=run, role=role)


def load(args: argparse.Namespace):
    from vigil.infra.config import load_config, single_camera_config

    config = load_config(args.config) if args.config else single_camera_config(args.source)
    if args.out:
        config.outputs.disk = args.out
    return config


def install_stop_handlers(stop: threading.Event, deadline: float | None = None) -> None:
    """SIGTERM or SIGINT sets `stop`: the role finishes what it holds and ends in seconds
    (a camera down included: its reconnect waits watch `stop`). A second signal acts as
    if no handler was installed: SIGTERM ends the process, SIGINT raises KeyboardInterrupt.
    With `deadline` (the `vigil` roles, each a process of its own), a process still alive
    that many seconds after the first signal exits anyway (`overdue`).
    """

    def handle(signum, frame) -> None:
        stop.set()
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        if deadline is not None:  # a process of its own: it may not outlive the deadline
            watchdog = threading.Timer(deadline, overdue, args=(signal.Signals(signum).name,))
            watchdog.daemon = True
            watchdog.start()

    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, handle)


# A role that has not ended this long after a stop request is blocked somewhere no stop
# flag reaches (a broker that does not answer a bootstrap or a flush): it exits anyway.
# Nothing is lost by it: offsets are committed only after the work they cover, so what
# was in hand is read again by the next process (at-least-once, docs/reliability.md).
STOP_DEADLINE_S = 7.0


def overdue(name: str) -> None:
    print(
        f"vigil: still running {STOP_DEADLINE_S:.0f} s after {name}: exiting now; work not"
        " yet committed is read again on restart",
        file=sys.stderr,
        flush=True,
    )
    os._exit(1)


def run(args: argparse.Namespace) -> int:
    from vigil.infra.bus.base import BusUnavailable
    from vigil.infra.bus.factory import bus_from_settings
    from vigil.infra.settings import Settings
    from vigil.workers import roles

    config = load(args)
    settings = Settings.from_env()
    bus = bus_from_settings(settings)
    stop = threading.Event()
    install_stop_handlers(stop, deadline=STOP_DEADLINE_S)
    if settings.metrics_port is not None:
        from vigil.infra.metrics import start_metrics_server

        print(f"metrics on :{start_metrics_server(settings.metrics_port)}", file=sys.stderr)

    def show(capture) -> None:
        if args.json:
            print(capture.model_dump_json(exclude={"crop_jpeg"}, exclude_none=True), flush=True)
        else:
            target = capture.target
            print(
                f"{capture.event.value:6} {capture.capture_id} {target.label}"
                f" q={target.quality.score:.2f}",
                flush=True,
            )

    def alert(event) -> None:
        if args.json:
            print(event.model_dump_json(exclude={"crop_jpeg"}, exclude_none=True), flush=True)
        else:
            print(
                f"ALERT  {event.event.value} {event.watchlist}: {event.person_id} on"
                f" {event.capture_id} similarity {event.similarity:.1f}",
                flush=True,
            )

    try:
        summary = roles.run_role(args.role, bus, config, stop, on_capture=show, on_alert=alert)
    except BusUnavailable as exc:
        print(f"vigil: error: [bus_unavailable] {exc}", file=sys.stderr)
        return 1
    if summary is not None:
        report = {
            "frames_published": summary.frames_published,
            "frames_ticks": summary.frames_ticks,
            "frames_dropped": summary.frames_dropped,
            "frames_processed": summary.frames_processed,
            "captures": len(summary.captures),
            "alerts": len(summary.alerts),
            "errors": summary.errors,
        }
        print(json.dumps(report), file=sys.stderr)
        return 1 if summary.errors else 0
    return 0
