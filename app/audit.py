"""The audit trail of a draft: one `draft_events` row per transition (claimed, edited, approved,
sent, failed, resent, ...), written in the transaction of the change it records. A draft's
proposal is its own row's creation, not an event."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from app.models import DraftEvent


def record(
    session: Session, draft_id: int, action: str, actor_id: int | None, now: dt.datetime, **data: Any
) -> None:
    """Append one event (`actor_id` None: the system did it); `data` is stored as JSON."""
    session.execute(
        insert(DraftEvent).values(draft_id=draft_id, action=action, actor_id=actor_id, data=data, at=now)
    )


def events(session: Session, draft_id: int) -> list[DraftEvent]:
    """The recorded events of one draft, oldest first."""
    return list(
        session.scalars(select(DraftEvent).where(DraftEvent.draft_id == draft_id).order_by(DraftEvent.id))
    )
