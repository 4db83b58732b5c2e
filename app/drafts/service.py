"""Proposing drafts: the template reply of every new message, rendered inside the intake
transaction, and the multi-row insert of the pending drafts. Deciding them is `app.review.service`.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Sequence
from typing import Any, cast

from sqlalchemy import Table, select
from sqlalchemy.orm import Session

from app.config import Settings
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


class Drafter:
    """Renders the template draft for new messages (inside the intake transaction)."""

    def __init__(self, settings: Settings, *, cache_s: float = 1.0):
        self.settings = settings
        self.cache_s = cache_s
        self._cache: tuple[float, list[tpl.TemplateRow]] | None = None

    def templates(self, session: Session, *, fresh: bool = False) -> list[tpl.TemplateRow]:
        """Enabled templates; cached for `cache_s` so that intake batches do not read them each time."""
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
        self._cache = (time.monotonic(), templates)
        return templates

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
    ) -> tuple[str, int | None]:
        """The template reply for one message: (text, template id); empty when nothing fits;
        `conversation`: what came before it (`app.review.conversation.context`)."""
        if to_sort:
            return "", None  # a human sorts it first; no guess put in the customer's mouth
        register = tpl.register_for(text, language, self.settings.default_register)
        chosen = tpl.choose(templates, category=category, language=language, kind=kind, register=register)
        if chosen is None:
            return "", None
        variables = tpl.variables_for(
            self.settings,
            author_name=author_name,
            text=text,
            category=category,
            channel=channel,
            language=language,
            register=register,
            conversation=conversation,
        )
        key = (chosen.id, chosen.version)
        reply = tpl.render_reply(chosen.body, variables, channel=channel, cache_key=key)
        return reply, chosen.id

    def suggest_for(
        self,
        templates: Sequence[tpl.TemplateRow],
        message: Any,
        *,
        category: str | None,
        language: str | None,
        to_sort: bool = False,
        conversation: tpl.Conversation = tpl.NO_CONVERSATION,
    ) -> tuple[str, int | None]:
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
        suggested: tuple[str, int | None] | None = None,
    ) -> dict[str, Any]:
        """The pending draft of one new message (without its message_id); its creation is the
        "proposed" event of its history. `suggested`: its (text, template id) rendered already."""
        text, template_id = suggested or self.suggest(
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
