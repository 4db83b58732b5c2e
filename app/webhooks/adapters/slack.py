"""Slack Events API: `url_verification` and `event_callback` (app mentions and messages)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from app.webhooks.types import (
    AdapterContext,
    InboundMessage,
    OwnMessage,
    Parsed,
    epoch,
    obj,
    opt_str,
    req_str,
)

PLATFORM = "slack"
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
                PLATFORM, team, f"{channel}:{ts}", opt_str(event.get("thread_ts")), opt_str(event.get("text"))
            )
        )
        return out
    if subtype not in HUMAN_SUBTYPES:
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
