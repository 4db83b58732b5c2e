"""One intake batch: prepared off the database (classified, drafted, rows built), then written
in the caller's transaction with the database's unique constraints deduplicating.

    prepare_batch   one classifier call for the batch, one draft per new message, the rows
    write_batch     events  INSERT .. ON CONFLICT DO NOTHING    (journal, by digest)
                    messages INSERT .. ON CONFLICT DO NOTHING   (platform, account, id)
                    drafts of the messages inserted; deletions, echoes of our own posts,
                    channel health
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypedDict, cast

from sqlalchemy import Table, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from app import language
from app.drafts import context
from app.drafts import service as drafts_service
from app.intake.bulk import BulkInsert, ChainedInsert
from app.intake.types import Delivery, IngestResult, Proposal
from app.models import Channel, Echo, Event, Message, utcnow
from app.platforms.types import InboundMessage
from app.review import conversation, team
from app.review import service as review_service
from app.triage import ModelHolder, Triage

log = logging.getLogger("relais.intake")


class MessageRow(TypedDict):
    """A new message as `MESSAGES_INSERT` writes it: the one list of its columns."""

    platform: str
    account_id: str
    external_id: str
    kind: str
    channel: str
    conversation_id: str | None
    reply_to_id: str | None
    parent_id: str | None
    author_id: str | None
    author_name: str | None
    author_handle: str | None
    text: str
    extra: dict[str, Any]
    created_at: dt.datetime | None
    received_at: dt.datetime
    event_id: int | None
    language: str | None
    category: str | None
    predicted_category: str | None
    confidence: float | None
    scores: dict[str, float] | None
    model_version: str | None
    to_sort: bool
    spam: bool
    language_guessed: bool
    context_due: int


def insert_ignore(session: Session, table: Any) -> Any:
    """`INSERT .. ON CONFLICT DO NOTHING` for the session's dialect."""
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(table).on_conflict_do_nothing()
    return sqlite.insert(table).on_conflict_do_nothing()


EVENTS_INSERT = BulkInsert(
    cast(Table, Event.__table__),
    ["platform", "digest", "delivery_id", "headers", "body", "message_count", "received_at"],
    returning=["id", "platform", "digest"],
)
MESSAGES_INSERT = BulkInsert(
    cast(Table, Message.__table__),
    list(MessageRow.__annotations__),
    returning=["id", "platform", "account_id", "external_id"],
)


# PostgreSQL: the three inserts above as one statement (see ChainedInsert)
INTAKE_CHAIN = ChainedInsert(
    EVENTS_INSERT,
    MESSAGES_INSERT,
    drafts_service.DRAFTS_INSERT,
    child_fk="event_id",
    grandchild_fk="message_id",
)


@dataclass(slots=True)
class Prepared:
    """A batch made ready off the database: classified, drafted, rows built."""

    now: dt.datetime
    fresh: list[tuple[int, InboundMessage]]  # (delivery index, message), unique within the batch
    message_rows: list[MessageRow]  # aligned with `fresh`; event_id is filled in at write time
    draft_rows: list[dict[str, Any]]  # aligned with `fresh`; message_id is filled in at write time
    duplicates: list[int]  # per delivery: messages repeated within this batch
    # what drafted them, to draft again in their conversation those of returning customers
    drafter: drafts_service.Drafter | None = None
    templates: Sequence[Any] = ()


def propose(
    drafter: drafts_service.Drafter, templates: Sequence[Any], message: InboundMessage, triage: Triage
) -> Proposal:
    """The draft of one message under its triage: the one drafting call of the intake, whichever
    process makes it. A message too short to tell its language takes its account's; spam gets no
    text (no thank-you for a giveaway)."""
    triage = language.settle(triage, message, drafter.settings)
    if triage.spam:
        return Proposal(triage, ("", None, None))
    return Proposal(
        triage,
        drafter.suggest_for(
            templates, message, category=triage.category, language=triage.language, to_sort=triage.to_sort
        ),
    )


def message_row(m: InboundMessage, t: Triage, now: dt.datetime) -> MessageRow:
    """The row of a new message under its triage (its event_id is filled in at write time)."""
    return MessageRow(
        platform=m.platform,
        account_id=m.account_id,
        external_id=m.external_id,
        kind=m.kind,
        channel=m.channel,
        conversation_id=m.conversation_id,
        reply_to_id=m.reply_to_id,
        parent_id=m.parent_id,
        author_id=m.author_id,
        author_name=m.author_name,
        author_handle=m.author_handle,
        text=m.text,
        extra=m.extra,
        created_at=m.created_at,
        received_at=now,
        event_id=None,
        language=t.language,
        category=t.category,
        predicted_category=t.category,
        confidence=t.confidence,
        scores=t.scores,
        model_version=t.model_version,
        to_sort=t.to_sort,
        spam=t.spam,
        language_guessed=t.language_fallback,
        context_due=context.due(m, t),
    )


