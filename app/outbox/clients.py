"""Outbound platform clients: post one approved reply, classify what happened.

`send()` never raises for platform or network trouble: it returns a `SendResult` whose `outcome` tells
the sender what to do next:

- `sent`: the platform accepted the reply (`platform_message_id` is its id);
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

import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any, Literal

import httpx
from pydantic import SecretStr

from app.config import Settings
from app.webhooks.signatures import sign_standard, standard_webhooks_key

Outcome = Literal["sent", "retry", "dead", "unknown"]

DM_WINDOW = timedelta(hours=24)
HUMAN_AGENT_WINDOW = timedelta(days=7)
TWEET_MAX_CHARS = 280
ERROR_MAX_CHARS = 500

# Meta Graph error codes (https://developers.facebook.com/docs/graph-api/guides/error-handling,
# WhatsApp Cloud API error codes).
META_RETRY_CODES = frozenset({1, 2, 4, 17, 32, 613, 130429, 131048, 131056, *range(80001, 80009)})
META_TOKEN_CODES = frozenset({190})
META_DEAD_CODES = frozenset({10, 100, 368, 551, 131026, 131047, *range(200, 300)})

SLACK_TOKEN_ERRORS = frozenset(
    {"invalid_auth", "token_revoked", "token_expired", "not_authed", "account_inactive"}
)
SLACK_RETRY_ERRORS = frozenset({"ratelimited", "service_unavailable", "request_timeout"})
# "It's possible some aspect of the operation succeeded before the error was raised."
SLACK_UNKNOWN_ERRORS = frozenset({"fatal_error", "internal_error"})


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One reply to post, built from an outbox row."""

    platform: str  # "meta", "x", "telegram", "slack", "generic"
    channel: str  # "facebook", "instagram", "messenger", "whatsapp", "x", "telegram", "slack", or a source
    account_id: str  # page / IG account / WhatsApp phone_number_id / X user / bot / Slack team / source
    target: dict[str, Any]  # app.drafts.service.outbox_target()
    text: str
    idempotency_key: str  # stable per outbox row, e.g. "relais-outbox-42"


@dataclass(frozen=True, slots=True)
class SendResult:
    outcome: Outcome
    platform_message_id: str | None = None
    http_status: int | None = None
    error: str | None = None  # human-readable, never contains a token
    retry_after_s: float | None = None  # platform-imposed minimum wait
    token_expired: bool = False  # the channel must be paused


class _Final(Exception):
    """Internal: stop with this result."""

    def __init__(self, result: SendResult):
        self.result = result


# ---------------------------------------------------------------------------------------------- helpers


def _secret(value: SecretStr | str | None) -> str | None:
    if value is None:
        return None
    raw = value.get_secret_value() if isinstance(value, SecretStr) else str(value)
    return raw or None


def _token(settings: Settings, field: str, out: Outgoing) -> str:
    """The account's own credential (RELAIS_ACCOUNT_TOKENS) if it has one, else the platform's."""
    token = _secret(settings.account_tokens.get(f"{out.platform}:{out.account_id}")) or _secret(
        getattr(settings, field)
    )
    if token is None:
        raise _Final(SendResult("dead", error=f"RELAIS_{field.upper()} is not set"))
    return token


def _scrub(text: str | None, secrets: list[str]) -> str | None:
    if text is None:
        return None
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text[:ERROR_MAX_CHARS]


def _all_tokens(settings: Settings) -> list[str]:
    names = ("meta_access_token", "x_access_token", "telegram_bot_token", "slack_bot_token", "generic_secret")
    tokens = [_secret(getattr(settings, n, None)) for n in names]
    tokens += [_secret(v) for v in settings.account_tokens.values()]
    return [t for t in tokens if t]


def _dead(error: str, status: int | None = None, *, token_expired: bool = False) -> SendResult:
    return SendResult("dead", http_status=status, error=error, token_expired=token_expired)


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except (ValueError, UnicodeDecodeError):
        return None


def _as_utc(now: datetime) -> datetime:
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
        if when is None:
            return None
        return max(0.0, (_as_utc(when) - _as_utc(now)).total_seconds())
    return max(0.0, seconds) if math.isfinite(seconds) else None


def _epoch_delay(value: str | None, now: datetime) -> float | None:
    """A reset time in epoch seconds (X's `x-rate-limit-reset`) as seconds from `now`."""
    if not value:
        return None
    try:
        reset = float(value.strip())
    except ValueError:
        return None
    return max(0.0, reset - _as_utc(now).timestamp()) if math.isfinite(reset) else None


def _customer_age(out: Outgoing, now: datetime) -> timedelta | None:
    raw = out.target.get("customer_at")
    if not raw:
        return None
    try:
        at = raw if isinstance(raw, datetime) else datetime.fromisoformat(str(raw).replace("Z", "+00:00"))
    except ValueError:
        return None
    return _as_utc(now) - _as_utc(at)


