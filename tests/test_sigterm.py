"""Every role ends within 10 s of SIGTERM (or SIGINT), cleanly, even while its camera is down.

Real `vigil` processes: `ingest` (over tansu) and `run` (embedded) with a live camera on a
port nobody listens on, signalled while they back off between reconnects; `capture`,
`sink`, `alarm`, `history write` and `worker` signalled while their broker is up and idle.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import KAFKA_TEST_TIMEOUTS, tansu_broker
from tests.support.processes import free_port, stop
from tests.test_outputs import make_capture
from vigil.alarm.worker import ALARM_GROUP
from vigil.capture.worker import CAPTURE_GROUP
from vigil.cli.pipeline import install_stop_handlers
from vigil.history.writer import HISTORY_GROUP
from vigil.infra.bus.kafka import KafkaBus
from vigil.infra.bus.memory import MemoryBus
from vigil.infra.topics.captures import CaptureTopic
from vigil.outputs.sink_worker import ALERT_SINK_GROUP, SINK_GROUP
from vigil.schemas.camera import PipelineConfig
from vigil.video.source import SourceState, VideoSource
from vigil.workers.pipeline import drain, prepare_topics

pytestmark = pytest.mark.timeout(180)

STOP_S = 10.0  # every role ends within this long of the signal
READY_S = 90.0  # start-up on a loaded machine (imports, a Kafka group join)
READY = "until SIGTERM or SIGINT"  # logged by each role once it is set up
RECONNECTS = 3  # back-off waits seen before the signal: the camera is down for good


@pytest.fixture(scope="module")
def kafka_bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A broker of this module's own: the roles here join the real group names
    (vigil-capture, vigil-sink, ...), and a member another module's test left joining in
    the session's broker holds such a group until its rebalance times out."""
    yield from tansu_broker(tmp_path_factory, "tansu-sigterm")


def dead_camera() -> str:
    """An RTSP URL on a port that was free a moment ago: every connect is refused."""
    return f"rtsp://127.0.0.1:{free_port()}/x"


def write_config(tmp_path: Path, prefix: str, **extra: object) -> Path:
    config = {
        "cameras": [{"id": "door", "url": dead_camera()}],
        "topics": {n: f"{prefix}.{n}" for n in ("frames", "captures", "deadletter", "alerts")},
        **extra,
    }
    path = tmp_path / "cameras.json"
    path.write_text(json.dumps(config))
    return path


def embedded_env() -> dict[str, str]:
    """No bus or Celery settings: `vigil run` keeps everything in its process."""
    return {k: v for k, v in os.environ.items() if not k.startswith("VIGIL_")}


@pytest.fixture
def kafka_env(kafka_bootstrap: str) -> dict[str, str]:
    return {
        **embedded_env(),
        "VIGIL_BUS": "kafka",
        "VIGIL_KAFKA_BOOTSTRAP": kafka_bootstrap,
        **KAFKA_TEST_TIMEOUTS,
    }


class Role:
    """A `vigil` process with its log; always reaped."""

    def __init__(self, tmp_path: Path, args: list[str], env: dict[str, str]) -> None:
        self.name = " ".join(arg for arg in args if "/" not in arg)
        self.log = tmp_path / "role.log"
        with self.log.open("w") as handle:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "vigil.cli.main", *args],
                env=env,
                stdout=handle,
                stderr=subprocess.STDOUT,
            )

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_for_log(self, needle: str, count: int = 1) -> None:
        deadline = time.monotonic() + READY_S
        while self.text().count(needle) < count:
            assert self.process.poll() is None, f"exited early:\n{self.text()[-3000:]}"
            assert time.monotonic() < deadline, f"no {needle!r} x{count}:\n{self.text()[-3000:]}"
            time.sleep(0.1)

    def signal_and_wait(self, signum: int = signal.SIGTERM) -> tuple[int, float]:
        """Exit status and seconds from the signal to the exit."""
        assert self.process.poll() is None, f"exited before the signal:\n{self.text()[-3000:]}"
        signalled = time.monotonic()
        self.process.send_signal(signum)
        try:
            status = self.process.wait(STOP_S)
        except subprocess.TimeoutExpired:
            pytest.fail(f"still running {STOP_S:.0f} s after {signum!r}:\n{self.text()[-3000:]}")
        return status, time.monotonic() - signalled


@pytest.fixture
def roles() -> Iterator[list[Role]]:
    started: list[Role] = []
    yield started
    for role in started:
        stop(role.process, timeout=5)


