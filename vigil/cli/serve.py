"""`vigil serve`: the HTTP API and the operator console (FastAPI on uvicorn), embedded.

Groups and history are the same stores the CLI uses (Milvus Lite files by default,
opened on first use). Embedded (no VIGIL_BUS), the pipeline runs in this process too:
the cameras of `--cameras FILE` and those added over the API (files inside
`--source-dir`). SIGTERM or Ctrl-C ends the event streams at once, finishes the requests
in flight, stops the cameras and closes the stores.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import signal
import threading
from collections.abc import Iterator
from pathlib import Path

log = logging.getLogger(__name__)


def port_number(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"{value} is outside 0-65535")
    return value


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "serve",
        help="the HTTP API: analyze, compare, verify, groups, search, history",
        description="Serve the HTTP API (OpenAPI at /openapi.json, browsable at /docs;"
        " /healthz, /readyz, /metrics). /v1 routes need an API key (`vigil keys create`; the"
        " file is $VIGIL_HTTP_KEYS), /metrics an admin one. Request bodies are limited to"
        " $VIGIL_HTTP_MAX_BODY bytes (32 MiB); each key to $VIGIL_HTTP_RATE requests/s"
        " (20, bursts of $VIGIL_HTTP_BURST, 40); CORS is off unless"
        " $VIGIL_HTTP_CORS_ORIGINS names origins.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (127.0.0.1)")
    parser.add_argument("--port", type=port_number, default=8080, help="port (8080)")
    parser.add_argument(
        "--groups-uri",
        metavar="URI",
        help="feature groups: Milvus Lite file or http://host:port (default: $VIGIL_GROUPS_URI"
        " or ./vigil-groups.db)",
    )
    parser.add_argument(
        "--history-uri",
        metavar="URI",
        help="capture history: Milvus Lite file or http://host:port (default:"
        " $VIGIL_HISTORY_URI or ./vigil-history.db)",
    )
    parser.add_argument(
        "--cameras",
        metavar="FILE",
        type=Path,
        help="run these cameras (and watchlists, outputs) in this process: the YAML/JSON"
        " file `vigil run` takes; without watchlists every group is watched",
    )
    parser.add_argument(
        "--source-dir",
        metavar="DIR",
        action="append",
        type=Path,
        help="a folder whose video files and folders POST /v1/cameras may play (repeatable;"
        " default $VIGIL_HTTP_SOURCE_DIRS, else none)",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import uvicorn

    from vigil.http.app import create_app
    from vigil.infra.config import load_config

    pipeline = load_config(args.cameras) if args.cameras else None
    app = create_app(
        args.groups_uri,
        args.history_uri,
        pipeline=pipeline,
        source_dirs=args.source_dir,
        start_live=True,
    )
    live = app.state.live

    class Server(uvicorn.Server):
        """uvicorn's server, except that a stop asked for by SIGTERM or SIGINT ends the
        process with status 0 once it is done, as every `vigil` role does (uvicorn raises
        the signal again after its graceful stop, so the process died of it), and that
        the event streams end at once: uvicorn's graceful stop waits for open responses,
        and a console left open would hold it forever."""

        def handle_exit(self, sig: int, frame: object) -> None:
            live.stopping.set()
            super().handle_exit(sig, frame)  # type: ignore[arg-type]

        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            if threading.current_thread() is not threading.main_thread():
                yield
                return
            stops = (signal.SIGINT, signal.SIGTERM)
            previous = {signum: signal.signal(signum, self.handle_exit) for signum in stops}
            try:
                yield
            finally:
                for signum, handler in previous.items():
                    signal.signal(signum, handler)

    # log_config=None: uvicorn's lines go through Vigil's logging (configure_logging);
    # timeout_graceful_shutdown: a response still open 3 s after a stop is cut
    config = uvicorn.Config(
        app,
        host=args.host,
        port=args.port,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=3,
    )
    log.info(
        "HTTP API on http://%s:%d (OpenAPI at /docs, console at /console/)", args.host, args.port
    )
    Server(config).run()
    log.info("HTTP API stopped")
    return 0
