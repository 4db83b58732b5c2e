"""The outbox: approved replies waiting to be posted, moderations of comments waiting to be made
(hide, unhide, delete), and the state machine of each.

    queued ──claim──▶ sending ──▶ sent
       ▲                 │ ├───▶ retry ──(backoff, never before Retry-After)──▶ claim again
       │                 │ ├───▶ dead  (permanent error, or gave up) ──resend once──▶ queued
       │                 │ └───▶ unknown (timeout after the request left)
       │                 ▼
       │     lease expired (sender killed between call and commit) = unknown
       │
    unknown ──(after an echo wait)──▶ our own reply seen through the webhook? ─yes─▶ sent
                                                               └─no─▶ resend (same row)

Every attempt is recorded, with the worker's name, before the platform is called. Claims are a
conditional update (`status`, `lease_until` checked in the WHERE), with `FOR UPDATE SKIP LOCKED`
on PostgreSQL so that workers never wait on each other; SQLite has a single writer anyway.

A moderation rides the same machine with two differences: hiding and unhiding are idempotent on
the platform and deleting a comment already gone counts as done, so an unknown outcome is simply
tried again (no echo to wait for); and a moderation is not due while an earlier row of the same
draft is unsettled, so that "hide, then unhide" reaches the platform in that order. A draft has
one reply row at most (a partial unique index) and any number of moderation rows.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, exists, func, insert, or_, select, update
from sqlalchemy.orm import Session, aliased
from sqlalchemy.sql.elements import ColumnElement

from app import audit, db, i18n
from app.errors import Conflict, NotFound
from app.i18n import N_, Reason
from app.models import Channel, Draft, Echo, Message, OutboxAttempt, OutboxItem, utcnow

DUE_STATES = ("queued", "retry", "unknown")
UNSETTLED = ("queued", "sending", "retry", "unknown")
MODERATIONS = ("hide", "unhide", "delete")
# what the audit log says once the platform made the moderation
DONE = {"hide": "hidden", "unhide": "unhidden", "delete": "deleted"}
# Platforms whose own posts come back through our webhooks, so an unknown outcome can be checked.
ECHOING = {"meta", "x", "slack"}
# Platforms where a resend is harmless because the receiver deduplicates on our idempotency key.
IDEMPOTENT = {"generic"}


@dataclass(frozen=True, slots=True)
class Claimed:
    id: int
    draft_id: int
    action: str
    platform: str
    account_id: str
    channel: str
    target: dict[str, Any]
    text: str
    attempt_id: int
    attempt: int
    previous_status: str
    created_at: dt.datetime


def backoff(
    attempt: int,
    *,
    base: float,
    cap: float,
    retry_after: float | None = None,
    rng: random.Random | None = None,
) -> float:
    """Exponential backoff with full jitter, never shorter than the platform's Retry-After."""
    ceiling = min(cap, base * (2 ** max(0, attempt - 1)))
    delay = (rng or random).uniform(0, ceiling)
    return max(delay, retry_after or 0.0)


def target_of(message: Message) -> dict[str, Any]:
    """Everything the sender needs to post the reply where the customer wrote."""
    base = {
        "kind": message.kind,
        "channel": message.channel,
        "message_external_id": message.external_id,
        "reply_to_id": message.reply_to_id,
        "conversation_id": message.conversation_id,
        "author_id": message.author_id,
        "customer_at": (message.created_at or message.received_at).isoformat(),
    }
    extra = message.extra or {}
    for key in ("thread_ts", "reply_url", "chat_type", "thread_id"):
        if extra.get(key) is not None:
            base[key] = extra[key]
    return base


def enqueue(session: Session, *, draft_id: int, message: Message, text: str, now: dt.datetime) -> None:
    """Queue an approved reply to `message`, due now (in the caller's transaction)."""
    session.execute(
        insert(OutboxItem).values(
            draft_id=draft_id,
            platform=message.platform,
            account_id=message.account_id,
            channel=message.channel,
            action="reply",
            target=target_of(message),
            text=text,
            status="queued",
            attempts=0,
            next_attempt_at=now,
            created_at=now,
            updated_at=now,
        )
    )


def enqueue_moderation(
    session: Session, *, draft_id: int, message: Message, action: str, user_id: int | None, now: dt.datetime
) -> OutboxItem:
    """Queue a moderation of the draft's comment (in the caller's transaction); the same action
    still unsettled is returned instead of a second row, so a double click moderates once."""
    if action not in MODERATIONS:
        raise ValueError(f"not a moderation: {action!r}")
    pending = session.scalar(
        select(OutboxItem)
        .where(OutboxItem.draft_id == draft_id, OutboxItem.action == action, OutboxItem.status.in_(UNSETTLED))
        .order_by(OutboxItem.id.desc())
        .limit(1)
    )
    if pending is not None:
        return pending
    item = OutboxItem(
        draft_id=draft_id,
        action=action,
        platform=message.platform,
        account_id=message.account_id,
        channel=message.channel,
        target=target_of(message),
        text="",
        status="queued",
        attempts=0,
        resent=0,
        next_attempt_at=now,
        created_at=now,
        updated_at=now,
    )
    session.add(item)
    session.flush()
    audit.record(session, draft_id, action, user_id, now, outbox_id=item.id)
    return item


