"""The live side of `vigil serve`: its cameras (embedded), the event feed, the alert book.

`Live.start()` (from the app's startup, or the first route that needs it) builds:

- the bus: in memory when embedded (no `VIGIL_BUS`), else Kafka;
- `Feed`: one thread per topic (alerts, captures) reading what is published from now on
  (`Bus.tail`: no consumer group, latest offsets), decoding it into `Alert` / `Capture`,
  noting each alert in the `AlertBook` and handing each event to every open event
  stream (`subscribe`), each with its own bounded queue: a slow client loses its oldest
  events, never the server its memory;
- embedded only, `LivePipeline` (workers/live.py): every stage of the pipeline as threads
  over the server's own stores, and the cameras of `vigil serve --cameras FILE` or of
  POST /v1/cameras. With Kafka the cameras run in `vigil ingest` processes elsewhere; this
  server only reads their topics.

`stopping` is set when the server is asked to stop (SIGTERM, see `vigil.cli.serve`):
every event stream ends within a poll of it, so uvicorn's graceful stop, which waits for
open responses, is not held up by a console left open.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from dataclasses import dataclass, field
from typing import Any

from vigil.http.alert_book import AlertBook
from vigil.http.stores import Stores
from vigil.infra.bus.base import Bus, BusUnavailable
from vigil.infra.bus.factory import bus_from_settings
from vigil.infra.bus.memory import MemoryBus
from vigil.infra.settings import Settings
from vigil.infra.topics.alerts import AlertTopic
from vigil.infra.topics.captures import CaptureTopic
from vigil.infra.topics.json_topic import UndecodableRecord
from vigil.schemas.alert import Alert
from vigil.schemas.camera import PipelineConfig
from vigil.schemas.errors import ErrorCode, VigilError
from vigil.workers.live import LivePipeline

log = logging.getLogger(__name__)
POLL_S = 0.2  # how often a feed thread looks at its stop flag, at most
QUEUE_SIZE = 256  # events waiting for one slow stream
MEMORY_RETENTION = 1000  # records per partition the embedded bus keeps (frames are ~100 kB)
RETRY_S = 2.0


@dataclass(eq=False)
class Subscription:
    """One open event stream: its queue, filled from the feed threads via its event loop."""

    kind: str
    loop: asyncio.AbstractEventLoop
    queue: asyncio.Queue[Any] = field(default_factory=lambda: asyncio.Queue(QUEUE_SIZE))

    def offer(self, event: Any) -> None:
        """In the loop's thread: queue the event, dropping the oldest when full."""
        if self.queue.full():
            self.queue.get_nowait()
        self.queue.put_nowait(event)


