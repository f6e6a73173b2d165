"""Shared parts of the fault tests: a workload video, private services, the pipeline as
separate processes, and what the disk sink delivered compared with a fault-free run.

Each fault test owns its Redis, Celery worker and tansu broker (the session's ones are
shared with other tests and must not be killed). Track ids start with the ingestor's
random stream id, so runs are compared on `track_key`: the rest of the id (first
sequence, type, number), the revision and the event, all deterministic for one video.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import cv2

from tests.conftest import KAFKA_TEST_TIMEOUTS
from tests.support.processes import (
    free_port,
    s3_env,
    start_redis,
    start_s3rver,
    start_tansu,
    stop,
)
from tests.synthetic_video import crop_around, moving_faces_frames, write_video
from vigil.outputs.disk import CROP_FIELD
from vigil.schemas.camera import PipelineConfig
from vigil.schemas.capture import Capture

FPS = 5
PASS_FRAMES = 30  # 6 s per pass of faces
GAP_FRAMES = 20  # 4 s of empty scene: longer than a track's 2.5 s lost time, so tracks end
FIRST_PASS = ("obama.jpg", "biden.jpg")
SECOND_PASS = ("grace_hopper.jpg",)  # other people, so no relink to a first-pass track
CAMERA = "gate"
DEADLINE_S = 150
# The capture step re-submits a detection whose result is this late (the default, 30 s,
# would make the tests slow): tasks of a SIGKILLed worker or a restarted Redis are lost.
RESUBMIT_S = "6"

TrackKey = tuple[str, int, str]


def face_patches(images: Path, names: tuple[str, ...]) -> list:
    from vigil.models.face_detector import FaceDetector

    detector = FaceDetector()
    patches = []
    for name in names:
        photo = cv2.imread(str(images / name))
        face = max(detector.detect(photo), key=lambda f: f.score)
        patches.append(crop_around(photo, face.box))
    return patches


def workload_video(images: Path, path: Path) -> Path:
    """Two faces walk by, the scene empties (their tracks end), then a third face walks by."""
    first = moving_faces_frames(face_patches(images, FIRST_PASS), frames=PASS_FRAMES, seed=0)
    gap = moving_faces_frames([], frames=GAP_FRAMES, seed=1)
    second = moving_faces_frames(face_patches(images, SECOND_PASS), frames=PASS_FRAMES, seed=2)
    return write_video(first + gap + second, path, fps=FPS, codec="mpeg4")


def pipeline_config(video: Path, out: Path, prefix: str) -> PipelineConfig:
    return PipelineConfig.model_validate(
        {
            "cameras": [
                {
                    "id": CAMERA,
                    "url": str(video),
                    "types": ["face"],
                    # at the video's own rate, so the fault lands while frames still come;
                    # never dropped (more than the video's frames may wait), so runs compare
                    "pace": "realtime",
                    "max_lag_frames": 1000,
                    "keyframe_interval": 1.0,
                }
            ],
            "outputs": {"disk": str(out)},
            "topics": {n: f"{prefix}.{n}" for n in ("frames", "captures", "deadletter", "alerts")},
        }
    )


def track_key(capture: Capture) -> TrackKey:
    """The capture without the run's random stream id: equal across runs of one video."""
    _, rest = capture.track_id.split(".", 1)
    return rest, capture.revision, capture.event.value


def delivered(out: Path) -> list[Capture]:
    """Every capture line the disk sink wrote so far, duplicates included, in file order.

    The sink may be appending: a last line without its newline is not read yet.
    """
    captures = []
    for path in sorted(out.rglob("captures-*.jsonl")):
        *complete, _partial = path.read_bytes().split(b"\n")
        for line in complete:
            record = json.loads(line)
            record.pop(CROP_FIELD, None)
            captures.append(Capture.model_validate(record))
    return captures


def unique(captures: list[Capture]) -> dict[uuid.UUID, Capture]:
    """Captures by message id; a duplicate must be the same event (a replay), never another."""
    by_id: dict[uuid.UUID, Capture] = {}
    for capture in captures:
        first = by_id.setdefault(capture.message_id, capture)
        assert track_key(first) == track_key(capture), (first, capture)
        assert first.target.box == capture.target.box and first.frame_index == capture.frame_index
    return by_id


def wait_until(condition: Callable[[], bool], what: str, deadline: float = DEADLINE_S) -> float:
    """Seconds it took for `condition` to hold; fails the test with `what` after `deadline`."""
    start = time.monotonic()
    while not condition():
        if time.monotonic() - start > deadline:
            raise AssertionError(f"{what}: not after {deadline} s")
        time.sleep(0.1)
    return time.monotonic() - start


def kill(process: subprocess.Popen) -> None:
    """SIGKILL `process` and every process of its session (a worker and its pool children)."""
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def torn_objects(directory: Path) -> list[Path]:
    """Objects of the s3rver in `directory` stored without their metadata: half-written.

    Plain s3rver writes an upload in place, so a PUT cut by the broker's SIGKILL left an
    empty object that tansu then could not parse; `s3rver_strict.js` stores a body only
    once complete, as S3 does. A torn object here means that guarantee broke.
    """
    return [
        path
        for path in directory.rglob("*._S3rver_object")
        if not path.with_name(path.name.replace("_object", "_metadata.json")).exists()
    ]


