"""X: Account Activity API events, and the X Activity API envelope."""

from __future__ import annotations

import datetime as dt
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

PLATFORM = "x"
IGNORED_KEYS = (
    "favorite_events",
    "follow_events",
    "block_events",
    "mute_events",
    "direct_message_indicate_typing_events",
    "direct_message_mark_read_events",
    "user_event",
    "tweet_create_events_unsupported",
)


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
    users = body.get("users") if isinstance(body.get("users"), dict) else {}
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
            return dt.datetime.strptime(value, "%a %b %d %H:%M:%S %z %Y").astimezone(dt.UTC)
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
        out.own.append(OwnMessage(PLATFORM, me, tweet_id, in_reply_to, opt_str(tweet.get("text"))))
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


def _dm(out: Parsed, me: str, event: dict[str, Any], users: dict[str, Any], where: str) -> None:
    if event.get("type") != "message_create":
        out.ignored += 1
        return
    event_id = req_str(event, "id", where)
    create = obj(event.get("message_create"), f"{where}.message_create")
    sender = req_str(create, "sender_id", f"{where}.message_create")
    data = create.get("message_data") if isinstance(create.get("message_data"), dict) else {}
    target = create.get("target") if isinstance(create.get("target"), dict) else {}
    if sender == me:
        out.own.append(
            OwnMessage(PLATFORM, me, event_id, opt_str(target.get("recipient_id")), opt_str(data.get("text")))
        )
        return
    user = users.get(sender) if isinstance(users.get(sender), dict) else {}
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
            author_handle=opt_str(user.get("screen_name")),
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
    includes = event.get("includes") if isinstance(event.get("includes"), dict) else {}
    users = {
        str(u.get("id")): u
        for u in arr(includes.get("users"), f"{where}.includes.users")
        if isinstance(u, dict)
    }
    me = (
        opt_str(event.get("for_user_id"))
        or opt_str(body.get("for_user_id"))
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
        if author is not None and author == me:
            out.own.append(OwnMessage(PLATFORM, me, post_id, None, opt_str(payload.get("text"))))
            return
        user = users.get(author or "", {})
        replied = [
            r.get("id")
            for r in arr(payload.get("referenced_tweets"), f"{where}.payload.referenced_tweets")
            if isinstance(r, dict) and r.get("type") == "replied_to"
        ]
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
    dm_id = opt_str(payload.get("id")) or opt_str(payload.get("dm_event_id"))
    if dm_id is None:
        raise MalformedPayload(f"{where}.payload.id is missing")
    sender = opt_str(payload.get("sender_id"))
    if event_type == "dm.sent" or (sender is not None and sender == me):
        out.own.append(
            OwnMessage(
                PLATFORM, me, dm_id, opt_str(payload.get("dm_conversation_id")), opt_str(payload.get("text"))
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
