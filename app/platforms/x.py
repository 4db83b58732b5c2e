"""X: Account Activity API events and the X Activity API envelope, CRC handshake, replies.

Signature `x-twitter-webhooks-signature: sha256=<base64 HMAC-SHA256(consumer secret, raw body)>`;
`GET ?crc_token=T` answers `sha256=<base64 HMAC(consumer secret, T)>`; replies go through API v2,
and so do hiding and showing again a reply to the brand's posts (`PUT /2/tweets/{id}/hidden`).
"""

from __future__ import annotations

import base64
import datetime as dt
import hmac
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

import httpx
from fastapi import Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, SecretStr, field_validator

from app.errors import BadRequest
from app.platforms import sending
from app.platforms.base import Handshake, HandshakeSettingsDep, PlatformBase, inbound_secret, unset_if_empty
from app.platforms.signing import InvalidSignature, hmac256
from app.platforms.types import (
    AdapterContext,
    InboundMessage,
    MalformedPayload,
    OwnMessage,
    Parsed,
    arr,
    epoch,
    obj,
    opt_str,
    posted_at,
    req_str,
    sub,
    utc,
)

if TYPE_CHECKING:
    from app.config import Settings

PLATFORM = "x"
TWEET_MAX_CHARS = 280


class XSettings(BaseModel):
    """`RELAIS_X_*`: the consumer secret (inbound), the API and its token (outbound)."""

    x_consumer_secret: SecretStr | None = None
    x_api_url: str = "https://api.x.com"
    x_access_token: SecretStr | None = None

    x_empty_secrets_are_unset = field_validator("x_consumer_secret", mode="before")(unset_if_empty)


def parse(headers: Mapping[str, str], payload: Any, ctx: AdapterContext) -> Parsed:
    body = obj(payload, "body")
    out = Parsed()
    if "data" in body and "for_user_id" not in body:
        data = body["data"]
        for i, event in enumerate(data if isinstance(data, list) else [data]):
            _activity_event(out, obj(event, f"data[{i}]"), body, f"data[{i}]")
        return out
    if not any(k in body for k in ("tweet_create_events", "direct_message_events", "tweet_delete_events")):
        out.ignored += 1
        return out
    me = req_str(body, "for_user_id", "body")
    for i, tweet in enumerate(arr(body.get("tweet_create_events"), "tweet_create_events")):
        _tweet(out, me, obj(tweet, f"tweet_create_events[{i}]"), f"tweet_create_events[{i}]")
    users = sub(body, "users")
    for i, event in enumerate(arr(body.get("direct_message_events"), "direct_message_events")):
        _dm(out, me, obj(event, f"direct_message_events[{i}]"), users, f"direct_message_events[{i}]")
    for i, deletion in enumerate(arr(body.get("tweet_delete_events"), "tweet_delete_events")):
        status = obj(
            obj(deletion, f"tweet_delete_events[{i}]").get("status"), f"tweet_delete_events[{i}].status"
        )
        out.deletions.append((PLATFORM, me, req_str(status, "id", f"tweet_delete_events[{i}].status")))
    return out


def _created(value: Any) -> dt.datetime | None:
    if isinstance(value, str) and not value.strip().isdigit() and " " in value:
        try:
            return utc(dt.datetime.strptime(value, "%a %b %d %H:%M:%S %z %Y"))
        except ValueError as e:
            raise MalformedPayload(f"unreadable created_at {value[:40]!r}") from e
    return epoch(value)


def _tweet(out: Parsed, me: str, tweet: dict[str, Any], where: str) -> None:
    # ids exceed 2**53: only the *_str fields are exact
    tweet_id = req_str(tweet, "id_str", where)
    user = obj(tweet.get("user"), f"{where}.user")
    author = req_str(user, "id_str", f"{where}.user")
    in_reply_to = opt_str(tweet.get("in_reply_to_status_id_str"))
    if author == me:
        # no thread id in v1.1: our reply joins the conversation through the tweet it answers
        out.own.append(
            OwnMessage(
                PLATFORM,
                me,
                tweet_id,
                in_reply_to,
                opt_str(tweet.get("text")),
                created_at=posted_at(tweet.get("timestamp_ms") or tweet.get("created_at"), _created),
            )
        )
        return
    if "retweeted_status" in tweet:
        out.ignored += 1  # a retweet of something that mentioned us: nothing to answer
        return
    text = tweet.get("text") or tweet.get("full_text") or ""
    if tweet.get("truncated") and isinstance(tweet.get("extended_tweet"), dict):
        text = tweet["extended_tweet"].get("full_text") or text
    out.messages.append(
        InboundMessage(
            platform=PLATFORM,
            channel="x",
            account_id=me,
            external_id=tweet_id,
            kind="mention",
            text=str(text),
            conversation_id=in_reply_to or tweet_id,
            reply_to_id=tweet_id,
            parent_id=in_reply_to,
            author_id=author,
            author_name=opt_str(user.get("name")),
            author_handle=opt_str(user.get("screen_name")),
            created_at=_created(tweet.get("timestamp_ms") or tweet.get("created_at")),
        )
    )


