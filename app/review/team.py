"""Team work on the queue: who takes a conversation, the team's internal notes on it, and each
reviewer's saved queue filters.

Assignment is per conversation, not per draft: a community manager takes a customer's thread, so
every pending draft of the conversation follows, and so does every new message of it
(`inherit`, called by the intake). The conversation's `Assignment` row is the truth; each
draft carries a copy (`Draft.assignee_id`) so that the "mine" filter is served by the queue's
index. A decided draft keeps the assignee it was decided under. Notes are on the conversation
too, never sent. Each assignment and note is in the draft's audit log ("assigned", "note").
Services flush; the caller's unit of work commits.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode

from sqlalchemy import ColumnElement, delete, func, or_, select, update
from sqlalchemy.orm import Session

from app import audit
from app.errors import Invalid, NotFound
from app.i18n import N_, Reason
from app.models import Assignment, Draft, Message, Note, SavedFilter, User, conversation_key, utcnow
from app.review import service as review

MAX_NOTE = 4000
MAX_FILTERS = 50
# what a saved filter may hold: the queue page's own parameters
FILTER_KEYS = ("status", "category", "platform", "language", "to_sort", "assignee")


@dataclass(frozen=True, slots=True)
class Conversation:
    """Where a message belongs for the team: its platform account and conversation key."""

    platform: str
    account_id: str
    key: str


def conversation_of(message: Message) -> Conversation:
    return Conversation(
        message.platform, message.account_id, conversation_key(message.conversation_id, message.external_id)
    )


def _draft_and_message(session: Session, draft_id: int) -> tuple[Draft, Message]:
    draft = session.get(Draft, draft_id)
    if draft is None:
        raise NotFound(Reason(N_("draft %(id)s not found"), {"id": draft_id}))
    message = session.get(Message, draft.message_id)
    assert message is not None
    return draft, message


def _in_conversation(message: Message) -> ColumnElement[bool]:
    """The drafts of the message's conversation (through the messages' conversation index)."""
    if not message.conversation_id:
        return Draft.message_id == message.id
    return Draft.message_id.in_(
        select(Message.id).where(
            Message.platform == message.platform,
            Message.account_id == message.account_id,
            Message.conversation_id == message.conversation_id,
        )
    )


# -- assignment ------------------------------------------------------------------------------------


def assignable(session: Session) -> list[User]:
    """Who a conversation can be given to: every enabled user, by name."""
    return list(session.scalars(select(User).where(User.disabled.is_(False)).order_by(User.name)))


def _assignee(session: Session, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None or user.disabled:
        raise NotFound(
            f"user {user_id} does not exist or is disabled: a conversation goes to an active reviewer",
            detail={"user_id": user_id},
            reasons=[Reason(N_("User %(id)s does not exist or is disabled."), {"id": user_id})],
        )
    return user


@dataclass(frozen=True, slots=True)
class Assigned:
    draft: Draft
    message: Message
    assignee: User | None
    drafts: list[int]  # the drafts whose assignee changed


def assign(session: Session, *, draft_id: int, user_id: int | None, actor_id: int) -> Assigned:
    """Give the draft's conversation to `user_id` (None: to nobody): the draft and every pending
    draft of the conversation follow, and so will its new messages."""
    draft, message = _draft_and_message(session, draft_id)
    assignee = None if user_id is None else _assignee(session, user_id)
    conv = conversation_of(message)
    now = utcnow()
    where = (
        Assignment.platform == conv.platform,
        Assignment.account_id == conv.account_id,
        Assignment.conversation == conv.key,
    )
    session.execute(delete(Assignment).where(*where))
    if user_id is not None:
        session.add(
            Assignment(
                platform=conv.platform,
                account_id=conv.account_id,
                conversation=conv.key,
                user_id=user_id,
                assigned_by=actor_id,
                assigned_at=now,
            )
        )
    changed = session.execute(
        update(Draft)
        .where(
            _in_conversation(message),
            or_(Draft.status == "pending", Draft.id == draft_id),
            or_(Draft.assignee_id.is_(None), Draft.assignee_id != user_id)
            if user_id is not None
            else Draft.assignee_id.is_not(None),
        )
        .values(assignee_id=user_id, updated_at=now)
        .returning(Draft.id, Draft.assignee_id)
        .execution_options(synchronize_session=False)
    ).all()
    ids = sorted(i for i, _ in changed)
    for did in ids:
        audit.record(session, did, "assigned", actor_id, now, user_id=user_id)
    session.flush()
    session.refresh(draft)
    return Assigned(draft, message, assignee, ids)


# a draft's conversation's assignee, if it has one (`messages` by its id, `assignments` by its
# unique (platform, account_id, conversation))
_OWNER = (
    "SELECT a.user_id FROM messages m JOIN assignments a ON a.platform = m.platform"
    " AND a.account_id = m.account_id AND a.conversation = m.conversation_id"
    " WHERE m.id = drafts.message_id"
)


def inherit(session: Session, message_ids: list[int]) -> None:
    """New messages' drafts take the assignee of their conversation, if it has one: one
    statement for a whole intake batch, in plain SQL on the driver (building it with SQLAlchemy
    cost more than running it: about 0.5 ms a batch)."""
    if not message_ids:
        return
    conn = session.connection()
    mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    conn.exec_driver_sql(
        f"UPDATE drafts SET assignee_id = ({_OWNER}) "
        f"WHERE message_id IN ({', '.join([mark] * len(message_ids))}) AND EXISTS ({_OWNER})",
        tuple(message_ids),
    )


def assignee_counts(session: Session, *, status: str = "pending") -> dict[int | None, int]:
    """How many drafts of this status each user has (None: nobody)."""
    rows = session.execute(
        select(Draft.assignee_id, func.count()).where(Draft.status == status).group_by(Draft.assignee_id)
    ).all()
    return {user_id: n for user_id, n in rows}


# -- notes -----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NoteRow:
    id: int
    text: str
    author_id: int | None
    author_name: str | None
    created_at: dt.datetime
    draft_id: int | None


def notes_of(session: Session, message: Message) -> list[NoteRow]:
    """The team's notes on the message's conversation, oldest first."""
    conv = conversation_of(message)
    rows = session.execute(
        select(Note, User.name)
        .outerjoin(User, User.id == Note.author_id)
        .where(
            Note.platform == conv.platform, Note.account_id == conv.account_id, Note.conversation == conv.key
        )
        .order_by(Note.id)
    ).all()
    return [NoteRow(n.id, n.text, n.author_id, name, n.created_at, n.draft_id) for n, name in rows]


def notes(session: Session, *, draft_id: int) -> list[NoteRow]:
    """The notes on the draft's conversation."""
    return notes_of(session, _draft_and_message(session, draft_id)[1])


