"""The error shape every API returns for one failed item, so a batch can carry it."""

from __future__ import annotations

from pydantic import Field

from vigil.errors import ErrorCode
from vigil.schemas.base import VigilModel


class ErrorInfo(VigilModel):
    code: ErrorCode = Field(description="stable code, see README 'Error codes'")
    message: str = Field(description="what was wrong, for a person")
