"""Drafts: proposed for every message, decided by a human, with a full audit trail.

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
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.sparse import vstack
from sklearn.feature_extraction.text import HashingVectorizer
from sklearn.preprocessing import normalize
from sqlalchemy import func, or_, select, tuple_, update
from sqlalchemy.orm import Session

from app import audit, db
from app.config import Settings
from app.drafts import similar
from app.errors import BadRequest, Conflict, Invalid, NotFound
from app.intake.bulk import BulkInsert
from app.models import CATEGORIES, Correction, Draft, DraftEvent, Message, ReplyTemplate, priority_of, utcnow
from app.outbox import service as outbox
from app.reply_templates import rendering as tpl

STATUSES = ("pending", "approved", "rejected", "sent", "failed", "withdrawn")
MAX_PAGE = 200


DRAFTS_INSERT = BulkInsert(
    Draft.__table__,
    [
        "message_id",
        "version",
        "status",
        "text",
        "template_id",
        "source_kind",
        "source_id",
        "source_score",
        "suggestions",
        "edited",
        "priority",
        "received_at",
        "category",
        "platform",
        "language",
        "to_sort",
        "created_at",
        "updated_at",
    ],
    ignore_conflicts=False,
)


# Drafting claims an answer or a past reply only above these cosines (title/examples, past
# message); below, the category template. Chosen on data: bench/reply_quality.py.
ANSWER_THRESHOLD = 0.35
PAST_THRESHOLD = 0.05
PAST_NEIGHBOURS = 10  # the past replies to the most similar messages, among which the draft is chosen
TYPICAL = 20  # and the team's most typical replies of the language, as candidates beside them
TYPICAL_SAMPLE = 2000
NAME = "\x00"

# (kind, id, score): "answer" and an answer id, "past_reply" and a draft id, "template" and its id
Source = tuple[str, int, float]
# a draft's (text, template id, source)
Suggestion = tuple[str, int | None, Source | None]

_REPLY_VECTORS = HashingVectorizer(
    analyzer="char", ngram_range=(1, 6), lowercase=False, alternate_sign=False, n_features=2**20
)


def _masked(past: similar.Past) -> str:
    """The past reply with its customer's first name replaced by a marker."""
    old = tpl.first_name(past.author_name)
    if not old:
        return past.reply
    return re.sub(r"\b" + re.escape(old) + r"\b", NAME, past.reply, flags=re.IGNORECASE)


_GREETING = re.compile(r"^(Bonjour|Bonsoir|Salut|Hello|Hi)\s*([,!])", re.IGNORECASE)


def _with_name(masked: str, first_name: str) -> str:
    """The masked reply greeting this customer (no name: "Bonjour Jules, oui" -> "Bonjour, oui";
    a reply that greeted nobody by name, "Bonjour, ...", greets this customer by theirs)."""
    if not first_name:
        return re.sub(r"[ \t]*" + NAME, "", masked).strip()
    if first_name.isupper() or first_name.islower():
        first_name = first_name.capitalize()
    if NAME not in masked:
        return _GREETING.sub(lambda m: f"{m.group(1)} {first_name}{m.group(2)}", masked, count=1)
    return masked.replace(NAME, first_name)


