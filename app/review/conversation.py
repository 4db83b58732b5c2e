"""The whole conversation of a message: the customer's messages and the brand's replies, in order.

    customer    every message of the same author on the same platform account (several threads
                of one channel, or several channels when the platform gives them one author id);
                without an author id, the message alone
    brand       our replies from the outbox (approved by whom and when, sent or not yet), and the
                platform's echoes of what the brand posted there: our own sends seen coming back
                (merged with their outbox entry) and replies typed directly on the platform

An echo belongs to the conversation when it answers one of the customer's messages (its
`in_reply_to` is the message's id or the id its reply goes to) or is posted in one of the
customer's private threads (a DM conversation: `in_reply_to` or `conversation_id` is that
thread's), and never when it names another thread. What the ids mean is each platform module's
business (`app/platforms/`); this module only compares them.

Nothing here writes, except `redraft_returning`, which the intake calls in its own transaction.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from app import db
from app.models import Draft, Echo, Message, OutboxItem, User
from app.reply_templates import rendering

if TYPE_CHECKING:
    from app.drafts.service import Drafter

CUSTOMER_LIMIT = 50  # the customer's latest messages shown; older ones are counted, not listed
ECHO_LIMIT = 200
# outbox states of a reply on its way or gone out: the brand has answered (a dead one has not)
ANSWERED = ("queued", "sending", "retry", "unknown", "sent")


@dataclass(frozen=True, slots=True)
class CustomerEntry:
    """One of the customer's messages."""

    at: dt.datetime  # when the customer wrote (the platform's time), else when it was received
    message_id: int
    draft_id: int | None
    channel: str
    kind: str
    author_name: str | None
    text: str
    deleted: bool
    current: bool  # the message the page is about
    side: Literal["customer"] = "customer"


@dataclass(frozen=True, slots=True)
class BrandEntry:
    """One of the brand's replies: from the outbox (`source` "relais") or seen only on the platform."""

    at: dt.datetime  # sent, else approved (outbox); posted, else seen (platform)
    source: Literal["relais", "platform"]
    text: str | None  # None: the platform did not say (a WhatsApp status of a send made elsewhere)
    status: str  # the outbox's (queued, sending, retry, unknown, sent, dead) or "published"
    in_reply_to_message_id: int | None
    draft_id: int | None = None
    approved_by: str | None = None
    approved_at: dt.datetime | None = None
    sent_at: dt.datetime | None = None
    error: str | None = None  # why a dead reply was not sent
    seen_on_platform: bool = False  # its echo came back (an outbox reply)
    side: Literal["brand"] = "brand"

    @property
    def answered(self) -> bool:
        """Whether this counts as the brand having answered (sent, on its way, or posted)."""
        return self.source == "platform" or self.status in ANSWERED


Entry = CustomerEntry | BrandEntry


@dataclass(slots=True)
class Timeline:
    """A message's conversation, oldest first."""

    message_id: int
    entries: list[Entry] = field(default_factory=list)
    earlier_left_out: int = 0  # the customer's older messages beyond CUSTOMER_LIMIT

    def answered_since(self, message_id: int, when: dt.datetime) -> bool:
        """Whether the brand replied after `when` to anything of the customer's but `message_id`
        (its draft, written at `when`, may ask again what that reply settled)."""
        return any(
            isinstance(e, BrandEntry)
            and e.answered
            and e.at > when
            and (e.in_reply_to_message_id is None or e.in_reply_to_message_id != message_id)
            for e in self.entries
        )

    def before(self, message_id: int) -> list[Entry]:
        """The entries that came before the customer's message `message_id`."""
        for i, e in enumerate(self.entries):
            if isinstance(e, CustomerEntry) and e.message_id == message_id:
                return self.entries[:i]
        return list(self.entries)


# what a draft takes from the conversation before its message: the template variables' own type
Context = rendering.Conversation
NO_CONTEXT = rendering.NO_CONVERSATION


REDRAFT_MAX = 50  # returning customers' drafts rendered again per intake batch (`redraft_returning`)


