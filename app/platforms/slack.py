"""Slack Events API: `url_verification` and `event_callback` (app mentions and messages).

Signature `X-Slack-Signature: v0=<hex HMAC-SHA256(signing secret, "v0:{ts}:{raw body}")>` with
`X-Slack-Request-Timestamp` within tolerance; replies with `chat.postMessage`.
"""

from __future__ import annotations

import hmac
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
    OwnMessage,
    Parsed,
    epoch,
    obj,
    opt_str,
    posted_at,
    req_str,
)

if TYPE_CHECKING:
    from app.config import Settings

PLATFORM = "slack"


class SlackSettings(BaseModel):
    """`RELAIS_SLACK_*`: the signing secret (inbound), the Web API and the bot token."""

    slack_signing_secret: SecretStr | None = None
    slack_api_url: str = "https://slack.com/api"
    slack_bot_token: SecretStr | None = None

    slack_empty_secrets_are_unset = field_validator("slack_signing_secret", mode="before")(unset_if_empty)


SLACK_TOKEN_ERRORS = frozenset(
    {"invalid_auth", "token_revoked", "token_expired", "not_authed", "account_inactive"}
)
SLACK_RETRY_ERRORS = frozenset({"ratelimited", "service_unavailable", "request_timeout"})
# "It's possible some aspect of the operation succeeded before the error was raised."
SLACK_UNKNOWN_ERRORS = frozenset({"fatal_error", "internal_error"})

# Message subtypes that are a person writing; every other subtype is an edit, a join, a bot, ...
HUMAN_SUBTYPES = {None, "thread_broadcast", "file_share"}


def parse(headers: Mapping[str, str], payload: Any, ctx: AdapterContext) -> Parsed:
    body = obj(payload, "body")
    kind = body.get("type")
    if kind == "url_verification":
        return Parsed(response={"challenge": req_str(body, "challenge", "body")})
    out = Parsed(delivery_id=opt_str(body.get("event_id")))
    if kind != "event_callback":
        out.ignored += 1  # app_rate_limited, ...
        return out
    event = obj(body.get("event"), "event")
    team = opt_str(body.get("team_id")) or opt_str(event.get("team")) or "unknown"
    etype = event.get("type")
    if etype not in ("app_mention", "message"):
        out.ignored += 1
        return out
    subtype = event.get("subtype")
    if etype == "message" and subtype == "message_deleted":
        deleted = opt_str(event.get("deleted_ts"))
        if deleted:
            out.deletions.append((PLATFORM, team, f"{event.get('channel')}:{deleted}"))
        return out
    channel = req_str(event, "channel", "event")
    ts = req_str(event, "ts", "event")
    if event.get("bot_id") or subtype == "bot_message":
        out.own.append(
            OwnMessage(
                PLATFORM,
                team,
                f"{channel}:{ts}",
                opt_str(event.get("thread_ts")),
                opt_str(event.get("text")),
                conversation_id=channel,
                created_at=posted_at(ts),
            )
        )
        return out
    if not (subtype is None or isinstance(subtype, str)) or subtype not in HUMAN_SUBTYPES:
        out.ignored += 1
        return out
    thread_ts = opt_str(event.get("thread_ts"))
    kind_ = (
        "mention" if etype == "app_mention" else ("dm" if event.get("channel_type") == "im" else "message")
    )
    out.messages.append(
        InboundMessage(
            platform=PLATFORM,
            channel="slack",
            account_id=team,
            # an app_mention and its message event are the same message: one key for both
            external_id=f"{channel}:{ts}",
            kind=kind_,
            text=str(event.get("text") or ""),
            conversation_id=channel,
            reply_to_id=thread_ts or ts,
            parent_id=thread_ts,
            author_id=opt_str(event.get("user")),
            author_name=opt_str(event.get("user")),
            created_at=epoch(ts),
            extra={"channel": channel, "thread_ts": thread_ts or ts},
        )
    )
    return out


# ------------------------------------------------------------------------------------ signature


def verify(
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
    fresh(timestamp, tolerance_s, now)
    base = b"v0:" + (timestamp or "").encode() + b":" + body
    expected = "v0=" + hmac256(secret, base).hex()
    if not hmac.compare_digest(expected.encode(), header.strip().encode()):
        raise InvalidSignature("bad_signature")


# -------------------------------------------------------------------------------------- replies


def _send(
    client: httpx.Client, settings: Settings, out: sending.Outgoing, now: datetime
) -> sending.SendResult:
    token = sending.token(settings, settings.slack_bot_token, "RELAIS_SLACK_BOT_TOKEN", out)
    url = f"{settings.slack_api_url.rstrip('/')}/chat.postMessage"
    body: dict[str, Any] = {"channel": sending.need(out, "conversation_id"), "text": out.text}
    thread_ts = out.target.get("thread_ts") or out.target.get("reply_to_id")
    if thread_ts:
        body["thread_ts"] = str(thread_ts)

    response = sending.post(
        client, settings, url, headers={"Authorization": f"Bearer {token}"}, json_body=body
    )
    status = response.status_code
    if status == 429 or status >= 500 or not response.is_success:
        return sending.http_fallback(response, now, "slack")
    data = sending.json_of(response)
    if not isinstance(data, dict):
        return sending.malformed(response, "slack")
    if data.get("ok") is True:
        if not data.get("ts"):
            return sending.malformed(response, "slack")
        return sending.SendResult("sent", platform_message_id=str(data["ts"]), http_status=status)
    error = str(data.get("error") or "unknown_error")
    text = f"slack: {error}"
    if error in SLACK_RETRY_ERRORS:
        return sending.SendResult(
            "retry",
            http_status=status,
            error=text,
            retry_after_s=sending.parse_retry_after(response.headers.get("retry-after"), now),
        )
    if error in SLACK_UNKNOWN_ERRORS:
        return sending.SendResult("unknown", http_status=status, error=text)
    if error in SLACK_TOKEN_ERRORS:
        return sending.dead(text, status, token_expired=True)
    return sending.dead(text, status)


class SlackPlatform(PlatformBase):
    name = PLATFORM
    description = "Slack Events API, `url_verification` included."
    secret_setting = "slack_signing_secret"
    journal_headers = (
        "content-type",
        "user-agent",
        "x-slack-signature",
        "x-slack-request-timestamp",
        "x-slack-retry-num",
        "x-slack-retry-reason",
    )

    def verify(self, settings: Settings, secret: bytes, body: bytes, headers: Mapping[str, str]) -> None:
        verify(secret, body, headers, tolerance_s=settings.timestamp_tolerance_s)

    def parse(self, headers: Mapping[str, str], payload: Any, ctx: AdapterContext) -> Parsed:
        return parse(headers, payload, ctx)

    def send(
        self, client: httpx.Client, settings: Settings, out: sending.Outgoing, now: datetime
    ) -> sending.SendResult:
        return _send(client, settings, out, now)

    def outbound_tokens(self, settings: Settings) -> list[str]:
        return [t for t in [sending.secret_value(settings.slack_bot_token)] if t]


SLACK = SlackPlatform()
