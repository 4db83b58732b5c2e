"""Signature schemes, verified over the raw body bytes with constant-time compares.

Each `verify_*` raises `InvalidSignature(reason)`; `reason` feeds the rejection metric.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time
from collections.abc import Mapping


class InvalidSignature(Exception):
    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class NotConfigured(Exception):
    """The channel's secret is not set: the endpoint refuses everything."""


def _hmac256(key: bytes, msg: bytes) -> bytes:
    return hmac.new(key, msg, hashlib.sha256).digest()


def verify_meta(secret: bytes, body: bytes, headers: Mapping[str, str]) -> None:
    """`X-Hub-Signature-256: sha256=<hex>`; the legacy SHA-1 header is never accepted."""
    header = headers.get("x-hub-signature-256")
    if not header:
        raise InvalidSignature("missing_signature")
    scheme, _, value = header.partition("=")
    if scheme != "sha256" or not value:
        raise InvalidSignature("bad_signature")
    expected = _hmac256(secret, body).hex()
    if not hmac.compare_digest(expected.encode(), value.strip().lower().encode()):
        raise InvalidSignature("bad_signature")


def x_crc_response(secret: bytes, crc_token: str) -> str:
    return "sha256=" + base64.b64encode(_hmac256(secret, crc_token.encode())).decode()


def verify_x(secret: bytes, body: bytes, headers: Mapping[str, str]) -> None:
    """`x-twitter-webhooks-signature: sha256=<base64>`."""
    header = headers.get("x-twitter-webhooks-signature")
    if not header:
        raise InvalidSignature("missing_signature")
    expected = "sha256=" + base64.b64encode(_hmac256(secret, body)).decode()
    if not hmac.compare_digest(expected.encode(), header.strip().encode()):
        raise InvalidSignature("bad_signature")


def verify_telegram(secret: bytes, body: bytes, headers: Mapping[str, str]) -> None:
    """A shared secret echoed in `X-Telegram-Bot-Api-Secret-Token`."""
    header = headers.get("x-telegram-bot-api-secret-token")
    if not header:
        raise InvalidSignature("missing_signature")
    if not hmac.compare_digest(secret, header.encode()):
        raise InvalidSignature("bad_signature")


def _fresh(timestamp: str | None, tolerance_s: int, now: float | None) -> int:
    if not timestamp:
        raise InvalidSignature("missing_timestamp")
    try:
        ts = int(timestamp)
    except ValueError as e:
        raise InvalidSignature("bad_timestamp") from e
    if abs((time.time() if now is None else now) - ts) > tolerance_s:
        raise InvalidSignature("stale_timestamp")
    return ts


def verify_slack(
    secret: bytes,
    body: bytes,
    headers: Mapping[str, str],
    *,
    tolerance_s: int = 300,
    now: float | None = None,
) -> None:
    """`X-Slack-Signature: v0=<hex HMAC(secret, "v0:{ts}:{body}")>`, timestamp within tolerance."""
    header = headers.get("x-slack-signature")
    if not header:
        raise InvalidSignature("missing_signature")
    timestamp = headers.get("x-slack-request-timestamp")
    _fresh(timestamp, tolerance_s, now)
    base = b"v0:" + (timestamp or "").encode() + b":" + body
    expected = "v0=" + _hmac256(secret, base).hex()
    if not hmac.compare_digest(expected.encode(), header.strip().encode()):
        raise InvalidSignature("bad_signature")


def standard_webhooks_key(secret: str) -> bytes:
    """Standard Webhooks secrets are `whsec_<base64>`; anything else is used as raw bytes."""
    if secret.startswith("whsec_"):
        try:
            return base64.b64decode(secret.removeprefix("whsec_"), validate=True)
        except binascii.Error as e:
            raise ValueError("RELAIS_GENERIC_SECRET: whsec_ secret is not valid base64") from e
    return secret.encode()


def sign_standard(key: bytes, msg_id: str, timestamp: int, body: bytes) -> str:
    return "v1," + base64.b64encode(_hmac256(key, f"{msg_id}.{timestamp}.".encode() + body)).decode()


def verify_standard(
    key: bytes, body: bytes, headers: Mapping[str, str], *, tolerance_s: int = 300, now: float | None = None
) -> None:
    """Standard Webhooks: `webhook-signature: v1,<b64> [v1,<b64> ...]` over "{id}.{ts}.{body}"."""
    msg_id = headers.get("webhook-id")
    header = headers.get("webhook-signature")
    if not msg_id or not header:
        raise InvalidSignature("missing_signature")
    ts = _fresh(headers.get("webhook-timestamp"), tolerance_s, now)
    expected = sign_standard(key, msg_id, ts, body).encode()
    ok = False
    for candidate in header.split():
        # compare every candidate, so timing does not tell which one matched
        ok |= hmac.compare_digest(expected, candidate.encode())
    if not ok:
        raise InvalidSignature("bad_signature")