def reply_of(session: Session, draft_id: int) -> OutboxItem | None:
    """The draft's reply row, if it was approved."""
    return session.scalar(
        select(OutboxItem).where(OutboxItem.draft_id == draft_id, OutboxItem.action == "reply")
    )


@dataclass(frozen=True, slots=True)
class Moderation:
    """Where the draft's comment stands on the platform, as far as Relais moderated it."""

    hidden: bool = False
    deleted: bool = False
    pending: str | None = None  # the action being made (queued, sending, to retry)
    failed: str | None = None  # the last action, when it ended as a dead letter
    error: str | None = None
    last: str | None = None  # the last action made


def moderation_of(session: Session, draft_id: int) -> Moderation:
    """The comment's state from the draft's moderation rows, oldest first: the last one made
    decides, an unsettled one is in progress."""
    rows = session.execute(
        select(OutboxItem.action, OutboxItem.status, OutboxItem.last_error)
        .where(OutboxItem.draft_id == draft_id, OutboxItem.action != "reply")
        .order_by(OutboxItem.id)
    ).all()
    hidden = deleted = False
    pending = failed = error = last = None
    for action, status, last_error in rows:
        if status == "sent":
            hidden = action == "hide" or (hidden and action != "unhide")
            deleted = deleted or action == "delete"
            failed = error = None
            last = action
        elif status in UNSETTLED:
            pending = action
        else:
            failed, error = action, last_error
    return Moderation(hidden=hidden, deleted=deleted, pending=pending, failed=failed, error=error, last=last)


def is_hidden() -> ColumnElement[bool]:
    """SQL: the draft's comment is hidden, as `moderation_of` says it (a hide made, and no unhide
    made after it): the queue's "hidden" filter and its cards' badge."""
    hide, unhide = aliased(OutboxItem), aliased(OutboxItem)
    shown_again = (
        exists()
        .where(unhide.draft_id == hide.draft_id, unhide.action == "unhide", unhide.status == "sent")
        .where(unhide.id > hide.id)
    )
    return (
        exists()
        .where(hide.draft_id == Draft.id, hide.action == "hide", hide.status == "sent")
        .where(~shown_again)
    )


def hidden_among(session: Session, draft_ids: list[int]) -> set[int]:
    """Which of these drafts' comments are hidden (one query)."""
    if not draft_ids:
        return set()
    return set(session.scalars(select(Draft.id).where(Draft.id.in_(draft_ids), is_hidden())))


def _paused_channel() -> Any:
    return exists().where(
        Channel.platform == OutboxItem.platform,
        Channel.account_id == OutboxItem.account_id,
        Channel.paused.is_(True),
    )


def _waits_for_an_earlier_row() -> Any:
    earlier = aliased(OutboxItem)
    return and_(
        OutboxItem.action != "reply",
        exists().where(
            earlier.draft_id == OutboxItem.draft_id,
            earlier.id < OutboxItem.id,
            earlier.status.in_(UNSETTLED),
        ),
    )