class Drafter:
    """Drafts new messages (inside the intake transaction) from the best source there is: a
    knowledge-base answer that matches, else the team's approved replies to similar messages,
    else the category's template. The answers and past replies are indexed in memory and caught
    up with the database whenever the templates are read again."""

    def __init__(self, settings: Settings, *, cache_s: float = 1.0):
        self.settings = settings
        self.cache_s = cache_s
        self._cache: tuple[float, list[tpl.TemplateRow]] | None = None
        self.past = similar.PastReplies()
        self.answers = similar.AnswerIndex()
        self._vectors: dict[int, Any] = {}
        self._typical: dict[str, tuple[int, list[similar.Past]]] = {}

    def templates(self, session: Session, *, fresh: bool = False) -> list[tpl.TemplateRow]:
        """Enabled templates; cached for `cache_s` so that intake batches do not read them each
        time. Each read also catches the answers and past replies up."""
        cached = self._cache
        if not fresh and cached is not None and time.monotonic() - cached[0] < self.cache_s:
            return cached[1]
        rows = session.execute(
            select(
                ReplyTemplate.id,
                ReplyTemplate.version,
                ReplyTemplate.name,
                ReplyTemplate.category,
                ReplyTemplate.language,
                ReplyTemplate.channel_kind,
                ReplyTemplate.register,
                ReplyTemplate.body,
            ).where(ReplyTemplate.enabled.is_(True))
        ).all()
        templates = [tpl.TemplateRow(*r) for r in rows]
        self.answers.refresh(session)
        self.past.refresh(session)
        self._cache = (time.monotonic(), templates)
        return templates

    def _vectors_of(self, pasts: Sequence[similar.Past], masked: Sequence[str]) -> Any:
        """The replies' character n-gram vectors (L2-normalised), cached by past reply; the
        missing ones are computed in one call."""
        missing = [i for i, p in enumerate(pasts) if p.id not in self._vectors]
        if missing:
            if len(self._vectors) > 50_000:
                self._vectors.clear()
            computed = normalize(_REPLY_VECTORS.transform([masked[i] for i in missing]))
            for row, i in enumerate(missing):
                self._vectors[pasts[i].id] = computed[row]
        return vstack([self._vectors[p.id] for p in pasts])

    def typical(self, language: str | None) -> list[similar.Past]:
        """The language's most typical replies (closest to all the recent others), recomputed
        when the history has grown by a tenth."""
        key, size = language or "", self.past.size(language)
        known = self._typical.get(key)
        if known is not None and size < known[0] * 1.1 + 10:
            return known[1]
        recent = list(self.past.recent(language, TYPICAL_SAMPLE))
        if not recent:
            return []
        matrix = normalize(_REPLY_VECTORS.transform([_masked(p) for p in recent]))
        centre = np.asarray(matrix.mean(axis=0)).ravel()
        closeness = matrix @ centre
        chosen = [recent[int(i)] for i in np.argsort(-closeness)[:TYPICAL]]
        self._typical[key] = (size, chosen)
        return chosen

    def past_reply(
        self, text: str, *, language: str | None, register: str, first_name: str
    ) -> tuple[str, int, float] | None:
        """The team's reply for the most similar past messages, adapted to this customer:
        among the replies to the nearest messages and the most typical ones, the one closest to
        the nearest messages' replies, in the customer's register, greeting this customer."""
        hits = self.past.nearest(text, language, PAST_NEIGHBOURS)
        if not hits or hits[0][1] < PAST_THRESHOLD:
            return None
        neighbours = [p for p, _ in hits]
        seen = {p.id for p in neighbours}
        candidates = neighbours + [p for p in self.typical(language) if p.id not in seen]
        if language == "fr":
            same = [p for p in candidates if tpl.register_of(p.reply, "vous") == register]
            candidates = same or candidates
        masked = [_masked(p) for p in candidates]
        vectors = self._vectors_of(candidates, masked)
        near = self._vectors_of(neighbours, [_masked(p) for p in neighbours])
        closeness = np.asarray((vectors @ near.T).mean(axis=1)).ravel()
        best = int(np.argmax(closeness))
        chosen = candidates[best]
        reply = _with_name(masked[best], first_name)
        return reply, chosen.draft_id or chosen.id, hits[0][1]

    def suggest(
        self,
        templates: Sequence[tpl.TemplateRow],
        *,
        category: str | None,
        language: str | None,
        kind: str,
        channel: str,
        text: str,
        author_name: str | None,
        to_sort: bool = False,
    ) -> Suggestion:
        """The draft of one message: (text, template id, source); empty text when nothing fits."""
        if category == "spam":
            return "", None, None
        register = tpl.register_for(text, language, self.settings.default_register)
        variables = tpl.variables_for(
            self.settings,
            author_name=author_name,
            text=text,
            category=category,
            channel=channel,
            language=language,
            register=register,
        )
        found = self.answers.best(text, language)
        if found is not None and found[1] >= ANSWER_THRESHOLD:
            answer, score = found
            reply = tpl.render_reply(
                answer.body, variables, channel=channel, cache_key=(-answer.id, answer.version)
            )
            if reply:
                return reply, None, ("answer", answer.id, round(score, 3))
        past = self.past_reply(text, language=language, register=register, first_name=variables["first_name"])
        if past is not None:
            reply, draft_id, score = past
            return reply[: tpl.length_limit(channel)], None, ("past_reply", draft_id, round(score, 3))
        if to_sort:
            return "", None, None  # a human sorts it first; no guess put in the customer's mouth
        chosen = tpl.choose(templates, category=category, language=language, kind=kind, register=register)
        if chosen is None:
            return "", None, None
        reply = tpl.render_reply(
            chosen.body, variables, channel=channel, cache_key=(chosen.id, chosen.version)
        )
        return reply, chosen.id, (("template", chosen.id, 0.0) if reply else None)

    def suggest_for(
        self,
        templates: Sequence[tpl.TemplateRow],
        message: Any,
        *,
        category: str | None,
        language: str | None,
        to_sort: bool = False,
    ) -> Suggestion:
        """`suggest` for a message (an `InboundMessage` or a stored `Message`: its kind, channel,
        text and author's name) under the given triage."""
        return self.suggest(
            templates,
            category=category,
            language=language,
            kind=message.kind,
            channel=message.channel,
            text=message.text,
            author_name=message.author_name,
            to_sort=to_sort,
        )

    def cached_templates(self) -> list[tpl.TemplateRow] | None:
        """The cached templates while fresh, else None (then call `templates(session)`)."""
        cached = self._cache
        if cached is not None and time.monotonic() - cached[0] < self.cache_s:
            return cached[1]
        return None

    def draft_row(
        self,
        templates: Sequence[tpl.TemplateRow],
        m: dict[str, Any],
        *,
        now: dt.datetime,
        suggested: Suggestion | None = None,
    ) -> dict[str, Any]:
        """The pending draft of one new message (without its message_id); its creation is the
        "proposed" event of its history. `suggested`: its suggestion computed already."""
        text, template_id, source = suggested or self.suggest(
            templates,
            category=m["category"],
            language=m["language"],
            kind=m["kind"],
            channel=m["channel"],
            text=m["text"],
            author_name=m["author_name"],
            to_sort=m["to_sort"],
        )
        return {
            "version": 1,
            "status": "pending",
            "text": text,
            "template_id": template_id,
            "source_kind": source[0] if source else None,
            "source_id": source[1] if source else None,
            "source_score": source[2] if source else None,
            "suggestions": [],
            "edited": False,
            "priority": priority_of(m["category"]),
            "received_at": m["received_at"],
            "category": m["category"],
            "platform": m["platform"],
            "language": m["language"],
            "to_sort": m["to_sort"],
            "created_at": now,
            "updated_at": now,
        }


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