def assert_stopped_cleanly(role: Role, signum: int = signal.SIGTERM) -> None:
    status, took = role.signal_and_wait(signum)
    assert status == 0, f"exit status {status}:\n{role.text()[-3000:]}"
    print(f"\nvigil {role.name}: ended {took:.2f} s after {signal.Signals(signum).name}")


# --- a camera that is down: the source backs off between reconnects ---------------------


@pytest.mark.integration
def test_ingest_with_its_camera_down_ends_on_sigterm(tmp_path, kafka_env, roles):
    config = write_config(tmp_path, f"g{uuid.uuid4().hex[:6]}")
    role = Role(tmp_path, ["ingest", str(config)], kafka_env)
    roles.append(role)
    role.wait_for_log("backing_off", RECONNECTS)
    assert_stopped_cleanly(role)
    assert "ended stopped" in role.text()
    assert json.loads(role.text().strip().splitlines()[-1])["errors"] == {}


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["sigterm", "sigint"])
def test_run_with_its_camera_down_ends_on_a_signal(tmp_path, roles, signum):
    config = write_config(tmp_path, "vigil", outputs={"disk": str(tmp_path / "out")})
    role = Role(tmp_path, ["run", str(config)], embedded_env())
    roles.append(role)
    role.wait_for_log("backing_off", RECONNECTS)
    assert_stopped_cleanly(role, signum)
    assert "ended stopped" in role.text()


# --- the other roles, their broker up and idle --------------------------------------------


IDLE_ROLES = {  # command: the (topic, consumer group) pairs it reads
    "capture": [("frames", CAPTURE_GROUP)],
    "sink": [("captures", SINK_GROUP), ("alerts", ALERT_SINK_GROUP)],
    "alarm": [("captures", ALARM_GROUP)],
    "history write": [("captures", HISTORY_GROUP)],
}


@pytest.mark.integration
@pytest.mark.parametrize("command", IDLE_ROLES)
def test_an_idle_role_ends_on_sigterm(tmp_path, kafka_bootstrap, kafka_env, roles, command):
    from vigil.groups.service import GroupService

    groups = tmp_path / "watchlists.db"
    with GroupService(groups) as service:
        service.create_group("wanted")
    prefix = f"i{uuid.uuid4().hex[:6]}"
    config = write_config(
        tmp_path,
        prefix,
        outputs={"disk": str(tmp_path / "out"), "alerts": {"disk": str(tmp_path / "alerts")}},
        watchlists=[{"group": "wanted"}],
        groups_uri=str(groups),
        history={"uri": str(tmp_path / "history.db")},
    )
    role = Role(tmp_path, [*command.split(), str(config)], kafka_env)
    roles.append(role)
    role.wait_for_log(READY)
    # One record it dead-letters and commits: it has joined its group and polls. (Stopped
    # while still joining, a member stays in tansu's group until the rebalance times out,
    # and the next process of that group waits that long.)
    bus = KafkaBus(kafka_bootstrap)
    try:
        producer = bus.producer()
        for topic, _ in IDLE_ROLES[command]:
            producer.send(f"{prefix}.{topic}", b"not a record", key="door")
        producer.flush(30)
        producer.close()
        deadline = time.monotonic() + READY_S
        for topic, group in IDLE_ROLES[command]:
            while sum(bus.committed(f"{prefix}.{topic}", group).values()) < 1:
                assert role.process.poll() is None, f"exited early:\n{role.text()[-3000:]}"
                assert time.monotonic() < deadline, f"{group} idle:\n{role.text()[-3000:]}"
                time.sleep(0.2)
    finally:
        bus.close()
    assert_stopped_cleanly(role)


@pytest.mark.parametrize("command", ["capture", "sink", "ingest"])
def test_a_role_whose_broker_is_down_ends_on_sigterm(tmp_path, roles, command):
    """The broker never answers: kafka-python retries its bootstrap with no stop flag in
    reach, so the stop deadline ends the process (nothing was taken, nothing is lost)."""
    config = write_config(tmp_path, "down", outputs={"disk": str(tmp_path / "out")})
    env = {**embedded_env(), "VIGIL_BUS": "kafka", "VIGIL_KAFKA_BOOTSTRAP": dead_broker()}
    role = Role(tmp_path, [command, str(config)], env)
    roles.append(role)
    role.wait_for_log("ECONNREFUSED")  # retrying its bootstrap
    status, took = role.signal_and_wait()
    assert took < STOP_S and status in (0, 1, -signal.SIGTERM), (status, role.text()[-2000:])
    print(f"\nvigil {command} (broker down): ended {took:.2f} s after SIGTERM")


