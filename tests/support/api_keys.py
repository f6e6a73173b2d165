"""A key file with one key, for tests of the HTTP API."""

from __future__ import annotations

from pathlib import Path

from vigil.infra.api_keys import KeyStore, Scope


def new_key(path: Path, *scopes: Scope, name: str = "tests") -> str:
    """Create a key with `scopes` (default admin) in the key file at `path`; the key."""
    _record, key = KeyStore(path).create(name, scopes or (Scope.ADMIN,))
    return key


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}
