"""Camera and pipeline configuration: one YAML/JSON file describes every camera.

cameras:
  - id: gate-1
    url: rtsp://10.0.0.5/stream1
    types: [face, person]
  - id: lobby
    url: /data/lobby.mp4
    fps: 10
outputs:
  disk: /var/lib/vigil/captures
  alerts: {webhook: {url: "https://example.org/alerts", secret_env: VIGIL_ALERT_SECRET}}
  mqtt: {host: broker.local, topic_prefix: vigil}
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Literal

from pydantic import Field, field_serializer, model_validator

from vigil.schemas.analyze import ALL_ATTRIBUTES, ALL_TYPES, Attribute
from vigil.schemas.base import VigilModel
from vigil.schemas.errors import ErrorCode, VigilError
from vigil.schemas.history import HistoryConfig
from vigil.schemas.target import TargetType

CAMERA_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
EVERY_GROUP = "*"  # a watchlist of every feature group there is (see alarm/decider.py)


class TopicNames(VigilModel):
    """Topic names, overridable per deployment (e.g. a prefix per site)."""

    frames: str = Field(default="vigil.frames", description="JPEG frames, keyed by camera")
    captures: str = Field(default="vigil.captures", description="best-shot captures")
    deadletter: str = Field(default="vigil.deadletter", description="failed messages + reason")
    alerts: str = Field(default="vigil.alerts", description="watchlist alerts")


class Pace(StrEnum):
    AUTO = "auto"  # live sources in real time, files as fast as analysis allows
    REALTIME = "realtime"  # drop frames when analysis falls behind
    FAST = "fast"  # wait for analysis, never drop (files)


class CameraConfig(VigilModel):
    id: str = Field(pattern=CAMERA_ID_PATTERN, description="unique; the Kafka key")
    url: str = Field(min_length=1, description="rtsp://, http(s)://, a video file or a folder")
    enabled: bool = True
    fps: float | None = Field(default=5.0, gt=0, le=120, description="sampling rate; null = all")
    pace: Pace = Pace.AUTO
    loop: bool = Field(
        default=False, description="files: replay from the start at the end (load tests, demos)"
    )
    types: frozenset[TargetType] = Field(default=ALL_TYPES, min_length=1)
    attributes: frozenset[Attribute] = Field(default=ALL_ATTRIBUTES)
    features: bool = Field(default=True, description="compute face features on best shots")
    min_size: int = Field(default=0, ge=0, le=4000, description="min short box side, pixels")
    min_quality: float = Field(default=0.0, ge=0, le=1)
    focused_face_search: bool = Field(
        default=True,
        description="between key frames, search small faces only around face tracks and"
        " motion, and in persons' head regions when persons are detected (a third of the"
        " face-detector calls on a busy scene); false searches the whole frame for them in"
        " every frame",
    )
    keyframe_interval: float = Field(
        default=2.0, gt=0, le=600, description="seconds between full detections of a static scene"
    )
    still_recheck: float = Field(
        default=10.0,
        ge=0,
        le=600,
        description="in a scene where nothing moves, key frames reuse the last detection;"
        " after this many seconds a key frame is detected again if its picture changed since"
        " that detection (a change too slow to count as motion), else the detection holds"
        " (seconds; 0: every key frame is detected)",
    )
    motion_min_fraction: float = Field(
        default=0.0005, ge=0, le=1, description="moving share of pixels that triggers detection"
    )
    jpeg_quality: int = Field(default=85, ge=30, le=100)
    max_width: int = Field(default=1920, ge=160, le=8192, description="larger frames are scaled")
    rtsp_transport: str = Field(default="tcp", pattern="^(tcp|udp)$")
    stall_timeout: float = Field(default=10.0, gt=0, le=600)
    stop_after: float | None = Field(
        default=None, gt=0, description="stop after this many seconds of source time (tests, demo)"
    )
    max_lag_frames: int = Field(
        default=25, ge=1, le=100_000, description="unprocessed frames before real-time drops"
    )

    @field_serializer("types", "attributes")
    def _sorted(self, values: frozenset[StrEnum]) -> list[str]:
        return sorted(value.value for value in values)


class WebhookConfig(VigilModel):
    url: str = Field(pattern=r"^https?://", description="callback URL receiving POSTed JSON")
    secret_env: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,127}$",
        description="name of the environment variable holding the HMAC secret",
    )
    timeout: float = Field(default=5.0, gt=0, le=120)
    max_attempts: int = Field(default=5, ge=1, le=100)
    backoff_initial: float = Field(default=0.5, gt=0, le=60, description="first retry delay, s")
    backoff_max: float = Field(default=10.0, gt=0, le=600, description="retry delay cap, s")
    queue_size: int = Field(
        default=1000, ge=1, le=100_000, description="events queued before the sink stops reading"
    )
    workers: int = Field(default=2, ge=1, le=64, description="POSTs in flight at once")

    def secret(self, environ: Mapping[str, str] | None = None) -> str | None:
        """The HMAC secret, read from the variable `secret_env` names; None when unsigned.

        A sink configured to sign must not start unsigned, nor with a trace: an unset or
        empty variable is `invalid_options`, naming the variable (never a value).
        """
        if self.secret_env is None:
            return None
        value = (os.environ if environ is None else environ).get(self.secret_env)
        if not value:
            state = "is empty" if value == "" else "is not set"
            raise VigilError(
                ErrorCode.INVALID_OPTIONS,
                f"webhook secret_env names the environment variable {self.secret_env}, which"
                f" {state} in this process: export it (or remove secret_env to post unsigned)",
            )
        return value


ENV_NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]{0,127}$"


def _from_env(variable: str, what: str, environ: Mapping[str, str] | None) -> str:
    """The value of `variable`; unset or empty is `invalid_options`, naming it (never a value)."""
    value = (os.environ if environ is None else environ).get(variable)
    if not value:
        state = "is empty" if value == "" else "is not set"
        raise VigilError(
            ErrorCode.INVALID_OPTIONS,
            f"{what} names the environment variable {variable}, which {state} in this process:"
            " export it",
        )
    return value


class MqttConfig(VigilModel):
    """An MQTT broker receiving each event as JSON at QoS 1 (the webhook's body).

    Captures go to `<topic_prefix>/<camera>/captures`, alerts to `<topic_prefix>/alerts`;
    `<topic_prefix>/status` holds "online" (retained) while the sink is connected, and
    "offline" once it stopped or its connection died (the Last Will).
    """

    host: str = Field(min_length=1, max_length=253, pattern=r"^[^\s/]+$")
    port: int = Field(default=1883, ge=1, le=65535)
    topic_prefix: str = Field(
        default="vigil",
        min_length=1,
        max_length=128,
        pattern=r"^[^+#/\x00]+(/[^+#/\x00]+)*$",
        description="first topic levels: no wildcards (+ #), NUL, or empty level",
    )
    client_id: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9_.-]{1,64}$",
        description="the stream is appended (-captures, -alerts); default vigil-<host>-<pid>",
    )
    username_env: str | None = Field(
        default=None, pattern=ENV_NAME_PATTERN, description="variable holding the user name"
    )
    password_env: str | None = Field(
        default=None, pattern=ENV_NAME_PATTERN, description="variable holding the password"
    )
    tls: bool = Field(default=False, description="TLS with the system's CA certificates")
    qos: Literal[1] = Field(default=1, description="always 1: an offset waits for the PUBACK")
    keepalive: int = Field(default=30, ge=5, le=3600, description="seconds")
    connect_timeout: float = Field(default=3.0, gt=0, le=30, description="per connection try, s")
    publish_timeout: float = Field(default=5.0, gt=0, le=120, description="wait for a PUBACK, s")
    max_attempts: int = Field(default=5, ge=1, le=100)
    backoff_initial: float = Field(default=0.5, gt=0, le=60, description="first retry delay, s")
    backoff_max: float = Field(default=10.0, gt=0, le=600, description="retry delay cap, s")
    queue_size: int = Field(
        default=1000, ge=1, le=100_000, description="events queued before the sink stops reading"
    )

    def credentials(
        self, environ: Mapping[str, str] | None = None
    ) -> tuple[str, str | None] | None:
        """(user, password) read from the variables named; None without `username_env`."""
        if self.username_env is None:
            if self.password_env is not None:
                raise VigilError(
                    ErrorCode.INVALID_OPTIONS, "mqtt password_env needs username_env as well"
                )
            return None
        user = _from_env(self.username_env, "mqtt username_env", environ)
        if self.password_env is None:
            return user, None
        return user, _from_env(self.password_env, "mqtt password_env", environ)


class SinksConfig(VigilModel):
    """Where a topic's events are delivered besides Kafka."""

    disk: Path | None = Field(default=None, description="folder for JSON Lines + crops")
    webhook: WebhookConfig | None = None
    mqtt: MqttConfig | None = None

    @property
    def configured(self) -> bool:
        return self.disk is not None or self.webhook is not None or self.mqtt is not None


class OutputsConfig(SinksConfig):
    """Capture sinks, and under `alerts` the alert sinks (delivered from `vigil.alerts`)."""

    kafka: bool = Field(default=True, description="captures on the captures topic (always on)")
    alerts: SinksConfig = Field(default_factory=SinksConfig, description="alert disk / webhook")


class WatchlistConfig(VigilModel):
    """A feature group watched on some cameras, with its own threshold and cooldown."""

    group: str = Field(
        min_length=1,
        max_length=64,
        description="feature group name, or * for every group (those created later too)",
    )
    cameras: list[str] = Field(default_factory=lambda: ["*"], description="ids, or * for all")
    far: float = Field(default=1e-3, gt=0, lt=1, description="false-accept rate of the threshold")
    cooldown: float = Field(
        default=60.0, ge=0, le=86_400, description="seconds before the same person alerts again"
    )
    k: int = Field(default=5, ge=1, le=100, description="candidates carried by an alert")

    def applies_to(self, camera_id: str) -> bool:
        return "*" in self.cameras or camera_id in self.cameras


class PipelineConfig(VigilModel):
    cameras: list[CameraConfig] = Field(min_length=1)
    watchlists: list[WatchlistConfig] = Field(default_factory=list)
    groups_uri: str | None = Field(
        default=None, description="Milvus Lite file or http://host:port (default $VIGIL_GROUPS_URI)"
    )
    history: HistoryConfig | None = Field(
        default=None, description="store every capture for history search (vigil history)"
    )
    outputs: OutputsConfig = Field(default_factory=OutputsConfig)
    topics: TopicNames = Field(default_factory=TopicNames)

    @model_validator(mode="after")
    def _unique_ids(self) -> PipelineConfig:
        seen: set[str] = set()
        for camera in self.cameras:
            if camera.id in seen:
                raise ValueError(f"camera id {camera.id!r} is used twice")
            seen.add(camera.id)
        return self

    def camera(self, camera_id: str) -> CameraConfig | None:
        return next((c for c in self.cameras if c.id == camera_id), None)


class CameraState(StrEnum):
    """A running camera's source, as the metrics name it (`vigil_source_state`)."""

    CONNECTING = "connecting"
    STREAMING = "streaming"
    RECONNECTING = "reconnecting"  # down: waiting to try again (back-off)
    STOPPED = "stopped"  # a file played to its end, or the camera was removed
    FAILED = "failed"


class CameraStatus(VigilModel):
    """One camera a server runs: its source's state and how many frames pass (`vigil serve`).

    Rates are frames a second over the last few seconds: `fps_in` sampled from the source,
    `fps_analysed` sent to detection (with pixels), `fps_dropped` dropped because the
    analysis was behind (live sources only; files wait instead).
    """

    id: str
    source: str = Field(description="the source without credentials")
    state: CameraState
    types: list[TargetType]
    fps_in: float = Field(ge=0)
    fps_analysed: float = Field(ge=0)
    fps_dropped: float = Field(ge=0)
    frames_in: int = Field(ge=0)
    frames_analysed: int = Field(ge=0)
    frames_dropped: int = Field(ge=0)
    reconnects: int = Field(ge=0)
    error: str | None = Field(default=None, description="why the source stopped, if it failed")
    started_at: datetime
