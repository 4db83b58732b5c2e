"""Moderation of a customer's comment and the closing of its draft, over the outbox.

    hide / unhide / delete ──▶ an outbox row (app.outbox.service), made by the sender with its
                               retries; the platform module says what a message allows
    close no_reply            ──▶ the draft is closed; nothing is sent
    close spam                ──▶ the draft is closed and the comment hidden (where it can be)
    reopen                    ──▶ the draft is pending again; a spam's hide is undone (unhide)
    delete                    ──▶ cannot be undone; a pending draft is closed (reason deleted)

Every step is in the draft's audit log. Services flush; the caller's unit of work commits.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from app import platforms
from app.errors import Conflict, NotFound, Unsupported
from app.i18n import N_, Reason
from app.models import Draft, Message, utcnow
from app.outbox import service as outbox
from app.review import service as review
from app.review import team

ACTIONS = ("hide", "unhide", "delete")
# the action as its refusal names it: the English msgid is the API's word ("hide is not supported
# on telegram"), the French one a noun ("le masquage n’est pas possible sur telegram")
WHAT = {"hide": N_("hide"), "unhide": N_("unhide"), "delete": N_("delete")}


@dataclass(frozen=True, slots=True)
class Moderated:
    """A draft, its message, and where the comment stands on the platform."""

    draft: Draft
    message: Message
    moderation: outbox.Moderation
    allowed: frozenset[str]


def allowed(message: Message) -> frozenset[str]:
    """What the message's platform can do to it: some of hide, unhide, delete."""
    platform = platforms.get(message.platform)
    return frozenset() if platform is None else platform.moderations(message.channel, message.kind)


def _message(session: Session, message_id: int) -> tuple[Message, Draft]:
    message = session.get(Message, message_id)
    if message is None:
        raise NotFound(Reason(N_("message %(id)s not found"), {"id": message_id}))
    draft = message.draft
    if draft is None:
        raise NotFound(Reason(N_("message %(id)s has no draft"), {"id": message_id}))
    return message, draft


def state(session: Session, draft: Draft) -> Moderated:
    """The draft with its message and its comment's moderation."""
    message = session.get(Message, draft.message_id)
    assert message is not None
    return Moderated(draft, message, outbox.moderation_of(session, draft.id), allowed(message))


def moderate(session: Session, *, message_id: int, action: str, user_id: int) -> Moderated:
    """Hide, unhide or delete the comment through the outbox; asking again what is already being
    made (or already made) changes nothing."""
    if action not in ACTIONS:
        raise ValueError(f"not a moderation: {action!r}")
    message, draft = _message(session, message_id)
    _queue(session, message, draft, action, user_id)
    if action == "delete" and draft.status == "pending":
        review.close(session, draft_id=draft.id, version=draft.version, user_id=user_id, reason="deleted")
    session.refresh(draft)
    return state(session, draft)


def _queue(session: Session, message: Message, draft: Draft, action: str, user_id: int) -> None:
    if action not in allowed(message):
        raise Unsupported(
            Reason(
                N_("%(action)s is not supported on %(channel)s"),
                {"action": Reason(WHAT[action]), "channel": message.channel},
            )
        )
    current = outbox.moderation_of(session, draft.id)
    if current.deleted or current.pending == "delete":
        raise Conflict(
            Reason(N_("message %(id)s: the comment was deleted"), {"id": message.id}),
            detail={"deleted": True},
        )
    if current.pending is None and current.last == action:
        return  # already made
    outbox.enqueue_moderation(
        session, draft_id=draft.id, message=message, action=action, user_id=user_id, now=utcnow()
    )


def close(session: Session, *, draft_id: int, version: int, user_id: int, reason: str) -> Moderated:
    """Close a pending draft without a reply: `no_reply`, or `spam` (its comment is hidden too,
    where the platform can hide it)."""
    if reason not in ("no_reply", "spam"):
        raise ValueError(f"not a reason to close: {reason!r}")
    draft = review.close(session, draft_id=draft_id, version=version, user_id=user_id, reason=reason)
    result = state(session, draft)
    if reason == "spam" and "hide" in result.allowed:
        _queue(session, result.message, draft, "hide", user_id)
        result = state(session, draft)
    return result


def reopen(session: Session, *, draft_id: int, version: int, user_id: int) -> Moderated:
    """Put a closed draft back in the queue; a spam's hidden comment is shown again."""
    was_spam = review.get(session, draft_id).reason == "spam"
    draft = review.reopen(session, draft_id=draft_id, version=version, user_id=user_id)
    result = state(session, draft)
    if was_spam and (result.moderation.hidden or result.moderation.pending == "hide"):
        _queue(session, result.message, draft, "unhide", user_id)
        result = state(session, draft)
    return result


BULK_ACTIONS = ("hide", "unhide", "spam", "no_reply", "reopen", "approve", "assign")


def act(
    session: Session, *, action: str, draft_id: int, user_id: int, assignee: int | None = None
) -> Moderated:
    """One action of a bulk one on one draft, at its current version: hide, unhide, spam,
    no_reply, reopen, approve (the reply as shown) or assign (its conversation, to `assignee`)."""
    if action not in BULK_ACTIONS:
        raise ValueError(f"not a bulk action: {action!r}")
    if action == "assign":
        return state(
            session, team.assign(session, draft_id=draft_id, user_id=assignee, actor_id=user_id).draft
        )
    version = review.get(session, draft_id).version
    if action == "approve":
        return state(
            session, review.approve(session, draft_id=draft_id, version=version, user_id=user_id, text=None)
        )
    if action == "reopen":
        return reopen(session, draft_id=draft_id, version=version, user_id=user_id)
    if action in ("spam", "no_reply"):
        return close(session, draft_id=draft_id, version=version, user_id=user_id, reason=action)
    draft = review.get(session, draft_id)
    return moderate(session, message_id=draft.message_id, action=action, user_id=user_id)