def add_note(session: Session, *, draft_id: int, author_id: int, text: str) -> NoteRow:
    """Write an internal note on the draft's conversation; it is never sent."""
    text = text.strip()
    if not text:
        raise Invalid("a note cannot be empty", reasons=[Reason(N_("A note cannot be empty."))])
    if len(text) > MAX_NOTE:
        raise Invalid(
            f"a note is at most {MAX_NOTE} characters",
            detail={"length": len(text), "limit": MAX_NOTE},
            reasons=[Reason(N_("A note is at most %(limit)s characters."), {"limit": MAX_NOTE})],
        )
    _, message = _draft_and_message(session, draft_id)
    conv = conversation_of(message)
    now = utcnow()
    note = Note(
        platform=conv.platform,
        account_id=conv.account_id,
        conversation=conv.key,
        draft_id=draft_id,
        author_id=author_id,
        text=text,
        created_at=now,
    )
    session.add(note)
    session.flush()
    audit.record(session, draft_id, "note", author_id, now, note_id=note.id)
    author = session.get(User, author_id)
    return NoteRow(note.id, note.text, author_id, author.name if author else None, now, draft_id)


# -- saved filters ---------------------------------------------------------------------------------


def clean_query(query: str) -> str:
    """A queue query string reduced to the queue's own parameters, in a fixed order; 422 for
    anything else."""
    pairs = parse_qsl(query.strip().removeprefix("?"), keep_blank_values=False)
    unknown = sorted({k for k, _ in pairs} - set(FILTER_KEYS))
    if unknown:
        raise Invalid(
            f"a saved filter holds only {', '.join(FILTER_KEYS)}; not {', '.join(unknown)}",
            detail={"unknown": unknown},
            reasons=[Reason(N_("A saved filter cannot hold %(names)s."), {"names": ", ".join(unknown)})],
        )
    values = dict(pairs)
    return urlencode([(k, values[k]) for k in FILTER_KEYS if values.get(k)])


