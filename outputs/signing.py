"""Webhook signatures, so a receiver can tell a Vigil delivery from a forged or replayed one.

Every signed POST carries two headers:

    X-Vigil-Timestamp: 1717171717                (unix seconds when it was signed)
    X-Vigil-Signature: v1=<hex HMAC-SHA256 of "<timestamp>.<raw body>" under the shared secret>

The timestamp is inside the MAC, so it cannot be changed without breaking the
signature, and a receiver refuses timestamps older (or newer) than a tolerance:
a captured request cannot be replayed later. Within the tolerance a delivery
may still arrive twice (retries), so de-duplicate by `X-Vigil-Event-Id`.
Several comma-separated `v1=` entries are accepted, so a secret can be rotated.

A receiver in Python (any framework: it needs the raw body bytes and the headers):

    from vigil.outputs.signing import verify
    body = request.get_data()                        # raw bytes, before any JSON parsing
    if not verify(body, request.headers, SECRET):    # SECRET: bytes shared with Vigil
        return "bad signature", 401
    seen_before = request.headers["X-Vigil-Event-Id"] in already_processed

In another language: recompute HMAC-SHA256(secret, timestamp + "." + body), compare it
to the hex after "v1=" in constant time, and check |now - timestamp| <= 300 s.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Mapping

TIMESTAMP_HEADER = "X-Vigil-Timestamp"
SIGNATURE_HEADER = "X-Vigil-Signature"
SCHEME = "v1"


def _mac(body: bytes, secret: bytes, timestamp: int) -> str:
    return hmac.new(secret, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def sign(body: bytes, secret: bytes, timestamp: int | None = None) -> dict[str, str]:
    """The headers to add to a POST of `body`; `timestamp` defaults to now."""
    stamp = int(time.time()) if timestamp is None else int(timestamp)
    return {
        TIMESTAMP_HEADER: str(stamp),
        SIGNATURE_HEADER: f"{SCHEME}={_mac(body, secret, stamp)}",
    }


def verify(
    body: bytes,
    headers: Mapping[str, str],
    secret: bytes,
    tolerance_s: int = 300,
    now: float | None = None,
) -> bool:
    """True when `headers` sign `body` under `secret` and the timestamp is within tolerance.

    Header names are matched case-insensitively, as HTTP requires; malformed headers are
    simply a failed verification, never an exception.
    """
    lowered = {name.lower(): value for name, value in headers.items()}
    try:
        stamp = int(lowered[TIMESTAMP_HEADER.lower()])
        signatures = lowered[SIGNATURE_HEADER.lower()]
    except (KeyError, TypeError, ValueError):
        return False
    current = time.time() if now is None else now
    if abs(current - stamp) > tolerance_s:
        return False
    expected = _mac(body, secret, stamp)
    candidates = (
        value.strip()
        for scheme, _, value in (part.strip().partition("=") for part in signatures.split(","))
        if scheme == SCHEME
    )
    # Bytes, not str: compare_digest raises on non-ASCII str, and headers are attacker input.
    wanted = expected.encode()
    return any(hmac.compare_digest(wanted, c.encode("utf-8", "replace")) for c in candidates)
