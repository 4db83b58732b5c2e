"""Telegram Bot API: one `Update` per POST, authenticated by the secret token set with
`setWebhook(secret_token=S)` and echoed in `X-Telegram-Bot-Api-Secret-Token`; replies with
`sendMessage`.
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
from app.platforms.signing import InvalidSignature
from app.platforms.types import AdapterContext, InboundMessage, Parsed, epoch, obj, opt_str, req_str, sub

if TYPE_CHECKING:
    from app.config import Settings

PLATFORM = "telegram"


class TelegramSettings(BaseModel):
    """`RELAIS_TELEGRAM_*`: the webhook's secret token (inbound), the Bot API and its token."""

    telegram_secret_token: SecretStr | None = None
    telegram_api_url: str = "https://api.telegram.org"
    telegram_bot_token: SecretStr | None = None

    telegram_empty_secrets_are_unset = field_validator("telegram_secret_token", mode="before")(unset_if_empty)


def parse(headers: Mapping[str, str], payload: Any, ctx: AdapterContext) -> Parsed:
    update = obj(payload, "body")
    update_id = req_str(update, "update_id", "body")
    out = Parsed(delivery_id=update_id)
    message = update.get("message")
    if not isinstance(message, dict):
        # edited_message, channel_post (the brand's own channel), callback_query, my_chat_member, ...
        out.ignored += 1
        return out
    message_id = req_str(message, "message_id", "message")
    chat = obj(message.get("chat"), "message.chat")
    chat_id = req_str(chat, "id", "message.chat")
    sender = sub(message, "from")
    if sender.get("is_bot"):
        out.ignored += 1
        return out
    text = message.get("text")
    if not isinstance(text, str):
        caption = message.get("caption")
        media = next(
            (
                k
                for k in ("photo", "video", "voice", "audio", "document", "sticker", "location", "contact")
                if k in message
            ),
            None,
        )
        if media is None and not isinstance(caption, str):
            out.ignored += 1  # service messages: joins, pins, ...
            return out
        text = f"[{media or 'media'}] {caption}" if isinstance(caption, str) else f"[{media}]"
    name = (
        " ".join(p for p in (sender.get("first_name"), sender.get("last_name")) if isinstance(p, str)) or None
    )
    private = chat.get("type") == "private"
    out.messages.append(
        InboundMessage(
            platform=PLATFORM,
            channel="telegram",
            account_id=ctx.telegram_bot_id,
            external_id=f"{chat_id}:{message_id}",
            kind="dm" if private else "message",
            text=text,
            conversation_id=chat_id,
            reply_to_id=message_id,
            author_id=opt_str(sender.get("id")),
            author_name=name,
            author_handle=opt_str(sender.get("username")),
            created_at=epoch(message.get("date")),
            extra={
                "chat_type": chat.get("type"),
                "update_id": update_id,
                "thread_id": message.get("message_thread_id"),
            },
        )
    )
    return out


# ------------------------------------------------------------------------------------ signature


def verify(secret: bytes, body: bytes, headers: Mapping[str, str]) -> None:
    """A shared secret echoed in `X-Telegram-Bot-Api-Secret-Token`."""
    header = headers.get("x-telegram-bot-api-secret-token")
    if not header:
        raise InvalidSignature("missing_signature")
    if not hmac.compare_digest(secret, header.encode()):
        raise InvalidSignature("bad_signature")


# -------------------------------------------------------------------------------------- replies


def _int_or_str(value: str) -> int | str:
    return int(value) if value.lstrip("-").isdigit() else value


def _send(
    client: httpx.Client, settings: Settings, out: sending.Outgoing, now: datetime
) -> sending.SendResult:
    token = sending.token(settings, settings.telegram_bot_token, "RELAIS_TELEGRAM_BOT_TOKEN", out)
    url = f"{settings.telegram_api_url.rstrip('/')}/bot{token}/sendMessage"
    body: dict[str, Any] = {"chat_id": _int_or_str(sending.need(out, "conversation_id")), "text": out.text}
    reply_to = str(out.target.get("reply_to_id") or "")
    if reply_to.isdigit():
        body["reply_parameters"] = {"message_id": int(reply_to), "allow_sending_without_reply": True}
    thread_id = out.target.get("thread_id")
    if thread_id is not None and str(thread_id).isdigit():
        body["message_thread_id"] = int(thread_id)

    response = sending.post(client, settings, url, json_body=body)
    data = sending.json_of(response)
    status = response.status_code
    if isinstance(data, dict) and data.get("ok") is True:
        result = data.get("result")
        message_id = result.get("message_id") if isinstance(result, dict) else None
        if message_id is None:
            return sending.malformed(response, "telegram")
        return sending.SendResult("sent", platform_message_id=str(message_id), http_status=status)
    if response.is_success:
        return sending.malformed(response, "telegram")
    if not isinstance(data, dict):
        return sending.http_fallback(response, now, "telegram: error without a Bot API body")
    given = data.get("error_code")
    code: int = given if isinstance(given, int) else status
    text = f"telegram {code}: {data.get('description') or 'no description'}"
    parameters = sub(data, "parameters")
    if code == 429 or status == 429:
        retry_after = parameters.get("retry_after")
        delay = (
            float(retry_after)
            if isinstance(retry_after, int | float)
            else sending.parse_retry_after(response.headers.get("retry-after"), now)
        )
        return sending.SendResult("retry", http_status=status, error=text, retry_after_s=delay)
    if code in (401, 404):
        return sending.dead(text, status, token_expired=True)
    if code >= 500 or status >= 500:
        return sending.SendResult("retry", http_status=status, error=text)
    if parameters.get("migrate_to_chat_id") is not None:
        text += f" (the group moved to chat {parameters['migrate_to_chat_id']})"
    return sending.dead(text, status)


class TelegramPlatform(PlatformBase):
    name = PLATFORM
    description = "Telegram Bot API updates."
    secret_setting = "telegram_secret_token"
    # never the secret token header: it is the shared secret itself
    journal_headers = ("content-type", "user-agent")

    def verify(self, settings: Settings, secret: bytes, body: bytes, headers: Mapping[str, str]) -> None:
        verify(secret, body, headers)

    def parse(self, headers: Mapping[str, str], payload: Any, ctx: AdapterContext) -> Parsed:
        return parse(headers, payload, ctx)

    def send(
        self, client: httpx.Client, settings: Settings, out: sending.Outgoing, now: datetime
    ) -> sending.SendResult:
        return _send(client, settings, out, now)

    def outbound_tokens(self, settings: Settings) -> list[str]:
        return [t for t in [sending.secret_value(settings.telegram_bot_token)] if t]


TELEGRAM = TelegramPlatform()
