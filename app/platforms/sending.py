"""Outbound platform clients: post one approved reply (or moderate a comment), classify what happened.

`send()` never raises for platform or network trouble: it returns a `SendResult` whose `outcome` tells
the sender what to do next:

- `sent`: the platform accepted the reply (`platform_message_id` is its id) or the moderation (hiding
  and unhiding are idempotent; deleting a comment that is already gone counts as done, with
  `already_done`);
- `retry`: nothing was posted (rate limit, transient error, connection refused): try again later, no
  sooner than `retry_after_s` when the platform said so;
- `dead`: final (permission, closed messaging window, bad request, expired token): do not retry;
  `token_expired` asks the sender to pause the whole channel;
- `unknown`: the request may have reached the platform (read timeout, connection dropped, unreadable
  success answer): reconcile with the platform's echo of our own message before sending again.

Tokens travel in an `Authorization` header, except Telegram, whose Bot API wants the token in the path;
every `error` string is scrubbed of the configured tokens whatever the platform puts in its messages.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any, Literal

import httpx
from pydantic import SecretStr

if TYPE_CHECKING:
    from app.config import Settings

Outcome = Literal["sent", "retry", "dead", "unknown"]
Action = Literal["reply", "hide", "unhide", "delete"]
MODERATIONS: tuple[Action, ...] = ("hide", "unhide", "delete")

ERROR_MAX_CHARS = 500


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One reply to post, or one moderation of the customer's comment, built from an outbox row."""

    platform: str  # "meta", "x", "telegram", "slack", "generic"
    channel: str  # "facebook", "instagram", "messenger", "whatsapp", "x", "telegram", "slack", or a source
    account_id: str  # page / IG account / WhatsApp phone_number_id / X user / bot / Slack team / source
    target: dict[str, Any]  # app.outbox.service.target_of()
    text: str
    idempotency_key: str  # stable per outbox row, e.g. "relais-outbox-42"
    action: Action = "reply"  # hide, unhide, delete: the comment `target.message_external_id`


@dataclass(frozen=True, slots=True)
class SendResult:
    outcome: Outcome
    platform_message_id: str | None = None
    http_status: int | None = None
    error: str | None = None  # human-readable, never contains a token
    retry_after_s: float | None = None  # platform-imposed minimum wait
    token_expired: bool = False  # the channel must be paused
    already_done: bool = False  # a deletion found the comment gone already


class Final(Exception):
    """Internal: stop with this result."""

    def __init__(self, result: SendResult):
        self.result = result


# ---------------------------------------------------------------------------------------------- helpers


def secret_value(value: SecretStr | str | None) -> str | None:
    if value is None:
        return None
    raw = value.get_secret_value() if isinstance(value, SecretStr) else str(value)
    return raw or None


def token(settings: Settings, platform_token: SecretStr | None, env_name: str, out: Outgoing) -> str:
    """The account's own credential (RELAIS_ACCOUNT_TOKENS) if it has one, else the platform's
    (`platform_token`, set by the environment variable `env_name`)."""
    found = secret_value(settings.account_tokens.get(f"{out.platform}:{out.account_id}")) or secret_value(
        platform_token
    )
    if found is None:
        raise Final(SendResult("dead", error=f"{env_name} is not set"))
    return found


def scrub(text: str | None, secrets: list[str]) -> str | None:
    if text is None:
        return None
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text[:ERROR_MAX_CHARS]


def all_tokens(settings: Settings) -> list[str]:
    """Every configured credential: each platform's, and each account's."""
    from app import platforms

    tokens = [t for p in platforms.all() for t in p.outbound_tokens(settings)]
    accounts = [secret_value(v) for v in settings.account_tokens.values()]
    return tokens + [t for t in accounts if t]


def dead(error: str, status: int | None = None, *, token_expired: bool = False) -> SendResult:
    return SendResult("dead", http_status=status, error=error, token_expired=token_expired)


def json_of(response: httpx.Response) -> Any:
    try:
        return response.json()
    except (ValueError, UnicodeDecodeError):
        return None


def as_utc(now: datetime) -> datetime:
    return now.replace(tzinfo=UTC) if now.tzinfo is None else now.astimezone(UTC)


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """`Retry-After`: delay in seconds, or an HTTP-date (RFC 9110 section 10.2.3)."""
    if value is None or not value.strip():
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        return max(0.0, (as_utc(when) - as_utc(now)).total_seconds())
    return max(0.0, seconds) if math.isfinite(seconds) else None