def _need(out: Outgoing, key: str) -> str:
    value = out.target.get(key)
    if value is None or value == "":
        raise _Final(_dead(f"target.{key} is missing for a {out.platform}/{out.channel} reply"))
    return str(value)


def _post(
    client: httpx.Client,
    settings: Settings,
    url: str,
    *,
    headers: Mapping[str, str] | None = None,
    json_body: Any = None,
    content: bytes | None = None,
) -> httpx.Response:
    """POST once; transport failures become `retry` (nothing sent) or `unknown` (maybe sent)."""
    try:
        if content is not None:
            return client.post(url, content=content, headers=headers, timeout=settings.send_timeout_s)
        return client.post(url, json=json_body, headers=headers, timeout=settings.send_timeout_s)
    except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as e:
        # the connection never opened: nothing reached the platform
        raise _Final(SendResult("retry", error=f"connection failed: {type(e).__name__}: {e}")) from e
    except httpx.UnsupportedProtocol as e:
        raise _Final(_dead(f"bad URL: {e}")) from e
    except httpx.TransportError as e:
        # ReadTimeout, WriteTimeout, WriteError, ReadError, RemoteProtocolError, ...: the request may
        # have been sent and acted upon
        raise _Final(SendResult("unknown", error=f"no answer after sending: {type(e).__name__}: {e}")) from e
    except httpx.InvalidURL as e:
        raise _Final(_dead(f"bad URL: {e}")) from e


def _http_fallback(response: httpx.Response, now: datetime, what: str) -> SendResult:
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
    return _dead(error, status)


def _malformed(response: httpx.Response, what: str) -> SendResult:
    return SendResult(
        "unknown",
        http_status=response.status_code,
        error=f"{what}: HTTP {response.status_code} success without a message id",
    )


# ------------------------------------------------------------------------------------------------- Meta


def _meta(client: httpx.Client, settings: Settings, out: Outgoing, now: datetime) -> SendResult:
    token = _token(settings, "meta_access_token", out)
    base = settings.meta_graph_url.rstrip("/")
    kind = out.target.get("kind")
    channel = out.channel
    id_path: Callable[[Any], Any]
    if kind == "comment" and channel == "facebook":
        url = f"{base}/{_need(out, 'reply_to_id')}/comments"
        body: dict[str, Any] = {"message": out.text}
        id_path = lambda d: d.get("id")  # noqa: E731
    elif kind == "comment" and channel == "instagram":
        url = f"{base}/{_need(out, 'reply_to_id')}/replies"
        body = {"message": out.text}
        id_path = lambda d: d.get("id")  # noqa: E731
    elif channel == "whatsapp":
        age = _customer_age(out, now)
        if age is None or age >= DM_WINDOW:
            return _dead("24-hour window closed: WhatsApp needs a template message")
        url = f"{base}/{out.account_id}/messages"
        body = {
            "messaging_product": "whatsapp",
            "to": _need(out, "author_id"),
            "type": "text",
            "text": {"body": out.text},
        }
        if out.target.get("message_external_id"):
            body["context"] = {"message_id": str(out.target["message_external_id"])}
        id_path = lambda d: (d.get("messages") or [{}])[0].get("id")  # noqa: E731
    elif kind == "dm" and channel in ("messenger", "instagram"):
        age = _customer_age(out, now)
        body = {"recipient": {"id": _need(out, "author_id")}, "message": {"text": out.text}}
        if age is None or age < DM_WINDOW:
            # unknown age: let Meta enforce its window (a refusal is final)
            body["messaging_type"] = "RESPONSE"
        elif age < HUMAN_AGENT_WINDOW:
            body["messaging_type"] = "MESSAGE_TAG"
            body["tag"] = "HUMAN_AGENT"
        else:
            return _dead("24-hour window closed (and the 7-day human agent window too)")
        url = f"{base}/{out.account_id}/messages"
        id_path = lambda d: d.get("message_id")  # noqa: E731
    else:
        return _dead(f"meta: cannot reply to a {kind!r} on {channel!r}")

    response = _post(client, settings, url, headers={"Authorization": f"Bearer {token}"}, json_body=body)
    data = _json(response)
    if response.is_success:
        try:
            message_id = id_path(data)
        except (AttributeError, IndexError, TypeError):
            message_id = None
        if not message_id:
            return _malformed(response, "meta")
        return SendResult("sent", platform_message_id=str(message_id), http_status=response.status_code)
    return _meta_error(response, data, now)


