"""The Celery application every Vigil task is registered on.

Serialisation is msgpack (binary image bytes travel as-is) with json accepted;
pickle is never accepted, so workers may run as root and a hostile message
cannot execute code. Delivery is at-least-once: acks_late with
reject_on_worker_lost re-queues a task whose worker died mid-way.
"""

from __future__ import annotations

from celery import Celery

from vigil.infra.retention import beat_schedule
from vigil.infra.settings import Settings

TASK_MODULES = [
    "vigil.workers.image_tasks",
    "vigil.workers.frame_tasks",
    "vigil.workers.group_tasks",
    "vigil.workers.compare_tasks",
    "vigil.workers.history_tasks",
    "vigil.workers.cluster_tasks",
]


def configure(app: Celery, settings: Settings) -> Celery:
    app.conf.update(
        broker_url=settings.celery_broker,
        result_backend=settings.celery_backend,
        task_always_eager=settings.eager,
        task_eager_propagates=True,
        task_serializer="msgpack",
        result_serializer="msgpack",
        accept_content=["msgpack", "json"],
        result_accept_content=["msgpack", "json"],
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        broker_connection_retry_on_startup=True,
        result_expires=3600,
        broker_transport_options={"polling_interval": 0.001},
        worker_hijack_root_logger=False,
        beat_schedule=beat_schedule(),  # the history purge, when a retention is set
    )
    return app


def create_app(settings: Settings | None = None) -> Celery:
    app = Celery("vigil", include=TASK_MODULES)
    return configure(app, settings or Settings.from_env())


app = create_app()
