"""The audit trail of a draft: one `draft_events` row per transition (claimed, edited, approved,
sent, failed, resent, ...), written in the transaction of the change it records. A draft's
proposal is its own row's creation, not an event. What admins change elsewhere (knowledge-base
answers) goes to `admin_events` through `record_admin`, in the transaction of the change too."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from app.models import AdminEvent, DraftEvent


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


def record_admin(
    session: Session,
    subject: str,
    subject_id: int,
    action: str,
    actor_id: int | None,
    now: dt.datetime,
    **data: Any,
) -> None:
    """Append one admin change (`subject` "answer", ...); `data` is stored as JSON."""
    session.execute(
        insert(AdminEvent).values(
            subject=subject, subject_id=subject_id, action=action, actor_id=actor_id, data=data, at=now
        )
    )


def admin_events(session: Session, subject: str, subject_id: int) -> list[AdminEvent]:
    """The recorded changes of one subject, oldest first."""
    return list(
        session.scalars(
            select(AdminEvent)
            .where(AdminEvent.subject == subject, AdminEvent.subject_id == subject_id)
            .order_by(AdminEvent.id)
        )
    )
