"""Meta: Facebook Page comments, Messenger, Instagram comments and DMs, WhatsApp Cloud API.

Signature `X-Hub-Signature-256: sha256=<hex HMAC-SHA256(app secret, raw body)>` (the legacy SHA-1
header is never accepted); the GET subscription handshake echoes `hub.challenge`; replies go
through the Graph API, and so does the moderation of Facebook and Instagram comments (hide,
unhide: `POST /{comment-id}` with `is_hidden`, or `hide` on Instagram; delete: `DELETE
/{comment-id}`).
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Annotated, Any

import httpx
from fastapi import Query
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel, SecretStr, field_validator

from app import metrics
from app.errors import Forbidden
from app.platforms import sending
from app.platforms.base import Handshake, HandshakeSettingsDep, PlatformBase, Profile, unset_if_empty
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
)

if TYPE_CHECKING:
    from app.config import Settings

PLATFORM = "meta"


class MetaSettings(BaseModel):
    """`RELAIS_META_*`: the app secret and verify token (inbound), the Graph API (outbound)."""

    meta_app_secret: SecretStr | None = None
    meta_verify_token: SecretStr | None = None
    meta_graph_url: str = "https://graph.facebook.com/v21.0"
    meta_access_token: SecretStr | None = None

    meta_empty_secrets_are_unset = field_validator("meta_app_secret", "meta_verify_token", mode="before")(
        unset_if_empty
    )


DM_WINDOW = timedelta(hours=24)
HUMAN_AGENT_WINDOW = timedelta(days=7)
# Meta Graph error codes (https://developers.facebook.com/docs/graph-api/guides/error-handling,
# WhatsApp Cloud API error codes).
META_RETRY_CODES = frozenset({1, 2, 4, 17, 32, 613, 130429, 131048, 131056, *range(80001, 80009)})
META_TOKEN_CODES = frozenset({190})
META_DEAD_CODES = frozenset({10, 100, 368, 551, 131026, 131047, *range(200, 300)})
# "Unsupported delete request. Object with ID ... does not exist": deleting it again is done.
META_GONE = (100, 33)
MODERATIONS = frozenset({"hide", "unhide", "delete"})

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
    author = sub(value, "from")
    verb = value.get("verb")
    if verb == "remove":
        out.deletions.append((PLATFORM, page, comment_id))
        return
    if verb != "add":
        out.ignored += 1  # edited; hide and unhide are the Page's moderation (Relais's own, often)
        return
    if author.get("id") is not None and str(author.get("id")) == page:
        out.own.append(
            OwnMessage(
                PLATFORM,
                page,
                comment_id,
                opt_str(value.get("parent_id")),
                opt_str(value.get("message")),
                conversation_id=opt_str(value.get("post_id")),
                created_at=posted_at(value.get("created_time")),
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
    author = sub(value, "from")
    if author.get("self_ig_scoped_id") or (author.get("id") is not None and str(author.get("id")) == account):
        out.own.append(
            OwnMessage(
                PLATFORM,
                account,
                comment_id,
                opt_str(value.get("parent_id")),
                opt_str(value.get("text")),
                conversation_id=opt_str(sub(value, "media").get("id")),
                created_at=posted_at(entry.get("time")),
            )
        )
        return
    media = sub(value, "media")
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
    recipient = sub(item, "recipient")
    mid = req_str(message, "mid", f"{where}.message")
    if message.get("is_echo"):
        # a DM's thread is the customer's PSID, as for the messages the customer sends
        customer = opt_str(recipient.get("id"))
        out.own.append(
            OwnMessage(
                PLATFORM,
                account,
                mid,
                customer,
                opt_str(message.get("text")),
                conversation_id=customer,
                created_at=posted_at(item.get("timestamp")),
            )
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
    metadata = sub(value, "metadata")
    phone_id = opt_str(metadata.get("phone_number_id"))
    for k, status in enumerate(arr(value.get("statuses"), f"{where}.statuses")):
        status = obj(status, f"{where}.statuses[{k}]")
        if phone_id and status.get("id"):
            customer = opt_str(status.get("recipient_id"))
            out.own.append(
                OwnMessage(
                    PLATFORM,
                    phone_id,
                    str(status["id"]),
                    customer,
                    conversation_id=customer,
                    created_at=posted_at(status.get("timestamp")),
                )
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
        if mtype is not None and not isinstance(mtype, str):
            raise MalformedPayload(f"{mwhere}.type must be a string")
        if mtype in WA_SKIP or message.get("errors"):
            out.ignored += 1
            continue
        wamid = req_str(message, "id", mwhere)
        sender = req_str(message, "from", mwhere)
        text = _whatsapp_text(message, mtype)
        context = sub(message, "context")
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


# ------------------------------------------------------------------------------------ signature


def verify(secret: bytes, body: bytes, headers: Mapping[str, str]) -> None:
    """`X-Hub-Signature-256: sha256=<hex>`; the legacy SHA-1 header is never accepted."""
    header = headers.get("x-hub-signature-256")
    if not header:
        raise InvalidSignature("missing_signature")
    scheme, _, value = header.partition("=")
    if scheme != "sha256" or not value:
        raise InvalidSignature("bad_signature")
    expected = hmac256(secret, body).hex()
    if not hmac.compare_digest(expected.encode(), value.strip().lower().encode()):
        raise InvalidSignature("bad_signature")


def handshake(
    settings: HandshakeSettingsDep,
    mode: Annotated[str | None, Query(alias="hub.mode")] = None,
    token: Annotated[str | None, Query(alias="hub.verify_token")] = None,
    challenge: Annotated[str | None, Query(alias="hub.challenge")] = None,
) -> PlainTextResponse:
    """Meta's subscription handshake: echo `hub.challenge` when the verify token matches."""
    expected: SecretStr | None = settings.meta_verify_token
    if expected is None:
        raise Forbidden("the meta channel has no verify token configured")
    if (
        mode != "subscribe"
        or token is None
        or challenge is None
        or not hmac.compare_digest(token.encode(), expected.get_secret_value().encode())
    ):
        metrics.WEBHOOKS_REJECTED.labels("meta", "bad_verify_token").inc()
        raise Forbidden("verification failed")
    return PlainTextResponse(challenge)


