"""Proposing drafts: for every new message, inside the intake transaction, the best source there
is (a knowledge-base answer, an adapted past reply, the category template), and the multi-row
insert of the pending drafts. Deciding them is `app.review.service`.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
from sqlalchemy import Table, select
from sqlalchemy.orm import Session

from app.config import Settings
from app.drafts import ngrams, signature, similar
from app.intake.bulk import BulkInsert
from app.models import Draft, ReplyTemplate, priority_of
from app.reply_templates import rendering as tpl

DRAFTS_INSERT = BulkInsert(
    cast(Table, Draft.__table__),
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
        "spam",
        "created_at",
        "updated_at",
    ],
    ignore_conflicts=False,
)


# Drafting claims an answer or a past reply only above these scores (an answer's meaning and
# words, `similar.AnswerIndex`; a past message's cosine); below, the category template. Chosen on
# data: bench/reply_quality.py, docs/experiments/replies.md.
ANSWER_THRESHOLD = 0.30
PAST_THRESHOLD = 0.05
PAST_NEIGHBOURS = 10  # the past replies to the most similar messages, among which the draft is chosen
TYPICAL = 20  # and the team's most typical replies of the language, as candidates beside them
TYPICAL_SAMPLE = 2000

OPTIONS_RANKED = 5  # the answers offered first in the editor, best match first


@dataclass(frozen=True, slots=True)
class ChosenAnswer:
    """A knowledge-base answer rendered for one message, with how well it matches it (0..1)."""

    answer: similar.AnswerRow
    text: str
    score: float


REPLY_CACHE = 50_000  # past replies kept masked and vectorised (about 2 KB each)


@dataclass(frozen=True, slots=True)
class _Reply:
    """A past reply as drafting compares it: masked (`_masked`), its register, its vector."""

    masked: str
    register: str
    indices: np.ndarray
    data: np.ndarray


# (kind, id, score): "answer" and an answer id, "past_reply" and a draft id, "template" and its id
Source = tuple[str, int, float]
# a draft's (text, template id, source)
Suggestion = tuple[str, int | None, Source | None]


def _masked(past: similar.Past) -> str:
    """The past reply with its customer's first name replaced by a marker."""
    return signature.mask(past.reply, tpl.first_name(past.author_name))


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
        self._replies: dict[int, _Reply] = {}
        self._typical: dict[str, tuple[int, list[similar.Past]]] = {}
        self._signers: dict[str, tuple[int, str | None]] = {}

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

    def _replies_of(self, pasts: Sequence[similar.Past]) -> list[_Reply]:
        """Each past reply masked, its register and its character n-gram vector, cached by past
        reply (at most `REPLY_CACHE`); the missing ones are computed in one call."""
        missing = list({p.id: p for p in pasts if p.id not in self._replies}.values())
        if missing and len(self._replies) + len(missing) > REPLY_CACHE:
            self._replies.clear()
            missing = list({p.id: p for p in pasts}.values())
        if missing:
            masked = [_masked(p) for p in missing]
            for p, text, (indices, data) in zip(
                missing, masked, ngrams.split(ngrams.vectors(masked)), strict=True
            ):
                self._replies[p.id] = _Reply(text, tpl.register_of(p.reply, "vous"), indices, data)
        return [self._replies[p.id] for p in pasts]

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
        matrix = ngrams.vectors([_masked(p) for p in recent])
        centre = np.asarray(matrix.mean(axis=0)).ravel()
        closeness = matrix @ centre
        chosen = [recent[int(i)] for i in np.argsort(-closeness)[:TYPICAL]]
        self._typical[key] = (size, chosen)
        return chosen

    def signer(self, language: str | None) -> str | None:
        """Who the team signs with now (`signature.current`), read again when the history has
        grown by a tenth."""
        key, size = language or "", self.past.size(language)
        known = self._signers.get(key)
        if known is not None and size < known[0] * 1.1 + 10:
            return known[1]
        recent = [p.reply for p in self.past.recent(language, signature.RECENT)]
        found = signature.current(recent, self.settings.agent_signature)
        self._signers[key] = (size, found)
        return found

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
        replies = self._replies_of(candidates)
        if language == "fr":
            same = [(p, r) for p, r in zip(candidates, replies, strict=True) if r.register == register]
            if same:
                candidates, replies = [p for p, _ in same], [r for _, r in same]
        near = ngrams.stack([(r.indices, r.data) for r in self._replies_of(neighbours)])
        closeness = ngrams.mean_cosines(ngrams.stack([(r.indices, r.data) for r in replies]), near)
        best = int(np.argmax(closeness))
        chosen = candidates[best]
        reply = signature.adapt(
            replies[best].masked,
            first_name=first_name,
            signer_now=self.signer(language),
            configured=bool(self.settings.agent_signature.strip()),
        )
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
        conversation: tpl.Conversation = tpl.NO_CONVERSATION,
    ) -> Suggestion:
        """The draft of one message: (text, template id, source); empty text when nothing fits;
        `conversation`: what came before it (`app.review.conversation.context`)."""
        if category == "spam":
            return "", None, None
        register, variables = self._variables(
            text=text,
            language=language,
            category=category,
            channel=channel,
            author_name=author_name,
            conversation=conversation,
        )
        found = self.answers.best(text, language)
        if found is not None and found[1] >= ANSWER_THRESHOLD:
            answer, score = found
            reply = self._render_answer(answer, variables, channel)
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

    def _variables(
        self,
        *,
        text: str,
        language: str | None,
        category: str | None,
        channel: str,
        author_name: str | None,
        conversation: tpl.Conversation,
    ) -> tuple[str, dict[str, Any]]:
        """(register, the variables templates and answers are rendered with) for one message."""
        register = tpl.register_for(text, language, self.settings.default_register)
        return register, tpl.variables_for(
            self.settings,
            author_name=author_name,
            text=text,
            category=category,
            channel=channel,
            language=language,
            register=register,
            conversation=conversation,
        )

    @staticmethod
    def _render_answer(answer: similar.AnswerRow, variables: dict[str, Any], channel: str) -> str:
        return tpl.render_reply(
            answer.body, variables, channel=channel, cache_key=(-answer.id, answer.version)
        )

    def answer_options(
        self,
        session: Session,
        message: Any,
        *,
        conversation: tpl.Conversation = tpl.NO_CONVERSATION,
    ) -> list[ChosenAnswer]:
        """Every enabled answer rendered for this message, to offer in the editor: those that
        match it best first (by the drafting score), then the rest of its language, then the
        others, by title; answers that render empty are left out."""
        self.templates(session)
        variables = tpl.message_variables(self.settings, message, conversation)
        best = self.answers.ranked(message.text, message.language, top=OPTIONS_RANKED)
        ranked = {a.id: score for a, score in best}
        rows = self.answers.rows()
        rows.sort(key=lambda a: (-ranked.get(a.id, 0.0), a.language != message.language, a.title.lower()))
        out = []
        for answer in rows:
            reply = self._render_answer(answer, variables, message.channel)
            if reply:
                out.append(ChosenAnswer(answer, reply, round(ranked.get(answer.id, 0.0), 3)))
        return out

    def chosen_answer(
        self,
        session: Session,
        answer_id: int,
        message: Any,
        *,
        conversation: tpl.Conversation = tpl.NO_CONVERSATION,
    ) -> ChosenAnswer | None:
        """The answer a reviewer picked for this message, rendered as drafting would and scored
        against it; None when it is not an enabled answer or renders empty."""
        self.templates(session)
        answer = self.answers.row(answer_id)
        if answer is None:
            return None
        variables = tpl.message_variables(self.settings, message, conversation)
        reply = self._render_answer(answer, variables, message.channel)
        if not reply:
            return None
        return ChosenAnswer(answer, reply, round(self.answers.score(message.text, answer_id), 3))

    def suggest_for(
        self,
        templates: Sequence[tpl.TemplateRow],
        message: Any,
        *,
        category: str | None,
        language: str | None,
        to_sort: bool = False,
        conversation: tpl.Conversation = tpl.NO_CONVERSATION,
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
            conversation=conversation,
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
            "spam": m.get("spam", False),
            "created_at": now,
            "updated_at": now,
        }
