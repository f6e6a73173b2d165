"""Publish events to an MQTT broker at QoS 1, settling each only once the broker acknowledged it.

Captures go to `<prefix>/<camera>/captures`, alerts to `<prefix>/alerts`, each as the JSON
the webhook sink posts (its `Job`: serialised once, at `deliver` time). The availability
topic `<prefix>/status` is "online" (retained) from each connection on; the Last Will
sets it "offline" when the connection dies, and a clean `close` publishes "offline".

Delivery rules are the webhook's: `deliver` only enqueues (`room` says how much it can
take); one thread publishes and waits for the PUBACK (bounded by `publish_timeout`);
while the broker is away paho reconnects in the background and the publish is retried
with capped, jittered backoff; after `max_attempts` the event becomes a DeadLetter with
the reason (stage `sink.mqtt`). An event given with its `Origin` is reported to
`on_settled` once acknowledged or dead-lettered, so the sink worker commits only those.
At-least-once: a publish whose PUBACK was lost in a dropped connection is sent again
(paho, too, resends unacknowledged messages on reconnect), so subscribers de-duplicate
by the event's `message_id`.
"""

from __future__ import annotations

import logging
import os
import queue
import socket
import ssl
import threading
import time
from contextlib import suppress
from dataclasses import replace
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
from pydantic import BaseModel

from vigil.outputs.delivery import (
    STOP,
    DeadLetterHandler,
    Failure,
    Job,
    QueuedSink,
    SettledHandler,
    backoff_delay,
)
from vigil.outputs.offsets import Origin

log = logging.getLogger(__name__)

STAGE = "sink.mqtt"
QOS = 1
ONLINE = b"online"
OFFLINE = b"offline"
_FORBIDDEN = str.maketrans({"+": "_", "#": "_", "/": "_", "\x00": "_"})


def topic_level(text: str) -> str:
    """`text` as one MQTT topic level: no wildcard (`+`, `#`), separator (`/`) or NUL."""
    return text.translate(_FORBIDDEN) or "_"


def event_topic(prefix: str, kind: str, event: BaseModel) -> str:
    """`<prefix>/alerts` for alerts, `<prefix>/<camera>/captures` for captures."""
    if kind == "alerts":
        return f"{prefix}/alerts"
    camera = str(getattr(event, "camera_id", "") or "")
    return f"{prefix}/{topic_level(camera)}/{kind}"


def default_client_id() -> str:
    return f"vigil-{topic_level(socket.gethostname())[:40]}-{os.getpid()}"