def epoch_delay(value: str | None, now: datetime) -> float | None:
    """A reset time in epoch seconds (X's `x-rate-limit-reset`) as seconds from `now`."""
    if not value:
        return None
    try:
        reset = float(value.strip())
    except ValueError:
        return None
    return max(0.0, reset - as_utc(now).timestamp()) if math.isfinite(reset) else None


def customer_age(out: Outgoing, now: datetime) -> timedelta | None:
    raw = out.target.get("customer_at")
    if not raw:
        return None
    try:
        at = raw if isinstance(raw, datetime) else datetime.fromisoformat(str(raw).replace("Z", "+00:00"))
    except ValueError:
        return None
    return as_utc(now) - as_utc(at)


def need(out: Outgoing, key: str) -> str:
    value = out.target.get(key)
    if value is None or value == "":
        raise Final(dead(f"target.{key} is missing for a {out.platform}/{out.channel} reply"))
    return str(value)


def post(
    client: httpx.Client,
    settings: Settings,
    url: str,
    *,
    headers: Mapping[str, str] | None = None,
    json_body: Any = None,
    content: bytes | None = None,
) -> httpx.Response:
    """POST once; transport failures become `retry` (nothing sent) or `unknown` (maybe sent)."""
    return call(client, settings, "POST", url, headers=headers, json_body=json_body, content=content)


def call(
    client: httpx.Client,
    settings: Settings,
    method: str,
    url: str,
    *,
    headers: Mapping[str, str] | None = None,
    json_body: Any = None,
    content: bytes | None = None,
) -> httpx.Response:
    """One request of any method, its transport failures classified as `post` does."""
    try:
        if content is not None:
            return client.request(
                method, url, content=content, headers=headers, timeout=settings.send_timeout_s
            )
        return client.request(method, url, json=json_body, headers=headers, timeout=settings.send_timeout_s)
    except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as e:
        # the connection never opened: nothing reached the platform
        raise Final(SendResult("retry", error=f"connection failed: {type(e).__name__}: {e}")) from e
    except httpx.UnsupportedProtocol as e:
        raise Final(dead(f"bad URL: {e}")) from e
    except httpx.TransportError as e:
        # ReadTimeout, WriteTimeout, WriteError, ReadError, RemoteProtocolError, ...: the request may
        # have been sent and acted upon
        raise Final(SendResult("unknown", error=f"no answer after sending: {type(e).__name__}: {e}")) from e
    except httpx.InvalidURL as e:
        raise Final(dead(f"bad URL: {e}")) from e


def http_fallback(response: httpx.Response, now: datetime, what: str) -> SendResult:
    """Status-only classification: 429/5xx retry (honouring Retry-After), other 4xx dead."""
    status = response.status_code
    error = f"{what} (HTTP {status})"
    if status == 429 or status >= 500:
        return SendResult(
            "retry",
            http_status=status,
            error=error,
            retry_after_s=parse_retry_after(response.headers.get("retry-after"), now),
        )
    return dead(error, status)


def malformed(response: httpx.Response, what: str) -> SendResult:
    return SendResult(
        "unknown",
        http_status=response.status_code,
        error=f"{what}: HTTP {response.status_code} success without a message id",
    )


def send(client: httpx.Client, settings: Settings, out: Outgoing, *, now: datetime) -> SendResult:
    """Post `out` (a reply, or a moderation) once on its platform and classify the answer (never
    raises for platform trouble)."""
    from app import platforms

    platform = platforms.get(out.platform)
    if platform is None:
        return dead(f"unknown platform {out.platform!r}")
    try:
        if out.action == "reply":
            result = platform.send(client, settings, out, now)
        elif out.action not in platform.moderations(out.channel, str(out.target.get("kind"))):
            result = dead(f"{out.action} is not supported on {out.channel}")
        else:
            result = platform.moderate(client, settings, out, now)
    except Final as final:
        result = final.result
    if result.error is not None:
        scrubbed = scrub(result.error, all_tokens(settings))
        if scrubbed != result.error:
            result = replace(result, error=scrubbed)
    return result
