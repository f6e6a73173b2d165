"""Webhook signatures, so a receiver can tell a Vigil delivery from a forged or replayed one.

Every signed POST carries three headers:

    X-Vigil-Timestamp: 1717171717                (unix seconds when it was signed)
    X-Vigil-Event-Id:  <message_id of the event, also in the body>
    X-Vigil-Signature: v1=<hex HMAC-SHA256 of "<timestamp>.<raw body>">,
                       v2=<hex HMAC-SHA256 of "<timestamp>.<event id>.<raw body>">

`v2` covers the event id too, so a receiver that de-duplicates by the header cannot be
made to drop a fresh event (or accept a replay) by someone who rewrites the header. The
event id is ASCII letters, digits, `-` and `_` (a UUID), so it cannot contain the `.`
that separates it from the body. `v1` (body only) is still sent, for receivers written
before `v2`; they must de-duplicate by the body's `message_id`, never by the header.

The timestamp is inside both MACs, so it cannot be changed without breaking the
signature, and a receiver refuses timestamps older (or newer) than a tolerance:
a captured request cannot be replayed later. Within the tolerance a delivery
may still arrive twice (retries), so de-duplicate by `X-Vigil-Event-Id`.
Several comma-separated entries are accepted, so a secret can be rotated.

A receiver in Python (any framework: it needs the raw body bytes and the headers):

    from vigil.outputs.signing import verify
    body = request.get_data()                        # raw bytes, before any JSON parsing
    if not verify(body, request.headers, SECRET):    # SECRET: bytes shared with Vigil
        return "bad signature", 401
    seen_before = request.headers["X-Vigil-Event-Id"] in already_processed  # signed (v2)

In another language: recompute HMAC-SHA256(secret, timestamp + "." + event_id + "." +
body), compare it to the hex after "v2=" in constant time, and check
|now - timestamp| <= 300 s.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from collections.abc import Iterable, Mapping

TIMESTAMP_HEADER = "X-Vigil-Timestamp"
SIGNATURE_HEADER = "X-Vigil-Signature"
EVENT_ID_HEADER = "X-Vigil-Event-Id"
SCHEME = "v1"  # HMAC of "<timestamp>.<body>"
SCHEME_WITH_ID = "v2"  # HMAC of "<timestamp>.<event id>.<body>"
EVENT_ID = re.compile(r"[A-Za-z0-9_-]{1,128}")
TIMESTAMP = re.compile(r"[0-9]{1,12}")  # ASCII digits only: int() would take "1_7", "١٧"
MAX_SIGNATURE_HEADER = 4096  # a few rotated secrets; anything longer is not ours


def _mac(body: bytes, secret: bytes, timestamp: int, event_id: str | None = None) -> str:
    prefix = f"{timestamp}." if event_id is None else f"{timestamp}.{event_id}."
    return hmac.new(secret, prefix.encode() + body, hashlib.sha256).hexdigest()


def sign(
    body: bytes, secret: bytes, timestamp: int | None = None, event_id: str | None = None
) -> dict[str, str]:
    """The headers to add to a POST of `body`; `timestamp` defaults to now.

    With `event_id` the headers carry it (`X-Vigil-Event-Id`) and a `v2` signature that
    covers it, besides the body-only `v1`. ValueError for an id outside [A-Za-z0-9_-].
    """
    stamp = int(time.time()) if timestamp is None else int(timestamp)
    headers = {TIMESTAMP_HEADER: str(stamp)}
    signatures = [f"{SCHEME}={_mac(body, secret, stamp)}"]
    if event_id is not None:
        if not EVENT_ID.fullmatch(event_id):
            raise ValueError("an event id must be 1-128 of A-Z a-z 0-9 _ -")
        headers[EVENT_ID_HEADER] = event_id
        signatures.append(f"{SCHEME_WITH_ID}={_mac(body, secret, stamp, event_id)}")
    headers[SIGNATURE_HEADER] = ",".join(signatures)
    return headers


def verify(
    body: bytes,
    headers: Mapping[str, str] | Iterable[tuple[str, str]],
    secret: bytes,
    tolerance_s: int = 300,
    now: float | None = None,
    *,
    require_event_id: bool = True,
) -> bool:
    """True when `headers` sign `body` (and its event id) under `secret`, in tolerance.

    With an `X-Vigil-Event-Id` header, only a `v2` signature (which covers the id) counts,
    so a True means the id is Vigil's too. Without one the request is refused, unless
    `require_event_id=False` (senders that sign the body only): then a `v1` counts.

    Header names are matched case-insensitively, as HTTP requires; `headers` may be a
    mapping or (name, value) pairs, of str or bytes. Anything malformed (a missing,
    repeated or non-text header, a timestamp that is not 1-12 ASCII digits, a body that
    is not bytes) is simply a failed verification: this never raises.
    """
    try:
        return _verify(body, headers, secret, tolerance_s, now, require_event_id)
    except Exception:  # the documented contract: malformed input is False, never a raise
        return False


def _verify(
    body: object,
    headers: object,
    secret: object,
    tolerance_s: float,
    now: float | None,
    require_event_id: bool,
) -> bool:
    if not isinstance(body, bytes | bytearray | memoryview):
        return False
    if isinstance(secret, str):
        secret = secret.encode()
    if not isinstance(secret, bytes | bytearray) or not secret:
        return False
    found = _headers(headers)
    if found is None:
        return False
    stamp_text = found.get(TIMESTAMP_HEADER.lower())
    signatures = found.get(SIGNATURE_HEADER.lower())
    event_id = found.get(EVENT_ID_HEADER.lower())
    if stamp_text is None or signatures is None or len(signatures) > MAX_SIGNATURE_HEADER:
        return False
    if not TIMESTAMP.fullmatch(stamp_text):
        return False
    stamp = int(stamp_text)
    current = time.time() if now is None else float(now)
    if not abs(current - stamp) <= tolerance_s:  # also False for a NaN clock or tolerance
        return False
    if event_id is not None:
        if not EVENT_ID.fullmatch(event_id):
            return False
        scheme, expected = SCHEME_WITH_ID, _mac(bytes(body), bytes(secret), stamp, event_id)
    elif require_event_id:
        return False
    else:
        scheme, expected = SCHEME, _mac(bytes(body), bytes(secret), stamp)
    candidates = (
        value.strip()
        for name, _, value in (part.strip().partition("=") for part in signatures.split(","))
        if name == scheme
    )
    # Bytes, not str: compare_digest raises on non-ASCII str, and headers are attacker input.
    wanted = expected.encode()
    return any(hmac.compare_digest(wanted, c.encode("utf-8", "replace")) for c in candidates)


def _headers(headers: object) -> dict[str, str] | None:
    """Lower-cased names to values; None when a header we read is repeated or not text."""
    # A mapping, or anything with items() (email.message.Message, werkzeug, multidicts)
    items_of = getattr(headers, "items", None)
    items: Iterable[tuple[object, object]]
    if callable(items_of):
        items = items_of()
    elif isinstance(headers, Iterable):
        items = headers
    else:
        return None  # neither a mapping nor pairs: nothing we can read
    wanted = {TIMESTAMP_HEADER.lower(), SIGNATURE_HEADER.lower(), EVENT_ID_HEADER.lower()}
    found: dict[str, str] = {}
    for name, value in items:
        name, value = _text(name), _text(value)
        if name is None:
            continue
        name = name.strip().lower()
        if name not in wanted:
            continue
        if value is None or (name in found and found[name] != value):
            return None  # two different timestamps or ids: which one was signed?
        found[name] = value.strip()
    return found


def _text(value: object) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, bytes | bytearray):
        return bytes(value).decode("latin-1")  # HTTP header bytes, as the wire has them
    return None