@dataclass
class Services:
    """Private Redis, Celery worker and tansu broker (durable on s3rver when asked)."""

    workdir: Path
    durable: bool = False
    redis_port: int = field(default_factory=free_port)
    kafka_port: int = field(default_factory=free_port)
    s3_port: int = field(default_factory=free_port)
    redis: subprocess.Popen | None = None
    broker: subprocess.Popen | None = None
    s3rver: subprocess.Popen | None = None
    worker: subprocess.Popen | None = None
    workers_started: int = 0

    def __post_init__(self) -> None:
        self.logs = self.workdir / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)

    @property
    def env(self) -> dict[str, str]:
        redis = f"redis://127.0.0.1:{self.redis_port}"
        return {
            **os.environ,
            "PYTHONUNBUFFERED": "1",
            "VIGIL_CELERY_BROKER": f"{redis}/0",
            "VIGIL_CELERY_BACKEND": f"{redis}/1",
            "VIGIL_CELERY_EAGER": "false",
            "VIGIL_BUS": "kafka",
            "VIGIL_KAFKA_BOOTSTRAP": f"127.0.0.1:{self.kafka_port}",
            "VIGIL_TASK_RESUBMIT_S": RESUBMIT_S,
            **KAFKA_TEST_TIMEOUTS,
        }

    def log(self, name: str):
        return (self.logs / f"{name}.log").open("a")

    def start_redis(self) -> None:
        self.redis = start_redis(self.redis_port, self.workdir)

    def start_broker(self) -> None:
        """tansu; with `durable`, on s3rver, so topics and committed offsets survive it."""
        with self.log("tansu") as log:
            if not self.durable:
                self.broker = start_tansu(self.kafka_port, log)
                return
            if self.s3rver is None:
                self.s3rver = start_s3rver(self.s3_port, self.workdir / "s3", self.log("s3rver"))
            self.broker = start_tansu(self.kafka_port, log, "s3://tansu/", s3_env(self.s3_port))

    def start_worker(self) -> None:
        """A `vigil worker` (prefork, one child) in its own session, so it can die whole."""
        self.workers_started += 1
        self.worker = subprocess.Popen(
            [sys.executable, "-m", "vigil.cli.main", "worker", "--pool", "prefork", "-c", "1"],
            env=self.env,
            stdout=self.log(f"worker{self.workers_started}"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def unacked_tasks(self) -> int:
        """Tasks a worker took but has not acknowledged (kombu's Redis bookkeeping)."""
        return self.redis_client().hlen("unacked")

    def queued_tasks(self) -> int:
        """Tasks waiting in the default queue, not taken by any worker yet."""
        return self.redis_client().llen("celery")

    def redis_client(self):
        import redis

        return redis.Redis(port=self.redis_port, db=0, socket_timeout=5)

    def start(self) -> Services:
        self.start_redis()
        self.start_broker()
        self.start_worker()
        return self

    def restart_redis(self) -> float:
        """Kill Redis (it keeps nothing: queued tasks and results are lost) and start it again."""
        assert self.redis is not None
        started = time.monotonic()
        self.redis.kill()
        self.redis.wait()
        self.start_redis()
        return time.monotonic() - started

    def restart_broker(self, sig: int = signal.SIGKILL) -> float:
        """Stop tansu with `sig`, start a new one once the old has exited (else: address in
        use). Returns the downtime.
        """
        assert self.broker is not None
        started = time.monotonic()
        self.broker.send_signal(sig)
        self.broker.wait()
        self.start_broker()
        return time.monotonic() - started

    def close(self) -> None:
        if self.worker is not None:
            stop(self.worker, timeout=20)
        for process in (self.broker, self.s3rver, self.redis):
            if process is not None:
                stop(process)


@dataclass
class Pipeline:
    """`vigil ingest | capture | sink` as separate processes on `services`."""

    services: Services
    config: PipelineConfig
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)
    starts: int = 0

    def __post_init__(self) -> None:
        self.path = self.services.workdir / "cameras.json"
        self.path.write_text(self.config.model_dump_json())
        self.out = Path(self.config.outputs.disk)

    def start(self, role: str) -> subprocess.Popen:
        self.starts += 1
        process = subprocess.Popen(
            [sys.executable, "-m", "vigil.cli.main", role, str(self.path)],
            env=self.services.env,
            stdout=self.services.log(f"{role}{self.starts}"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.processes[role] = process
        return process

    def start_all(self) -> None:
        for role in ("capture", "sink", "ingest"):
            self.start(role)

    def delivered(self) -> list[Capture]:
        return delivered(self.out)

    def logs(self) -> str:
        return "\n".join(
            f"== {path.name}\n{path.read_text()[-3000:]}"
            for path in sorted(self.services.logs.glob("*.log"))
        )

    def wait_delivered(self, expected: set[TrackKey], deadline: float = DEADLINE_S) -> float:
        """Seconds until every expected capture is on disk; the logs when they never are."""

        def complete() -> bool:
            return expected <= {track_key(c) for c in self.delivered()}

        try:
            return wait_until(complete, "captures delivered", deadline)
        except AssertionError:
            missing = expected - {track_key(c) for c in self.delivered()}
            raise AssertionError(f"missing {sorted(missing)}\n{self.logs()}") from None

    def close(self) -> None:
        for process in self.processes.values():
            stop(process, timeout=20)