def prepare_batch(
    deliveries: Sequence[Delivery],
    *,
    holder: ModelHolder,
    drafter: drafts_service.Drafter,
    templates: Sequence[Any],
    proposals: Sequence[list[Proposal] | None] | None = None,
    now: dt.datetime | None = None,
) -> Prepared:
    """Classify every new-looking message of the batch in one call, draft it and build its rows;
    no DB. `proposals`, per delivery: the triage (and draft) of each of its messages, computed
    already by the web process; None where the batch computes them."""
    now = now or utcnow()
    fresh: list[tuple[int, InboundMessage]] = []
    duplicates = [0] * len(deliveries)
    seen: set[tuple[str, str, str]] = set()
    given: list[Proposal | None] = []  # aligned with `fresh`
    for k, d in enumerate(deliveries):
        ahead = proposals[k] if proposals is not None else None
        for j, m in enumerate(d.parsed.messages):
            if m.key in seen:
                duplicates[k] += 1
            else:
                seen.add(m.key)
                fresh.append((k, m))
                given.append(ahead[j] if ahead is not None else None)
    missing = [i for i, p in enumerate(given) if p is None]
    texts = [fresh[i][1].text for i in missing]
    try:
        found = holder.classify(texts) if texts else []
    except Exception:  # a broken model must not lose messages: they go to "to sort"
        log.exception("classifier failed on a batch of %d; sending it to sort", len(texts))
        found = holder.unsorted(len(texts))
    for i, t in zip(missing, found, strict=True):
        given[i] = Proposal(t)
    message_rows: list[MessageRow] = []
    draft_rows: list[dict[str, Any]] = []
    for (_, m), p in zip(fresh, given, strict=True):
        assert p is not None
        if p.draft is None:
            p = propose(drafter, templates, m, p.triage)
        row = message_row(m, p.triage, now)
        message_rows.append(row)
        draft_rows.append(drafter.draft_row(templates, cast(dict[str, Any], row), now=now, suggested=p.draft))
    return Prepared(now, fresh, message_rows, draft_rows, duplicates, drafter, templates)


def write_batch(
    session: Session,
    deliveries: Sequence[Delivery],
    prepared: Prepared,
    *,
    touched: dict[tuple[str, str], float] | None = None,
    one_statement: bool = False,
) -> list[IngestResult]:
    """Store a prepared batch in the caller's transaction (no commit).

    `touched` remembers when each channel's "last event" was last written, to write it at most
    every few seconds. `one_statement` (PostgreSQL, see `one_statement_fits`): the journal, the
    messages and the drafts go in one statement, which in autocommit is its own transaction."""
    now = prepared.now
    results = [
        IngestResult(ignored=d.parsed.ignored, duplicates=n)
        for d, n in zip(deliveries, prepared.duplicates, strict=True)
    ]
    conn = session.connection()
    # 1. the journal, deduplicated by the digest of the raw body
    rows = [
        {
            "platform": d.platform,
            "digest": d.digest,
            "delivery_id": d.delivery_id,
            "headers": d.headers,
            "body": d.body,
            "message_count": len(d.parsed.messages),
            "received_at": now,
        }
        for d in deliveries
    ]
    unique_rows = list({(r["platform"], r["digest"]): r for r in rows}.values())
    if one_statement:
        # the database keeps the messages of first copies only, and the drafts of new messages
        inserted_events, inserted_messages = INTAKE_CHAIN.run(
            conn,
            unique_rows,
            prepared.message_rows,
            [(deliveries[k].platform, deliveries[k].digest) for k, _ in prepared.fresh],
            prepared.draft_rows,
            [m.key for _, m in prepared.fresh],
        )
    else:
        inserted_events = EVENTS_INSERT.run(conn, unique_rows)
    event_ids = {(p, dg): i for i, p, dg in inserted_events}
    first_copy: dict[int, int] = {}  # delivery index -> its journal id, for first copies only
    for k, d in enumerate(deliveries):
        eid = event_ids.pop((d.platform, d.digest), None)
        if eid is None:  # a redelivered body: its messages were stored with its first copy
            results[k].duplicate_delivery = True
            results[k].duplicates = len(d.parsed.messages)
        else:
            first_copy[k] = eid

    # 2. messages (deduplicated by their unique constraint), then one draft for each new one
    chosen = []
    for (k, m), row, draft in zip(prepared.fresh, prepared.message_rows, prepared.draft_rows, strict=True):
        if k in first_copy:
            row["event_id"] = first_copy[k]
            chosen.append((k, m, row, draft))
    if not one_statement:
        inserted_messages = MESSAGES_INSERT.run(conn, [c[2] for c in chosen])
    ids = {(p, a, e): i for i, p, a, e in inserted_messages}
    drafts = []
    authors: list[conversation.NewMessage] = []
    threaded: list[int] = []
    for k, m, _, draft in chosen:
        mid = ids.get(m.key)
        if mid is None:
            results[k].duplicates += 1
            continue
        results[k].stored += 1
        results[k].message_ids.append(mid)
        drafts.append({**draft, "message_id": mid})
        if m.author_id is not None:
            authors.append((mid, m.platform, m.account_id, m.author_id))
        if m.conversation_id is not None:
            threaded.append(mid)
    if not one_statement:
        drafts_service.DRAFTS_INSERT.run(conn, drafts)
    team.inherit(session, threaded)  # a new message of an assigned conversation is that person's
    if prepared.drafter is not None and authors:
        # a returning customer's draft is rendered again in its conversation (one query otherwise)
        conversation.redraft_returning(
            session, drafter=prepared.drafter, new=authors, templates=prepared.templates
        )

    _apply_deletions(session, deliveries, now)
    _record_echoes(session, deliveries, now)
    _touch_channels(session, deliveries, now, touched)
    return results