def _customer_messages(session: Session, message: Message, limit: int) -> tuple[list[Message], int]:
    if not message.author_id:
        return [message], 0
    same_author = (
        Message.platform == message.platform,
        Message.account_id == message.account_id,
        Message.author_id == message.author_id,
    )
    rows = list(
        session.scalars(
            select(Message)
            .where(*same_author)
            .order_by(Message.received_at.desc(), Message.id.desc())
            .limit(limit + 1)
        )
    )
    left_out = 0
    if len(rows) > limit:
        rows = rows[:limit]
        total = session.scalar(select(func.count()).select_from(Message).where(*same_author))
        left_out = (total or 0) - limit
    if all(m.id != message.id for m in rows):
        rows.append(message)
    return rows, left_out


def _when(m: Message) -> dt.datetime:
    return m.created_at or m.received_at


def _private(m: Message) -> bool:
    return rendering.channel_kind(m.kind) == "private"


def _answers(echo: Echo, m: Message) -> bool:
    """Whether `echo` is posted in reply to `m`, or in `m`'s private thread."""
    if echo.conversation_id is not None and m.conversation_id is not None:
        if echo.conversation_id != m.conversation_id:
            return False
        if _private(m):
            return True
    return echo.in_reply_to is not None and (
        echo.in_reply_to in (m.external_id, m.reply_to_id)
        or (_private(m) and echo.in_reply_to == m.conversation_id)
    )


def _echoes(session: Session, message: Message, customer: Sequence[Message]) -> list[Echo]:
    ids = {i for m in customer for i in (m.external_id, m.reply_to_id) if i}
    threads = {m.conversation_id for m in customer if _private(m) and m.conversation_id}
    ids |= threads
    if not ids:
        return []
    return list(
        session.scalars(
            select(Echo)
            .where(
                Echo.platform == message.platform,
                Echo.account_id == message.account_id,
                or_(Echo.in_reply_to.in_(sorted(ids)), Echo.conversation_id.in_(sorted(threads))),
            )
            .order_by(Echo.id.desc())
            .limit(ECHO_LIMIT)
        )
    )


def _same_text(a: str | None, b: str | None) -> bool:
    if a is None or b is None:
        return False
    x, y = " ".join(a.split()), " ".join(b.split())
    return bool(x) and (x == y or x in y or y in x)


def timeline(session: Session, message: Message, *, limit: int = CUSTOMER_LIMIT) -> Timeline:
    """The conversation of `message`: the customer's messages and the brand's replies, oldest first."""
    customer, left_out = _customer_messages(session, message, limit)
    by_id = {m.id: m for m in customer}
    drafts = {
        d.message_id: d for d in session.scalars(select(Draft).where(Draft.message_id.in_(list(by_id))))
    }
    items = {
        o.draft_id: o
        for o in session.scalars(
            select(OutboxItem).where(OutboxItem.draft_id.in_([d.id for d in drafts.values()]))
        )
    }
    approvers = [d.decided_by for d in drafts.values() if d.id in items and d.decided_by is not None]
    names = (
        dict(session.execute(select(User.id, User.name).where(User.id.in_(approvers))).tuples().all())
        if approvers
        else {}
    )

    # Entries are put in the order Relais saw them (a message received, a reply sent or approved,
    # an echo seen): one clock, which says what the customer could have read before writing. The
    # time shown is the platform's where it gives one (in whole seconds: it cannot order them).
    arrived: dict[int, dt.datetime] = {}
    entries: list[Entry] = [
        CustomerEntry(
            at=_when(m),
            message_id=m.id,
            draft_id=drafts[m.id].id if m.id in drafts else None,
            channel=m.channel,
            kind=m.kind,
            author_name=m.author_name,
            text=m.text,
            deleted=m.deleted_at is not None,
            current=m.id == message.id,
        )
        for m in customer
    ]
    replies: list[tuple[Message, Draft, OutboxItem]] = [
        (m, drafts[m.id], items[drafts[m.id].id])
        for m in customer
        if m.id in drafts and drafts[m.id].id in items
    ]
    echoes = _echoes(session, message, customer)
    used: set[int] = set()
    for m, d, o in replies:
        echo = next(
            (
                e
                for e in echoes
                if e.id not in used
                and (
                    (o.platform_message_id is not None and e.external_id == o.platform_message_id)
                    or (_answers(e, m) and _same_text(e.text, o.text) and e.seen_at >= o.created_at)
                )
            ),
            None,
        )
        if echo is not None:
            used.add(echo.id)
        arrived[len(entries)] = o.sent_at or o.created_at
        entries.append(
            BrandEntry(
                at=o.sent_at or d.decided_at or o.created_at,
                source="relais",
                text=o.text,
                status=o.status,
                in_reply_to_message_id=m.id,
                draft_id=d.id,
                approved_by=names.get(d.decided_by) if d.decided_by is not None else None,
                approved_at=d.decided_at,
                sent_at=o.sent_at,
                error=o.last_error if o.status == "dead" else None,
                seen_on_platform=echo is not None,
            )
        )
    for e in echoes:
        if e.id in used:
            continue
        answered = next((m for m in customer if _answers(e, m)), None)
        if answered is None:
            continue
        arrived[len(entries)] = e.seen_at
        entries.append(
            BrandEntry(
                at=e.created_at or e.seen_at,
                source="platform",
                text=e.text,
                status="published",
                in_reply_to_message_id=answered.id if not _private(answered) else None,
            )
        )
    for i, m in enumerate(customer):
        arrived[i] = m.received_at
    order = sorted(range(len(entries)), key=lambda i: (arrived[i], i))
    return Timeline(message_id=message.id, entries=[entries[i] for i in order], earlier_left_out=left_out)


