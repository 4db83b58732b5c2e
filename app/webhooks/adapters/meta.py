"""Meta: Facebook Page comments, Messenger, Instagram comments and DMs, WhatsApp Cloud API."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from app.webhooks.types import (
    AdapterContext,
    InboundMessage,
    MalformedPayload,
    OwnMessage,
    Parsed,
    arr,
    epoch,
    obj,
    opt_str,
    req_str,
)

PLATFORM = "meta"
# WhatsApp message types stored with a placeholder when they carry no text: the CM still sees them.
WA_PLACEHOLDER = {
    "image": "[image]",
    "video": "[video]",
    "audio": "[audio]",
    "voice": "[voice message]",
    "document": "[document]",
    "sticker": "[sticker]",
    "location": "[location]",
    "contacts": "[contact card]",
    "order": "[order]",
}
WA_SKIP = {"reaction", "system", "unsupported", "ephemeral", "request_welcome"}


def parse(headers: Mapping[str, str], payload: Any, ctx: AdapterContext) -> Parsed:
    body = obj(payload, "body")
    kind = body.get("object")
    out = Parsed()
    if kind not in ("page", "instagram", "whatsapp_business_account"):
        out.ignored += 1  # permissions, user, ... : authentic, not ours to handle
        return out
    for i, raw_entry in enumerate(arr(body.get("entry"), "entry")):
        entry = obj(raw_entry, f"entry[{i}]")
        account = req_str(entry, "id", f"entry[{i}]")
        for j, change in enumerate(arr(entry.get("changes"), f"entry[{i}].changes")):
            change = obj(change, f"entry[{i}].changes[{j}]")
            where = f"entry[{i}].changes[{j}].value"
            value = obj(change.get("value"), where)
            if kind == "page":
                _page_change(out, account, change.get("field"), value, where)
            elif kind == "instagram":
                _instagram_change(out, account, change.get("field"), value, entry, where)
            else:
                _whatsapp_change(out, value, where)
        for j, item in enumerate(arr(entry.get("messaging"), f"entry[{i}].messaging")):
            _messaging(
                out,
                account,
                obj(item, f"entry[{i}].messaging[{j}]"),
                "messenger" if kind == "page" else "instagram",
                f"entry[{i}].messaging[{j}]",
            )
        # `standby` items belong to another app of the handover protocol: not ours.
        out.ignored += len(arr(entry.get("standby"), f"entry[{i}].standby"))
    return out


def _page_change(out: Parsed, page: str, field: Any, value: dict[str, Any], where: str) -> None:
    if field != "feed" or value.get("item") != "comment":
        out.ignored += 1
        return
    comment_id = req_str(value, "comment_id", where)
    author = value.get("from") if isinstance(value.get("from"), dict) else {}
    verb = value.get("verb")
    if verb in ("remove", "hide"):
        out.deletions.append((PLATFORM, page, comment_id))
        return
    if verb != "add":
        out.ignored += 1  # edited, unhide, ...
        return
    if author.get("id") is not None and str(author.get("id")) == page:
        out.own.append(
            OwnMessage(
                PLATFORM, page, comment_id, opt_str(value.get("parent_id")), opt_str(value.get("message"))
            )
        )
        return
    text = value.get("message")
    if text is not None and not isinstance(text, str):
        raise MalformedPayload(f"{where}.message must be a string")
    extra: dict[str, Any] = {}
    if value.get("photo"):
        extra["photo"] = value["photo"]
    post_id = opt_str(value.get("post_id"))
    out.messages.append(
        InboundMessage(
            platform=PLATFORM,
            channel="facebook",
            account_id=page,
            external_id=comment_id,
            kind="comment",
            text=text or ("[photo]" if value.get("photo") else ""),
            conversation_id=post_id,
            reply_to_id=comment_id,
            parent_id=opt_str(value.get("parent_id")),
            author_id=opt_str(author.get("id")),
            author_name=opt_str(author.get("name")),
            created_at=epoch(value.get("created_time")),
            extra=extra,
        )
    )


def _instagram_change(
    out: Parsed, account: str, field: Any, value: dict[str, Any], entry: dict[str, Any], where: str
) -> None:
    if field not in ("comments", "live_comments"):
        out.ignored += 1  # mentions (text must be fetched), story_insights, ...
        return
    comment_id = req_str(value, "id", where)
    author = value.get("from") if isinstance(value.get("from"), dict) else {}
    if author.get("self_ig_scoped_id") or (author.get("id") is not None and str(author.get("id")) == account):
        out.own.append(
            OwnMessage(
                PLATFORM, account, comment_id, opt_str(value.get("parent_id")), opt_str(value.get("text"))
            )
        )
        return
    media = value.get("media") if isinstance(value.get("media"), dict) else {}
    parent = opt_str(value.get("parent_id"))
    out.messages.append(
        InboundMessage(
            platform=PLATFORM,
            channel="instagram",
            account_id=account,
            external_id=comment_id,
            kind="comment",
            text=str(value.get("text") or ""),
            conversation_id=opt_str(media.get("id")),
            # Instagram only takes replies to top-level comments: answer a reply under its parent.
            reply_to_id=parent or comment_id,
            parent_id=parent,
            author_id=opt_str(author.get("id")),
            author_handle=opt_str(author.get("username")),
            author_name=opt_str(author.get("username")),
            created_at=epoch(entry.get("time")),
            extra={"media_product_type": media.get("media_product_type"), "live": field == "live_comments"},
        )
    )


def _messaging(out: Parsed, account: str, item: dict[str, Any], channel: str, where: str) -> None:
    message = item.get("message")
    if not isinstance(message, dict):
        out.ignored += 1  # delivery, read, reaction, postback, optin, referral, ...
        return
    sender = obj(item.get("sender"), f"{where}.sender")
    recipient = item.get("recipient") if isinstance(item.get("recipient"), dict) else {}
    mid = req_str(message, "mid", f"{where}.message")
    if message.get("is_echo"):
        out.own.append(
            OwnMessage(PLATFORM, account, mid, opt_str(recipient.get("id")), opt_str(message.get("text")))
        )
        return
    if message.get("is_deleted"):
        out.deletions.append((PLATFORM, account, mid))
        return
    psid = req_str(sender, "id", f"{where}.sender")
    text = message.get("text")
    extra: dict[str, Any] = {}
    attachments = message.get("attachments")
    if isinstance(attachments, list) and attachments:
        extra["attachments"] = [a.get("type") for a in attachments if isinstance(a, dict)]
    if isinstance(message.get("quick_reply"), dict):
        extra["quick_reply"] = message["quick_reply"].get("payload")
    if isinstance(message.get("reply_to"), dict):
        extra["reply_to_mid"] = message["reply_to"].get("mid")
    if not isinstance(text, str):
        text = " ".join(f"[{t}]" for t in extra.get("attachments", [])) or ""
    out.messages.append(
        InboundMessage(
            platform=PLATFORM,
            channel=channel,
            account_id=account,
            external_id=mid,
            kind="dm",
            text=text,
            conversation_id=psid,
            reply_to_id=psid,
            author_id=psid,
            created_at=epoch(item.get("timestamp")),
            extra=extra,
        )
    )


def _whatsapp_change(out: Parsed, value: dict[str, Any], where: str) -> None:
    metadata = value.get("metadata") if isinstance(value.get("metadata"), dict) else {}
    phone_id = opt_str(metadata.get("phone_number_id"))
    for k, status in enumerate(arr(value.get("statuses"), f"{where}.statuses")):
        status = obj(status, f"{where}.statuses[{k}]")
        if phone_id and status.get("id"):
            out.own.append(
                OwnMessage(PLATFORM, phone_id, str(status["id"]), opt_str(status.get("recipient_id")))
            )
        else:
            out.ignored += 1
    messages = arr(value.get("messages"), f"{where}.messages")
    if messages and not phone_id:
        raise MalformedPayload(f"{where}.metadata.phone_number_id is missing")
    names = {}
    for contact in arr(value.get("contacts"), f"{where}.contacts"):
        if isinstance(contact, dict) and isinstance(contact.get("profile"), dict):
            names[str(contact.get("wa_id"))] = contact["profile"].get("name")
    for k, message in enumerate(messages):
        mwhere = f"{where}.messages[{k}]"
        message = obj(message, mwhere)
        mtype = message.get("type")
        if mtype in WA_SKIP or message.get("errors"):
            out.ignored += 1
            continue
        wamid = req_str(message, "id", mwhere)
        sender = req_str(message, "from", mwhere)
        text = _whatsapp_text(message, mtype)
        context = message.get("context") if isinstance(message.get("context"), dict) else {}
        out.messages.append(
            InboundMessage(
                platform=PLATFORM,
                channel="whatsapp",
                account_id=str(phone_id),
                external_id=wamid,
                kind="dm",
                text=text,
                conversation_id=sender,
                reply_to_id=wamid,
                author_id=sender,
                author_name=opt_str(names.get(sender)),
                author_handle=sender,
                created_at=epoch(message.get("timestamp")),
                extra={"type": mtype, "context_id": context.get("id")} if context else {"type": mtype},
            )
        )


def _whatsapp_text(message: dict[str, Any], mtype: Any) -> str:
    part = message.get(mtype) if isinstance(mtype, str) else None
    part = part if isinstance(part, dict) else {}
    if mtype == "text":
        return str(part.get("body") or "")
    if mtype == "button":
        return str(part.get("text") or "")
    if mtype == "interactive":
        for key in ("button_reply", "list_reply"):
            if isinstance(part.get(key), dict):
                return str(part[key].get("title") or "")
        return "[interactive]"
    caption = part.get("caption")
    placeholder = WA_PLACEHOLDER.get(str(mtype), f"[{mtype}]")
    return f"{placeholder} {caption}" if caption else placeholder
