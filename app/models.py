"""ORM tables. "models" here always means database tables; trained classifier files are "artifacts".

Timestamps are timezone-aware UTC everywhere, SQLite included (see `UTCDateTime`).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy import text as sql_text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# BigInteger on PostgreSQL, INTEGER (the rowid alias, autoincrementing) on SQLite.
BigIntPK = BigInteger().with_variant(Integer(), "sqlite")


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Stores UTC, always returns an aware datetime (SQLite has no time zones)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(dt.UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {dt.datetime: UTCDateTime, dict[str, Any]: JSON, list[Any]: JSON}


CATEGORIES = ("question", "complaint", "suggestion", "other")
CATEGORY_PRIORITY = {"complaint": 0, "question": 1, "suggestion": 2, "other": 3}
UNSORTED_PRIORITY = 1  # "to sort" messages wait with the questions: a human must look soon


def priority_of(category: str | None) -> int:
    """A draft's place in the queue: complaints first; unsorted ones with the questions."""
    return CATEGORY_PRIORITY.get(category or "", UNSORTED_PRIORITY)


class Event(Base):
    """The event journal: every authentic delivery, raw, once (deduplicated by its digest)."""

    __tablename__ = "events"
    __table_args__ = (UniqueConstraint("platform", "digest"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    platform: Mapped[str] = mapped_column(String(16))
    digest: Mapped[str] = mapped_column(String(64))  # sha256 of the raw body
    delivery_id: Mapped[str | None] = mapped_column(String(128))
    headers: Mapped[dict[str, Any]] = mapped_column(JSON)
    body: Mapped[bytes] = mapped_column(LargeBinary)
    message_count: Mapped[int] = mapped_column(Integer, default=0)
    received_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Message(Base):
    """One inbound customer message, normalised across platforms, with its triage."""

    __tablename__ = "messages"
    __table_args__ = (
        UniqueConstraint("platform", "account_id", "external_id"),
        Index("ix_messages_author", "platform", "author_id", "received_at"),
        Index("ix_messages_conversation", "platform", "account_id", "conversation_id"),
        # the context pass's work: only the (few, short-lived) marked rows are indexed
        Index(
            "ix_messages_context_due",
            "id",
            sqlite_where=text("context_due > 0"),
            postgresql_where=text("context_due > 0"),
        ),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    platform: Mapped[str] = mapped_column(String(16))
    account_id: Mapped[str] = mapped_column(String(128))
    external_id: Mapped[str] = mapped_column(String(255))
    kind: Mapped[str] = mapped_column(String(16))  # comment, dm, mention, review, email, message
    channel: Mapped[str] = mapped_column(String(32))  # facebook, messenger, instagram, whatsapp, ...
    conversation_id: Mapped[str | None] = mapped_column(String(255))
    reply_to_id: Mapped[str | None] = mapped_column(String(255))
    parent_id: Mapped[str | None] = mapped_column(String(255))
    author_id: Mapped[str | None] = mapped_column(String(128))
    author_name: Mapped[str | None] = mapped_column(String(255))
    author_handle: Mapped[str | None] = mapped_column(String(255))
    text: Mapped[str] = mapped_column(Text)
    extra: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[dt.datetime | None]
    received_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    event_id: Mapped[int | None] = mapped_column(BigInteger)
    deleted_at: Mapped[dt.datetime | None]

    language: Mapped[str | None] = mapped_column(String(8))
    category: Mapped[str | None] = mapped_column(String(16))
    predicted_category: Mapped[str | None] = mapped_column(String(16))
    confidence: Mapped[float | None] = mapped_column(Float)
    scores: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    model_version: Mapped[str | None] = mapped_column(String(64))
    to_sort: Mapped[bool] = mapped_column(Boolean, default=True)
    spam: Mapped[bool] = mapped_column(Boolean, default=False)  # spam or abuse (app/spam.py): no reply text
    # too short to tell its language: `language` is its account's, or its conversation's
    language_guessed: Mapped[bool] = mapped_column(Boolean, default=False)
    # what the context pass still has to fill in (app/drafts/context.py: a bit per need), 0 when nothing
    context_due: Mapped[int] = mapped_column(SmallInteger, default=0)

    draft: Mapped[Draft | None] = relationship(back_populates="message", uselist=False)


class Draft(Base):
    """The reply proposed for one message, and its life: pending → approved/rejected → sent/failed,
    or pending → closed (`reason` no_reply or spam: nothing is sent) → pending again when reopened.

    Filter and sort columns of the message are copied here so that the queue is served by one
    index (status, priority, received_at, id) even with millions of rows.
    """

    __tablename__ = "drafts"
    __table_args__ = (
        Index("ix_drafts_queue", "status", "priority", "received_at", "id"),
        Index("ix_drafts_queue_category", "status", "category", "priority", "received_at", "id"),
        Index("ix_drafts_queue_platform", "status", "platform", "priority", "received_at", "id"),
        Index("ix_drafts_queue_language", "status", "language", "priority", "received_at", "id"),
        Index("ix_drafts_queue_assignee", "status", "assignee_id", "priority", "received_at", "id"),
        # spam is rare: only its rows are indexed, for the queue's "spam only" filter
        Index(
            "ix_drafts_queue_spam",
            "status",
            "priority",
            "received_at",
            "id",
            sqlite_where=text("spam"),
            postgresql_where=text("spam"),
        ),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"), unique=True)
    version: Mapped[int] = mapped_column(Integer, default=1)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    text: Mapped[str] = mapped_column(Text, default="")  # the suggestion
    template_id: Mapped[int | None] = mapped_column(BigInteger)
    # where the suggestion came from: "answer" (a knowledge-base answer's id), "past_reply" (the
    # draft whose approved reply was adapted) or "template"; its similarity to the message, 0..1
    source_kind: Mapped[str | None] = mapped_column(String(16))
    source_id: Mapped[int | None] = mapped_column(BigInteger)
    source_score: Mapped[float | None] = mapped_column(Float)
    suggestions: Mapped[list[Any]] = mapped_column(JSON, default=list)
    final_text: Mapped[str | None] = mapped_column(Text)
    edited: Mapped[bool] = mapped_column(Boolean, default=False)
    reason: Mapped[str | None] = mapped_column(Text)
    # copies of the message's sort/filter keys
    priority: Mapped[int] = mapped_column(Integer, default=UNSORTED_PRIORITY)
    received_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    category: Mapped[str | None] = mapped_column(String(16))
    platform: Mapped[str] = mapped_column(String(16))
    language: Mapped[str | None] = mapped_column(String(8))
    to_sort: Mapped[bool] = mapped_column(Boolean, default=True)
    # the conversation's assignee (`Assignment`), copied for the "mine" filter's index
    assignee_id: Mapped[int | None] = mapped_column(BigInteger)
    spam: Mapped[bool] = mapped_column(Boolean, default=False)

    claimed_by: Mapped[int | None] = mapped_column(BigInteger)
    claimed_until: Mapped[dt.datetime | None]
    decided_by: Mapped[int | None] = mapped_column(BigInteger)
    decided_at: Mapped[dt.datetime | None]
    sent_at: Mapped[dt.datetime | None]
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    message: Mapped[Message] = relationship(back_populates="draft")


class DraftEvent(Base):
    """The audit trail of a draft: who did what, when."""

    __tablename__ = "draft_events"
    __table_args__ = (Index("ix_draft_events_draft", "draft_id", "id"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    draft_id: Mapped[int] = mapped_column(ForeignKey("drafts.id", ondelete="CASCADE"))
    action: Mapped[str] = mapped_column(String(32))
    actor_id: Mapped[int | None] = mapped_column(BigInteger)
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    at: Mapped[dt.datetime] = mapped_column(default=utcnow)


OUTBOX_ACTIONS = ("reply", "hide", "unhide", "delete")


def conversation_key(conversation_id: str | None, external_id: str) -> str:
    """What ties a message to its conversation for the team: the platform's conversation (a post's
    comments, a DM thread), else the message alone ("#" and its own id: no conversation id is
    empty)."""
    return conversation_id or "#" + external_id


class Assignment(Base):
    """Who on the team takes a conversation: every pending draft of it, and every new message of
    it, carries this user as `Draft.assignee_id`. No row: nobody."""

    __tablename__ = "assignments"
    __table_args__ = (UniqueConstraint("platform", "account_id", "conversation"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    platform: Mapped[str] = mapped_column(String(16))
    account_id: Mapped[str] = mapped_column(String(128))
    conversation: Mapped[str] = mapped_column(String(256))  # `conversation_key`
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    assigned_by: Mapped[int | None] = mapped_column(BigInteger)
    assigned_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Note(Base):
    """An internal note on a conversation, for the team only: never sent to the customer."""

    __tablename__ = "notes"
    __table_args__ = (Index("ix_notes_conversation", "platform", "account_id", "conversation", "id"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    platform: Mapped[str] = mapped_column(String(16))
    account_id: Mapped[str] = mapped_column(String(128))
    conversation: Mapped[str] = mapped_column(String(256))  # `conversation_key`
    draft_id: Mapped[int | None] = mapped_column(BigInteger)  # the draft it was written from
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class SavedFilter(Base):
    """A reviewer's named queue filter: the query string of the queue page, kept for her alone."""

    __tablename__ = "saved_filters"
    __table_args__ = (UniqueConstraint("user_id", "name"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(100))
    query: Mapped[str] = mapped_column(String(1000))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class OutboxItem(Base):
    """One call to make on a platform for a draft's message: its reply (one per draft, written in
    the same transaction as the approval) or a moderation of the comment (hide, unhide, delete)."""

    __tablename__ = "outbox"
    __table_args__ = (
        Index("ix_outbox_due", "status", "next_attempt_at"),
        Index("ix_outbox_draft", "draft_id", "id"),
        Index(
            "uq_outbox_reply",
            "draft_id",
            unique=True,
            sqlite_where=sql_text("action = 'reply'"),
            postgresql_where=sql_text("action = 'reply'"),
        ),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    draft_id: Mapped[int] = mapped_column(ForeignKey("drafts.id", ondelete="CASCADE"))
    action: Mapped[str] = mapped_column(String(16), default="reply", server_default="reply")
    platform: Mapped[str] = mapped_column(String(16))
    account_id: Mapped[str] = mapped_column(String(128))
    channel: Mapped[str] = mapped_column(String(32))
    target: Mapped[dict[str, Any]] = mapped_column(JSON)  # ids needed to post the reply
    text: Mapped[str] = mapped_column(Text)  # the reply; "" for a moderation
    # queued, sending, sent, retry, dead, unknown
    status: Mapped[str] = mapped_column(String(16), default="queued")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    lease_until: Mapped[dt.datetime | None]
    worker: Mapped[str | None] = mapped_column(String(64))
    last_error: Mapped[str | None] = mapped_column(Text)
    platform_message_id: Mapped[str | None] = mapped_column(String(255))
    resent: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[dt.datetime | None]


class OutboxAttempt(Base):
    """One call to a platform, recorded before the call is made."""

    __tablename__ = "outbox_attempts"
    __table_args__ = (Index("ix_outbox_attempts_item", "outbox_id", "id"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    outbox_id: Mapped[int] = mapped_column(ForeignKey("outbox.id", ondelete="CASCADE"))
    number: Mapped[int] = mapped_column(Integer)
    worker: Mapped[str | None] = mapped_column(String(64))
    started_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[dt.datetime | None]
    outcome: Mapped[str | None] = mapped_column(String(16))  # sent, retry, dead, unknown
    http_status: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)


class Channel(Base):
    """Health of one platform account: last traffic both ways and whether sending is paused."""

    __tablename__ = "channels"
    __table_args__ = (UniqueConstraint("platform", "account_id"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    platform: Mapped[str] = mapped_column(String(16))
    account_id: Mapped[str] = mapped_column(String(128))
    last_event_at: Mapped[dt.datetime | None]
    last_sent_at: Mapped[dt.datetime | None]
    paused: Mapped[bool] = mapped_column(Boolean, default=False)
    pause_reason: Mapped[str | None] = mapped_column(Text)
    token_state: Mapped[str] = mapped_column(String(16), default="unknown")  # ok, expired, unknown


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(16))  # reviewer, admin
    password_hash: Mapped[str | None] = mapped_column(String(255))
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    # the pages' language and time zone; None: the browser's language, then RELAIS_LANGUAGE / _TIMEZONE
    language: Mapped[str | None] = mapped_column(String(8))
    timezone: Mapped[str | None] = mapped_column(String(64))


class ApiToken(Base):
    """A bearer token, stored as its SHA-256 (tokens are long random strings, not passwords)."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[dt.datetime | None]


class WebSession(Base):
    """A browser session; the cookie carries the id, the database its hash and CSRF token."""

    __tablename__ = "web_sessions"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[dt.datetime]


class LoginFailure(Base):
    __tablename__ = "login_failures"
    __table_args__ = (Index("ix_login_failures_name", "username", "at"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    username: Mapped[str] = mapped_column(String(64))
    ip: Mapped[str | None] = mapped_column(String(64))
    at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Correction(Base):
    """A reviewer's change of category: a training label for the next model."""

    __tablename__ = "corrections"
    __table_args__ = (Index("ix_corrections_at", "created_at"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"))
    user_id: Mapped[int | None] = mapped_column(BigInteger)
    old_category: Mapped[str | None] = mapped_column(String(16))
    new_category: Mapped[str] = mapped_column(String(16))
    text: Mapped[str] = mapped_column(Text)
    language: Mapped[str | None] = mapped_column(String(8))
    model_version: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class ReplyTemplate(Base):
    """A user-editable reply template (Jinja2, rendered in a sandbox)."""

    __tablename__ = "reply_templates"
    __table_args__ = (UniqueConstraint("name"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    category: Mapped[str] = mapped_column(String(16))
    language: Mapped[str] = mapped_column(String(8))
    channel_kind: Mapped[str] = mapped_column(String(16))  # public, private, any
    register: Mapped[str] = mapped_column(String(8), default="any")  # tu, vous, any
    body: Mapped[str] = mapped_column(Text)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    version: Mapped[int] = mapped_column(Integer, default=1)
    updated_by: Mapped[int | None] = mapped_column(BigInteger)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Answer(Base):
    """A saved answer of the knowledge base ("réponse enregistrée"): a Jinja2 body rendered like
    the templates, drafted for the messages that look like its title and examples."""

    __tablename__ = "answers"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    language: Mapped[str] = mapped_column(String(8))
    category: Mapped[str | None] = mapped_column(String(16))
    examples: Mapped[list[Any]] = mapped_column(JSON, default=list)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    version: Mapped[int] = mapped_column(Integer, default=1)
    updated_by: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class AnswerUse(Base):
    """A customer's message answered with a saved answer, the reply approved close to it: one
    more example the knowledge base finds that answer by (`app.drafts.similar.AnswerIndex`).
    Append-only, so each process's index catches up by id; it goes with its answer."""

    __tablename__ = "answer_uses"
    __table_args__ = (Index("ix_answer_uses_answer", "answer_id", "id"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    answer_id: Mapped[int] = mapped_column(ForeignKey("answers.id", ondelete="CASCADE"))
    draft_id: Mapped[int | None] = mapped_column(BigInteger)
    message_text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class AdminEvent(Base):
    """The audit trail of what admins change outside the queue (knowledge-base answers...)."""

    __tablename__ = "admin_events"
    __table_args__ = (Index("ix_admin_events_subject", "subject", "subject_id", "id"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    subject: Mapped[str] = mapped_column(String(32))
    subject_id: Mapped[int] = mapped_column(BigInteger)
    action: Mapped[str] = mapped_column(String(32))
    actor_id: Mapped[int | None] = mapped_column(BigInteger)
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class PastReply(Base):
    """A reply the team approved, as sent, beside the message it answered: what drafting reuses
    for similar later messages. Append-only, so each process's index catches up by id."""

    __tablename__ = "past_replies"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    draft_id: Mapped[int | None] = mapped_column(BigInteger)
    language: Mapped[str | None] = mapped_column(String(8))
    message_text: Mapped[str] = mapped_column(Text)
    author_name: Mapped[str | None] = mapped_column(String(255))
    reply: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Echo(Base):
    """Something the brand posted, seen coming back through a webhook (our own replies included).

    The outbox reads these to confirm a send whose outcome it could not see (a timeout after the
    request left, a sender killed before its commit) instead of posting the reply twice; the
    conversation (`app.review.conversation`) shows them, replies typed on the platform included.
    """

    __tablename__ = "echoes"
    __table_args__ = (
        UniqueConstraint("platform", "account_id", "external_id"),
        Index("ix_echoes_target", "platform", "account_id", "in_reply_to"),
        Index("ix_echoes_conversation", "platform", "account_id", "conversation_id"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    platform: Mapped[str] = mapped_column(String(16))
    account_id: Mapped[str] = mapped_column(String(128))
    external_id: Mapped[str] = mapped_column(String(255))
    in_reply_to: Mapped[str | None] = mapped_column(String(255))
    text: Mapped[str | None] = mapped_column(Text)
    seen_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    # the thread, as `Message.conversation_id` names it, and the platform's time of posting
    conversation_id: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[dt.datetime | None]
