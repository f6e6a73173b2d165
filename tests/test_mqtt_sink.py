"""The MQTT sink against a real Mosquitto: topics, QoS 1, the exact JSON, availability, outages.

Kafka is the in-memory bus; the broker is a private `mosquitto` on a free port.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from tests.support.processes import REPO, free_port, start_mosquitto, stop
from tests.test_alert_sinks import dead_letters, make_alert
from tests.test_outputs import make_capture
from vigil.errors import VigilError
from vigil.infra.bus.memory import MemoryBus
from vigil.infra.topics.alerts import AlertTopic
from vigil.infra.topics.captures import CaptureTopic
from vigil.outputs.mqtt import event_topic, topic_level
from vigil.outputs.sink_worker import ALERT_STREAM, SINK_GROUP, SinkWorker
from vigil.schemas.alert import Alert
from vigil.schemas.camera import MqttConfig, PipelineConfig
from vigil.schemas.capture import Capture
from vigil.workers.pipeline import prepare_topics

pytestmark = pytest.mark.timeout(60)
WAIT_S = 10.0
FAST = {"connect_timeout": 1.0, "publish_timeout": 1.0, "backoff_initial": 0.1, "backoff_max": 0.5}


@dataclass
class Message:
    topic: str
    payload: bytes
    qos: int
    retain: bool


class Subscriber:
    """A paho client subscribed at QoS 1 to `pattern`, keeping what arrives."""

    def __init__(self, port: int, pattern: str = "vigil/#", persistent: bool = False) -> None:
        """`persistent`: a session the broker keeps while this client is away (clean_session
        False, a fixed client id), as an integrator's subscriber that must miss nothing."""
        self.messages: list[Message] = []
        self._changed = threading.Condition()
        self._ready = threading.Event()
        self.client = paho.Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"test-sub-{port}" + ("" if persistent else f"-{id(self)}"),
            clean_session=not persistent,
        )
        self.client.reconnect_delay_set(1, 1)  # back soon after a broker restart
        self.client.on_connect = lambda c, *_: c.subscribe(pattern, qos=1)
        self.client.on_subscribe = lambda *_: self._ready.set()
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        assert self._ready.wait(WAIT_S), "subscriber never subscribed"

    def _on_message(self, client: paho.Client, userdata: object, msg: paho.MQTTMessage) -> None:
        with self._changed:
            self.messages.append(Message(msg.topic, msg.payload, msg.qos, bool(msg.retain)))
            self._changed.notify_all()

    def wait_for(self, found: Callable[[list[Message]], bool], timeout: float = WAIT_S) -> None:
        with self._changed:
            assert self._changed.wait_for(lambda: found(self.messages), timeout), self.messages

    def on(self, topic: str) -> list[Message]:
        with self._changed:
            return [m for m in self.messages if m.topic == topic]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def resume(self) -> None:
        """Connect again after `close`, with the same client id (and session)."""
        self._ready.clear()
        self.client.reconnect()
        self.client.loop_start()
        assert self._ready.wait(WAIT_S), "subscriber never subscribed again"


def retained_status(port: int) -> bytes:
    """What a new subscriber reads on the retained status topic."""
    subscriber = Subscriber(port, "vigil/status")
    try:
        subscriber.wait_for(lambda messages: any(m.retain for m in messages))
        return next(m.payload for m in subscriber.messages if m.retain)
    finally:
        subscriber.close()


@pytest.fixture
def broker(tmp_path) -> Iterator[int]:
    port = free_port()
    process = start_mosquitto(port, tmp_path)
    yield port
    stop(process)


def config_for(port: int, **options: object) -> PipelineConfig:
    mqtt = {"host": "127.0.0.1", "port": port, **FAST, **options}
    return PipelineConfig.model_validate(
        {
            "cameras": [{"id": "door", "url": "unused.mp4"}],
            "outputs": {"mqtt": mqtt, "alerts": {"mqtt": mqtt}},
        }
    )


class Running:
    """A SinkWorker looping in a thread until `stop`."""

    def __init__(self, worker: SinkWorker) -> None:
        self.worker = worker
        self.stop_event = threading.Event()
        self.thread = threading.Thread(target=worker.run, args=(self.stop_event,), daemon=True)
        self.thread.start()

    def stop(self) -> float:
        started = time.monotonic()
        self.stop_event.set()
        self.thread.join(WAIT_S)
        self.worker.close()
        return time.monotonic() - started


def committed(bus: MemoryBus, config: PipelineConfig, group: str = SINK_GROUP) -> int:
    """Records committed over all partitions (each partition's next offset, summed)."""
    topic = config.topics.alerts if group == ALERT_STREAM.group else config.topics.captures
    return sum(bus.committed(topic, group).values())  # one record per partition at most here


def wait_until(condition: Callable[[], bool], timeout: float = WAIT_S) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


# --- topics and configuration ---------------------------------------------------------------


def test_camera_ids_become_one_topic_level():
    assert topic_level("gate/1+#\x00x") == "gate_1___x" and topic_level("") == "_"
    capture = make_capture(camera_id="door")
    assert event_topic("site/a", "captures", capture) == "site/a/door/captures"
    assert event_topic("vigil", "alerts", make_alert()) == "vigil/alerts"