def _dm(
    out: Parsed, me: str, event: dict[str, Any], users: dict[str, Any], where: str, *, sent: bool = False
) -> None:
    """One `message_create` DM event (Account Activity, or inside an X Activity `dm.*` payload);
    `sent`: the account's own (`dm.sent`) whoever it names as sender."""
    if event.get("type") != "message_create":
        out.ignored += 1
        return
    event_id = req_str(event, "id", where)
    create = obj(event.get("message_create"), f"{where}.message_create")
    sender = req_str(create, "sender_id", f"{where}.message_create")
    data = sub(create, "message_data")
    target = sub(create, "target")
    if sent or sender == me:
        customer = opt_str(target.get("recipient_id"))
        out.own.append(
            OwnMessage(
                PLATFORM,
                me,
                event_id,
                customer,
                opt_str(data.get("text")),
                conversation_id=customer,
                created_at=posted_at(event.get("created_timestamp")),
            )
        )
        return
    user = sub(users, sender)
    if isinstance(user.get("data"), dict):  # the X Activity API wraps each user in "data"
        user = user["data"]
    out.messages.append(
        InboundMessage(
            platform=PLATFORM,
            channel="x",
            account_id=me,
            external_id=event_id,
            kind="dm",
            text=str(data.get("text") or ""),
            conversation_id=sender,
            reply_to_id=sender,
            author_id=sender,
            author_name=opt_str(user.get("name")),
            author_handle=opt_str(user.get("screen_name")) or opt_str(user.get("username")),
            created_at=epoch(event.get("created_timestamp")),
        )
    )


def _activity_event(out: Parsed, event: dict[str, Any], body: dict[str, Any], where: str) -> None:
    """X Activity API: `{"data": {"event_uuid", "event_type", "payload", "includes"}}`."""
    event_type = event.get("event_type")
    if event_type not in ("post.mention.create", "dm.received", "dm.sent", "post.delete"):
        out.ignored += 1
        return
    payload = obj(event.get("payload"), f"{where}.payload")
    if isinstance(payload.get("data"), dict):
        payload = payload["data"]
    includes = sub(event, "includes")
    users = {
        str(u.get("id")): u
        for u in arr(includes.get("users"), f"{where}.includes.users")
        if isinstance(u, dict)
    }
    matched = sub(event, "filter")
    me = (
        opt_str(event.get("for_user_id"))
        or opt_str(body.get("for_user_id"))
        or opt_str(matched.get("user_id"))  # the filtered user: the account the event is for
        or opt_str(payload.get("in_reply_to_user_id"))
        or opt_str(event.get("user_id"))
        or "unknown"
    )
    if event_type == "post.delete":
        out.deletions.append((PLATFORM, me, req_str(payload, "id", f"{where}.payload")))
        return
    if event_type == "post.mention.create":
        post_id = req_str(payload, "id", f"{where}.payload")
        author = opt_str(payload.get("author_id"))
        replied = [
            r.get("id")
            for r in arr(payload.get("referenced_tweets"), f"{where}.payload.referenced_tweets")
            if isinstance(r, dict) and r.get("type") == "replied_to"
        ]
        if author is not None and author == me:
            out.own.append(
                OwnMessage(
                    PLATFORM,
                    me,
                    post_id,
                    opt_str(replied[0]) if replied else None,
                    opt_str(payload.get("text")),
                    conversation_id=opt_str(payload.get("conversation_id")),
                    created_at=posted_at(payload.get("created_at")),
                )
            )
            return
        user = users.get(author or "", {})
        out.messages.append(
            InboundMessage(
                platform=PLATFORM,
                channel="x",
                account_id=me,
                external_id=post_id,
                kind="mention",
                text=str(payload.get("text") or ""),
                conversation_id=opt_str(payload.get("conversation_id")) or post_id,
                reply_to_id=post_id,
                parent_id=opt_str(replied[0]) if replied else None,
                author_id=author,
                author_name=opt_str(user.get("name")),
                author_handle=opt_str(user.get("username")),
                created_at=epoch(payload.get("created_at")),
                extra={"event_uuid": event.get("event_uuid")},
            )
        )
        return
    if "direct_message_events" in payload:
        # as X documents dm.received / dm.sent: Account Activity DM events and a users map
        dm_users = sub(payload, "users")
        for i, dm in enumerate(
            arr(payload["direct_message_events"], f"{where}.payload.direct_message_events")
        ):
            dm_where = f"{where}.payload.direct_message_events[{i}]"
            _dm(out, me, obj(dm, dm_where), dm_users, dm_where, sent=event_type == "dm.sent")
        return
    dm_id = opt_str(payload.get("id")) or opt_str(payload.get("dm_event_id"))
    if dm_id is None:
        raise MalformedPayload(f"{where}.payload.id is missing")
    sender = opt_str(payload.get("sender_id"))
    if event_type == "dm.sent" or (sender is not None and sender == me):
        out.own.append(
            OwnMessage(
                PLATFORM,
                me,
                dm_id,
                opt_str(payload.get("dm_conversation_id")),
                opt_str(payload.get("text")),
                conversation_id=opt_str(payload.get("dm_conversation_id")),
                created_at=posted_at(payload.get("created_at")),
            )
        )
        return
    user = users.get(sender or "", {})
    out.messages.append(
        InboundMessage(
            platform=PLATFORM,
            channel="x",
            account_id=me,
            external_id=dm_id,
            kind="dm",
            text=str(payload.get("text") or ""),
            conversation_id=opt_str(payload.get("dm_conversation_id")) or sender,
            reply_to_id=sender,
            author_id=sender,
            author_name=opt_str(user.get("name")),
            author_handle=opt_str(user.get("username")),
            created_at=epoch(payload.get("created_at")),
            extra={"event_uuid": event.get("event_uuid")},
        )
    )


