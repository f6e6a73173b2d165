"""Outputs against real endpoints: a scripted local HTTP receiver, a temp folder, /metrics."""

from __future__ import annotations

import base64
import json
import logging
import socket
import threading
import urllib.request
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import suppress
from datetime import UTC, datetime, timedelta, timezone
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.support.synthetic_captures import face_capture
from vigil.infra.metrics import (
    FRAMES_IN,
    REGISTRY,
    SOURCE_STATE,
    render,
    start_metrics_server,
)
from vigil.outputs.disk import DiskSink, read_captures, safe_part
from vigil.outputs.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign, verify
from vigil.outputs.webhook import EVENT_ID_HEADER, WebhookSink, backoff_delay
from vigil.schemas.capture import Capture, CaptureEvent
from vigil.schemas.deadletter import DeadLetter

SECRET = "shared-webhook-secret"
JPEG = b"\xff\xd8\xff\xe0" + bytes(range(256)) + b"\xff\xd9"
DAY = datetime(2024, 5, 6, 12, 30, tzinfo=UTC)
HOLD = "hold"  # a scripted answer: keep the request open, longer than any client timeout
HOLD_LIMIT_S = 5.0  # ... but never longer than this, so no test can hang on it
WAIT_S = 10.0


def make_capture(
    camera_id: str = "cam-1",
    track_id: str = "7",
    revision: int = 0,
    event: CaptureEvent = CaptureEvent.NEW,
    crop: bytes | None = JPEG,
    captured_at: datetime = DAY,
) -> Capture:
    capture = face_capture(
        None,
        camera_id=camera_id,
        track_id=track_id,
        revision=revision,
        event=event,
        start=captured_at,
    )
    crop_jpeg = None if crop is None else base64.b64encode(crop).decode()
    return capture.model_copy(update={"crop_jpeg": crop_jpeg})


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


# --- a real HTTP receiver whose answers each test scripts -------------------------------


class _Handler(BaseHTTPRequestHandler):
    server: Receiver

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        answer = self.server.record(self.headers, body)
        if answer == HOLD:
            self.server.release.wait(HOLD_LIMIT_S)
            answer = 200
        with suppress(OSError):  # a client that timed out has gone
            self.send_response(int(answer))
            self.send_header("Content-Length", "0")
            self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


