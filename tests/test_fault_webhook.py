"""The callback URL down, failing, then slow, then healthy, while a pipeline runs: nothing lost.

A real pipeline (`run_all`: detector, tracker, capture step, sink worker) turns a
synthetic video into face captures; its webhook posts to a local receiver that first
refuses connections, then answers 500, then answers after the client's timeout, and only
recovers once every capture is published. Each capture must reach the receiver at least
once (it de-duplicates by `X-Vigil-Event-Id` = the body's `message_id`) or be
dead-lettered with a reason naming the URL and the offset to replay it from; and the
capture step must not wait for the receiver.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Iterator
from email.message import Message
from http.server import ThreadingHTTPServer

import pytest

from tests.synthetic_video import moving_faces_frames, write_video
from tests.test_alarm import face_patch
from tests.test_outputs import HOLD, _Handler
from vigil.infra.bus.base import Bus
from vigil.infra.bus.memory import MemoryBus
from vigil.infra.topics.captures import CaptureTopic
from vigil.infra.topics.deadletter import DeadLetterTopic
from vigil.outputs.webhook import EVENT_ID_HEADER
from vigil.schemas.camera import PipelineConfig
from vigil.schemas.capture import Capture
from vigil.schemas.deadletter import DeadLetter
from vigil.workers.pipeline import run_all

PHASE_S = 2.0  # each of down, failing and slow
DEADLINE_S = 60.0
PEOPLE = ("obama2.jpg", "biden.jpg", "grace_hopper.jpg")


class FlakyReceiver(ThreadingHTTPServer):
    """A callback URL whose health the test switches: "down" (the port is bound but refuses
    connections) until `up()`, then "error" (HTTP `error_status`), "slow" (answers after
    the client gave up; it did act on the event) or "ok".

    Like a real receiver it keeps one body per event id (`accepted`) and counts attempts.
    """

    daemon_threads = True

    def __init__(self, mode: str = "ok", error_status: int = 500) -> None:
        super().__init__(("127.0.0.1", 0), _Handler, bind_and_activate=False)
        self.server_bind()
        self.mode = mode
        self.error_status = error_status
        self.release = threading.Event()  # ends the holds of "slow"
        self.attempts: Counter[str] = Counter()
        self.accepted: dict[str, bytes] = {}
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_port}/hook"

    def up(self) -> None:
        self.server_activate()
        self._thread = threading.Thread(target=self.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()

    def switch(self, mode: str) -> None:
        self.mode = mode
        if mode == "ok":
            self.release.set()

    def record(self, headers: Message, body: bytes) -> int | str:
        event_id = headers[EVENT_ID_HEADER]
        with self._lock:
            self.attempts[event_id] += 1
            if self.mode == "error":
                return self.error_status
            self.accepted.setdefault(event_id, body)
        return HOLD if self.mode == "slow" else 200

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # clients that timed out hang up: expected here

    def close(self) -> None:
        self.release.set()
        if self._thread is not None:
            self.shutdown()
            self._thread.join(10)
        self.server_close()


@pytest.fixture
def flaky() -> Iterator[FlakyReceiver]:
    receiver = FlakyReceiver(mode="error")
    yield receiver
    receiver.close()


@pytest.fixture(scope="module")
def video(images, tmp_path_factory):
    frames = moving_faces_frames([face_patch(images, name) for name in PEOPLE], frames=30)
    return write_video(frames, tmp_path_factory.mktemp("video") / "walk.mkv", fps=5)


def pipeline_config(video, webhook: dict | None = None) -> PipelineConfig:
    camera = {"id": "door", "url": str(video), "types": ["face"], "fps": None, "pace": "fast"}
    outputs = {"webhook": webhook} if webhook else {}
    return PipelineConfig.model_validate({"cameras": [camera], "outputs": outputs})


def timed_run(bus: Bus, config: PipelineConfig, published: list[float]) -> list[Capture]:
    """Run the pipeline; `published` gets each capture's time after the start, in seconds."""
    start = time.monotonic()
    summary = run_all(bus, config, on_capture=lambda _: published.append(time.monotonic() - start))
    return summary.captures


