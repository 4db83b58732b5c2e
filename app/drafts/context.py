"""The context pass: after intake, in the background, what a message's draft needs from outside
the message itself, then its pending draft rendered again.

- the sender's name, for Messenger and Instagram DMs (their webhooks carry none), from the
  platform's profile look-up (`Platform.lookup_profile`), with a short timeout;
- the language of a message too short to tell, from its conversation or its author (app/language.py);
- its category read again (`REFINE`): the contextual encoder's embedding pooled with the intake's
  pipeline (`ModelHolder.refine`, classifier/refine.py), tens of milliseconds a message, in one
  batch per round. A changed category moves the draft in the queue and re-suggests it; a message
  a reviewer has relabelled, claimed or decided keeps what it has.

The encoding runs on a helper thread at the lowest CPU priority (Linux niceness is per thread);
the pass's own thread, which holds SQLite's write lock while it stores a round, keeps the normal
priority, so a descheduled low-priority thread never holds the lock a reviewer or the intake
waits for. Under a burst of webhooks the pass of a server process also waits (`busy`: a
delivery within the last `QUIET_S`): its rounds hold the GIL and the write lock between
encodings, which showed in the intake's p99 (docs/experiments/triage.md). The marks wait in the
database meanwhile.

The details a returning customer gave earlier (an order number...) need no pass: the intake renders
their draft in its conversation already (`app.review.conversation.redraft_returning`, one query a
batch).

Intake stays fast: it only marks what a message needs (`messages.context_due`, a bit per need, in a
partial index) and drafts with what it has. The pass claims marked messages with a conditional
update (several workers on PostgreSQL take different rows), makes the look-ups with no transaction
open, then updates the message and re-renders its draft if nobody has touched it yet (pending,
unedited, unclaimed), moving the draft's version on. A failed or slow look-up means no name, never
an error; the message is not tried again.

Names are cached per sender: the database is the lasting cache (the sender's latest message that
has a name), and a memory cache of `profile_cache_s` holds the answers of the platform, failures
included, so that a sender without a name is not looked up for each of their messages.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from app import audit, db, language, platforms
from app.config import Settings
from app.drafts.service import Drafter
from app.intake.types import Intake
from app.models import Correction, Draft, Message, priority_of, utcnow
from app.polling import Polling
from app.triage import ModelHolder, Triage

log = logging.getLogger("relais.context")

LANGUAGE = 1  # too short to tell its language
NAME = 2  # a DM without the sender's name
# 4 was "details given earlier": the intake's redraft_returning does it; old marks are just cleared
REFINE = 8  # to be read again with the encoder
QUIET_S = 0.25

PROFILE_CHANNELS = frozenset({"messenger", "instagram"})
CACHE_MAX = 10_000


def due(message: Any, triage: Triage) -> int:
    """What a new message needs from the context pass (bits), decided at intake without a database."""
    needs = LANGUAGE if triage.language_fallback else 0
    if triage.refine:
        needs |= REFINE
    if (
        message.kind == "dm"
        and message.channel in PROFILE_CHANNELS
        and message.author_id
        and not message.author_name
        and platforms.get(message.platform) is not None
    ):
        needs |= NAME
    return needs


class ContextPass(Polling):
    """Claims messages marked at intake, completes them and re-renders their drafts."""

    name = "relais-context"
    failure = "context pass failed"

    def __init__(
        self,
        settings: Settings,
        factory: sessionmaker[Session],
        drafter: Drafter | None = None,
        *,
        holder: ModelHolder | None = None,
        busy: Callable[[], bool] | None = None,
        batch: int = 32,
        client: httpx.Client | None = None,
    ):
        super().__init__(settings.context_poll_interval_s, log)
        self.settings = settings
        self.factory = factory
        self.drafter = drafter or Drafter(settings)
        self.holder = holder
        self.busy = busy
        self.batch = batch
        self.client = client or httpx.Client(
            timeout=httpx.Timeout(settings.profile_lookup_timeout_s),
            follow_redirects=False,
            headers={"User-Agent": "Relais/0.1"},
        )
        # the encoder's thread, at the lowest priority, made by the first round that refines
        self._encoding: ThreadPoolExecutor | None = None
        # (platform, account, author) -> (name or None, expiry on the monotonic clock)
        self._names: dict[tuple[str, str, str], tuple[str | None, float]] = {}

    def stop(self, timeout: float = 5.0) -> None:
        self.join(timeout)
        self.client.close()
        if self._encoding is not None:
            self._encoding.shutdown(wait=False, cancel_futures=True)

    def run_once(self) -> int:
        """Complete the messages marked now; returns how many were claimed."""
        if self.busy is not None and self.busy():
            return 0  # the intake first: the marks wait for a quiet moment
        with db.transaction(self.factory) as session:
            marked = session.execute(
                select(Message.id, Message.context_due)
                .where(Message.context_due > 0)
                .order_by(Message.id)
                .limit(self.batch)
            ).all()
            if not marked:
                return 0
            claimed = set(
                session.scalars(
                    update(Message)
                    .where(Message.id.in_([i for i, _ in marked]), Message.context_due > 0)
                    .values(context_due=0)
                    .returning(Message.id)
                ).all()
            )
        refined = self._refined([i for i, needs in marked if i in claimed and needs & REFINE])
        mine = [(i, needs) for i, needs in marked if i in claimed]
        for done, (message_id, needs) in enumerate(mine):
            if self.stopping or (self.busy is not None and self.busy()):
                self._mark_again(mine[done:])  # deliveries came in meanwhile: finish later
                break
            try:
                self.complete(message_id, needs, refined.get(message_id))
            except Exception:  # one message's trouble never stops the others
                log.exception("context of message %s not completed", message_id)
        return len(claimed)

    def _mark_again(self, left: list[tuple[int, int]]) -> None:
        """Give claimed messages their marks back, for a later round."""
        with db.transaction(self.factory) as session:
            for message_id, needs in left:
                session.execute(update(Message).where(Message.id == message_id).values(context_due=needs))

    def _refined(self, ids: list[int]) -> dict[int, Triage]:
        """The refined triage of these messages, in one encoder batch ({} without a holder)."""
        if not ids or self.holder is None:
            return {}
        with self.factory() as session:
            rows = session.execute(select(Message.id, Message.text).where(Message.id.in_(ids))).all()
        if self._encoding is None:
            self._encoding = ThreadPoolExecutor(1, "relais-refine", initializer=lowest_priority)
        try:
            found = self._encoding.submit(self.holder.refine, [text for _, text in rows]).result()
        except Exception:  # the intake's category stays: refining is a second opinion
            log.exception("refining %s messages failed", len(rows))
            return {}
        return {} if found is None else {mid: t for (mid, _), t in zip(rows, found, strict=True)}

    # -- one message ----------------------------------------------------------------------------
    def complete(self, message_id: int, needs: int, refined: Triage | None = None) -> None:
        """Fill in what message `message_id` needs, then re-render its untouched draft."""
        name = None
        if needs & NAME:
            with db.transaction(self.factory) as session:
                m = session.get(Message, message_id)
                key = (m.platform, m.account_id, m.author_id) if m is not None and m.author_id else None
                channel = m.channel if m is not None else ""
                name = self._stored_name(session, m) if m is not None and key is not None else None
            if key is not None and name is None:
                name = self._looked_up(key, channel)
        with db.transaction(self.factory) as session:
            m = session.get(Message, message_id)
            if m is None or m.deleted_at is not None:
                return
            changes: dict[str, Any] = {}
            if name and not m.author_name:
                m.author_name = changes["name"] = name
            if needs & LANGUAGE:
                found = language.from_context(session, m)
                if found is not None and found != m.language:
                    m.language = changes["language"] = found
            if refined is not None and self._recategorise(session, m, refined):
                changes["category"] = m.category
            if changes:
                self._redraft(session, m, changes)

    def _recategorise(self, session: Session, m: Message, refined: Triage) -> bool:
        """Store the refined triage unless a reviewer got there first; True when the category or
        *to sort* changed. The draft's copies follow (queue place, *to sort*)."""
        d = session.scalar(select(Draft).where(Draft.message_id == m.id))
        now = utcnow()
        if d is not None and (
            d.status != "pending"
            or (d.claimed_by is not None and d.claimed_until is not None and d.claimed_until > now)
        ):
            return False
        if m.category != m.predicted_category or session.scalar(
            select(Correction.id).where(Correction.message_id == m.id).limit(1)
        ):
            return False  # relabelled by a reviewer
        # a message left *to sort* at intake and sure now needs its draft text, even in the same category
        changed = refined.category != m.category or refined.to_sort != m.to_sort
        m.category = m.predicted_category = refined.category
        m.confidence, m.scores, m.to_sort = refined.confidence, refined.scores, refined.to_sort
        if d is not None:
            d.category, d.to_sort, d.priority = m.category, m.to_sort, priority_of(m.category)
            d.updated_at = now
        return changed

    def _stored_name(self, session: Session, m: Message) -> str | None:
        """The sender's name from their latest message that has one (the lasting cache)."""
        return session.scalar(
            select(Message.author_name)
            .where(
                Message.platform == m.platform,
                Message.author_id == m.author_id,
                Message.account_id == m.account_id,
                Message.author_name.is_not(None),
                Message.author_name != "",
            )
            .order_by(Message.received_at.desc())
            .limit(1)
        )

    def _looked_up(self, key: tuple[str, str, str], channel: str) -> str | None:
        """The platform's answer for this sender, from memory while fresh; None on any failure."""
        now = time.monotonic()
        cached = self._names.get(key)
        if cached is not None and cached[1] > now:
            return cached[0]
        platform = platforms.get(key[0])
        name = None
        if platform is not None:
            try:
                profile = platform.lookup_profile(
                    self.client, self.settings, account_id=key[1], author_id=key[2], channel=channel
                )
                name = profile.name if profile is not None else None
            except Exception:  # a look-up must never fail the message
                log.warning("profile look-up failed for %s/%s", key[0], channel, exc_info=True)
        if len(self._names) >= CACHE_MAX:
            self._names = {k: v for k, v in self._names.items() if v[1] > now}
            if len(self._names) >= CACHE_MAX:
                self._names.clear()
        self._names[key] = (name, now + self.settings.profile_cache_s)
        return name

    def _redraft(self, session: Session, m: Message, changes: dict[str, Any]) -> None:
        """Render the message's draft again if nobody has touched it; its language copy follows."""
        now = utcnow()
        d = session.scalar(select(Draft).where(Draft.message_id == m.id))
        if d is None or d.status != "pending" or d.edited or d.final_text is not None:
            return
        if d.claimed_by is not None and d.claimed_until is not None and d.claimed_until > now:
            return  # a reviewer is on it: the text stays what they see
        text, template_id = d.text, d.template_id
        source = (d.source_kind, d.source_id, d.source_score) if d.source_kind else None
        if not m.spam:  # as intake drafts: a message *to sort* gets no template, an answer or past reply yes
            from app.review import conversation  # the conversation reads drafts: imported late

            text, template_id, source = self.drafter.suggest_for(
                self.drafter.templates(session),
                m,
                category=m.category,
                language=m.language,
                to_sort=m.to_sort,
                conversation=conversation.context(session, m),
            )
        if text == d.text and template_id == d.template_id and m.language == d.language:
            return
        changed = db.changed(
            session,
            update(Draft)
            .where(Draft.id == d.id, Draft.version == d.version, Draft.status == "pending")
            .values(
                text=text,
                template_id=template_id,
                source_kind=source[0] if source else None,
                source_id=source[1] if source else None,
                source_score=source[2] if source else None,
                language=m.language,
                version=Draft.version + 1,
                updated_at=now,
            )
            .execution_options(synchronize_session=False),
        )
        if changed == 1:
            audit.record(session, d.id, "completed", None, now, **changes)


def lowest_priority() -> None:
    """This thread at the lowest CPU priority (Linux: niceness is per thread; elsewhere nothing)."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)
    except (AttributeError, OSError):  # not Linux, or not allowed: run at the normal priority
        log.debug("could not lower the context pass's priority", exc_info=True)


def started(
    settings: Settings,
    factory: sessionmaker[Session],
    drafter: Drafter | None = None,
    holder: ModelHolder | None = None,
    intake: Intake | None = None,
) -> ContextPass:
    """A context pass running on a thread of its own, waiting while `intake` is busy."""

    def busy() -> bool:
        return intake is not None and time.monotonic() - intake.last_submit < QUIET_S

    context = ContextPass(settings, factory, drafter, holder=holder, busy=busy)
    context.start_thread()
    return context
