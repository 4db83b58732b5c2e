"""The ingest pipeline: authentic deliveries in, messages, predictions and drafts stored, once.

    request ─ read body (bounded) ─ verify signature ─ adapter.parse ─┐   (per request, no DB)
                                                                       ▼
    Intake.submit ── queue ── one batch: a few ms or `ingest_batch_max` deliveries
                                   │  one transaction (`store_batch`):
                                   │    events  INSERT .. ON CONFLICT DO NOTHING   (journal, by digest)
                                   │    messages INSERT .. ON CONFLICT DO NOTHING  (platform, account, id)
                                   │    one classifier call for the whole batch
                                   │    drafts + their "proposed" audit events
                                   │    deletions, echoes of our own posts, channel health
                                   ▼  COMMIT
    every waiting request gets its result; only then does its 200 leave.

Deduplication is the database's unique constraints, never a check-then-insert, so the same
delivery sent five times at once, to one process or to several, gives one message. If a batch
fails, its deliveries are retried one by one so one bad delivery cannot sink the others; if the
database is down, every waiting request gets `DatabaseUnavailable` and answers 503.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from app import db, metrics
from app.bulk import BulkInsert, ChainedInsert
from app.drafts import service as drafts_service
from app.models import Channel, Echo, Event, Message, utcnow
from app.platforms.types import InboundMessage, Parsed
from app.triage import ModelHolder, Triage

log = logging.getLogger("relais.intake")


class DatabaseUnavailable(Exception):
    """The delivery could not be made durable: answer 503 so the platform retries."""


@dataclass(slots=True)
class Delivery:
    platform: str
    digest: str
    delivery_id: str | None
    headers: dict[str, str]
    body: bytes
    parsed: Parsed
    # the triage of each of parsed.messages when the web process classified them already
    # (`IntakeClient`); None: classify here
    triages: list[Triage] | None = None
    # and the draft (text, template id) it rendered for each from that triage (the intake process
    # then only writes); None: draft here
    drafts: list[tuple[str, int | None]] | None = None


@dataclass(slots=True)
class IngestResult:
    stored: int = 0
    duplicates: int = 0
    ignored: int = 0
    duplicate_delivery: bool = False
    message_ids: list[int] = field(default_factory=list)


def insert_ignore(session: Session, table: Any) -> Any:
    """`INSERT .. ON CONFLICT DO NOTHING` for the session's dialect."""
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(table).on_conflict_do_nothing()
    return sqlite.insert(table).on_conflict_do_nothing()