# ------------------------------------------------------------------------------------ signature


def crc_response(secret: bytes, crc_token: str) -> str:
    return "sha256=" + base64.b64encode(hmac256(secret, crc_token.encode())).decode()


def verify(secret: bytes, body: bytes, headers: Mapping[str, str]) -> None:
    """`x-twitter-webhooks-signature: sha256=<base64>`."""
    header = headers.get("x-twitter-webhooks-signature")
    if not header:
        raise InvalidSignature("missing_signature")
    expected = "sha256=" + base64.b64encode(hmac256(secret, body)).decode()
    if not hmac.compare_digest(expected.encode(), header.strip().encode()):
        raise InvalidSignature("bad_signature")


def handshake(
    settings: HandshakeSettingsDep, crc_token: Annotated[str | None, Query()] = None
) -> dict[str, str]:
    """X's challenge-response check."""
    if not crc_token:
        raise BadRequest("crc_token is required")
    secret = inbound_secret(X, settings)
    return {"response_token": crc_response(secret, crc_token)}


# -------------------------------------------------------------------------------------- replies


def _send(
    client: httpx.Client, settings: Settings, out: sending.Outgoing, now: datetime
) -> sending.SendResult:
    token = sending.token(settings, settings.x_access_token, "RELAIS_X_ACCESS_TOKEN", out)
    base = settings.x_api_url.rstrip("/")
    kind = out.target.get("kind")
    if kind == "mention":
        # X weighs some characters double and URLs as 23; plain length is the conservative check
        if len(out.text) > TWEET_MAX_CHARS:
            return sending.dead(f"x: the reply is {len(out.text)} characters; a post takes {TWEET_MAX_CHARS}")
        url = f"{base}/2/tweets"
        body: dict[str, Any] = {
            "text": out.text,
            "reply": {"in_reply_to_tweet_id": sending.need(out, "reply_to_id")},
        }
    elif kind == "dm":
        url = f"{base}/2/dm_conversations/with/{sending.need(out, 'author_id')}/messages"
        body = {"text": out.text}
    else:
        return sending.dead(f"x: cannot reply to a {kind!r}")

    response = sending.post(
        client, settings, url, headers={"Authorization": f"Bearer {token}"}, json_body=body
    )
    data = sending.json_of(response)
    status = response.status_code
    if response.is_success:
        payload = data.get("data") if isinstance(data, dict) else None
        message_id = (payload.get("id") or payload.get("dm_event_id")) if isinstance(payload, dict) else None
        if not message_id:
            return sending.malformed(response, "x")
        return sending.SendResult("sent", platform_message_id=str(message_id), http_status=status)
    return _x_failure(response, data, now)


