"""The review queue: reading it (filters, keyset cursors) and deciding drafts (approve, reject,
edit, claim, release, withdraw), and relabelling a message.

Decisions use a version column and conditional updates (`UPDATE .. WHERE version = :v AND
status = 'pending'`), which work the same on SQLite and PostgreSQL: of two reviewers approving at
the same moment, exactly one changes the row; the other gets a 409 with the current state.
Services flush; the caller's unit of work commits.
"""

from __future__ import annotations

import base64
import datetime as dt
import difflib
import json
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import Select, func, literal, or_, select, tuple_, update
from sqlalchemy.orm import Session

from app import audit, db, learning
from app.drafts import similar
from app.drafts.service import ChosenAnswer, Drafter
from app.errors import BadRequest, Conflict, Invalid, NotFound
from app.i18n import N_, Reason, label_reason
from app.models import CATEGORIES, Correction, Draft, DraftEvent, Message, priority_of, utcnow
from app.outbox import service as outbox
from app.reply_templates import rendering as tpl
from app.review import conversation

STATUSES = ("pending", "approved", "rejected", "sent", "failed", "withdrawn", "closed")
# why a draft was closed without a reply: the reviewer's no_reply or spam; deleted: Relais deleted
# the comment (nothing left to reply to)
CLOSE_REASONS = ("no_reply", "spam", "deleted")
MAX_PAGE = 200


# -- reading the queue ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class QueueFilter:
    status: str | None = "pending"
    category: str | None = None
    platform: str | None = None
    language: str | None = None
    to_sort: bool | None = None
    assignee: int | None = None  # a user's id; `UNASSIGNED`: nobody's
    spam: bool | None = None
    hidden: bool | None = None  # the comment hidden on the platform (through Relais)


UNASSIGNED = 0  # no row has id 0


