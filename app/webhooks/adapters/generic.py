"""A generic signed JSON channel (Standard Webhooks) for forums, review sites, e-mail bridges, forms.

Body: `{"id", "source", "kind": "comment"|"dm"|"review"|"email", "thread_id", "author": {"id", "name",
"handle"}, "text", "created_at", "reply_url"?}`, or a list of such objects.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from app.webhooks.types import (
    AdapterContext,
    InboundMessage,
    MalformedPayload,
    Parsed,
    epoch,
    obj,
    opt_str,
    req_str,
)

PLATFORM = "generic"
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
        if kind not in KINDS:
            raise MalformedPayload(f"{where}.kind must be one of {sorted(KINDS)}")
        author = item.get("author") if isinstance(item.get("author"), dict) else {}
        source = opt_str(item.get("source")) or "generic"
        extra = {k: item[k] for k in ("reply_url", "rating", "url", "subject") if k in item}
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
