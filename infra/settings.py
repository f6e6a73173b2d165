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
        default="memory://", description="Celery broker URL, e.g. redis://:PASSWORD@host:6379/0"
    )
    celery_backend: str = Field(
        default="cache+memory://", description="Celery result backend URL, e.g. redis://host/1"
    )
    celery_eager: bool | None = Field(
        default=None, description="run tasks in the caller; default: true for memory://"
    )
    model_threads: int = Field(default=1, ge=1, le=64, description="onnxruntime threads")

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

        return {name: mask(str(value)) for name, value in self.model_dump().items()}