def _meta_error(response: httpx.Response, data: Any, now: datetime) -> SendResult:
    status = response.status_code
    error = data.get("error") if isinstance(data, dict) else None
    if not isinstance(error, dict):
        return _http_fallback(response, now, "meta: error without a Graph error body")
    code = error.get("code")
    try:
        code = int(code)
    except (TypeError, ValueError):
        code = None
    text = (
        f"meta error {code}"
        + (f"/{error.get('error_subcode')}" if error.get("error_subcode") is not None else "")
        + f" ({error.get('type') or 'unknown type'}): {error.get('message') or 'no message'}"
    )
    retry_after = parse_retry_after(response.headers.get("retry-after"), now)
    if code in META_TOKEN_CODES:
        return _dead(text, status, token_expired=True)
    if code in META_RETRY_CODES:
        return SendResult("retry", http_status=status, error=text, retry_after_s=retry_after)
    if code in META_DEAD_CODES:
        return _dead(text, status)
    if status == 429 or status >= 500:
        return SendResult("retry", http_status=status, error=text, retry_after_s=retry_after)
    return _dead(text, status)


# ---------------------------------------------------------------------------------------------------- X


def _x(client: httpx.Client, settings: Settings, out: Outgoing, now: datetime) -> SendResult:
    token = _token(settings, "x_access_token", out)
    base = settings.x_api_url.rstrip("/")
    kind = out.target.get("kind")
    if kind == "mention":
        # X weighs some characters double and URLs as 23; plain length is the conservative check
        if len(out.text) > TWEET_MAX_CHARS:
            return _dead(f"x: the reply is {len(out.text)} characters; a post takes {TWEET_MAX_CHARS}")
        url = f"{base}/2/tweets"
        body: dict[str, Any] = {
            "text": out.text,
            "reply": {"in_reply_to_tweet_id": _need(out, "reply_to_id")},
        }
    elif kind == "dm":
        url = f"{base}/2/dm_conversations/with/{_need(out, 'author_id')}/messages"
        body = {"text": out.text}
    else:
        return _dead(f"x: cannot reply to a {kind!r}")

    response = _post(client, settings, url, headers={"Authorization": f"Bearer {token}"}, json_body=body)
    data = _json(response)
    status = response.status_code
    if response.is_success:
        payload = data.get("data") if isinstance(data, dict) else None
        message_id = (payload.get("id") or payload.get("dm_event_id")) if isinstance(payload, dict) else None
        if not message_id:
            return _malformed(response, "x")
        return SendResult("sent", platform_message_id=str(message_id), http_status=status)
    text = f"x: HTTP {status}: {_x_detail(data)}"
    if status == 429:
        return SendResult(
            "retry", http_status=status, error=text, retry_after_s=_x_retry_after(response, now)
        )
    if status >= 500:
        return SendResult(
            "retry",
            http_status=status,
            error=text,
            retry_after_s=parse_retry_after(response.headers.get("retry-after"), now),
        )
    if status == 401:
        return _dead(text, status, token_expired=True)
    return _dead(text, status)


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
        delays.append(_epoch_delay(headers.get("x-rate-limit-reset"), now))
    if headers.get("x-user-limit-24hour-remaining") == "0":  # the per-user daily cap
        delays.append(_epoch_delay(headers.get("x-user-limit-24hour-reset"), now))
    delays.append(parse_retry_after(headers.get("retry-after"), now))
    known = [d for d in delays if d is not None]
    return max(known) if known else None


# --------------------------------------------------------------------------------------------- Telegram


def _int_or_str(value: str) -> int | str:
    return int(value) if value.lstrip("-").isdigit() else value


def _telegram(client: httpx.Client, settings: Settings, out: Outgoing, now: datetime) -> SendResult:
    token = _token(settings, "telegram_bot_token", out)
    url = f"{settings.telegram_api_url.rstrip('/')}/bot{token}/sendMessage"
    body: dict[str, Any] = {"chat_id": _int_or_str(_need(out, "conversation_id")), "text": out.text}
    reply_to = str(out.target.get("reply_to_id") or "")
    if reply_to.isdigit():
        body["reply_parameters"] = {"message_id": int(reply_to), "allow_sending_without_reply": True}
    thread_id = out.target.get("thread_id")
    if thread_id is not None and str(thread_id).isdigit():
        body["message_thread_id"] = int(thread_id)

    response = _post(client, settings, url, json_body=body)
    data = _json(response)
    status = response.status_code
    if isinstance(data, dict) and data.get("ok") is True:
        result = data.get("result")
        message_id = result.get("message_id") if isinstance(result, dict) else None
        if message_id is None:
            return _malformed(response, "telegram")
        return SendResult("sent", platform_message_id=str(message_id), http_status=status)
    if response.is_success:
        return _malformed(response, "telegram")
    if not isinstance(data, dict):
        return _http_fallback(response, now, "telegram: error without a Bot API body")
    code = data.get("error_code") if isinstance(data.get("error_code"), int) else status
    text = f"telegram {code}: {data.get('description') or 'no description'}"
    parameters = data.get("parameters") if isinstance(data.get("parameters"), dict) else {}
    if code == 429 or status == 429:
        retry_after = parameters.get("retry_after")
        delay = (
            float(retry_after)
            if isinstance(retry_after, int | float)
            else parse_retry_after(response.headers.get("retry-after"), now)
        )
        return SendResult("retry", http_status=status, error=text, retry_after_s=delay)
    if code in (401, 404):
        return _dead(text, status, token_expired=True)
    if code >= 500 or status >= 500:
        return SendResult("retry", http_status=status, error=text)
    if parameters.get("migrate_to_chat_id") is not None:
        text += f" (the group moved to chat {parameters['migrate_to_chat_id']})"
    return _dead(text, status)


