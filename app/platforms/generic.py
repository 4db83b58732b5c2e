"""A generic signed JSON channel (Standard Webhooks) for forums, review sites, e-mail bridges, forms.

Body: `{"id", "source", "kind": "comment"|"dm"|"review"|"email", "thread_id", "author": {"id", "name",
"handle"}, "text", "created_at", "reply_url"?}`, or a list of such objects. Signed with
`webhook-signature: v1,<base64 HMAC-SHA256(secret, "{id}.{timestamp}.{raw body}")>`; replies are
POSTed, signed the same way, to `reply_url` or `RELAIS_GENERIC_CALLBACK_URL`.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

import httpx
from pydantic import BaseModel, SecretStr, field_validator

from app.platforms import sending
from app.platforms.base import PlatformBase, unset_if_empty
from app.platforms.signing import InvalidSignature, fresh, hmac256
from app.platforms.types import (
    AdapterContext,
    InboundMessage,
    MalformedPayload,
    Parsed,
    epoch,
    obj,
    opt_str,
    req_str,
    sub,
)

if TYPE_CHECKING:
    from app.config import Settings

PLATFORM = "generic"


class GenericSettings(BaseModel):
    """`RELAIS_GENERIC_*`: the shared secret (both ways) and where replies are POSTed."""

    generic_secret: SecretStr | None = None
    generic_callback_url: str | None = None

    generic_empty_secrets_are_unset = field_validator("generic_secret", mode="before")(unset_if_empty)


KINDS = {"comment", "dm", "review", "email", "mention", "message"}


def parse(headers: Mapping[str, str], payload: Any, ctx: AdapterContext) -> Parsed:
    out = Parsed(delivery_id=headers.get("webhook-id"))
    items = payload if isinstance(payload, list) else [payload]
    for i, raw in enumerate(items):
        where = f"body[{i}]" if isinstance(payload, list) else "body"
        item = obj(raw, where)
        text = item.get("text")
        if not isinstance(text, str):
            raise MalformedPayload(f"{where}.text must be a string")
        kind = item.get("kind", "comment")
        if not isinstance(kind, str) or kind not in KINDS:
            raise MalformedPayload(f"{where}.kind must be one of {sorted(KINDS)}")
        author = sub(item, "author")
        source = opt_str(item.get("source")) or "generic"
        extra: dict[str, Any] = {k: item[k] for k in ("reply_url", "rating", "url", "subject") if k in item}
        out.messages.append(
            InboundMessage(
                platform=PLATFORM,
                channel=source[:32],
                account_id=source,
                external_id=req_str(item, "id", where),
                kind=kind,
                text=text,
                conversation_id=opt_str(item.get("thread_id")),
                reply_to_id=req_str(item, "id", where),
                author_id=opt_str(author.get("id")),
                author_name=opt_str(author.get("name")),
                author_handle=opt_str(author.get("handle")),
                created_at=epoch(item.get("created_at")),
                extra=extra,
            )
        )
    return out


# ------------------------------------------------------------------------------------ signature


def standard_webhooks_key(secret: str) -> bytes:
    """Standard Webhooks secrets are `whsec_<base64>`; anything else is used as raw bytes."""
    if secret.startswith("whsec_"):
        try:
            return base64.b64decode(secret.removeprefix("whsec_"), validate=True)
        except binascii.Error as e:
            raise ValueError("RELAIS_GENERIC_SECRET: whsec_ secret is not valid base64") from e
    return secret.encode()


def sign_standard(key: bytes, msg_id: str, timestamp: int, body: bytes) -> str:
    return "v1," + base64.b64encode(hmac256(key, f"{msg_id}.{timestamp}.".encode() + body)).decode()


def verify_standard(
    key: bytes, body: bytes, headers: Mapping[str, str], *, tolerance_s: int = 300, now: float | None = None
) -> None:
    """Standard Webhooks: `webhook-signature: v1,<b64> [v1,<b64> ...]` over "{id}.{ts}.{body}"."""
    msg_id = headers.get("webhook-id")
    header = headers.get("webhook-signature")
    if not msg_id or not header:
        raise InvalidSignature("missing_signature")
    ts = fresh(headers.get("webhook-timestamp"), tolerance_s, now)
    expected = sign_standard(key, msg_id, ts, body).encode()
    ok = False
    for candidate in header.split():
        # compare every candidate, so timing does not tell which one matched
        ok |= hmac.compare_digest(expected, candidate.encode())
    if not ok:
        raise InvalidSignature("bad_signature")


# -------------------------------------------------------------------------------------- replies


def _send(
    client: httpx.Client, settings: Settings, out: sending.Outgoing, now: datetime
) -> sending.SendResult:
    url = out.target.get("reply_url") or settings.generic_callback_url
    if not url:
        return sending.dead("no callback URL: set RELAIS_GENERIC_CALLBACK_URL or send reply_url")
    secret = sending.secret_value(settings.generic_secret)
    if secret is None:
        return sending.dead("RELAIS_GENERIC_SECRET is not set")
    try:
        key = standard_webhooks_key(secret)
    except ValueError as e:
        return sending.dead(str(e))
    payload = {
        "id": out.idempotency_key,
        "in_reply_to": out.target.get("message_external_id"),
        "thread_id": out.target.get("conversation_id"),
        "source": out.account_id,
        "text": out.text,
    }
    raw = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
    timestamp = int(sending.as_utc(now).timestamp())
    headers = {
        "content-type": "application/json",
        "webhook-id": out.idempotency_key,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign_standard(key, out.idempotency_key, timestamp, raw),
    }

    response = sending.post(client, settings, str(url), headers=headers, content=raw)
    status = response.status_code
    if response.is_success:
        data = sending.json_of(response)
        message_id = data.get("id") if isinstance(data, dict) else None
        return sending.SendResult(
            "sent", platform_message_id=str(message_id or out.idempotency_key), http_status=status
        )
    return sending.http_fallback(
        response, now, f"generic callback refused the reply: {response.text[:200]!r}"
    )


class GenericPlatform(PlatformBase):
    name = PLATFORM
    description = "Any other source, signed with the Standard Webhooks scheme."
    secret_setting = "generic_secret"
    journal_headers = ("content-type", "user-agent", "webhook-id", "webhook-timestamp", "webhook-signature")

    def verify(self, settings: Settings, secret: bytes, body: bytes, headers: Mapping[str, str]) -> None:
        key = standard_webhooks_key(secret.decode())
        verify_standard(key, body, headers, tolerance_s=settings.timestamp_tolerance_s)

    def parse(self, headers: Mapping[str, str], payload: Any, ctx: AdapterContext) -> Parsed:
        return parse(headers, payload, ctx)

    def send(
        self, client: httpx.Client, settings: Settings, out: sending.Outgoing, now: datetime
    ) -> sending.SendResult:
        return _send(client, settings, out, now)

    def outbound_tokens(self, settings: Settings) -> list[str]:
        return [t for t in [sending.secret_value(settings.generic_secret)] if t]


GENERIC = GenericPlatform()