def test_mqtt_config_is_validated_and_reads_credentials_from_the_environment():
    for bad in ({"topic_prefix": "a/+"}, {"topic_prefix": "a//b"}, {"qos": 0}, {"port": 0}):
        with pytest.raises(ValueError):
            MqttConfig.model_validate({"host": "broker", **bad})
    config = MqttConfig(host="broker", username_env="MQ_USER", password_env="MQ_PASS")
    assert config.credentials({"MQ_USER": "u", "MQ_PASS": "p"}) == ("u", "p")
    with pytest.raises(VigilError, match="MQ_PASS, which is not set"):
        config.credentials({"MQ_USER": "u"})
    assert MqttConfig(host="broker").credentials({}) is None


# --- against the broker ---------------------------------------------------------------------


def test_captures_and_alerts_arrive_at_qos_1_as_the_webhook_json(broker):
    config = config_for(broker)
    bus = MemoryBus()
    prepare_topics(bus, config)
    subscriber = Subscriber(broker)
    capture, alert = make_capture(camera_id="door"), make_alert()
    producer = bus.producer()
    CaptureTopic(config.topics.captures).send(producer, capture)
    AlertTopic(config.topics.alerts).send(producer, alert)
    sinks = [Running(SinkWorker(bus, config)), Running(SinkWorker(bus, config, ALERT_STREAM))]
    try:
        subscriber.wait_for(
            lambda _: subscriber.on("vigil/door/captures") and subscriber.on("vigil/alerts")
        )
        assert retained_status(broker) == b"online"
        wait_until(lambda: committed(bus, config) == 1)
        wait_until(lambda: committed(bus, config, ALERT_STREAM.group) == 1)
    finally:
        took = [sink.stop() for sink in sinks]
        subscriber.close()

    [sent_capture] = subscriber.on("vigil/door/captures")
    [sent_alert] = subscriber.on("vigil/alerts")
    assert sent_capture.payload == capture.model_dump_json().encode()  # the webhook's body
    assert sent_alert.payload == alert.model_dump_json().encode()
    assert sent_capture.qos == sent_alert.qos == 1 and not sent_capture.retain
    assert retained_status(broker) == b"offline"
    assert max(took) < 10


