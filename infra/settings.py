"""Deployment settings, read from VIGIL_* environment variables.

The defaults are the embedded mode (in-process Celery, nothing to start), so the
same code scales out to Redis and separate workers by configuration only.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_serializer

from vigil.infra.logs import redact_url, register_secret
from vigil.schemas.base import VigilModel

ENV_PREFIX = "VIGIL_"


def mask_url(url: str) -> str:
    """The URL with its password replaced by ***: broker URLs carry Redis passwords."""
    return redact_url(url)


class Settings(VigilModel):
    celery_broker: str = Field(
        default="memory://localhost/",
        description="Celery broker URL, e.g. redis://:PASSWORD@host:6379/0",
    )
    celery_backend: str = Field(
        default="cache+memory://", description="Celery result backend URL, e.g. redis://host/1"
    )
    celery_eager: bool | None = Field(
        default=None, description="run tasks in the caller; default: true for memory://"
    )
    model_threads: int = Field(default=1, ge=1, le=64, description="onnxruntime threads")
    bus: str = Field(default="memory", pattern="^(memory|kafka)$", description="message bus")
    kafka_bootstrap: str = Field(default="127.0.0.1:9092", description="host:port[,host:port]")
    kafka_security_protocol: str = Field(
        default="PLAINTEXT", pattern="^(PLAINTEXT|SSL|SASL_PLAINTEXT|SASL_SSL)$"
    )
    kafka_sasl_mechanism: str | None = Field(default=None, description="PLAIN, SCRAM-SHA-256, ...")
    kafka_sasl_username: str | None = None
    kafka_sasl_password: SecretStr | None = Field(default=None, description="never logged")
    kafka_ssl_cafile: str | None = Field(default=None, description="CA bundle (PEM) for TLS")
    kafka_ssl_certfile: str | None = Field(default=None, description="client certificate (mTLS)")
    kafka_ssl_keyfile: str | None = Field(default=None, description="client key (mTLS)")
    kafka_ssl_password: SecretStr | None = Field(default=None, description="client key password")
    kafka_session_timeout_ms: int = Field(default=10_000, ge=1000)
    kafka_max_poll_interval_ms: int = Field(
        default=60_000, ge=1000, description="a batch takes seconds; short keeps joins quick"
    )
    kafka_heartbeat_interval_ms: int = Field(default=3_000, ge=100)
    kafka_fetch_max_wait_ms: int = Field(
        default=50,
        ge=1,
        le=10_000,
        description="longest a fetch waits for data: some brokers (tansu) answer only then",
    )
    max_message_bytes: int = Field(default=1_000_000, ge=10_000, description="bus record limit")
    metrics_port: int | None = Field(default=None, ge=0, le=65535, description="Prometheus port")
    http_max_body: int = Field(
        default=32 * 1024 * 1024,
        ge=1024,
        description="`vigil serve`: largest request body in bytes, refused before it is read",
    )
    http_keys: str = Field(
        default="vigil-keys.json", description="`vigil serve` / `vigil keys`: the API key file"
    )
    http_rate: float = Field(
        default=20.0, ge=0, description="`vigil serve`: requests/s per API key; 0: no limit"
    )
    http_burst: int = Field(default=40, ge=1, description="`vigil serve`: burst per API key")
    http_model_calls: int = Field(
        default=0,
        ge=0,
        le=256,
        description="`vigil serve`: model calls (analyze, compare, verify, searches, enrol) run"
        " at once, the others wait; 0: the usable CPU cores over model_threads",
    )
    http_cors_origins: str = Field(
        default="", description="`vigil serve`: comma-separated CORS origins; empty: CORS off"
    )
    http_alerts: str = Field(
        default="vigil-alerts.jsonl",
        description="`vigil serve`: the alerts it heard of and their acknowledgements",
    )
    http_source_dirs: str = Field(
        default="",
        description="`vigil serve`: folders (os.pathsep-separated) whose video files and folders"
        " POST /v1/cameras may play; empty: none",
    )
    http_max_stream_s: float = Field(
        default=300.0,
        gt=0,
        le=86_400,
        description="`vigil serve`: longest an event stream stays open (clients reconnect)",
    )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env: Mapping[str, str] = os.environ if environ is None else environ
        values = {
            name: env[ENV_PREFIX + name.upper()]
            for name in cls.model_fields
            if ENV_PREFIX + name.upper() in env
        }
        return cls.model_validate(values)

    def model_post_init(self, _context) -> None:
        """Every secret these settings hold is masked in any log line from now on."""
        for secret in (self.kafka_sasl_password, self.kafka_ssl_password):
            register_secret(secret.get_secret_value() if secret else None)
        for url in (self.celery_broker, self.celery_backend):
            try:
                register_secret(urlsplit(url).password)
            except ValueError:
                continue

    @field_serializer("celery_broker", "celery_backend")
    def _masked(self, url: str) -> str:
        """Dumps are for showing; the clients read the attributes, which keep the password."""
        return mask_url(url)

    def __repr_args__(self):
        """repr() masks passwords in URLs (SecretStr fields mask themselves)."""
        for name, value in super().__repr_args__():
            yield name, mask_url(value) if isinstance(value, str) else value

    @property
    def eager(self) -> bool:
        if self.celery_eager is not None:
            return self.celery_eager
        return self.celery_broker.startswith("memory://")

    def redacted(self) -> dict[str, str]:
        """Settings safe to log or print: passwords masked, in URLs too."""
        return {
            name: "***" if isinstance(value, SecretStr) else mask_url(str(value))
            for name, value in self.model_dump().items()
        }

    def kafka_security(self) -> dict[str, str]:
        """kafka-python client settings for SASL/TLS, passed through as given."""
        options = {"security_protocol": self.kafka_security_protocol}
        extra = {
            "sasl_mechanism": self.kafka_sasl_mechanism,
            "sasl_plain_username": self.kafka_sasl_username,
            "sasl_plain_password": secret(self.kafka_sasl_password),
            "ssl_cafile": self.kafka_ssl_cafile,
            "ssl_certfile": self.kafka_ssl_certfile,
            "ssl_keyfile": self.kafka_ssl_keyfile,
            "ssl_password": secret(self.kafka_ssl_password),
        }
        options.update({name: value for name, value in extra.items() if value})
        return options


def secret(value: SecretStr | None) -> str | None:
    return value.get_secret_value() if value is not None else None
