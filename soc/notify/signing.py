"""The signed webhook's signature: HMAC-SHA256 over the timestamp and the body.

A sender adds two headers to the POST::

    X-SOC-Timestamp: 1767225600
    X-SOC-Signature: sha256=<hex HMAC-SHA256(secret, b"1767225600." + body)>

A receiver (:func:`verify`, or the same four lines in any language) takes the raw body
as received, recomputes the HMAC with the shared secret over ``timestamp + "." + body``,
compares it in constant time, and refuses a timestamp more than ``tolerance_s`` from its
own clock: a captured request replayed later fails, and the timestamp cannot be changed
without breaking the signature. The body's ``id`` (the outbox id) is the same on every
retry of one message: a receiver that keeps the ids it has seen drops the rare duplicate.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Mapping

TIMESTAMP = "X-SOC-Timestamp"
SIGNATURE = "X-SOC-Signature"
TOLERANCE_S = 300.0


def signature(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def sign(secret: str, body: bytes, *, now: float | None = None) -> dict[str, str]:
    """The headers to send with ``body``."""
    ts = int(time.time() if now is None else now)
    return {TIMESTAMP: str(ts), SIGNATURE: signature(secret, ts, body)}


def verify(
    secret: str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    now: float | None = None,
    tolerance_s: float = TOLERANCE_S,
) -> bool:
    """Whether ``body`` with these headers was signed with ``secret`` within
    ``tolerance_s`` of ``now`` (header names are matched case-insensitively)."""
    lower = {k.lower(): v for k, v in headers.items()}
    raw_ts, given = lower.get(TIMESTAMP.lower()), lower.get(SIGNATURE.lower())
    if raw_ts is None or given is None:
        return False
    try:
        ts = int(raw_ts)
    except ValueError:
        return False
    current = time.time() if now is None else now
    if abs(current - ts) > tolerance_s:
        return False
    return hmac.compare_digest(signature(secret, ts, body), given)