# -------------------------------------------------------------------------------------- replies


def _send(
    client: httpx.Client, settings: Settings, out: sending.Outgoing, now: datetime
) -> sending.SendResult:
    token = sending.token(settings, settings.meta_access_token, "RELAIS_META_ACCESS_TOKEN", out)
    base = settings.meta_graph_url.rstrip("/")
    kind = out.target.get("kind")
    channel = out.channel
    id_path: Callable[[Any], Any]
    if kind == "comment" and channel == "facebook":
        url = f"{base}/{sending.need(out, 'reply_to_id')}/comments"
        body: dict[str, Any] = {"message": out.text}
        id_path = lambda d: d.get("id")  # noqa: E731
    elif kind == "comment" and channel == "instagram":
        url = f"{base}/{sending.need(out, 'reply_to_id')}/replies"
        body = {"message": out.text}
        id_path = lambda d: d.get("id")  # noqa: E731
    elif channel == "whatsapp":
        age = sending.customer_age(out, now)
        if age is None or age >= DM_WINDOW:
            return sending.dead("24-hour window closed: WhatsApp needs a template message")
        url = f"{base}/{out.account_id}/messages"
        body = {
            "messaging_product": "whatsapp",
            "to": sending.need(out, "author_id"),
            "type": "text",
            "text": {"body": out.text},
        }
        if out.target.get("message_external_id"):
            body["context"] = {"message_id": str(out.target["message_external_id"])}
        id_path = lambda d: (d.get("messages") or [{}])[0].get("id")  # noqa: E731
    elif kind == "dm" and channel in ("messenger", "instagram"):
        age = sending.customer_age(out, now)
        body = {"recipient": {"id": sending.need(out, "author_id")}, "message": {"text": out.text}}
        if age is None or age < DM_WINDOW:
            # unknown age: let Meta enforce its window (a refusal is final)
            body["messaging_type"] = "RESPONSE"
        elif age < HUMAN_AGENT_WINDOW:
            body["messaging_type"] = "MESSAGE_TAG"
            body["tag"] = "HUMAN_AGENT"
        else:
            return sending.dead("24-hour window closed (and the 7-day human agent window too)")
        url = f"{base}/{out.account_id}/messages"
        id_path = lambda d: d.get("message_id")  # noqa: E731
    else:
        return sending.dead(f"meta: cannot reply to a {kind!r} on {channel!r}")

    response = sending.post(
        client, settings, url, headers={"Authorization": f"Bearer {token}"}, json_body=body
    )
    data = sending.json_of(response)
    if response.is_success:
        try:
            message_id = id_path(data)
        except (AttributeError, IndexError, TypeError):
            message_id = None
        if not message_id:
            return sending.malformed(response, "meta")
        return sending.SendResult(
            "sent", platform_message_id=str(message_id), http_status=response.status_code
        )
    return _meta_error(response, data, now)


def _moderations(channel: str, kind: str) -> frozenset[str]:
    return MODERATIONS if kind == "comment" and channel in ("facebook", "instagram") else frozenset()