def test_the_will_says_offline_when_the_sink_dies(broker):
    script = (
        "import sys, time\n"
        "from vigil.outputs.mqtt import MqttSink\n"
        "sink = MqttSink('127.0.0.1', int(sys.argv[1]), connect_timeout=1.0, keepalive=5)\n"
        "while not sink.connected: time.sleep(0.05)\n"
        "print('up', flush=True)\n"
        "time.sleep(60)\n"
    )
    process = subprocess.Popen(
        [sys.executable, "-c", script, str(broker)], cwd=REPO, stdout=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None and process.stdout.readline().strip() == "up"
        subscriber = Subscriber(broker, "vigil/status")
        subscriber.wait_for(lambda messages: any(m.payload == b"online" for m in messages))
        os.kill(process.pid, signal.SIGKILL)  # no DISCONNECT: the broker sends the will
        subscriber.wait_for(lambda messages: messages[-1].payload == b"offline")
        subscriber.close()
    finally:
        stop(process)
    assert retained_status(broker) == b"offline"


def test_broker_down_at_start_is_retried_and_nothing_is_committed_before_delivery(tmp_path):
    port = free_port()
    config = config_for(port, max_attempts=100)
    bus = MemoryBus()
    prepare_topics(bus, config)
    capture = make_capture(camera_id="door")
    CaptureTopic(config.topics.captures).send(bus.producer(), capture)
    sink = Running(SinkWorker(bus, config))
    process = None
    try:
        time.sleep(2.0)  # several attempts against nothing
        assert committed(bus, config) == 0 and sink.worker.mqtt is not None
        assert sink.worker.mqtt.retried >= 1 and sink.worker.mqtt.delivered == 0
        process = start_mosquitto(port, tmp_path)
        subscriber = Subscriber(port)
        subscriber.wait_for(lambda _: subscriber.on("vigil/door/captures"))
        wait_until(lambda: committed(bus, config) == 1)
        subscriber.close()
    finally:
        took = sink.stop()
        if process is not None:
            stop(process)
    assert subscriber.on("vigil/door/captures")[0].payload == capture.model_dump_json().encode()
    assert dead_letters(bus, config) == [] and took < 10


def test_broker_that_never_comes_back_dead_letters_with_the_reason_and_goes_on(tmp_path):
    port = free_port()
    config = config_for(port, max_attempts=2, publish_timeout=0.5)
    bus = MemoryBus()
    prepare_topics(bus, config)
    topic = CaptureTopic(config.topics.captures)
    producer = bus.producer()
    topic.send(producer, make_capture(camera_id="door", track_id="1"))
    topic.send(producer, make_capture(camera_id="door", track_id="2"))
    sink = Running(SinkWorker(bus, config))
    process = None
    try:
        wait_until(lambda: committed(bus, config) == 2)
        letters = sorted(dead_letters(bus, config), key=lambda letter: letter.offset)
        assert [(d.stage, d.error_code, d.offset) for d in letters] == [
            ("sink.mqtt", "connection", 0),
            ("sink.mqtt", "connection", 1),
        ]
        assert all(f"127.0.0.1:{port} not connected (attempt 2 of 2)" in d.reason for d in letters)
        # the sink goes on: once a broker is there, the next capture is delivered
        process = start_mosquitto(port, tmp_path)
        subscriber = Subscriber(port)
        assert sink.worker.mqtt is not None
        wait_until(lambda: sink.worker.mqtt.connected)  # paho reconnects within ~1 s
        third = make_capture(camera_id="door", track_id="3")
        topic.send(producer, third)
        subscriber.wait_for(lambda _: subscriber.on("vigil/door/captures"))
        wait_until(lambda: committed(bus, config) == 3)
        subscriber.close()
    finally:
        took = sink.stop()
        if process is not None:
            stop(process)
    assert [m.payload for m in subscriber.on("vigil/door/captures")] == [
        third.model_dump_json().encode()
    ]
    assert took < 10


def message_ids(messages: list[Message]) -> list[str]:
    """The `message_id` of each capture and alert received (the status topic left out)."""
    return [
        json.loads(m.payload)["message_id"]
        for m in messages
        if m.topic.endswith(("/captures", "/alerts"))
    ]


def test_every_event_arrives_exactly_once_per_message_id_across_a_broker_restart(tmp_path):
    """The whole promise to an integrator, on a real Mosquitto restarted mid-run.

    The sink is at-least-once: an offset is committed only after the broker's PUBACK, and
    a publish whose PUBACK was lost with the connection is sent again. The broker keeps
    the subscriber's persistent session and its queued QoS 1 messages across the restart
    (persistence on). The subscriber de-duplicates by `message_id`: it then holds every
    capture and alert of the run exactly once. Three thirds: received live; queued for
    the subscriber while it is away, then the broker restarts (so only its saved state
    holds them); sent as a stream through the restart (publishes in flight, the outage).
    """
    port = free_port()
    process = start_mosquitto(port, tmp_path, persistent=True)
    config = config_for(port, max_attempts=100)  # no dead letters during a short outage
    bus = MemoryBus()
    prepare_topics(bus, config)
    subscriber = Subscriber(port, persistent=True)
    capture_topic, alert_topic = (
        CaptureTopic(config.topics.captures),
        AlertTopic(config.topics.alerts),
    )
    events: list[tuple[CaptureTopic | AlertTopic, Capture | Alert]] = []
    for n in range(30):  # two captures, one alert
        events += [
            (capture_topic, make_capture(camera_id="door", track_id=f"{n}a")),
            (alert_topic, make_alert(person=f"p{n}")),
            (capture_topic, make_capture(camera_id="door", track_id=f"{n}b")),
        ]
    expected = {str(event.message_id): event.model_dump_json().encode() for _, event in events}
    assert len(expected) == len(events) == 90
    producer = bus.producer()

    def publish(pairs: list[tuple[CaptureTopic | AlertTopic, Capture | Alert]]) -> None:
        for topic, event in pairs:
            topic.send(producer, event)
            time.sleep(0.02)  # a stream, so the restart finds publishes in flight

    def committed_all() -> int:
        return committed(bus, config) + committed(bus, config, ALERT_STREAM.group)

    def received() -> set[str]:
        return set(message_ids(subscriber.messages))

    sinks = [Running(SinkWorker(bus, config)), Running(SinkWorker(bus, config, ALERT_STREAM))]
    stream = threading.Thread(target=publish, args=(events[60:],), daemon=True)
    try:
        publish(events[:30])
        subscriber.wait_for(lambda _: len(received()) == 30)
        subscriber.close()  # away: the broker queues for its session
        publish(events[30:60])
        wait_until(lambda: committed_all() == 60)  # each acknowledged by the broker
        stream.start()
        time.sleep(0.3)
        stop(process)  # SIGTERM: Mosquitto saves the sessions and what they have queued
        time.sleep(0.5)  # PUBACKs that arrived before the stop get committed
        held = committed_all()
        time.sleep(1.0)  # the stream goes on during the outage
        assert committed_all() == held, "committed while no broker could acknowledge"
        process = start_mosquitto(port, tmp_path, persistent=True)
        subscriber.resume()
        subscriber.wait_for(lambda _: received() >= set(expected), timeout=20)
        wait_until(lambda: committed_all() == len(events))
    finally:
        stream.join(WAIT_S)
        took = [sink.stop() for sink in sinks]
        subscriber.close()
        stop(process)

    first: dict[str, bytes] = {}
    for message in subscriber.messages:
        if message.topic.endswith(("/captures", "/alerts")):
            first.setdefault(json.loads(message.payload)["message_id"], message.payload)
    assert first == expected  # de-duplicated: each event once, byte for byte, none else
    assert 60 < held < len(events), "the restart did not fall in the stream"
    assert dead_letters(bus, config) == [] and max(took) < 10