# -- reading the queue ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class QueueFilter:
    status: str | None = "pending"
    category: str | None = None
    platform: str | None = None
    language: str | None = None
    to_sort: bool | None = None


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
        raise BadRequest("invalid cursor") from e


def _queue_query(q: Any, filt: QueueFilter) -> Any:
    """The one home of the queue's filters (validated here)."""
    if filt.status is not None:
        if filt.status not in STATUSES:
            raise BadRequest(f"status must be one of {list(STATUSES)}")
        q = q.where(Draft.status == filt.status)
    if filt.category is not None:
        if filt.category not in CATEGORIES:
            raise BadRequest(f"category must be one of {list(CATEGORIES)}")
        q = q.where(Draft.category == filt.category)
    if filt.platform is not None:
        q = q.where(Draft.platform == filt.platform)
    if filt.language is not None:
        q = q.where(Draft.language == filt.language)
    if filt.to_sort is not None:
        q = q.where(Draft.to_sort.is_(filt.to_sort))
    return q


def list_drafts(
    session: Session, *, filt: QueueFilter, limit: int = 50, cursor: str | None = None
) -> tuple[list[tuple[Draft, Message]], str | None]:
    """One page of the queue, complaints first then oldest first; keyset pagination."""
    if not 1 <= limit <= MAX_PAGE:
        raise BadRequest(f"limit must be between 1 and {MAX_PAGE}")
    q = _queue_query(select(Draft, Message).join(Message, Message.id == Draft.message_id), filt)
    if cursor:
        # a row-value comparison is an index range on (…, priority, received_at, id) for both
        # PostgreSQL and SQLite; the equivalent OR of ANDs is not, once a filter is added
        q = q.where(tuple_(Draft.priority, Draft.received_at, Draft.id) > tuple_(*decode_cursor(cursor)))
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
        tuple_(Draft.priority, Draft.received_at, Draft.id) < tuple_(p, r, i)
    )
    return session.scalar(
        q.order_by(Draft.priority.desc(), Draft.received_at.desc(), Draft.id.desc()).limit(1)
    )