class MqttSink(QueuedSink):
    """Publish each event from a background thread to one broker. Thread-safe."""

    STAGE = STAGE
    KIND = "mqtt"

    def __init__(
        self,
        host: str,
        port: int = 1883,
        *,
        kind: str = "captures",
        topic_prefix: str = "vigil",
        client_id: str | None = None,
        credentials: tuple[str, str | None] | None = None,
        tls: bool = False,
        keepalive: int = 30,
        connect_timeout: float = 3.0,
        publish_timeout: float = 5.0,
        max_attempts: int = 5,
        backoff_initial: float = 0.5,
        backoff_max: float = 10.0,
        queue_size: int = 1000,
        on_dead_letter: DeadLetterHandler | None = None,
        on_settled: SettledHandler | None = None,
    ) -> None:
        if min(max_attempts, queue_size) < 1:
            raise ValueError("max_attempts and queue_size must be at least 1")
        self._where = f"{host}:{port}"
        self._kind = kind
        self._prefix = topic_prefix
        self.status_topic = f"{topic_prefix}/status"
        self._publish_timeout = publish_timeout
        self._connected = threading.Event()
        super().__init__(
            max_attempts=max_attempts,
            backoff=(backoff_initial, backoff_max),
            queue_size=queue_size,
            on_dead_letter=on_dead_letter,
            on_settled=on_settled,
        )

        self.client_id = f"{client_id or default_client_id()}-{kind}"
        client = paho.Client(
            CallbackAPIVersion.VERSION2,
            client_id=self.client_id,
            clean_session=True,
            protocol=paho.MQTTv311,
        )
        client.connect_timeout = connect_timeout
        client.reconnect_delay_set(1, max(1, int(backoff_max)))
        client.will_set(self.status_topic, OFFLINE, qos=QOS, retain=True)
        if credentials is not None:
            client.username_pw_set(*credentials)
        if tls:
            client.tls_set_context(ssl.create_default_context())
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        self._client = client
        client.connect_async(host, port, keepalive)
        client.loop_start()  # connects, and reconnects, in paho's thread
        self._thread = threading.Thread(target=self._run, name=f"vigil-mqtt-{kind}", daemon=True)
        self._thread.start()

    def __repr__(self) -> str:
        return f"MqttSink(broker={self._where!r}, client_id={self.client_id!r})"

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    def _job(self, event: BaseModel, origin: Origin | None) -> Job:
        return replace(Job.of(event, origin), topic=event_topic(self._prefix, self._kind, event))

    def close(self, timeout: float = 30.0, dead_letter_backlog: bool = True) -> None:
        """Publish what is queued while the broker is there, then go "offline" and disconnect.

        Bounded by `timeout` (plus at most a few seconds to say "offline" and stop paho's
        thread). What is left is dead-lettered, or with `dead_letter_backlog=False` left
        unsettled for the next process to read again.
        """
        deadline = time.monotonic() + timeout
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._keep_backlog = not dead_letter_backlog
        with suppress(queue.Full):
            self._queue.put(STOP, timeout=max(0.0, deadline - time.monotonic()))
        while self._thread.is_alive() and time.monotonic() < deadline:
            self._thread.join(0.1)
            if not self._connected.is_set():  # the broker is away: waiting delivers nothing
                break
        self._abort.set()
        self._thread.join(max(0.0, min(self._publish_timeout, deadline - time.monotonic())))
        self._drain()
        self._go_offline()

    # -- the publishing thread -------------------------------------------------------------

    def _send(self, job: Job) -> None:
        failure: Failure | None = None
        for attempt in range(1, self._max_attempts + 1):
            if self._abort.is_set():
                self._give_up(job, "sink closed before delivery", "closed")
                return
            failure = self._publish(job)
            if failure is None:
                self._count("delivered")
                self._settled(job)
                return
            if attempt == self._max_attempts:
                break
            if self._abort.wait(backoff_delay(attempt, *self._backoff)):
                self._give_up(job, f"{failure.reason}; sink closed", "closed")
                return
            self._count("retried")
        assert failure is not None
        reason = f"{failure.reason} (attempt {self._max_attempts} of {self._max_attempts})"
        self._give_up(job, reason, failure.code)

    def _publish(self, job: Job) -> Failure | None:
        """One attempt: wait (bounded) for a connection, publish, wait for the PUBACK."""
        deadline = time.monotonic() + self._publish_timeout
        while not self._connected.wait(0.1):
            if self._abort.is_set() or time.monotonic() >= deadline:
                return Failure(f"MQTT broker {self._where} not connected", "connection", True)
        info = self._client.publish(job.topic, job.body, qos=QOS)
        while info.rc == paho.MQTT_ERR_SUCCESS and not info.is_published():
            if self._abort.is_set() or time.monotonic() >= deadline:
                return Failure(
                    f"MQTT broker {self._where} did not acknowledge within"
                    f" {self._publish_timeout}s",
                    "timeout",
                    True,
                )
            with suppress(RuntimeError, ValueError):
                info.wait_for_publish(0.1)
        if info.rc != paho.MQTT_ERR_SUCCESS:
            reason = f"publish to MQTT broker {self._where} failed: {paho.error_string(info.rc)}"
            return Failure(reason, "connection", True)
        return None

    # -- paho's callbacks (its thread) -------------------------------------------------------

    def _on_connect(
        self, client: paho.Client, userdata: Any, flags: Any, reason: Any, props: Any
    ) -> None:
        if reason.is_failure:
            log.warning("MQTT broker %s refused the connection: %s", self._where, reason)
            return
        client.publish(self.status_topic, ONLINE, qos=QOS, retain=True)
        self._connected.set()
        log.info("connected to MQTT broker %s as %s", self._where, self.client_id)

    def _on_disconnect(
        self, client: paho.Client, userdata: Any, flags: Any, reason: Any, props: Any
    ) -> None:
        if self._connected.is_set() and not self._closed:
            log.warning("disconnected from MQTT broker %s: %s", self._where, reason)
        self._connected.clear()

    # -- endings ---------------------------------------------------------------------------

    def _go_offline(self) -> None:
        """Retained "offline" (bounded wait), a clean disconnect, paho's thread stopped."""
        if self._connected.is_set():
            info = self._client.publish(self.status_topic, OFFLINE, qos=QOS, retain=True)
            with suppress(RuntimeError, ValueError):
                info.wait_for_publish(min(2.0, self._publish_timeout))
        self._client.disconnect()
        stopper = threading.Thread(target=self._client.loop_stop, daemon=True)
        stopper.start()
        stopper.join(3.0)  # paho joins its thread unbounded; a hung one is a daemon
