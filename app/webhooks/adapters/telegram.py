"""Telegram Bot API: one `Update` per POST."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from app.webhooks.types import AdapterContext, InboundMessage, Parsed, epoch, obj, opt_str, req_str

PLATFORM = "telegram"


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
    sender = message.get("from") if isinstance(message.get("from"), dict) else {}
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