def queue_counts(session: Session, *, status: str = "pending") -> dict[str, int]:
    rows = session.execute(
        select(Draft.category, func.count()).where(Draft.status == status).group_by(Draft.category)
    ).all()
    counts = {c: 0 for c in CATEGORIES}
    for category, n in rows:
        counts[category or "unsorted"] = n
    return counts


def get(session: Session, draft_id: int) -> Draft:
    draft = session.get(Draft, draft_id)
    if draft is None:
        raise NotFound(f"draft {draft_id} not found")
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


# -- decisions -----------------------------------------------------------------------------------


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
            raise Conflict(f"draft {draft_id} is already {draft.status}", detail=state(draft))
        if draft.version != version:
            raise Conflict(
                f"draft {draft_id} changed (version {draft.version}, not {version})", detail=state(draft)
            )
        raise Conflict(f"draft {draft_id} is claimed by another reviewer", detail=state(draft))
    draft = get(session, draft_id)
    session.refresh(draft)
    return draft


def approve(session: Session, *, draft_id: int, version: int, user_id: int, text: str | None) -> Draft:
    """Approve (optionally with an edited text) and queue the reply in the same transaction."""
    now = utcnow()
    current = get(session, draft_id)
    if current.status != "pending":
        raise Conflict(f"draft {draft_id} is already {current.status}", detail=state(current))
    message = session.get(Message, current.message_id)
    assert message is not None
    final = (text if text is not None else current.text).strip()
    if not final:
        raise Invalid("the reply is empty: write a reply or reject the draft")
    limit = tpl.length_limit(message.channel)
    if len(final) > limit:
        raise Invalid(
            f"the reply is {len(final)} characters; {message.channel} accepts {limit}",
            detail={"length": len(final), "limit": limit},
        )
    edited = final != current.text.strip()
    draft = _decide(
        session,
        draft_id,
        version,
        user_id,
        now,
        status="approved",
        final_text=final,
        edited=edited or current.edited,
    )
    if edited:
        first = _first_edit(current)
        audit.record(session, draft_id, "edited", user_id, now, diff=diff(current.text, final), **first)
    audit.record(session, draft_id, "approved", user_id, now, text=final, unedited=not draft.edited)
    similar.record(session, draft=draft, message=message, text=final)
    outbox.enqueue(session, draft_id=draft_id, message=message, text=final, now=now)
    return draft


def _first_edit(current: Draft) -> dict[str, str]:
    """The suggestion as shown, recorded with a draft's first human edit (`app.learning` measures
    how heavily a reply was edited against it)."""
    return {} if current.edited else {"suggested": current.text}


def reject(session: Session, *, draft_id: int, version: int, user_id: int, reason: str) -> Draft:
    reason = reason.strip()
    if not reason:
        raise Invalid("a rejection needs a reason")
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


def relabel(session: Session, drafter: Drafter, *, message_id: int, category: str, user_id: int) -> Message:
    """A reviewer's correction: stored as a training label; a pending draft is re-suggested."""
    if category not in CATEGORIES:
        raise Invalid(f"category must be one of {list(CATEGORIES)}")
    now = utcnow()
    message = session.get(Message, message_id)
    if message is None:
        raise NotFound(f"message {message_id} not found")
    old = message.category
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
                drafter.templates(session, fresh=True), message, category=category, language=message.language
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