class Receiver(ThreadingHTTPServer):
    """Answers each POST with the next scripted status (or HOLD), then 200."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.script: deque[int | str] = deque()
        self.received: list[tuple[Message, bytes]] = []
        self.release = threading.Event()
        self._arrivals = threading.Condition()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_port}/hook"

    def record(self, headers: Message, body: bytes) -> int | str:
        with self._arrivals:
            self.received.append((headers, body))
            self._arrivals.notify_all()
            return self.script.popleft() if self.script else 200

    def wait_for(self, count: int) -> bool:
        with self._arrivals:
            return self._arrivals.wait_for(lambda: len(self.received) >= count, WAIT_S)

    def event_ids(self) -> list[str]:
        return [headers[EVENT_ID_HEADER] for headers, _ in self.received]

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # broken pipes from clients that timed out are part of the tests


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield server
    server.release.set()
    server.shutdown()
    server.server_close()
    thread.join(WAIT_S)


@pytest.fixture
def letters() -> list[DeadLetter]:
    return []


@pytest.fixture
def make_sink(
    receiver: Receiver, letters: list[DeadLetter]
) -> Iterator[Callable[..., WebhookSink]]:
    """WebhookSinks with tiny backoff that post to `receiver` and collect into `letters`."""
    sinks: list[WebhookSink] = []

    def make(**options: object) -> WebhookSink:
        settings = {
            "url": receiver.url,
            "timeout": 5.0,
            "backoff_initial": 0.01,
            "backoff_max": 0.02,
            "on_dead_letter": letters.append,
            **options,
        }
        sinks.append(WebhookSink(**settings))  # type: ignore[arg-type]
        return sinks[-1]

    yield make
    receiver.release.set()
    for sink in sinks:
        sink.close(WAIT_S)


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# --- webhook ------------------------------------------------------------------------------


def test_posts_signed_json_that_the_receiver_verifies(receiver, make_sink):
    capture = make_capture()
    sink = make_sink(secret=SECRET)
    assert sink.deliver(capture)
    sink.close(WAIT_S)

    [(headers, body)] = receiver.received
    assert Capture.model_validate_json(body) == capture
    assert headers["Content-Type"] == "application/json"
    assert headers[EVENT_ID_HEADER] == str(capture.message_id)
    assert verify(body, headers, SECRET.encode())
    assert not verify(body, headers, b"not-the-secret")
    stamp = int(headers[TIMESTAMP_HEADER])
    assert not verify(body, headers, SECRET.encode(), now=stamp + 301)


def test_retries_transient_server_errors_until_delivered(receiver, make_sink, letters):
    retried_before = sample("vigil_webhook_deliveries_total", result="retried")
    receiver.script.extend([500, 502, 500])
    sink = make_sink()
    assert sink.deliver(make_capture())
    sink.close(WAIT_S)

    assert len(receiver.received) == 4
    assert len(set(receiver.event_ids())) == 1  # the same id on every attempt, for de-dup
    assert (sink.delivered, sink.retried, sink.failed) == (1, 3, 0)
    assert letters == []
    assert sample("vigil_webhook_deliveries_total", result="retried") == retried_before + 3


@pytest.mark.parametrize(
    ("status", "posts", "delivered"),
    [(400, 1, 0), (404, 1, 0), (410, 1, 0), (408, 2, 1), (429, 2, 1), (503, 2, 1)],
)
def test_only_transient_statuses_are_retried(receiver, make_sink, status, posts, delivered):
    receiver.script.append(status)
    sink = make_sink()
    sink.deliver(make_capture())
    sink.close(WAIT_S)

    assert len(receiver.received) == posts
    assert (sink.delivered, sink.failed) == (delivered, 1 - delivered)


def test_client_error_dead_letters_at_once_with_key_and_excerpt(receiver, make_sink, letters):
    receiver.script.append(400)
    capture = make_capture()
    sink = make_sink()
    sink.deliver(capture)
    sink.close(WAIT_S)

    [letter] = letters
    assert letter.stage == "sink.webhook"
    assert letter.error_code == "http_400"
    assert "HTTP 400" in letter.reason and receiver.url in letter.reason
    assert letter.key == capture.capture_id
    assert letter.payload_excerpt == capture.model_dump_json()[:512]
    assert sink.retried == 0


@pytest.mark.parametrize(
    ("failure", "code"), [("error", "http_503"), ("slow", "timeout"), ("down", "connection")]
)
def test_gives_up_after_the_last_attempt_naming_the_url(
    receiver, make_sink, letters, caplog, failure, code
):
    port = closed_port() if failure == "down" else receiver.server_port
    url = f"http://user:url-password@127.0.0.1:{port}/hook?token=url-token"
    receiver.script.extend([503 if failure == "error" else HOLD] * 3)
    sink = make_sink(url=url, secret=SECRET, max_attempts=3, timeout=0.2)
    caplog.set_level(logging.DEBUG, logger="vigil.outputs")
    sink.deliver(make_capture())
    sink.close(WAIT_S)

    [letter] = letters
    assert letter.error_code == code
    assert f"127.0.0.1:{port}/hook" in letter.reason
    assert "attempt 3 of 3" in letter.reason
    assert sink.retried == 2
    exposed = caplog.text + letter.reason + repr(sink)
    assert not any(s in exposed for s in (SECRET, "url-password", "url-token"))


def test_slow_receiver_is_retried_after_timeouts(receiver, make_sink):
    receiver.script.extend([HOLD, HOLD])
    sink = make_sink(timeout=0.2)
    sink.deliver(make_capture())
    sink.close(WAIT_S)

    assert len(receiver.received) == 3
    assert (sink.delivered, sink.retried) == (1, 2)


def test_url_credentials_become_basic_auth(receiver, make_sink):
    sink = make_sink(url=f"http://vigil:p%40ss@127.0.0.1:{receiver.server_port}/hook")
    sink.deliver(make_capture())
    sink.close(WAIT_S)

    [(headers, _)] = receiver.received
    assert headers["Authorization"] == "Basic " + base64.b64encode(b"vigil:p@ss").decode()


def test_full_queue_dead_letters_instead_of_blocking(receiver, make_sink, letters):
    first, second, third = (make_capture(track_id=str(n)) for n in (1, 2, 3))
    receiver.script.append(HOLD)
    sink = make_sink(workers=1, queue_size=1)
    assert sink.deliver(first)
    assert receiver.wait_for(1)  # the only worker is now stuck on `first`
    assert sink.deliver(second)  # fills the queue
    assert not sink.deliver(third)  # returns at once: a blocking put would only end after HOLD

    [letter] = letters
    assert letter.reason.startswith("queue full") and letter.key == third.capture_id
    receiver.release.set()
    sink.close(WAIT_S)
    assert receiver.event_ids() == [str(first.message_id), str(second.message_id)]
    assert (sink.delivered, sink.failed) == (2, 1)


def test_close_dead_letters_what_it_could_not_deliver(receiver, make_sink, letters):
    held, queued, late = (make_capture(track_id=str(n)) for n in (1, 2, 3))
    receiver.script.append(HOLD)
    sink = make_sink(workers=1)
    sink.deliver(held)
    assert receiver.wait_for(1)
    sink.deliver(queued)
    sink.close(timeout=0.1)  # `held` is still in flight at the deadline
    assert not sink.deliver(late)

    assert [(d.key, d.error_code) for d in letters] == [
        (queued.capture_id, "closed"),
        (late.capture_id, "closed"),
    ]


@pytest.mark.parametrize(
    ("attempt", "jitter", "expected"),
    [(1, 0.0, 0.25), (1, 1.0, 0.5), (3, 1.0, 2.0), (10, 0.0, 5.0), (10, 1.0, 10.0), (999, 1, 10)],
)
def test_backoff_doubles_with_jitter_up_to_the_cap(attempt, jitter, expected):
    assert backoff_delay(attempt, 0.5, 10.0, rng=lambda: jitter) == pytest.approx(expected)


def test_rejects_non_http_urls():
    with pytest.raises(ValueError, match="http"):
        WebhookSink("file:///etc/passwd")


# --- signatures ---------------------------------------------------------------------------

BODY = b'{"capture_id":"cam-1/7"}'
STAMP = 1_717_171_717
EVENT = "6f1c2b7e-4d0a-4c7e-9b1f-0d2a9c3e5f70"


def _replace_signature(value: str) -> Callable[[dict[str, str]], dict[str, str]]:
    return lambda headers: {**headers, SIGNATURE_HEADER: value}


@pytest.mark.parametrize(
    ("tamper", "body", "now"),
    [
        pytest.param(lambda h: h, BODY + b" ", STAMP, id="body-changed"),
        pytest.param(lambda h: h, BODY, STAMP + 301, id="replayed-late"),
        pytest.param(lambda h: h, BODY, STAMP - 301, id="from-the-future"),
        pytest.param(lambda h: {**h, TIMESTAMP_HEADER: str(STAMP + 1)}, BODY, STAMP, id="moved"),
        pytest.param(lambda h: {TIMESTAMP_HEADER: h[TIMESTAMP_HEADER]}, BODY, STAMP, id="unsigned"),
        pytest.param(lambda h: {**h, TIMESTAMP_HEADER: "noon"}, BODY, STAMP, id="bad-stamp"),
        pytest.param(_replace_signature("v1=zz"), BODY, STAMP, id="bad-hex"),
        pytest.param(_replace_signature("v1=é"), BODY, STAMP, id="non-ascii"),
        pytest.param(_replace_signature("v0=" + "0" * 64), BODY, STAMP, id="other-scheme"),
    ],
)
def test_verify_refuses_tampered_or_stale_requests(tamper, body, now):
    headers = sign(BODY, SECRET.encode(), timestamp=STAMP, event_id=EVENT)
    assert verify(BODY, headers, SECRET.encode(), now=STAMP)
    assert not verify(body, tamper(headers), SECRET.encode(), now=now)


def test_verify_accepts_any_listed_signature_and_any_header_case():
    good = sign(BODY, SECRET.encode(), timestamp=STAMP, event_id=EVENT)
    rotated = {
        TIMESTAMP_HEADER.lower(): str(STAMP),
        EVENT_ID_HEADER.upper(): EVENT,
        SIGNATURE_HEADER.upper(): f"v1={'0' * 64}, {good[SIGNATURE_HEADER]}",
    }
    assert verify(BODY, rotated, SECRET.encode(), now=STAMP + 299)


def test_the_event_id_header_is_signed_so_a_rewritten_id_fails(receiver, make_sink):
    """Issue 12.6a: receivers de-duplicate by X-Vigil-Event-Id, so it is inside the MAC (v2)."""
    capture = make_capture()
    sink = make_sink(secret=SECRET)
    assert sink.deliver(capture)
    sink.close(WAIT_S)
    [(headers, body)] = receiver.received
    sent = {name: headers[name] for name in (TIMESTAMP_HEADER, SIGNATURE_HEADER, EVENT_ID_HEADER)}
    assert "v2=" in sent[SIGNATURE_HEADER] and "v1=" in sent[SIGNATURE_HEADER]
    assert verify(body, sent, SECRET.encode())

    other_id = {**sent, EVENT_ID_HEADER: "00000000-0000-4000-8000-000000000000"}
    v1_only = {**other_id, SIGNATURE_HEADER: sent[SIGNATURE_HEADER].split(",")[0]}
    no_id = {name: value for name, value in sent.items() if name != EVENT_ID_HEADER}
    assert not verify(body, other_id, SECRET.encode()), "a replay under a new id must fail"
    assert not verify(body, v1_only, SECRET.encode()), "v1 does not cover the id"
    assert not verify(body, no_id, SECRET.encode()), "Vigil always sends the id"
    # a sender that signs the body only (v1, no id) is accepted when the receiver says so
    assert verify(body, no_id, SECRET.encode(), require_event_id=False)
    assert not verify(body, {**no_id, EVENT_ID_HEADER: "x.y"}, SECRET.encode())


def _stamped(value: str) -> dict[str, str]:
    return {**sign(BODY, SECRET.encode(), timestamp=STAMP, event_id=EVENT), TIMESTAMP_HEADER: value}


@pytest.mark.parametrize(
    ("body", "headers", "secret"),
    [
        pytest.param(BODY, _stamped("9" * 400), SECRET, id="400-digit-stamp"),
        pytest.param(BODY, _stamped("1" * 5000), SECRET, id="5000-digit-stamp"),
        pytest.param(BODY, _stamped("1_717_171_717"), SECRET, id="underscored-stamp"),
        pytest.param(BODY, _stamped("١٧١٧١٧١٧١٧"), SECRET, id="arabic-digits"),
        pytest.param(BODY, _stamped("-1"), SECRET, id="negative-stamp"),
        pytest.param(BODY, {TIMESTAMP_HEADER: str(STAMP)}, SECRET, id="no-signature-header"),
        pytest.param(BODY, {SIGNATURE_HEADER: "v2=00"}, SECRET, id="no-timestamp-header"),
        pytest.param(BODY, {TIMESTAMP_HEADER: str(STAMP), SIGNATURE_HEADER: None}, SECRET,
                     id="none-value"),
        pytest.param(BODY, {TIMESTAMP_HEADER: STAMP, SIGNATURE_HEADER: 5}, SECRET, id="int-values"),
        pytest.param(BODY, None, SECRET, id="no-headers"),
        pytest.param(BODY, [("only-a-name",)], SECRET, id="bad-pairs"),
        pytest.param(BODY, 42, SECRET, id="headers-not-iterable"),
        pytest.param(BODY, [*_stamped(str(STAMP)).items(), (TIMESTAMP_HEADER, "1")], SECRET,
                     id="two-timestamps"),
        pytest.param(BODY, {**_stamped(str(STAMP)), SIGNATURE_HEADER: "v2=" + "0" * 10_000},
                     SECRET, id="huge-signature"),
        pytest.param(BODY.decode(), _stamped(str(STAMP)), SECRET, id="str-body"),
        pytest.param(None, _stamped(str(STAMP)), SECRET, id="no-body"),
        pytest.param(BODY, _stamped(str(STAMP)), None, id="no-secret"),
        pytest.param(BODY, _stamped(str(STAMP)), 12, id="int-secret"),
    ],
)  # fmt: skip
def test_verify_returns_false_on_any_malformed_input(body, headers, secret):
    """Issue 12.6b: documented never to raise (was OverflowError, AttributeError, TypeError)."""
    key = secret.encode() if isinstance(secret, str) else secret
    assert verify(body, headers, key, now=float(STAMP)) is False  # a float clock, as time()


def test_verify_takes_header_pairs_of_bytes_as_asgi_gives_them():
    signed = sign(BODY, SECRET.encode(), timestamp=STAMP, event_id=EVENT)
    raw = [(name.lower().encode(), value.encode()) for name, value in signed.items()]
    assert verify(BODY, raw, SECRET.encode(), now=STAMP)
    assert verify(BODY, signed, SECRET.encode(), now=STAMP, tolerance_s=float("nan")) is False
    assert verify(BODY, signed, SECRET.encode(), now=float("nan")) is False


# --- disk ---------------------------------------------------------------------------------


def test_disk_writes_jsonl_and_crops_that_round_trip(tmp_path):
    east = timezone(timedelta(hours=2))
    captures = [
        make_capture(),
        make_capture(revision=1, event=CaptureEvent.UPDATE, crop=JPEG[::-1]),
        make_capture(revision=2, event=CaptureEvent.END, crop=None),
        # 01:00 at UTC+2 is still the 6th in UTC, so it belongs in the same file.
        make_capture(track_id="8", captured_at=datetime(2024, 5, 7, 1, 0, tzinfo=east)),
    ]
    sink = DiskSink(tmp_path)
    paths = {sink.deliver(capture) for capture in captures}
    sink.close()

    camera = tmp_path / "cam-1"
    assert paths == {camera / "captures-2024-05-06.jsonl"}
    assert list(read_captures(camera / "captures-2024-05-06.jsonl")) == captures
    assert (camera / "crops" / "7-0-new.jpg").read_bytes() == JPEG
    assert (camera / "crops" / "7-1-update.jpg").read_bytes() == JPEG[::-1]
    lines = [json.loads(line) for line in paths.pop().read_text().splitlines()]
    assert [line["crop_path"] for line in lines[:3]] == [
        "crops/7-0-new.jpg",
        "crops/7-1-update.jpg",
        None,
    ]
    assert not any("crop_jpeg" in line for line in lines)


@pytest.mark.parametrize(
    "bad_id", ["../../escaped", "/etc/passwd", "..", ".hidden", "a\x00b", "a/../../b", "C:\\x"]
)
def test_disk_escapes_ids_that_would_leave_its_folder(tmp_path, bad_id):
    root = tmp_path / "archive"
    capture = make_capture(camera_id=bad_id, track_id=bad_id)
    sink = DiskSink(root)
    path = sink.deliver(capture)
    sink.close()

    assert list(tmp_path.iterdir()) == [root]
    assert path.parent.parent == root
    [crop] = (path.parent / "crops").iterdir()
    assert crop.parent.parent == path.parent
    assert list(read_captures(path)) == [capture]


def test_escaping_keeps_distinct_ids_apart_and_refuses_unusable_ones():
    assert safe_part("cam-1.main_2") == "cam-1.main_2"
    assert safe_part("a/b") != safe_part("a%2Fb")
    for unusable in ("", "x" * 200):
        with pytest.raises(ValueError):
            safe_part(unusable)


def test_disk_appends_whole_lines_from_many_threads(tmp_path):
    sink = DiskSink(tmp_path)
    captures = [make_capture(track_id=str(n), crop=None) for n in range(100)]
    threads = [threading.Thread(target=sink.deliver, args=(c,)) for c in captures]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT_S)
    sink.close()

    written = list(read_captures(tmp_path / "cam-1" / "captures-2024-05-06.jsonl"))
    assert sorted(c.track_id for c in written) == sorted(c.track_id for c in captures)


def test_closed_disk_sink_refuses_captures(tmp_path):
    sink = DiskSink(tmp_path)
    sink.close()
    with pytest.raises(RuntimeError, match="closed"):
        sink.deliver(make_capture(crop=None))


# --- metrics ------------------------------------------------------------------------------


def test_render_shows_incremented_counters():
    before = sample("vigil_frames_in_total", camera="render-test")
    FRAMES_IN.labels(camera="render-test").inc(3)

    assert sample("vigil_frames_in_total", camera="render-test") == before + 3
    assert b'vigil_frames_in_total{camera="render-test"}' in render()


def test_source_state_is_one_for_the_current_state_only():
    SOURCE_STATE.labels(camera="state-test").state("streaming")

    assert sample("vigil_source_state", camera="state-test", vigil_source_state="streaming") == 1
    assert sample("vigil_source_state", camera="state-test", vigil_source_state="failed") == 0


def test_metrics_endpoint_serves_the_registry():
    FRAMES_IN.labels(camera="http-test").inc()
    port = start_metrics_server(0)

    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=WAIT_S) as response:
        text = response.read().decode()
    assert 'vigil_frames_in_total{camera="http-test"} 1.0' in text