def one_statement_fits(
    dialect: str, deliveries: Sequence[Delivery], touched: dict[tuple[str, str], float] | None
) -> bool:
    """Whether `write_batch` can write the batch as one statement: on PostgreSQL, when the batch
    deletes nothing, records none of our own posts and has no channel's "last event" due."""
    return (
        dialect == "postgresql"
        and not any(d.parsed.deletions or d.parsed.own for d in deliveries)
        and not _due_channels(deliveries, touched)
    )


def _apply_deletions(session: Session, deliveries: Sequence[Delivery], now: dt.datetime) -> None:
    for d in deliveries:
        for platform, account, external_id in d.parsed.deletions:
            mid = session.execute(
                update(Message)
                .where(
                    Message.platform == platform,
                    Message.account_id == account,
                    Message.external_id == external_id,
                    Message.deleted_at.is_(None),
                )
                .values(deleted_at=now)
                .returning(Message.id)
            ).scalar()
            if mid is not None:
                review_service.withdraw(session, message_id=mid, reason="deleted on the platform", now=now)


def _record_echoes(session: Session, deliveries: Sequence[Delivery], now: dt.datetime) -> None:
    rows = {
        (o.platform, o.account_id, o.external_id): {
            "platform": o.platform,
            "account_id": o.account_id,
            "external_id": o.external_id,
            "in_reply_to": o.in_reply_to,
            "text": o.text,
            "seen_at": now,
            "conversation_id": o.conversation_id,
            "created_at": o.created_at,
        }
        for d in deliveries
        for o in d.parsed.own
    }
    if rows:
        session.execute(insert_ignore(session, Echo.__table__), list(rows.values()))


TOUCH_EVERY_S = 5.0  # "last event received" is kept to within a few seconds, not rewritten per batch


def _due_channels(
    deliveries: Sequence[Delivery], touched: dict[tuple[str, str], float] | None
) -> set[tuple[str, str]]:
    """The (platform, account) whose "last event received" is to be written now."""
    accounts = {(m.platform, m.account_id) for d in deliveries for m in d.parsed.messages}
    if touched is not None:
        mono = time.monotonic()
        accounts = {a for a in accounts if mono - touched.get(a, -TOUCH_EVERY_S) >= TOUCH_EVERY_S}
    return accounts


def _touch_channels(
    session: Session,
    deliveries: Sequence[Delivery],
    now: dt.datetime,
    touched: dict[tuple[str, str], float] | None,
) -> None:
    accounts = _due_channels(deliveries, touched)
    if not accounts:
        return
    dialect = session.get_bind().dialect.name
    table = cast(Table, Channel.__table__)
    ins: Any = postgresql.insert(table) if dialect == "postgresql" else sqlite.insert(table)
    stmt = ins.values(
        [
            {"platform": p, "account_id": a, "last_event_at": now, "paused": False, "token_state": "unknown"}
            for p, a in sorted(accounts)
        ]
    )
    session.execute(
        stmt.on_conflict_do_update(index_elements=["platform", "account_id"], set_={"last_event_at": now})
    )
    if touched is not None:
        mono = time.monotonic()
        touched.update((a, mono) for a in accounts)
