"""Deployment settings, read from VIGIL_* environment variables.

The defaults are the embedded mode (in-process Celery, nothing to start), so the
same code scales out to Redis and separate workers by configuration only.
"""

from __future__ import annotations

import os

from pydantic import Field

from vigil.schemas.base import VigilModel

ENV_PREFIX = "VIGIL_"


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
    kafka_sasl_password: str | None = Field(default=None, repr=False)
    kafka_ssl_cafile: str | None = None
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

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Settings:
        environ = os.environ if environ is None else environ
        values = {
            name: environ[ENV_PREFIX + name.upper()]
            for name in cls.model_fields
            if ENV_PREFIX + name.upper() in environ
        }
        return cls.model_validate(values)

    @property
    def eager(self) -> bool:
        if self.celery_eager is not None:
            return self.celery_eager
        return self.celery_broker.startswith("memory://")

    def redacted(self) -> dict[str, str]:
        """Settings safe to log: passwords in URLs are masked."""
        from urllib.parse import urlsplit

        def mask(url: str) -> str:
            parts = urlsplit(url)
            if parts.password:
                return url.replace(f":{parts.password}@", ":***@")
            return url

        hidden = {"kafka_sasl_password"}
        return {
            name: "***" if name in hidden and value else mask(str(value))
            for name, value in self.model_dump().items()
        }

    def kafka_security(self) -> dict[str, str]:
        """kafka-python client settings for SASL/TLS, passed through as given."""
        options = {"security_protocol": self.kafka_security_protocol}
        extra = {
            "sasl_mechanism": self.kafka_sasl_mechanism,
            "sasl_plain_username": self.kafka_sasl_username,
            "sasl_plain_password": self.kafka_sasl_password,
            "ssl_cafile": self.kafka_ssl_cafile,
        }
        options.update({name: value for name, value in extra.items() if value})
        return options