def saved_filters(session: Session, *, user_id: int) -> list[SavedFilter]:
    """The user's saved filters, by name."""
    return list(
        session.scalars(select(SavedFilter).where(SavedFilter.user_id == user_id).order_by(SavedFilter.name))
    )


def save_filter(session: Session, *, user_id: int, name: str, query: str) -> SavedFilter:
    """Save the queue's query under a name; a name she already has is replaced."""
    name = name.strip()
    if not name:
        raise Invalid("a saved filter needs a name", reasons=[Reason(N_("A saved filter needs a name."))])
    clean = clean_query(query)
    current = session.scalar(
        select(SavedFilter).where(SavedFilter.user_id == user_id, SavedFilter.name == name)
    )
    if current is not None:
        current.query = clean
        session.flush()
        return current
    if len(saved_filters(session, user_id=user_id)) >= MAX_FILTERS:
        raise Invalid(
            f"at most {MAX_FILTERS} saved filters: delete one first",
            reasons=[
                Reason(N_("At most %(limit)s saved filters: delete one first."), {"limit": MAX_FILTERS})
            ],
        )
    row = SavedFilter(user_id=user_id, name=name, query=clean, created_at=utcnow())
    session.add(row)
    session.flush()
    return row


def delete_filter(session: Session, *, user_id: int, filter_id: int) -> None:
    """Delete one of the user's saved filters (another's is not found)."""
    row = session.get(SavedFilter, filter_id)
    if row is None or row.user_id != user_id:
        raise NotFound(Reason(N_("saved filter %(id)s not found"), {"id": filter_id}))
    session.delete(row)
    session.flush()


# -- new messages ----------------------------------------------------------------------------------


NEWS_CAP = 1000


def newest(session: Session) -> int:
    """The highest draft id (0: none yet): the queue page asks for what came after it."""
    return session.scalar(select(func.max(Draft.id))) or 0


def news(session: Session, *, filt: review.QueueFilter, after: int) -> tuple[int, int]:
    """Drafts that arrived after draft `after` and match the queue's filter: (how many, counted up
    to `NEWS_CAP`; the newest draft id)."""
    ids = review.filtered(select(Draft.id), filt).where(Draft.id > after).limit(NEWS_CAP).subquery()
    count = session.scalar(select(func.count()).select_from(ids)) or 0
    return count, max(after, newest(session))


# -- what the pages show ---------------------------------------------------------------------------


def assignee_filter(clean: dict[str, str], viewer_id: int | None) -> int | None:
    """The queue's `assignee` value ('me', 'none' or a user id) as a filter; a value that is
    none of those is dropped from `clean`."""
    value = clean.get("assignee")
    if value is None:
        return None
    if value == "me" and viewer_id is not None:
        return viewer_id
    if value == "none":
        return review.UNASSIGNED
    if value.isdigit() and 1 <= int(value) <= 2**53 - 1:
        return int(value)
    clean.pop("assignee")
    return None


def queue_context(session: Session, viewer_id: int, filt: review.QueueFilter) -> dict[str, object]:
    """The queue page's team part: who can be assigned, the counts per assignee, the viewer's
    saved filters, the newest draft id (where polling for new messages starts)."""
    people = assignable(session)
    per = assignee_counts(session, status=filt.status or "pending")
    return {
        "people": people,
        "names": {u.id: u.name for u in people},
        "assignee_counts": per,
        "mine_count": per.get(viewer_id, 0),
        "saved_filters": saved_filters(session, user_id=viewer_id),
        "newest": newest(session),
    }


def draft_context(session: Session, draft: Draft, message: Message) -> dict[str, object]:
    """The message page's team part: who has the conversation, who could, the notes."""
    people = assignable(session)
    return {
        "people": people,
        "assignee": next((u for u in people if u.id == draft.assignee_id), None),
        "notes": notes_of(session, message),
    }