@pytest.mark.integration
def test_a_sink_whose_webhook_is_down_ends_on_sigterm(tmp_path, kafka_bootstrap, kafka_env, roles):
    """The receiver refuses every POST: the sink backs off between retries, holding a capture
    it may not commit; a signal still ends it within the bound."""
    prefix = f"w{uuid.uuid4().hex[:6]}"
    hook = {"url": f"http://127.0.0.1:{free_port()}/hook", "max_attempts": 100}
    config = write_config(tmp_path, prefix, outputs={"webhook": hook})
    role = Role(tmp_path, ["sink", str(config)], kafka_env)
    roles.append(role)
    role.wait_for_log(READY)
    bus = KafkaBus(kafka_bootstrap)
    try:
        producer = bus.producer()
        CaptureTopic(f"{prefix}.captures").send(producer, make_capture(camera_id="door"))
        producer.flush(30)
        producer.close()
    finally:
        bus.close()
    time.sleep(3)  # a few refused attempts and back-off waits
    status, took = role.signal_and_wait()
    assert took < STOP_S and status in (0, 1), (status, role.text()[-2000:])
    print(f"\nvigil sink (webhook down): ended {took:.2f} s after SIGTERM")


def dead_broker() -> str:
    return f"127.0.0.1:{free_port()}"


@pytest.mark.integration
def test_an_idle_celery_worker_ends_on_sigterm(tmp_path, redis_url, roles):
    import redis

    db = 7  # not the session worker's: its clients are told apart by database
    env = {
        **embedded_env(),
        "VIGIL_CELERY_BROKER": f"{redis_url}/{db}",
        "VIGIL_CELERY_BACKEND": f"{redis_url}/{db + 1}",
        "VIGIL_CELERY_EAGER": "false",
    }
    role = Role(tmp_path, ["worker", "--pool", "solo"], env)
    roles.append(role)
    server = redis.Redis.from_url(redis_url)

    def waiting_for_tasks() -> bool:  # Celery's own "ready." line is not logged by vigil
        return any(c["db"] == str(db) and c["cmd"] == "brpop" for c in server.client_list())

    deadline = time.monotonic() + READY_S
    while not waiting_for_tasks():
        assert role.process.poll() is None, f"exited early:\n{role.text()[-3000:]}"
        assert time.monotonic() < deadline, f"not consuming:\n{role.text()[-3000:]}"
        time.sleep(0.2)
    server.close()
    assert_stopped_cleanly(role)


# --- the parts, in process ----------------------------------------------------------------


def test_a_shared_stop_event_ends_a_source_waiting_to_reconnect():
    shutdown = threading.Event()
    states: list[SourceState] = []
    source = VideoSource(
        dead_camera(), backoff_initial=60.0, backoff_max=60.0, stop=shutdown,
        on_state=lambda state, _message: states.append(state),
    )  # fmt: skip
    timer = threading.Timer(1.0, shutdown.set)
    timer.start()
    started = time.monotonic()
    try:
        assert list(source.frames()) == []
    finally:
        timer.cancel()
    assert time.monotonic() - started < 3, "the 60 s back-off wait ended with the event"
    assert states[-2:] == [SourceState.BACKING_OFF, SourceState.ENDED]


def test_a_second_signal_acts_as_if_no_handler_were_installed():
    before = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    stop_requested = threading.Event()
    try:
        install_stop_handlers(stop_requested)
        signal.raise_signal(signal.SIGTERM)
        assert stop_requested.is_set()
        assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL
        assert signal.getsignal(signal.SIGINT) == signal.default_int_handler
    finally:
        for signum, handler in before.items():
            signal.signal(signum, handler)


def test_drain_after_a_stop_waits_only_its_grace(tmp_path):
    """What the capture step has not processed when a signal comes is left to the next run."""
    config = PipelineConfig.model_validate({"cameras": [{"id": "door", "url": "x.mp4"}]})
    bus = MemoryBus()
    prepare_topics(bus, config)
    producer = bus.producer()
    CaptureTopic(config.topics.captures).send(producer, make_capture())
    busy = threading.Event()
    worker = threading.Thread(target=busy.wait, name="SinkWorker", daemon=True)
    worker.start()
    stopped = threading.Event()
    stopped.set()
    started = time.monotonic()
    try:
        drain(bus, [(producer, config.topics.captures, SINK_GROUP)], [worker], stopped, 0.5)
    finally:
        busy.set()
    assert 0.4 < time.monotonic() - started < 3
