"""Signed deliveries for each channel, built as the platforms build them (PLATFORMS.md), from the
outside: a JSON body, the headers that sign it, and the secrets configured in tests/conftest."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tests.conftest import SECRETS

Payload = dict[str, Any]


def _hmac(key: bytes, msg: bytes) -> bytes:
    return hmac.new(key, msg, hashlib.sha256).digest()


def generic_key(secret: str) -> bytes:
    return base64.b64decode(secret.removeprefix("whsec_"))


@dataclass(frozen=True)
class Signed:
    """What a platform sends: the body and its headers, with the parts a forger could change."""

    body: bytes
    secret: bytes  # the key bytes the signature is made with
    ts: str | None = None
    msg_id: str | None = None


@dataclass(frozen=True)
class Channel:
    name: str
    route: str
    secret: bytes
    build: Callable[[str, str], Payload]  # (unique id, text) -> payload
    headers: Callable[[Signed], dict[str, str]]
    mac_header: str | None  # the header carrying the MAC; None: a bare shared secret (Telegram)
    mac_encoding: str = "hex"  # "hex" or "base64", after the scheme prefix
    has_ts: bool = False
    has_id: bool = False

    def sign(self, payload: Payload | bytes, *, ts: int | None = None, msg_id: str | None = None) -> Signed:
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        stamp = str(int(time.time()) if ts is None else ts) if self.has_ts else None
        return Signed(
            body,
            self.secret,
            stamp,
            (msg_id or "msg_" + hashlib.sha1(body).hexdigest()[:16]) if self.has_id else None,
        )


def _meta_headers(s: Signed) -> dict[str, str]:
    sig = _hmac(s.secret, s.body).hex()
    return {"Content-Type": "application/json", "X-Hub-Signature-256": f"sha256={sig}"}


def _x_headers(s: Signed) -> dict[str, str]:
    sig = base64.b64encode(_hmac(s.secret, s.body)).decode()
    return {"Content-Type": "application/json", "x-twitter-webhooks-signature": f"sha256={sig}"}


def _telegram_headers(s: Signed) -> dict[str, str]:
    return {"Content-Type": "application/json", "X-Telegram-Bot-Api-Secret-Token": s.secret.decode("latin-1")}


def _slack_headers(s: Signed) -> dict[str, str]:
    assert s.ts is not None
    sig = _hmac(s.secret, f"v0:{s.ts}:".encode() + s.body).hex()
    return {
        "Content-Type": "application/json",
        "X-Slack-Signature": f"v0={sig}",
        "X-Slack-Request-Timestamp": s.ts,
    }


def _generic_headers(s: Signed) -> dict[str, str]:
    assert s.ts is not None and s.msg_id is not None
    sig = base64.b64encode(_hmac(s.secret, f"{s.msg_id}.{s.ts}.".encode() + s.body)).decode()
    return {
        "Content-Type": "application/json",
        "webhook-id": s.msg_id,
        "webhook-timestamp": s.ts,
        "webhook-signature": f"v1,{sig}",
    }


def fb_comment(uid: str, text: str) -> Payload:
    now = int(time.time())
    value = {
        "from": {"id": "5555", "name": "Camille Martin"},
        "message": text,
        "post_id": "1111_2222",
        "comment_id": f"1111_{uid}",
        "parent_id": "1111_2222",
        "created_time": now,
        "item": "comment",
        "verb": "add",
    }
    return {
        "object": "page",
        "entry": [{"id": "1111", "time": now, "changes": [{"field": "feed", "value": value}]}],
    }


def x_dm(uid: str, text: str) -> Payload:
    event = {
        "type": "message_create",
        "id": f"9{abs(hash(uid)) % 10**17}{len(uid)}",
        "created_timestamp": str(int(time.time() * 1000)),
        "message_create": {
            "sender_id": "3001",
            "target": {"recipient_id": "42"},
            "message_data": {"text": text},
        },
    }
    event["id"] = "".join(c for c in uid if c.isdigit()) or event["id"]
    return {"for_user_id": "42", "direct_message_events": [event]}


def telegram_update(uid: str, text: str) -> Payload:
    n = int("".join(c for c in uid if c.isdigit()) or "1")
    chat = {"id": 777, "type": "private"}
    message = {
        "message_id": n,
        "from": {"id": 777, "first_name": "Ana"},
        "chat": chat,
        "date": int(time.time()),
        "text": text,
    }
    return {"update_id": n, "message": message}


def slack_event(uid: str, text: str) -> Payload:
    ts = f"{int(time.time())}.{abs(hash(uid)) % 10**6:06d}"
    event = {"type": "app_mention", "text": text, "user": "W222", "ts": ts, "channel": "C111", "event_ts": ts}
    return {"type": "event_callback", "team_id": "T111", "event_id": f"Ev{uid}", "event": event}


def generic_item(uid: str, text: str) -> Payload:
    return {
        "id": f"g-{uid}",
        "source": "forum",
        "kind": "comment",
        "thread_id": "t-1",
        "author": {"id": "a-1", "name": "Ana", "handle": "ana"},
        "text": text,
        "created_at": int(time.time()),
    }


CHANNELS: dict[str, Channel] = {
    "meta": Channel(
        "meta",
        "/webhooks/meta",
        SECRETS["meta_app_secret"].encode(),
        fb_comment,
        _meta_headers,
        "X-Hub-Signature-256",
    ),
    "x": Channel(
        "x",
        "/webhooks/x",
        SECRETS["x_consumer_secret"].encode(),
        x_dm,
        _x_headers,
        "x-twitter-webhooks-signature",
        "base64",
    ),
    "telegram": Channel(
        "telegram",
        "/webhooks/telegram",
        SECRETS["telegram_secret_token"].encode(),
        telegram_update,
        _telegram_headers,
        None,
    ),
    "slack": Channel(
        "slack",
        "/webhooks/slack",
        SECRETS["slack_signing_secret"].encode(),
        slack_event,
        _slack_headers,
        "X-Slack-Signature",
        has_ts=True,
    ),
    "generic": Channel(
        "generic",
        "/webhooks/generic",
        generic_key(SECRETS["generic_secret"]),
        generic_item,
        _generic_headers,
        "webhook-signature",
        "base64",
        has_ts=True,
        has_id=True,
    ),
}


def headers_of(channel: Channel, signed: Signed) -> dict[str, str]:
    return channel.headers(signed)