# ------------------------------------------------------------------------------------------------ Slack


def _slack(client: httpx.Client, settings: Settings, out: Outgoing, now: datetime) -> SendResult:
    token = _token(settings, "slack_bot_token", out)
    url = f"{settings.slack_api_url.rstrip('/')}/chat.postMessage"
    body: dict[str, Any] = {"channel": _need(out, "conversation_id"), "text": out.text}
    thread_ts = out.target.get("thread_ts") or out.target.get("reply_to_id")
    if thread_ts:
        body["thread_ts"] = str(thread_ts)

    response = _post(client, settings, url, headers={"Authorization": f"Bearer {token}"}, json_body=body)
    status = response.status_code
    if status == 429 or status >= 500 or not response.is_success:
        return _http_fallback(response, now, "slack")
    data = _json(response)
    if not isinstance(data, dict):
        return _malformed(response, "slack")
    if data.get("ok") is True:
        if not data.get("ts"):
            return _malformed(response, "slack")
        return SendResult("sent", platform_message_id=str(data["ts"]), http_status=status)
    error = str(data.get("error") or "unknown_error")
    text = f"slack: {error}"
    if error in SLACK_RETRY_ERRORS:
        return SendResult(
            "retry",
            http_status=status,
            error=text,
            retry_after_s=parse_retry_after(response.headers.get("retry-after"), now),
        )
    if error in SLACK_UNKNOWN_ERRORS:
        return SendResult("unknown", http_status=status, error=text)
    if error in SLACK_TOKEN_ERRORS:
        return _dead(text, status, token_expired=True)
    return _dead(text, status)


# ---------------------------------------------------------------------------------------------- Generic


def _generic(client: httpx.Client, settings: Settings, out: Outgoing, now: datetime) -> SendResult:
    url = out.target.get("reply_url") or settings.generic_callback_url
    if not url:
        return _dead("no callback URL: set RELAIS_GENERIC_CALLBACK_URL or send reply_url")
    secret = _secret(settings.generic_secret)
    if secret is None:
        return _dead("RELAIS_GENERIC_SECRET is not set")
    try:
        key = standard_webhooks_key(secret)
    except ValueError as e:
        return _dead(str(e))
    payload = {
        "id": out.idempotency_key,
        "in_reply_to": out.target.get("message_external_id"),
        "thread_id": out.target.get("conversation_id"),
        "source": out.account_id,
        "text": out.text,
    }
    raw = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
    timestamp = int(_as_utc(now).timestamp())
    headers = {
        "content-type": "application/json",
        "webhook-id": out.idempotency_key,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign_standard(key, out.idempotency_key, timestamp, raw),
    }

    response = _post(client, settings, str(url), headers=headers, content=raw)
    status = response.status_code
    if response.is_success:
        data = _json(response)
        message_id = data.get("id") if isinstance(data, dict) else None
        return SendResult(
            "sent", platform_message_id=str(message_id or out.idempotency_key), http_status=status
        )
    return _http_fallback(response, now, f"generic callback refused the reply: {response.text[:200]!r}")


# --------------------------------------------------------------------------------------------- dispatch

SENDERS: dict[str, Callable[[httpx.Client, Settings, Outgoing, datetime], SendResult]] = {
    "meta": _meta,
    "x": _x,
    "telegram": _telegram,
    "slack": _slack,
    "generic": _generic,
}


def send(client: httpx.Client, settings: Settings, out: Outgoing, *, now: datetime) -> SendResult:
    """Post `out` once on its platform and classify the answer (never raises for platform trouble)."""
    sender = SENDERS.get(out.platform)
    if sender is None:
        return _dead(f"unknown platform {out.platform!r}")
    try:
        result = sender(client, settings, out, now)
    except _Final as final:
        result = final.result
    if result.error is not None:
        scrubbed = _scrub(result.error, _all_tokens(settings))
        if scrubbed != result.error:
            result = SendResult(
                result.outcome,
                result.platform_message_id,
                result.http_status,
                scrubbed,
                result.retry_after_s,
                result.token_expired,
            )
    return result
