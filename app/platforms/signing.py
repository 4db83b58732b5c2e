"""What the signature schemes share: verified over the raw body bytes with constant-time compares.

Each platform's `verify` raises `InvalidSignature(reason)`; `reason` feeds the rejection metric.
"""

from __future__ import annotations

import hashlib
import hmac
import time


class InvalidSignature(Exception):
    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def hmac256(key: bytes, msg: bytes) -> bytes:
    return hmac.new(key, msg, hashlib.sha256).digest()


def fresh(timestamp: str | None, tolerance_s: int, now: float | None) -> int:
    """The signed Unix timestamp, refused when missing, unreadable or beyond `tolerance_s`."""
    if not timestamp:
        raise InvalidSignature("missing_timestamp")
    try:
        ts = int(timestamp)
    except ValueError as e:
        raise InvalidSignature("bad_timestamp") from e
    if abs((time.time() if now is None else now) - ts) > tolerance_s:
        raise InvalidSignature("stale_timestamp")
    return ts