class Feed:
    """Threads tailing the alerts and captures topics, and the streams they feed."""

    def __init__(self, bus: Bus, config: PipelineConfig, book: AlertBook) -> None:
        self.bus = bus
        self.book = book
        self.stop = threading.Event()
        self._subscribers: set[Subscription] = set()
        self._lock = threading.Lock()
        topics = config.topics
        self.topics: dict[str, AlertTopic | CaptureTopic] = {
            "alerts": AlertTopic(topics.alerts),
            "captures": CaptureTopic(topics.captures),
        }
        self.ready = {kind: threading.Event() for kind in self.topics}
        self.threads = [
            threading.Thread(target=self.run, args=(kind,), name=f"feed-{kind}", daemon=True)
            for kind in self.topics
        ]
        for thread in self.threads:
            thread.start()

    def wait_ready(self, timeout: float = 30.0) -> None:
        """Until both readers are placed at the end of their topics (Kafka: assigned)."""
        for event in self.ready.values():
            event.wait(timeout)

    def subscribe(self, kind: str) -> Subscription:
        subscription = Subscription(kind, asyncio.get_running_loop())
        with self._lock:
            self._subscribers.add(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        with self._lock:
            self._subscribers.discard(subscription)

    def publish(self, kind: str, event: Any) -> None:
        with self._lock:
            listeners = [s for s in self._subscribers if s.kind == kind]
        for subscription in listeners:
            try:
                subscription.loop.call_soon_threadsafe(subscription.offer, event)
            except RuntimeError:  # its loop is closed: the stream is gone
                self.unsubscribe(subscription)

    def run(self, kind: str) -> None:
        topic = self.topics[kind]
        while not self.stop.is_set():
            try:
                consumer = self.bus.tail([topic.name])
            except BusUnavailable as exc:
                log.warning("feed of %s: %s; trying again", topic.name, exc)
                self.stop.wait(RETRY_S)
                continue
            self.ready[kind].set()
            try:
                while not self.stop.is_set():
                    for record in consumer.poll(timeout=POLL_S, max_records=100):
                        try:
                            event = topic.decode(record)
                        except UndecodableRecord:
                            continue  # the pipeline's consumers dead-letter it
                        if isinstance(event, Alert):
                            self.book.add(event)
                        self.publish(kind, event)
            except Exception:  # the broker went away mid-poll: read again from the end
                log.exception("feed of %s failed; reading again", topic.name)
                self.stop.wait(RETRY_S)
            finally:
                consumer.close()

    def close(self) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(POLL_S * 10)


class Live:
    """What `vigil serve` runs besides answering requests; built once, on first need."""

    def __init__(
        self,
        stores: Stores,
        settings: Settings,
        config: PipelineConfig | None,
        alerts_path: str | None,
        source_dirs: list[str],
        max_stream_s: float,
    ) -> None:
        self.stores = stores
        self.settings = settings
        self.config = config or PipelineConfig.model_construct(cameras=[])
        self.alerts_path = alerts_path
        self.source_dirs = source_dirs
        self.max_stream_s = max_stream_s
        self.embedded = settings.bus == "memory"
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        self._bus: Bus | None = None
        self._book: AlertBook | None = None
        self._feed: Feed | None = None
        self._pipeline: LivePipeline | None = None

    def start(self) -> Live:
        """Build what is missing (idempotent; blocking: opens stores, joins topics)."""
        with self._lock:
            if self.stopping.is_set():
                raise VigilError(ErrorCode.STORE_UNAVAILABLE, "the server is stopping")
            if self._feed is not None:
                return self
            book = AlertBook(self.alerts_path)
            bus = (
                MemoryBus(
                    retention=MEMORY_RETENTION,
                    max_message_bytes=self.settings.max_message_bytes,
                )
                if self.embedded
                else bus_from_settings(self.settings)
            )
            if not self.embedded:
                from vigil.workers.pipeline import prepare_topics

                prepare_topics(bus, self.config)
            feed = Feed(bus, self.config, book)
            feed.wait_ready()
            try:
                if self.embedded:
                    self._pipeline = LivePipeline(
                        bus,
                        self.config,
                        groups=self.stores.groups,
                        history=self.stores.history,
                    )
            except BaseException:
                feed.close()
                raise
            self._bus, self._book, self._feed = bus, book, feed
            return self

    @property
    def feed(self) -> Feed:
        self.start()
        assert self._feed is not None
        return self._feed

    @property
    def book(self) -> AlertBook:
        self.start()
        assert self._book is not None
        return self._book

    @property
    def pipeline(self) -> LivePipeline:
        """The embedded cameras; `invalid_options` when cameras run elsewhere (Kafka)."""
        self.start()
        if self._pipeline is None:
            raise VigilError(
                ErrorCode.INVALID_OPTIONS,
                "this server runs no cameras: with VIGIL_BUS=kafka they run in `vigil ingest`",
            )
        return self._pipeline

    def close(self) -> None:
        """Streams end, then the cameras and stages stop, then the feed."""
        self.stopping.set()
        with self._lock:
            pipeline, feed, bus = self._pipeline, self._feed, self._bus
            self._pipeline = self._feed = None
        if pipeline is not None:
            pipeline.close()
        if feed is not None:
            feed.close()
        if bus is not None:
            bus.close()