EVENTS_INSERT = BulkInsert(
    Event.__table__,
    ["platform", "digest", "delivery_id", "headers", "body", "message_count", "received_at"],
    returning=["id", "platform", "digest"],
)
MESSAGES_INSERT = BulkInsert(
    Message.__table__,
    [
        "platform",
        "account_id",
        "external_id",
        "kind",
        "channel",
        "conversation_id",
        "reply_to_id",
        "parent_id",
        "author_id",
        "author_name",
        "author_handle",
        "text",
        "extra",
        "created_at",
        "received_at",
        "event_id",
        "language",
        "category",
        "predicted_category",
        "confidence",
        "scores",
        "model_version",
        "to_sort",
    ],
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
    message_rows: list[dict[str, Any]]  # aligned with `fresh`; event_id is filled in at write time
    draft_rows: list[dict[str, Any]]  # aligned with `fresh`; message_id is filled in at write time
    duplicates: list[int]  # per delivery: messages repeated within this batch


def prepare_batch(
    deliveries: Sequence[Delivery],
    *,
    holder: ModelHolder,
    drafter: drafts_service.Drafter,
    templates: Sequence[Any],
    now: dt.datetime | None = None,
) -> Prepared:
    """Classify every new-looking message of the batch in one call (those the web process has not
    classified already: `Delivery.triages`) and render its draft (unless the web process did:
    `Delivery.drafts`); no DB."""
    now = now or utcnow()
    fresh: list[tuple[int, InboundMessage]] = []
    duplicates = [0] * len(deliveries)
    seen: set[tuple[str, str, str]] = set()
    given: list[Triage | None] = []  # aligned with `fresh`: the web process's triage, if any
    drafted: list[tuple[str, int | None] | None] = []  # and its draft
    for k, d in enumerate(deliveries):
        for j, m in enumerate(d.parsed.messages):
            if m.key in seen:
                duplicates[k] += 1
            else:
                seen.add(m.key)
                fresh.append((k, m))
                given.append(d.triages[j] if d.triages is not None else None)
                drafted.append(d.drafts[j] if d.drafts is not None and d.triages is not None else None)
    missing = [i for i, t in enumerate(given) if t is None]
    texts = [fresh[i][1].text for i in missing]
    try:
        found = holder.classify(texts) if texts else []
    except Exception:  # a broken model must not lose messages: they go to "to sort"
        log.exception("classifier failed on a batch of %d; sending it to sort", len(texts))
        found = holder.unsorted(len(texts))
    for i, t in zip(missing, found, strict=True):
        given[i] = t
    triages = [t for t in given if t is not None]
    message_rows, draft_rows = [], []
    for (_, m), t, suggested in zip(fresh, triages, drafted, strict=True):
        row = {
            "platform": m.platform,
            "account_id": m.account_id,
            "external_id": m.external_id,
            "kind": m.kind,
            "channel": m.channel,
            "conversation_id": m.conversation_id,
            "reply_to_id": m.reply_to_id,
            "parent_id": m.parent_id,
            "author_id": m.author_id,
            "author_name": m.author_name,
            "author_handle": m.author_handle,
            "text": m.text,
            "extra": m.extra,
            "created_at": m.created_at,
            "received_at": now,
            "event_id": None,
            "language": t.language,
            "category": t.category,
            "predicted_category": t.category,
            "confidence": t.confidence,
            "scores": t.scores,
            "model_version": t.model_version,
            "to_sort": t.to_sort,
        }
        message_rows.append(row)
        draft_rows.append(drafter.draft_row(templates, row, now=now, suggested=suggested))
    return Prepared(now, fresh, message_rows, draft_rows, duplicates)


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
    for k, m, _, draft in chosen:
        mid = ids.get(m.key)
        if mid is None:
            results[k].duplicates += 1
            continue
        results[k].stored += 1
        results[k].message_ids.append(mid)
        drafts.append({**draft, "message_id": mid})
    if not one_statement:
        drafts_service.DRAFTS_INSERT.run(conn, drafts)

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


def store_batch(
    session: Session,
    deliveries: Sequence[Delivery],
    *,
    holder: ModelHolder,
    drafter: drafts_service.Drafter,
    touched: dict[tuple[str, str], float] | None = None,
) -> list[IngestResult]:
    """Prepare and write a batch in the caller's transaction (flush only, no commit)."""
    prepared = prepare_batch(deliveries, holder=holder, drafter=drafter, templates=drafter.templates(session))
    return write_batch(session, deliveries, prepared, touched=touched)


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
                drafts_service.withdraw(session, message_id=mid, reason="deleted on the platform", now=now)


def _record_echoes(session: Session, deliveries: Sequence[Delivery], now: dt.datetime) -> None:
    rows = {
        (o.platform, o.account_id, o.external_id): {
            "platform": o.platform,
            "account_id": o.account_id,
            "external_id": o.external_id,
            "in_reply_to": o.in_reply_to,
            "text": o.text,
            "seen_at": now,
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
    ins: Any = (
        postgresql.insert(Channel.__table__) if dialect == "postgresql" else sqlite.insert(Channel.__table__)
    )
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


class Intake:
    """Groups concurrent deliveries into one transaction and one classifier call, in two stages
    that overlap: while batch N is written and committed, batch N+1 is classified and drafted."""

    def __init__(
        self,
        factory: sessionmaker[Session],
        holder: ModelHolder,
        drafter: drafts_service.Drafter,
        *,
        read_factory: sessionmaker[Session] | None = None,
        max_batch: int = 256,
        wait_ms: float = 2.0,
    ):
        self.factory = factory
        self.read_factory = read_factory or factory
        self.holder = holder
        self.drafter = drafter
        self.max_batch = max_batch
        self.wait_s = wait_ms / 1000
        self._queue: asyncio.Queue[tuple[Delivery, asyncio.Future[IngestResult]]] | None = None
        self._writes: (
            asyncio.Queue[tuple[list[tuple[Delivery, asyncio.Future[IngestResult]]], Any]] | None
        ) = None
        self._tasks: list[asyncio.Task[None]] = []
        self._touched: dict[tuple[str, str], float] = {}
        # PostgreSQL: the connection one-statement batches are written on, in autocommit, kept
        # checked out (no pool checkout, ping and reset per batch); dropped after any error
        self._held: Connection | None = None
        self._held_lock = threading.Lock()  # one user at a time; the others take the pool's
        # the writer has a thread of its own: SQLite has one writer, and ordering stays simple
        self._write_thread = ThreadPoolExecutor(1, thread_name_prefix="relais-intake-write")

    async def start(self) -> None:
        self._queue = asyncio.Queue()
        self._writes = asyncio.Queue(maxsize=2)
        self._tasks = [
            asyncio.create_task(self._collect(), name="relais-intake-collect"),
            asyncio.create_task(self._write(), name="relais-intake-write"),
        ]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        # anything not committed is answered 503: the platform will deliver it again
        pending: list[asyncio.Future[IngestResult]] = []
        while self._writes is not None and not self._writes.empty():
            pending += [f for _, f in self._writes.get_nowait()[0]]
        while self._queue is not None and not self._queue.empty():
            pending.append(self._queue.get_nowait()[1])
        for fut in pending:
            if not fut.done():
                fut.set_exception(DatabaseUnavailable("shutting down"))
        self._write_thread.shutdown(wait=True)
        self.close()

    async def submit(self, delivery: Delivery) -> IngestResult:
        """Return once the delivery is committed; raise DatabaseUnavailable if it cannot be."""
        if self._queue is None:
            return await asyncio.to_thread(self._commit_one, delivery)
        fut: asyncio.Future[IngestResult] = asyncio.get_running_loop().create_future()
        await self._queue.put((delivery, fut))
        return await fut

    async def _collect(self) -> None:
        assert self._queue is not None and self._writes is not None
        queue = self._queue
        loop = asyncio.get_running_loop()
        while True:
            batch = [await queue.get()]
            deadline = loop.time() + self.wait_s
            while len(batch) < self.max_batch:
                if queue.empty():
                    remaining = deadline - loop.time()
                    if remaining <= 0:
                        break
                    try:
                        batch.append(await asyncio.wait_for(queue.get(), remaining))
                    except TimeoutError:
                        break
                else:
                    batch.append(queue.get_nowait())
            try:
                prepared: Any = await asyncio.to_thread(self.prepare, [d for d, _ in batch])
            except Exception as e:  # never let the loop die
                log.exception("preparing an intake batch failed")
                prepared = e
            await self._writes.put((batch, prepared))

    async def _write(self) -> None:
        assert self._writes is not None
        loop = asyncio.get_running_loop()
        while True:
            batch, prepared = await self._writes.get()
            deliveries = [d for d, _ in batch]
            try:
                if isinstance(prepared, BaseException):
                    raise prepared
                outcomes = await loop.run_in_executor(self._write_thread, self.commit, deliveries, prepared)
            except Exception as e:
                log.exception("intake batch failed")
                outcomes = [DatabaseUnavailable(str(e))] * len(batch)
            for (_, fut), outcome in zip(batch, outcomes, strict=True):
                if fut.done():
                    continue
                if isinstance(outcome, BaseException):
                    fut.set_exception(outcome)
                else:
                    fut.set_result(outcome)

    def prepare(self, deliveries: list[Delivery]) -> Prepared:
        """Stage one, off the database: classify and draft a batch."""
        started = time.perf_counter()
        templates = self.drafter.cached_templates()
        if templates is None:
            session = self.read_factory()
            try:
                templates = self.drafter.templates(session)
            finally:
                session.close()
        prepared = prepare_batch(deliveries, holder=self.holder, drafter=self.drafter, templates=templates)
        metrics.INGEST_PREPARE.observe(time.perf_counter() - started)
        return prepared

    def commit(self, deliveries: list[Delivery], prepared: Prepared) -> list[IngestResult | BaseException]:
        """Stage two: write and commit a prepared batch; one outcome per delivery."""
        started = time.perf_counter()
        try:
            results: list[IngestResult | BaseException] = list(self._store(deliveries, prepared))
        except (OperationalError, DBAPIError) as e:
            if len(deliveries) == 1 or _is_outage(e):
                log.warning(
                    "database unavailable for %d deliveries: %s", len(deliveries), e.__class__.__name__
                )
                return [DatabaseUnavailable(str(e.orig) if hasattr(e, "orig") else str(e))] * len(deliveries)
            results = [self._commit_isolated(d) for d in deliveries]
        except Exception:
            if len(deliveries) == 1:
                raise
            log.exception("batch of %d failed; retrying one by one", len(deliveries))
            results = [self._commit_isolated(d) for d in deliveries]
        metrics.INGEST_BATCH.observe(len(deliveries))
        metrics.INGEST_COMMIT.observe(time.perf_counter() - started)
        return results

    def _commit_isolated(self, delivery: Delivery) -> IngestResult | BaseException:
        try:
            return self._store([delivery], self.prepare([delivery]))[0]
        except (OperationalError, DBAPIError) as e:
            return DatabaseUnavailable(str(e))
        except Exception as e:
            log.exception("delivery %s/%s could not be stored", delivery.platform, delivery.digest[:12])
            return e

    def _commit_one(self, delivery: Delivery) -> IngestResult:
        out = self.commit([delivery], self.prepare([delivery]))[0]
        if isinstance(out, BaseException):
            raise out
        return out

    def _store(self, deliveries: list[Delivery], prepared: Prepared) -> list[IngestResult]:
        engine = self.factory.kw["bind"]
        if one_statement_fits(engine.dialect.name, deliveries, self._touched) and self._held_lock.acquire(
            blocking=False
        ):
            # no BEGIN and COMMIT round trips: the one statement is its own transaction
            try:
                if self._held is None:
                    self._held = engine.connect().execution_options(isolation_level="AUTOCOMMIT")
                with Session(bind=self._held) as session:
                    results = write_batch(
                        session, deliveries, prepared, touched=self._touched, one_statement=True
                    )
                    session.commit()
                    return results
            except BaseException:
                self._release_held()  # the next batch checks out a connection anew (pinged)
                raise
            finally:
                self._held_lock.release()
        with db.transaction(self.factory) as session:
            return write_batch(session, deliveries, prepared, touched=self._touched)

    def _release_held(self) -> None:
        held, self._held = self._held, None
        if held is not None:
            with contextlib.suppress(Exception):
                held.close()

    def close(self) -> None:
        """Give back the connection kept for one-statement batches."""
        with self._held_lock:
            self._release_held()


def _is_outage(e: Exception) -> bool:
    """A connection or lock failure affects every delivery of the batch alike."""
    text = str(getattr(e, "orig", e)).lower()
    return any(
        s in text
        for s in (
            "connection",
            "could not connect",
            "database is locked",
            "server closed",
            "unable to open",
            "disk i/o",
            "terminating",
            "readonly",
        )
    )