@pytest.fixture(scope="module")
def reference(video) -> tuple[list[Capture], float]:
    """Captures of a fault-free run (no webhook) and when the last one was published."""
    published: list[float] = []
    captures = timed_run(MemoryBus(), pipeline_config(video), published)
    assert captures, "the synthetic walk must give captures"
    return captures, published[-1]


def read_topic(bus: MemoryBus, topic) -> list[tuple]:
    """(record, decoded message) of everything on `topic`."""
    consumer = bus.consumer([topic.name], "test-reader")
    return [(r, topic.decode(r)) for r in consumer.poll(timeout=0.2, max_records=10_000)]


def run_the_outage(receiver: FlakyReceiver, published: list[float], expected: int) -> dict:
    """Down, failing, slow for PHASE_S each; healthy once `expected` captures are out."""
    time.sleep(PHASE_S)
    receiver.up()  # mode "error"
    time.sleep(PHASE_S)
    receiver.switch("slow")
    time.sleep(PHASE_S)
    deadline = time.monotonic() + DEADLINE_S
    while len(published) < expected and time.monotonic() < deadline:
        time.sleep(0.05)
    before = len(published)
    receiver.switch("ok")
    return {"published_before_recovery": before}


@pytest.mark.parametrize(
    ("attempts", "backoff_max"),
    [(100, 0.5), (3, 0.2)],
    ids=["retries-outlast-the-outage", "outage-outlasts-the-retries"],
)
def test_webhook_outage_loses_nothing_and_does_not_hold_up_captures(
    video, reference, flaky, attempts, backoff_max
):
    expected, reference_s = reference
    hook = {
        "url": flaky.url,
        "timeout": 0.5,
        "max_attempts": attempts,
        "backoff_initial": 0.1,
        "backoff_max": backoff_max,
    }
    config = pipeline_config(video, hook)
    bus = MemoryBus()
    published: list[float] = []
    outcome: dict = {}
    outage = threading.Thread(
        target=lambda: outcome.update(run_the_outage(flaky, published, len(expected)))
    )
    outage.start()
    try:
        captures = timed_run(bus, config, published)  # returns once every capture settled
    finally:
        outage.join(DEADLINE_S + 3 * PHASE_S)

    # The capture step did not wait for the receiver: all out before it recovered, in time.
    assert len(captures) == len(expected)
    assert outcome["published_before_recovery"] == len(captures)
    assert published[-1] <= 3 * reference_s + 2, (published[-1], reference_s)

    # Every capture delivered at least once, or dead-lettered with the URL and its origin.
    on_topic = {
        (r.topic, r.partition, r.offset): c.message_id
        for r, c in read_topic(bus, CaptureTopic(config.topics.captures))
    }
    produced = {str(c.message_id) for c in captures}
    assert {str(m) for m in on_topic.values()} == produced
    letters: list[DeadLetter] = [
        d for _, d in read_topic(bus, DeadLetterTopic(config.topics.deadletter))
    ]
    dead = {str(on_topic[(d.topic, d.partition, d.offset)]) for d in letters}
    delivered = set(flaky.accepted)
    assert delivered | dead == produced, "a capture was neither delivered nor dead-lettered"
    assert delivered <= produced
    for letter in letters:
        assert letter.stage == "sink.webhook" and flaky.url in letter.reason, letter.reason
    for event_id, body in flaky.accepted.items():  # the de-dup key is in header and body
        assert json.loads(body)["message_id"] == event_id
    if attempts == 100:
        assert not letters and delivered == produced
        assert max(flaky.attempts.values()) > 1, "the outage made the sink retry"
    else:
        assert letters, "three quick attempts cannot outlast a six-second outage"
        assert all(f"(attempt {attempts} of {attempts})" in d.reason for d in letters)