# A reply to the brand's posts can be hidden and shown again (X API v2 "hide replies"); nothing
# else (a DM, a post) can, and X deletes nothing of someone else's.
MODERATIONS = frozenset({"hide", "unhide"})


def _moderations(channel: str, kind: str) -> frozenset[str]:
    return MODERATIONS if kind == "mention" else frozenset()


def _moderate(
    client: httpx.Client, settings: Settings, out: sending.Outgoing, now: datetime
) -> sending.SendResult:
    """`PUT /2/tweets/{id}/hidden {"hidden": true|false}` with the user-context token; idempotent
    on X (hiding a hidden reply again is a 200), so a retry after an unknown outcome is harmless."""
    if out.action not in MODERATIONS:
        return sending.dead(f"x: cannot {out.action} a post")
    token = sending.token(settings, settings.x_access_token, "RELAIS_X_ACCESS_TOKEN", out)
    url = f"{settings.x_api_url.rstrip('/')}/2/tweets/{sending.need(out, 'message_external_id')}/hidden"
    wanted = out.action == "hide"
    response = sending.call(
        client,
        settings,
        "PUT",
        url,
        headers={"Authorization": f"Bearer {token}"},
        json_body={"hidden": wanted},
    )
    data = sending.json_of(response)
    if response.is_success:
        payload = data.get("data") if isinstance(data, dict) else None
        if not isinstance(payload, dict) or payload.get("hidden") is not wanted:
            return sending.malformed(response, "x")
        return sending.SendResult("sent", http_status=response.status_code)
    return _x_failure(response, data, now)


def _x_failure(response: httpx.Response, data: Any, now: datetime) -> sending.SendResult:
    """A refused call: retried on 429 (X's reset headers) and 5xx, dead otherwise (401: the token)."""
    status = response.status_code
    text = f"x: HTTP {status}: {_x_detail(data)}"
    if status == 429:
        return sending.SendResult(
            "retry", http_status=status, error=text, retry_after_s=_x_retry_after(response, now)
        )
    if status >= 500:
        return sending.SendResult(
            "retry",
            http_status=status,
            error=text,
            retry_after_s=sending.parse_retry_after(response.headers.get("retry-after"), now),
        )
    if status == 401:
        return sending.dead(text, status, token_expired=True)
    return sending.dead(text, status)


def _x_detail(data: Any) -> str:
    if not isinstance(data, dict):
        return "no error body"
    if data.get("detail") or data.get("title"):
        return str(data.get("detail") or data.get("title"))
    errors = data.get("errors")
    if isinstance(errors, list) and errors and isinstance(errors[0], dict):
        return str(errors[0].get("message") or errors[0].get("detail") or errors[0])
    return "no error detail"


def _x_retry_after(response: httpx.Response, now: datetime) -> float | None:
    headers = response.headers
    delays = []
    if headers.get("x-rate-limit-remaining") in (None, "0"):
        delays.append(sending.epoch_delay(headers.get("x-rate-limit-reset"), now))
    if headers.get("x-user-limit-24hour-remaining") == "0":  # the per-user daily cap
        delays.append(sending.epoch_delay(headers.get("x-user-limit-24hour-reset"), now))
    delays.append(sending.parse_retry_after(headers.get("retry-after"), now))
    known = [d for d in delays if d is not None]
    return max(known) if known else None


class XPlatform(PlatformBase):
    name = PLATFORM
    description = "X Account Activity events and the X Activity API envelope."
    secret_setting = "x_consumer_secret"
    journal_headers = ("content-type", "user-agent", "x-twitter-webhooks-signature")
    handshake = Handshake(handshake, JSONResponse)

    def verify(self, settings: Settings, secret: bytes, body: bytes, headers: Mapping[str, str]) -> None:
        verify(secret, body, headers)

    def parse(self, headers: Mapping[str, str], payload: Any, ctx: AdapterContext) -> Parsed:
        return parse(headers, payload, ctx)

    def send(
        self, client: httpx.Client, settings: Settings, out: sending.Outgoing, now: datetime
    ) -> sending.SendResult:
        return _send(client, settings, out, now)

    def moderations(self, channel: str, kind: str) -> frozenset[str]:
        return _moderations(channel, kind)

    def moderate(
        self, client: httpx.Client, settings: Settings, out: sending.Outgoing, now: datetime
    ) -> sending.SendResult:
        return _moderate(client, settings, out, now)

    def outbound_tokens(self, settings: Settings) -> list[str]:
        return [t for t in [sending.secret_value(settings.x_access_token)] if t]


X = XPlatform()