def _moderate(
    client: httpx.Client, settings: Settings, out: sending.Outgoing, now: datetime
) -> sending.SendResult:
    token = sending.token(settings, settings.meta_access_token, "RELAIS_META_ACCESS_TOKEN", out)
    url = f"{settings.meta_graph_url.rstrip('/')}/{sending.need(out, 'message_external_id')}"
    headers = {"Authorization": f"Bearer {token}"}
    if out.action == "delete":
        response = sending.call(client, settings, "DELETE", url, headers=headers)
    else:
        field = "hide" if out.channel == "instagram" else "is_hidden"
        body = {field: out.action == "hide"}
        response = sending.call(client, settings, "POST", url, headers=headers, json_body=body)
    data = sending.json_of(response)
    if response.is_success:
        if isinstance(data, dict) and data.get("success") is False:
            return sending.dead(f"meta: the {out.action} was refused (success: false)", response.status_code)
        return sending.SendResult("sent", http_status=response.status_code)
    if out.action == "delete" and (response.status_code == 404 or _error_code(data) == META_GONE):
        return sending.SendResult("sent", http_status=response.status_code, already_done=True)
    return _meta_error(response, data, now)


def _error_code(data: Any) -> tuple[int | None, int | None]:
    error = data.get("error") if isinstance(data, dict) else None
    if not isinstance(error, dict):
        return None, None
    return _int(error.get("code")), _int(error.get("error_subcode"))


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _meta_error(response: httpx.Response, data: Any, now: datetime) -> sending.SendResult:
    status = response.status_code
    error = data.get("error") if isinstance(data, dict) else None
    if not isinstance(error, dict):
        return sending.http_fallback(response, now, "meta: error without a Graph error body")
    code = _int(error.get("code"))
    text = (
        f"meta error {code}"
        + (f"/{error.get('error_subcode')}" if error.get("error_subcode") is not None else "")
        + f" ({error.get('type') or 'unknown type'}): {error.get('message') or 'no message'}"
    )
    retry_after = sending.parse_retry_after(response.headers.get("retry-after"), now)
    if code in META_TOKEN_CODES:
        return sending.dead(text, status, token_expired=True)
    if code in META_RETRY_CODES:
        return sending.SendResult("retry", http_status=status, error=text, retry_after_s=retry_after)
    if code in META_DEAD_CODES:
        return sending.dead(text, status)
    if status == 429 or status >= 500:
        return sending.SendResult("retry", http_status=status, error=text, retry_after_s=retry_after)
    return sending.dead(text, status)


# What the profile look-up asks for: Messenger's User Profile API gives a PSID's first and last
# name, Instagram's an IGSID's name and username (asking one for the other's fields is an error).
PROFILE_FIELDS = {"messenger": "first_name,last_name", "instagram": "name,username"}


def lookup_profile(
    client: httpx.Client, settings: Settings, *, account_id: str, author_id: str, channel: str
) -> Profile | None:
    """`GET /{psid}?fields=...` with the page's token; None on any failure, never an exception."""
    fields = PROFILE_FIELDS.get(channel)
    token = sending.secret_value(
        settings.account_tokens.get(f"{PLATFORM}:{account_id}")
    ) or sending.secret_value(settings.meta_access_token)
    if fields is None or token is None or not author_id.isascii() or "/" in author_id or "?" in author_id:
        return None
    try:
        response = client.get(
            f"{settings.meta_graph_url.rstrip('/')}/{author_id}",
            params={"fields": fields},
            headers={"Authorization": f"Bearer {token}"},
            timeout=settings.profile_lookup_timeout_s,
        )
    except httpx.HTTPError:
        return None
    data = sending.json_of(response) if response.is_success else None
    if not isinstance(data, dict):
        return None
    parts = [data.get("first_name"), data.get("last_name")]
    name = " ".join(p.strip() for p in parts if isinstance(p, str) and p.strip()) or data.get("name")
    handle = data.get("username")
    return Profile(
        author_id=author_id,
        name=name.strip()[:255] if isinstance(name, str) and name.strip() else None,
        handle=handle[:255] if isinstance(handle, str) and handle else None,
    )


class MetaPlatform(PlatformBase):
    name = PLATFORM
    description = "Facebook Page comments, Messenger, Instagram comments and DMs, WhatsApp Cloud API."
    secret_setting = "meta_app_secret"
    journal_headers = ("content-type", "user-agent", "x-hub-signature-256")
    handshake = Handshake(handshake, PlainTextResponse)

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
        return [t for t in [sending.secret_value(settings.meta_access_token)] if t]

    def lookup_profile(
        self, client: httpx.Client, settings: Settings, *, account_id: str, author_id: str, channel: str
    ) -> Profile | None:
        return lookup_profile(client, settings, account_id=account_id, author_id=author_id, channel=channel)


META = MetaPlatform()