def encode_cursor(priority: int, received_at: dt.datetime, draft_id: int) -> str:
    raw = json.dumps([priority, received_at.isoformat(), draft_id], separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[int, dt.datetime, int]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        priority, received, did = json.loads(raw)
        when = dt.datetime.fromisoformat(received)
        if when.tzinfo is None or not isinstance(priority, int) or not isinstance(did, int):
            raise ValueError
        if not (-(2**31) <= priority < 2**31 and 0 <= did < 2**63):  # what the columns hold
            raise ValueError
        return priority, when, did
    except (ValueError, TypeError, json.JSONDecodeError) as e:
        raise BadRequest(Reason(N_("invalid cursor"))) from e


_Row = TypeVar("_Row", bound=tuple[Any, ...])


def _queue_query(q: Select[_Row], filt: QueueFilter) -> Select[_Row]:
    """The one home of the queue's filters (validated here)."""
    if filt.status is not None:
        if filt.status not in STATUSES:
            raise BadRequest(Reason(N_("status must be one of %(values)s"), {"values": list(STATUSES)}))
        q = q.where(Draft.status == filt.status)
    if filt.category is not None:
        if filt.category not in CATEGORIES:
            raise BadRequest(Reason(N_("category must be one of %(values)s"), {"values": list(CATEGORIES)}))
        q = q.where(Draft.category == filt.category)
    if filt.platform is not None:
        q = q.where(Draft.platform == filt.platform)
    if filt.language is not None:
        q = q.where(Draft.language == filt.language)
    if filt.to_sort is not None:
        q = q.where(Draft.to_sort.is_(filt.to_sort))
    if filt.spam is not None:
        q = q.where(Draft.spam.is_(filt.spam))
    if filt.hidden is not None:
        q = q.where(outbox.is_hidden() if filt.hidden else ~outbox.is_hidden())
    if filt.assignee is not None:
        q = q.where(
            Draft.assignee_id.is_(None) if filt.assignee == UNASSIGNED else Draft.assignee_id == filt.assignee
        )
    return q


def filtered(q: Select[_Row], filt: QueueFilter) -> Select[_Row]:
    """A query of drafts narrowed by the queue's filters (validated)."""
    return _queue_query(q, filt)


def list_drafts(
    session: Session, *, filt: QueueFilter, limit: int = 50, cursor: str | None = None
) -> tuple[list[tuple[Draft, Message]], str | None]:
    """One page of the queue, complaints first then oldest first; keyset pagination."""
    if not 1 <= limit <= MAX_PAGE:
        raise BadRequest(Reason(N_("limit must be between 1 and %(max)s"), {"max": MAX_PAGE}))
    q = _queue_query(select(Draft, Message).join(Message, Message.id == Draft.message_id), filt)
    if cursor:
        # a row-value comparison is an index range on (…, priority, received_at, id) for both
        # PostgreSQL and SQLite; the equivalent OR of ANDs is not, once a filter is added
        after = tuple_(*map(literal, decode_cursor(cursor)))
        q = q.where(tuple_(Draft.priority, Draft.received_at, Draft.id) > after)
    q = q.order_by(Draft.priority, Draft.received_at, Draft.id).limit(limit + 1)
    rows = [(d, m) for d, m in session.execute(q).all()]
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        last = rows[-1][0]
        next_cursor = encode_cursor(last.priority, last.received_at, last.id)
    return rows, next_cursor


def previous_in_queue(session: Session, *, filt: QueueFilter, before: Draft) -> int | None:
    """The id of the draft just before `before` in queue order (the reverse keyset)."""
    p, r, i = before.priority, before.received_at, before.id
    q = _queue_query(select(Draft.id), filt).where(
        tuple_(Draft.priority, Draft.received_at, Draft.id) < tuple_(literal(p), literal(r), literal(i))
    )
    return session.scalar(
        q.order_by(Draft.priority.desc(), Draft.received_at.desc(), Draft.id.desc()).limit(1)
    )


def next_in_queue(session: Session, *, filt: QueueFilter, after: Draft | None) -> int | None:
    """The draft after `after` in queue order (or the first one), through `list_drafts`."""
    cursor = encode_cursor(after.priority, after.received_at, after.id) if after is not None else None
    rows, _ = list_drafts(session, filt=filt, limit=1, cursor=cursor)
    return rows[0][0].id if rows else None


def queue_counts(session: Session, *, status: str = "pending") -> dict[str, int]:
    rows = session.execute(
        select(Draft.category, func.count()).where(Draft.status == status).group_by(Draft.category)
    ).all()
    counts = {c: 0 for c in CATEGORIES}
    for category, n in rows:
        counts[category or "unsorted"] = n
    return counts


def _status(code: str) -> Reason | str:
    """A draft's status as a Reason's variable (its word in the reader's language)."""
    return label_reason("status", code)


def _already(draft_id: int, code: str) -> Reason:
    return Reason(N_("draft %(id)s is already %(status)s"), {"id": draft_id, "status": _status(code)})


def _changed(draft_id: int, current: int, sent: int) -> Reason:
    return Reason(
        N_("draft %(id)s changed (version %(current)s, not %(sent)s)"),
        {"id": draft_id, "current": current, "sent": sent},
    )


def get(session: Session, draft_id: int) -> Draft:
    draft = session.get(Draft, draft_id)
    if draft is None:
        raise NotFound(Reason(N_("draft %(id)s not found"), {"id": draft_id}))
    return draft


def history(session: Session, draft_id: int) -> list[DraftEvent]:
    """Every transition of the draft, starting with its proposal (the draft row's own creation)."""
    draft = get(session, draft_id)
    proposed = DraftEvent(
        draft_id=draft_id,
        action="proposed",
        actor_id=None,
        at=draft.created_at,
        data={"template_id": draft.template_id},
    )
    return [proposed, *audit.events(session, draft_id)]


def state(draft: Draft) -> dict[str, Any]:
    return {
        "id": draft.id,
        "version": draft.version,
        "status": draft.status,
        "claimed_by": draft.claimed_by,
        "claimed_until": draft.claimed_until.isoformat() if draft.claimed_until else None,
        "decided_by": draft.decided_by,
        "reason": draft.reason,
    }


def filter_options(session: Session) -> dict[str, list[str]]:
    """Platforms and languages present in the queue, for the filter menus."""
    platforms = [p for p in session.scalars(select(Draft.platform).distinct().order_by(Draft.platform)) if p]
    languages = [x for x in session.scalars(select(Draft.language).distinct().order_by(Draft.language)) if x]
    return {"platforms": platforms, "languages": languages}


def to_sort_count(session: Session) -> int:
    return (
        session.scalar(
            select(func.count()).select_from(Draft).where(Draft.status == "pending", Draft.to_sort.is_(True))
        )
        or 0
    )


def _conflict(session: Session, draft_id: int, why: str) -> Conflict:
    session.expire_all()
    draft = get(session, draft_id)
    return Conflict(why, detail=state(draft))


def _decide(
    session: Session, draft_id: int, version: int, user_id: int, now: dt.datetime, **values: Any
) -> Draft:
    """Move a pending draft on, atomically; 409 with the current state when someone got there first."""
    claim_free = or_(
        Draft.claimed_by.is_(None),
        Draft.claimed_by == user_id,
        Draft.claimed_until.is_(None),
        Draft.claimed_until < now,
    )
    changed = db.changed(
        session,
        update(Draft)
        .where(Draft.id == draft_id, Draft.version == version, Draft.status == "pending", claim_free)
        .values(
            version=Draft.version + 1,
            updated_at=now,
            decided_by=user_id,
            decided_at=now,
            claimed_by=None,
            claimed_until=None,
            **values,
        )
        .execution_options(synchronize_session=False),
    )
    if changed != 1:
        draft = get(session, draft_id)  # 404 if it does not exist
        session.refresh(draft)
        if draft.status != "pending":
            raise Conflict(_already(draft_id, draft.status), detail=state(draft))
        if draft.version != version:
            raise Conflict(_changed(draft_id, draft.version, version), detail=state(draft))
        raise Conflict(
            Reason(N_("draft %(id)s is claimed by another reviewer"), {"id": draft_id}), detail=state(draft)
        )
    draft = get(session, draft_id)
    session.refresh(draft)
    return draft


def approve(
    session: Session,
    *,
    draft_id: int,
    version: int,
    user_id: int,
    text: str | None,
    chosen: ChosenAnswer | None = None,
) -> Draft:
    """Approve (optionally with an edited text) and queue the reply in the same transaction.

    `chosen`: the saved answer the reviewer drafted the reply from (`Drafter.chosen_answer`),
    which becomes the draft's source. A reply drafted from an answer and sent close to it
    (`learning.LIGHT_EDIT`) teaches the knowledge base the customer's message as one more
    example of that answer (`similar.record_use`)."""
    now = utcnow()
    current = get(session, draft_id)
    if current.status != "pending":
        raise Conflict(_already(draft_id, current.status), detail=state(current))
    message = session.get(Message, current.message_id)
    assert message is not None
    final = (text if text is not None else chosen.text if chosen is not None else current.text).strip()
    if not final:
        raise Invalid(Reason(N_("the reply is empty: write a reply or reject the draft")))
    limit = tpl.length_limit(message.channel)
    if len(final) > limit:
        raise Invalid(
            Reason(
                N_("the reply is %(length)s characters; %(channel)s accepts %(limit)s"),
                {"length": len(final), "channel": message.channel, "limit": limit},
            ),
            detail={"length": len(final), "limit": limit},
        )
    edited = final != current.text.strip()
    source: dict[str, Any] = {}
    if chosen is not None:
        source = {"source_kind": "answer", "source_id": chosen.answer.id, "source_score": chosen.score}
    draft = _decide(
        session,
        draft_id,
        version,
        user_id,
        now,
        status="approved",
        final_text=final,
        edited=edited or current.edited,
        **source,
    )
    drafted = _drafted_from_answer(session, current, chosen)
    if drafted is not None and learning.edit_similarity(drafted[1], final) >= learning.LIGHT_EDIT:
        similar.record_use(session, answer_id=drafted[0], draft_id=draft_id, message=message)
    if edited:
        first = _first_edit(current)
        audit.record(session, draft_id, "edited", user_id, now, diff=diff(current.text, final), **first)
    audit.record(session, draft_id, "approved", user_id, now, text=final, unedited=not draft.edited)
    similar.record(session, draft=draft, message=message, text=final)
    outbox.enqueue(session, draft_id=draft_id, message=message, text=final, now=now)
    return draft


def chosen_answer(session: Session, drafter: Drafter, *, draft_id: int, answer_id: int) -> ChosenAnswer:
    """The saved answer a reviewer picked for this draft's message, rendered for it; 422 when it
    is not an enabled answer that renders."""
    draft = get(session, draft_id)
    message = session.get(Message, draft.message_id)
    assert message is not None
    chosen = drafter.chosen_answer(
        session, answer_id, message, conversation=conversation.context(session, message)
    )
    if chosen is None:
        raise Invalid(Reason(N_("answer %(id)s is not an enabled saved answer"), {"id": answer_id}))
    return chosen


def _drafted_from_answer(
    session: Session, current: Draft, chosen: ChosenAnswer | None
) -> tuple[int, str] | None:
    """(answer id, the reply it drafted) when the reply to approve came from a saved answer: the
    one the reviewer picked, else the one drafting used (its text as suggested, before any edit)."""
    if chosen is not None:
        return chosen.answer.id, chosen.text
    if current.source_kind != "answer" or current.source_id is None:
        return None
    if not current.edited:
        return current.source_id, current.text
    suggested = learning.first_suggestions(session.connection(), [current.id]).get(current.id, current.text)
    return current.source_id, suggested


def close(session: Session, *, draft_id: int, version: int, user_id: int, reason: str) -> Draft:
    """Close a pending draft without sending anything (`reason`: one of CLOSE_REASONS)."""
    if reason not in CLOSE_REASONS:
        raise Invalid(Reason(N_("reason must be one of %(values)s"), {"values": list(CLOSE_REASONS)}))
    now = utcnow()
    draft = _decide(session, draft_id, version, user_id, now, status="closed", reason=reason)
    audit.record(session, draft_id, "closed", user_id, now, reason=reason)
    if reason == "spam":  # the reviewer's word is the spam filter's (app/spam.py): flagged, filterable
        _flag_spam(session, draft, True)
    return draft


def _flag_spam(session: Session, draft: Draft, spam: bool) -> None:
    """Set the spam flag of the draft and of its message, as the spam filter does at intake."""
    session.execute(
        update(Message)
        .where(Message.id == draft.message_id)
        .values(spam=spam)
        .execution_options(synchronize_session=False)
    )
    session.execute(
        update(Draft)
        .where(Draft.id == draft.id)
        .values(spam=spam)
        .execution_options(synchronize_session=False)
    )
    session.refresh(draft)
    message = session.get(Message, draft.message_id)
    if message is not None:
        session.refresh(message)


def reopen(session: Session, *, draft_id: int, version: int, user_id: int) -> Draft:
    """Put a closed draft back in the queue (a close is undone: a spam's flag is cleared; a deleted
    comment stays closed)."""
    now = utcnow()
    was_spam = session.scalar(select(Draft.reason).where(Draft.id == draft_id)) == "spam"
    changed = db.changed(
        session,
        update(Draft)
        .where(
            Draft.id == draft_id,
            Draft.version == version,
            Draft.status == "closed",
            Draft.reason != "deleted",
        )
        .values(
            status="pending",
            reason=None,
            decided_by=None,
            decided_at=None,
            version=Draft.version + 1,
            updated_at=now,
        )
        .execution_options(synchronize_session=False),
    )
    if changed != 1:
        draft = get(session, draft_id)
        session.refresh(draft)
        if draft.status != "closed":
            raise Conflict(
                Reason(
                    N_("draft %(id)s is %(status)s, not closed"),
                    {"id": draft_id, "status": _status(draft.status)},
                ),
                detail=state(draft),
            )
        if draft.reason == "deleted":
            raise Conflict(
                Reason(
                    N_("draft %(id)s: the comment was deleted, there is nothing to reply to"),
                    {"id": draft_id},
                ),
                detail=state(draft),
            )
        raise Conflict(_changed(draft_id, draft.version, version), detail=state(draft))
    audit.record(session, draft_id, "reopened", user_id, now)
    draft = get(session, draft_id)
    session.refresh(draft)
    if was_spam:
        _flag_spam(session, draft, False)
    return draft


def _first_edit(current: Draft) -> dict[str, str]:
    """The suggestion as shown, recorded with a draft's first human edit (`app.learning` measures
    how heavily a reply was edited against it)."""
    return {} if current.edited else {"suggested": current.text}


def reject(session: Session, *, draft_id: int, version: int, user_id: int, reason: str) -> Draft:
    reason = reason.strip()
    if not reason:
        raise Invalid(Reason(N_("a rejection needs a reason")))
    now = utcnow()
    draft = _decide(session, draft_id, version, user_id, now, status="rejected", reason=reason[:2000])
    audit.record(session, draft_id, "rejected", user_id, now, reason=reason[:2000])
    return draft


def edit(session: Session, *, draft_id: int, version: int, user_id: int, text: str) -> Draft:
    """Save an edited reply without deciding yet (the draft stays pending, version moves on)."""
    now = utcnow()
    current = get(session, draft_id)
    changed = db.changed(
        session,
        update(Draft)
        .where(Draft.id == draft_id, Draft.version == version, Draft.status == "pending")
        .values(text=text, edited=True, version=Draft.version + 1, updated_at=now)
        .execution_options(synchronize_session=False),
    )
    if changed != 1:
        raise _conflict(session, draft_id, f"draft {draft_id} changed or was decided")
    audit.record(
        session, draft_id, "edited", user_id, now, diff=diff(current.text, text), **_first_edit(current)
    )
    draft = get(session, draft_id)
    session.refresh(draft)
    return draft


def claim(session: Session, *, draft_id: int, user_id: int, ttl_s: int) -> Draft:
    """Hold a pending draft for `ttl_s` seconds so that nobody else works on it."""
    now = utcnow()
    until = now + dt.timedelta(seconds=ttl_s)
    changed = db.changed(
        session,
        update(Draft)
        .where(
            Draft.id == draft_id,
            Draft.status == "pending",
            or_(
                Draft.claimed_by.is_(None),
                Draft.claimed_by == user_id,
                Draft.claimed_until.is_(None),
                Draft.claimed_until < now,
            ),
        )
        .values(claimed_by=user_id, claimed_until=until)
        .execution_options(synchronize_session=False),
    )
    if changed != 1:
        raise _conflict(session, draft_id, f"draft {draft_id} is decided or claimed by another reviewer")
    audit.record(session, draft_id, "claimed", user_id, now, until=until.isoformat())
    draft = get(session, draft_id)
    session.refresh(draft)
    return draft


def release(session: Session, *, draft_id: int, user_id: int) -> Draft:
    now = utcnow()
    changed = db.changed(
        session,
        update(Draft)
        .where(Draft.id == draft_id, Draft.claimed_by == user_id)
        .values(claimed_by=None, claimed_until=None)
        .execution_options(synchronize_session=False),
    )
    if changed == 1:
        audit.record(session, draft_id, "released", user_id, now)
    draft = get(session, draft_id)
    session.refresh(draft)
    return draft


def withdraw(session: Session, *, message_id: int, reason: str, now: dt.datetime) -> None:
    """The customer deleted the message: a pending draft leaves the queue."""
    did = session.execute(
        update(Draft)
        .where(Draft.message_id == message_id, Draft.status == "pending")
        .values(status="withdrawn", reason=reason, version=Draft.version + 1, updated_at=now)
        .returning(Draft.id)
    ).scalar()
    if did is not None:
        audit.record(session, did, "withdrawn", None, now, reason=reason)


def relabel(session: Session, drafter: Drafter, *, message_id: int, category: str, user_id: int) -> Message:
    """A reviewer's correction: stored as a training label; a pending draft is re-suggested.
    Choosing the category a sorted message already has changes nothing (no second correction);
    for a message left *to sort* it confirms the model's guess, which is a label too."""
    if category not in CATEGORIES:
        raise Invalid(Reason(N_("category must be one of %(values)s"), {"values": list(CATEGORIES)}))
    now = utcnow()
    message = session.get(Message, message_id)
    if message is None:
        raise NotFound(Reason(N_("message %(id)s not found"), {"id": message_id}))
    old = message.category
    if category == old and not message.to_sort:
        return message  # re-saving the category it has: not a correction, nothing changes
    session.add(
        Correction(
            message_id=message_id,
            user_id=user_id,
            old_category=old,
            new_category=category,
            text=message.text,
            language=message.language,
            model_version=message.model_version,
            created_at=now,
        )
    )
    message.category = category
    message.to_sort = False
    draft = session.scalar(select(Draft).where(Draft.message_id == message_id))
    if draft is not None:
        draft.category = category
        draft.to_sort = False
        draft.priority = priority_of(category)
        draft.updated_at = now
        if draft.status == "pending":
            text, template_id, source = drafter.suggest_for(
                drafter.templates(session, fresh=True),
                message,
                category=category,
                language=message.language,
                conversation=conversation.context(session, message),
            )
            draft.text, draft.template_id = text, template_id
            draft.source_kind, draft.source_id, draft.source_score = source or (None, None, None)
            draft.version += 1
        session.flush()
        audit.record(session, draft.id, "relabelled", user_id, now, old=old, new=category)
    session.flush()
    return message


def diff(before: str, after: str) -> str:
    """A unified diff of the suggestion and the text actually sent."""
    return "\n".join(
        difflib.unified_diff(before.splitlines(), after.splitlines(), "suggested", "sent", lineterm="")
    )
