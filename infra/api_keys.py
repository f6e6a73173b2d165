"""API keys of the HTTP API (`vigil serve`): created, listed and revoked by `vigil keys`.

A key is `vk_<id>_<secret>`: `id` is 8 hex characters, not secret, shown by `vigil keys
list` and used to find the key's record; `secret` is 32 random bytes from `secrets`
(url-safe base64). The key is printed once, at creation; the file keeps only its
SHA-256 digest, with the id, the name, the scopes and the creation time.

Why SHA-256 and not scrypt or PBKDF2: a slow, salted hash defends a low-entropy secret
(a password) against guessing from a stolen hash. A key with 256 bits from the OS's
random generator cannot be guessed, so one SHA-256 is as safe as any slow hash, and a
salt adds nothing (no two keys are alike, and no table of 2^256 keys exists); it also
keeps every authenticated request cheap. The digest is compared with
`hmac.compare_digest`, in constant time.

The store is one JSON file (`$VIGIL_HTTP_KEYS`, default `./vigil-keys.json`), written
atomically with mode 0600. The server reads it again whenever it changes on disk, so a
key created or revoked with the CLI counts from the next request on, without a restart.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import threading
from collections.abc import Iterable
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path

from pydantic import Field

from vigil.infra.files import write_atomic
from vigil.infra.settings import Settings
from vigil.schemas.base import VigilModel
from vigil.schemas.errors import ErrorCode, VigilError

KEY_PREFIX = "vk_"
FILE_MODE = 0o600  # owner only: the digests are not secrets, but the file is nobody else's
SECRET_BYTES = 32
ID_HEX = 8


class Scope(StrEnum):
    """What a key may do: `read` analyses and searches, `write` changes the groups too,
    `admin` everything (with /metrics)."""

    READ = "read"
    WRITE = "write"
    ADMIN = "admin"


# the scopes each scope implies
IMPLIES: dict[Scope, frozenset[Scope]] = {
    Scope.READ: frozenset({Scope.READ}),
    Scope.WRITE: frozenset({Scope.READ, Scope.WRITE}),
    Scope.ADMIN: frozenset(Scope),
}


class ApiKey(VigilModel):
    """A key's record in the store: everything but the key itself."""

    id: str = Field(pattern=r"^[0-9a-f]{8}$", description="not secret: names the key")
    name: str = Field(min_length=1, max_length=100)
    scopes: list[Scope] = Field(min_length=1)
    created: datetime
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$", description="digest of the whole key")

    def allows(self, needed: Scope) -> bool:
        return any(needed in IMPLIES[scope] for scope in self.scopes)


class KeyFile(VigilModel):
    version: int = 1
    keys: list[ApiKey] = Field(default_factory=list)


def digest(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def key_id(key: str) -> str | None:
    """The id part of a key of the right shape, else None."""
    if not key.startswith(KEY_PREFIX):
        return None
    parts = key[len(KEY_PREFIX) :].split("_", 1)
    return parts[0] if len(parts) == 2 and len(parts[0]) == ID_HEX else None


class KeyStore:
    """The key file: read it, add a key, revoke one, and check a presented key."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._seen: tuple[int, int, int] | None = None
        self._by_id: dict[str, ApiKey] = {}

    @classmethod
    def from_env(cls) -> KeyStore:
        return cls(Settings.from_env().http_keys)

    def exists(self) -> bool:
        return self.path.is_file()

    def load(self) -> list[ApiKey]:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return []
        try:
            return KeyFile.model_validate_json(text).keys
        except ValueError as exc:
            raise VigilError(
                ErrorCode.INVALID_OPTIONS, f"{self.path}: not a Vigil key file ({exc})"
            ) from None

    def _save(self, keys: Iterable[ApiKey]) -> None:
        body = KeyFile(keys=list(keys)).model_dump(mode="json")
        data = (json.dumps(body, indent=2) + "\n").encode("utf-8")
        write_atomic(self.path, data, mode=FILE_MODE)
        os.chmod(self.path, FILE_MODE)  # a umask cannot widen it, but be explicit

    def create(self, name: str, scopes: Iterable[Scope]) -> tuple[ApiKey, str]:
        """A new key: its record (stored) and the key itself (returned once, never stored)."""
        keys = self.load()
        taken = {record.id for record in keys}
        ident = secrets.token_hex(ID_HEX // 2)
        while ident in taken:
            ident = secrets.token_hex(ID_HEX // 2)
        key = f"{KEY_PREFIX}{ident}_{secrets.token_urlsafe(SECRET_BYTES)}"
        record = ApiKey(
            id=ident,
            name=name,
            scopes=sorted(set(scopes), key=list(Scope).index),
            created=datetime.now(UTC).replace(microsecond=0),
            sha256=digest(key),
        )
        self._save([*keys, record])
        return record, key

    def revoke(self, ident: str) -> ApiKey:
        keys = self.load()
        found = [record for record in keys if record.id == ident]
        if not found:
            raise VigilError(ErrorCode.INVALID_OPTIONS, f"no key with id {ident!r}")
        self._save(record for record in keys if record.id != ident)
        return found[0]

    def _current(self) -> dict[str, ApiKey]:
        """The keys by id, read again when the file changed (stat on every call: cheap)."""
        try:
            stat = self.path.stat()
            seen: tuple[int, int, int] | None = (stat.st_ino, stat.st_mtime_ns, stat.st_size)
        except FileNotFoundError:
            seen = None
        with self._lock:
            if seen != self._seen:
                self._by_id = {record.id: record for record in self.load()} if seen else {}
                self._seen = seen
            return self._by_id

    def authenticate(self, key: str) -> ApiKey | None:
        """The record of this key, or None for an unknown, revoked or malformed one."""
        ident = key_id(key)
        record = self._current().get(ident) if ident else None
        expected = record.sha256 if record else "0" * 64
        matches = hmac.compare_digest(digest(key), expected)
        return record if record is not None and matches else None
