"""The language a reply is written in: the detector's, and when a message is too short to tell
("Ok", "Premier ! 😎"), the conversation's, else the author's earlier messages', else the account's,
never a guess.

At intake (no database) a short message takes its account's language (`RELAIS_ACCOUNT_LANGUAGES`,
else `RELAIS_LANGUAGE`) and is marked; the context pass (app/drafts/context.py) then reads its
conversation and its author's earlier messages and corrects it when they say otherwise.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from typing import Any

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session

from app.config import Settings
from app.models import Message
from app.triage import Triage

UNDETERMINED = "und"
# how many earlier messages of a conversation (then of the author) are read
LOOK_BACK = 20


def account_language(settings: Settings, platform: str, account_id: str) -> str:
    """The language an account's customers write in, as configured."""
    return settings.account_languages.get(f"{platform}:{account_id}") or settings.language


def settle(triage: Triage, message: Any, settings: Settings) -> Triage:
    """`triage` with a language: its own, or for a message too short to tell, its account's
    (marked `language_fallback`). Messages with no triage (no model) are left as they are."""
    if triage.language != UNDETERMINED:
        return triage
    return dataclasses.replace(
        triage,
        language=account_language(settings, message.platform, message.account_id),
        language_fallback=True,
    )


def _prevailing(languages: list[str | None]) -> str | None:
    counts = Counter(lang for lang in languages if lang and lang != UNDETERMINED)
    return counts.most_common(1)[0][0] if counts else None


def from_context(session: Session, message: Message) -> str | None:
    """The language the message's context speaks: its author's other messages in the conversation,
    else the conversation's (everyone under a post), else its author's elsewhere; None when none
    tells. Messages whose own language was too short to tell do not count."""
    mine = (
        Message.platform == message.platform,
        Message.id != message.id,
        Message.language_guessed.is_(False),
    )
    thread = (Message.account_id == message.account_id, Message.conversation_id == message.conversation_id)
    author = (Message.author_id == message.author_id,)
    scopes: list[tuple[ColumnElement[bool], ...]] = []
    if message.conversation_id is not None:
        if message.author_id is not None:
            scopes.append((*thread, *author))
        scopes.append(thread)
    if message.author_id is not None:
        scopes.append(author)
    for scope in scopes:
        rows = session.scalars(
            select(Message.language).where(*mine, *scope).order_by(Message.id.desc()).limit(LOOK_BACK)
        ).all()
        found = _prevailing(list(rows))
        if found is not None:
            return found
    return None