def context_of(entries: Iterable[Entry]) -> Context:
    """What a draft takes from the entries before its message."""
    before = list(entries)
    brand = [e for e in before if isinstance(e, BrandEntry) and e.answered]
    customer = [e.text for e in before if isinstance(e, CustomerEntry) and e.text.strip()]
    return Context(
        already_replied=bool(brand),
        earlier_customer_text=customer[-1] if customer else "",
        last_brand_reply=next((e.text for e in reversed(brand) if e.text), ""),
        earlier_customer_texts=tuple(reversed(customer)),
    )


def context(session: Session, message: Message) -> Context:
    """The conversation before `message`, as a draft reads it."""
    return context_of(timeline(session, message).before(message.id))


# a message the intake has just stored: (id, platform, account id, author id)
NewMessage = tuple[int, str, str, str]


def redraft_returning(
    session: Session,
    *,
    drafter: Drafter,
    new: Sequence[NewMessage],
    templates: Sequence[rendering.TemplateRow],
) -> int:
    """Render again, in their conversation, the new drafts of customers who wrote before (one
    query when none did); returns how many drafts changed. The intake calls it after a write."""
    if not new:
        return 0
    per_author: dict[tuple[str, str], int] = {}  # messages of each (platform, author) in the batch
    for _, platform, _, author in new:
        per_author[(platform, author)] = per_author.get((platform, author), 0) + 1
    conn = session.connection()
    mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    stored: dict[tuple[str, str], int] = {}
    for platform in sorted({p for p, _ in per_author}):
        authors = sorted(a for p, a in per_author if p == platform)
        # plain SQL on the driver: building this statement with SQLAlchemy cost more than running it
        # (about 0.8 ms a batch); grouped by (platform, author) it is served by ix_messages_author
        # alone, and the account is checked by `context`
        rows = conn.exec_driver_sql(
            f"SELECT author_id, count(*) FROM messages WHERE platform = {mark} "
            f"AND author_id IN ({', '.join([mark] * len(authors))}) GROUP BY author_id",
            (platform, *authors),
        )
        stored.update({(platform, str(a)): int(n) for a, n in rows})
    again = [
        i
        for i, platform, _, author in new
        if stored.get((platform, author), 0) > per_author[(platform, author)]
    ]
    if not again:
        return 0
    # each redraft reads its conversation (`context`): a delivery of a thousand messages from one
    # returning author would read it a thousand times (23 s on PostgreSQL, the intake stalled behind
    # it: tests/chaos/test_poison.py); the first REDRAFT_MAX keep the details, the rest their intake draft
    again = sorted(again)[:REDRAFT_MAX]
    changed = 0
    for m in session.scalars(select(Message).where(Message.id.in_(again)).order_by(Message.id)):
        ctx = context(session, m)
        if ctx == NO_CONTEXT:
            continue
        text, template_id, source = drafter.suggest_for(
            templates,
            m,
            category=m.category,
            language=m.language,
            to_sort=m.to_sort,
            conversation=ctx,
        )
        changed += db.changed(
            session,
            update(Draft)
            .where(
                Draft.message_id == m.id,
                Draft.status == "pending",
                Draft.version == 1,
                Draft.edited.is_(False),
                Draft.text != text,
            )
            .values(
                text=text,
                template_id=template_id,
                source_kind=source[0] if source else None,
                source_id=source[1] if source else None,
                source_score=source[2] if source else None,
            ),
        )
    return changed