def claim(
    session: Session, *, worker: str, lease_s: float, limit: int = 10, now: dt.datetime | None = None
) -> list[Claimed]:
    """Take up to `limit` due rows for this worker and record an attempt for each (caller commits)."""
    now = now or utcnow()
    due = or_(
        and_(OutboxItem.status.in_(DUE_STATES), OutboxItem.next_attempt_at <= now),
        and_(OutboxItem.status == "sending", OutboxItem.lease_until < now),
    )
    q = (
        select(OutboxItem.id, OutboxItem.status, OutboxItem.lease_until)
        .where(due, ~_paused_channel(), ~_waits_for_an_earlier_row())
        .order_by(OutboxItem.next_attempt_at, OutboxItem.id)
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        q = q.with_for_update(skip_locked=True, of=OutboxItem)
    claimed: list[Claimed] = []
    for item_id, status, lease in session.execute(q).all():
        cond = [OutboxItem.id == item_id, OutboxItem.status == status]
        cond.append(
            OutboxItem.lease_until == lease if lease is not None else OutboxItem.lease_until.is_(None)
        )
        row = session.execute(
            update(OutboxItem)
            .where(*cond)
            .values(
                status="sending",
                lease_until=now + dt.timedelta(seconds=lease_s),
                worker=worker,
                attempts=OutboxItem.attempts + 1,
                updated_at=now,
            )
            .returning(
                OutboxItem.id,
                OutboxItem.draft_id,
                OutboxItem.action,
                OutboxItem.platform,
                OutboxItem.account_id,
                OutboxItem.channel,
                OutboxItem.target,
                OutboxItem.text,
                OutboxItem.attempts,
                OutboxItem.created_at,
            )
            .execution_options(synchronize_session=False)
        ).first()
        if row is None:
            continue  # another worker took it between our read and our update
        attempt_id = session.execute(
            insert(OutboxAttempt)
            .values(outbox_id=row.id, number=row.attempts, worker=worker, started_at=now)
            .returning(OutboxAttempt.id)
        ).scalar_one()
        claimed.append(
            Claimed(
                row.id,
                row.draft_id,
                row.action,
                row.platform,
                row.account_id,
                row.channel,
                row.target,
                row.text,
                attempt_id,
                row.attempts,
                status,
                row.created_at,
            )
        )
    return claimed


def find_echo(session: Session, item: Claimed) -> Echo | None:
    """Our own reply seen coming back through a webhook, if it was posted after all."""
    target = item.target
    candidates = {
        target.get("reply_to_id"),
        target.get("author_id"),
        target.get("thread_ts"),
        target.get("conversation_id"),
    } - {None}
    if not candidates:
        return None
    echoes = session.scalars(
        select(Echo)
        .where(
            Echo.platform == item.platform,
            Echo.account_id == item.account_id,
            Echo.in_reply_to.in_([str(c) for c in candidates]),
            Echo.seen_at >= item.created_at,
        )
        .order_by(Echo.id)
    ).all()
    wanted = " ".join(item.text.split())
    for echo in echoes:
        if echo.text is None or wanted in " ".join(echo.text.split()):
            return echo
    return None


def _finish_attempt(
    session: Session,
    item: Claimed,
    outcome: str,
    now: dt.datetime,
    *,
    http_status: int | None = None,
    error: str | None = None,
) -> None:
    session.execute(
        update(OutboxAttempt)
        .where(OutboxAttempt.id == item.attempt_id)
        .values(finished_at=now, outcome=outcome, http_status=http_status, error=error)
    )


def _owned(item: Claimed, worker: str) -> Any:
    # only the worker holding the lease may record the outcome
    return and_(OutboxItem.id == item.id, OutboxItem.status == "sending", OutboxItem.worker == worker)


def mark_sent(
    session: Session,
    item: Claimed,
    *,
    worker: str,
    platform_message_id: str | None,
    http_status: int | None = None,
    via: str = "api",
    already_done: bool = False,
) -> bool:
    now = utcnow()
    changed = db.changed(
        session,
        update(OutboxItem)
        .where(_owned(item, worker))
        .values(
            status="sent",
            platform_message_id=platform_message_id,
            sent_at=now,
            updated_at=now,
            lease_until=None,
            last_error=None,
        )
        .execution_options(synchronize_session=False),
    )
    _finish_attempt(session, item, "sent", now, http_status=http_status)
    if changed != 1:
        return False
    if item.action != "reply":
        data = {"already": True} if already_done else {}
        audit.record(session, item.draft_id, DONE[item.action], None, now, attempt=item.attempt, **data)
        return True
    session.execute(
        update(Draft)
        .where(Draft.id == item.draft_id)
        .values(status="sent", sent_at=now, updated_at=now, version=Draft.version + 1)
        .execution_options(synchronize_session=False)
    )
    audit.record(
        session,
        item.draft_id,
        "sent",
        None,
        now,
        platform_message_id=platform_message_id,
        via=via,
        attempt=item.attempt,
    )
    session.execute(
        update(Channel)
        .where(Channel.platform == item.platform, Channel.account_id == item.account_id)
        .values(last_sent_at=now, token_state="ok")
    )
    return True


def mark_retry(
    session: Session,
    item: Claimed,
    *,
    worker: str,
    delay_s: float,
    error: str,
    http_status: int | None,
    outcome: str = "retry",
) -> bool:
    now = utcnow()
    changed = db.changed(
        session,
        update(OutboxItem)
        .where(_owned(item, worker))
        .values(
            status=outcome,
            next_attempt_at=now + dt.timedelta(seconds=delay_s),
            updated_at=now,
            lease_until=None,
            last_error=error[:2000],
        )
        .execution_options(synchronize_session=False),
    )
    _finish_attempt(session, item, outcome, now, http_status=http_status, error=error[:2000])
    return changed == 1


def mark_dead(
    session: Session,
    item: Claimed,
    *,
    worker: str,
    error: str,
    http_status: int | None,
    token_expired: bool = False,
) -> bool:
    now = utcnow()
    changed = db.changed(
        session,
        update(OutboxItem)
        .where(_owned(item, worker))
        .values(status="dead", updated_at=now, lease_until=None, last_error=error[:2000])
        .execution_options(synchronize_session=False),
    )
    _finish_attempt(session, item, "dead", now, http_status=http_status, error=error[:2000])
    if changed != 1:
        return False
    if item.action == "reply":
        session.execute(
            update(Draft)
            .where(Draft.id == item.draft_id)
            .values(status="failed", updated_at=now, version=Draft.version + 1)
            .execution_options(synchronize_session=False)
        )
    failed = "failed" if item.action == "reply" else f"{item.action}_failed"
    audit.record(session, item.draft_id, failed, None, now, error=error[:2000], attempt=item.attempt)
    if token_expired:
        pause_channel(
            session,
            platform=item.platform,
            account_id=item.account_id,
            reason=f"token rejected: {error[:200]}",
        )
    return True


def pause_channel(session: Session, *, platform: str, account_id: str, reason: str) -> None:
    """Stop sending on a channel (expired token); its replies wait until an admin resumes it."""
    changed = db.changed(
        session,
        update(Channel)
        .where(Channel.platform == platform, Channel.account_id == account_id)
        .values(paused=True, pause_reason=reason, token_state="expired"),
    )
    if not changed:
        session.add(
            Channel(
                platform=platform,
                account_id=account_id,
                paused=True,
                pause_reason=reason,
                token_state="expired",
                last_event_at=None,
                last_sent_at=None,
            )
        )
        session.flush()


def resume_channel(session: Session, *, platform: str, account_id: str) -> None:
    changed = db.changed(
        session,
        update(Channel)
        .where(Channel.platform == platform, Channel.account_id == account_id)
        .values(paused=False, pause_reason=None, token_state="unknown"),
    )
    if not changed:
        raise NotFound(
            Reason(N_("no channel %(platform)s/%(account)s"), {"platform": platform, "account": account_id})
        )


def resend(session: Session, *, item_id: int, user_id: int) -> OutboxItem:
    """Put a dead letter (a reply or a moderation) back in the queue, once."""
    now = utcnow()
    changed = db.changed(
        session,
        update(OutboxItem)
        .where(OutboxItem.id == item_id, OutboxItem.status == "dead", OutboxItem.resent == 0)
        .values(status="queued", resent=1, attempts=0, next_attempt_at=now, updated_at=now, lease_until=None)
        .execution_options(synchronize_session=False),
    )
    item = session.get(OutboxItem, item_id)
    if item is None:
        raise NotFound(Reason(N_("outbox item %(id)s not found"), {"id": item_id}))
    session.refresh(item)
    if changed != 1:
        why = (
            Reason(N_("outbox item %(id)s was already resent once"), {"id": item_id})
            if item.resent
            else Reason(
                N_("outbox item %(id)s is %(status)s, not a dead letter"),
                {"id": item_id, "status": i18n.label_reason("outbox", item.status)},
            )
        )
        raise Conflict(why, detail={"status": item.status, "resent": item.resent})
    if item.action == "reply":
        session.execute(
            update(Draft)
            .where(Draft.id == item.draft_id)
            .values(status="approved", updated_at=now, version=Draft.version + 1)
            .execution_options(synchronize_session=False)
        )
    audit.record(
        session,
        item.draft_id,
        "resent",
        user_id,
        now,
        **({} if item.action == "reply" else {"moderation": item.action}),
    )
    return item


# -- the outbox page ------------------------------------------------------------------------------


def dead_letters(session: Session, limit: int = 100) -> list[tuple[OutboxItem, Message | None]]:
    """The replies given up on, newest first, with their message."""
    rows = session.execute(
        select(OutboxItem, Message)
        .join(Draft, Draft.id == OutboxItem.draft_id)
        .join(Message, Message.id == Draft.message_id)
        .where(OutboxItem.status == "dead")
        .order_by(OutboxItem.updated_at.desc())
        .limit(limit)
    ).all()
    return [(o, m) for o, m in rows]


def status_counts(session: Session) -> dict[str, int]:
    """How many replies are in each sending state."""
    return dict(
        session.execute(select(OutboxItem.status, func.count()).group_by(OutboxItem.status)).tuples().all()
    )


def unsettled_count(session: Session) -> int:
    """How many outbox rows are still to be sent (queued, being sent, retrying, outcome unknown)."""
    return int(session.scalar(select(func.count()).where(OutboxItem.status.in_(UNSETTLED))) or 0)


def channels(session: Session) -> list[Channel]:
    """Every channel, with its traffic and token state."""
    return list(session.scalars(select(Channel).order_by(Channel.platform, Channel.account_id)))
