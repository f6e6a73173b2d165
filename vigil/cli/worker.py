"""`vigil worker`: a Celery worker for every Vigil task, with model threads pinned.

On a 2-core machine, prefork children that each start a full BLAS/OpenMP/ORT
thread pool run about 3x slower; one thread per process is the default.
"""

from __future__ import annotations

import argparse
import os

PINNED_THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "worker",
        help="run a Celery worker for the vigil.* tasks",
        description="Run a Celery worker. Broker and backend come from VIGIL_CELERY_BROKER and"
        " VIGIL_CELERY_BACKEND (e.g. redis://127.0.0.1:6379/0).",
    )
    parser.add_argument("--concurrency", "-c", type=int, default=1, help="worker processes")
    parser.add_argument(
        "--pool", default="prefork", choices=["prefork", "solo", "threads"], help="Celery pool"
    )
    parser.add_argument("--queues", "-Q", default="celery", help="queues to consume")
    parser.add_argument("--loglevel", default="INFO")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    for name in PINNED_THREAD_VARIABLES:
        os.environ.setdefault(name, "1")
    import cv2

    from vigil.infra.celery_app import app
    from vigil.infra.settings import Settings

    cv2.setNumThreads(1)
    port = Settings.from_env().metrics_port
    # Served by this (main) process: with --pool prefork the model timings are counted
    # in the children and do not show here; run --pool solo per process to see them.
    if port is not None:
        from vigil.infra.metrics import start_metrics_server

        print(f"metrics on :{start_metrics_server(port)}")
    app.worker_main(
        [
            "worker",
            f"--concurrency={args.concurrency}",
            f"--pool={args.pool}",
            f"--queues={args.queues}",
            f"--loglevel={args.loglevel}",
            "--without-gossip",
            "--without-mingle",
        ]
    )
    return 0
