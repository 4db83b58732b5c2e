"""The dashboard's numbers: messages per day by category, first-response time, backlog, the shares
sent unedited and sent to sort, and the model's record with the reviewers week by week (SQL over
messages, drafts and corrections; nothing here writes)."""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Integer, String, and_, case, cast, func, or_, select
from sqlalchemy.orm import Session, aliased

from app.models import Correction, Draft, Message, utcnow
from app.review import service as review
from classifier import artifacts

DASHBOARD_DAYS = 14
CORRECTION_WEEKS = 8
REVIEWED_STATUSES = ("approved", "sent", "failed", "rejected")


@dataclass
class Dashboard:
    days: list[str]
    per_day: dict[str, dict[str, int]]  # day -> category -> messages
    response: dict[str, tuple[float | None, float | None, int]]  # day -> (median s, p90 s, n)
    backlog_by_day: dict[str, int]
    backlog: dict[str, int]
    oldest_waiting_s: float | None
    sent: int
    sent_unedited: int
    received: int
    went_to_sort: int
    corrections: list[tuple[str, dict[str, int]]] = field(default_factory=list)
    history: ModelHistory | None = None

    @property
    def unedited_share(self) -> float | None:
        return self.sent_unedited / self.sent if self.sent else None

    @property
    def to_sort_share(self) -> float | None:
        return self.went_to_sort / self.received if self.received else None


def _day(session: Session, column: Any) -> Any:
    """The UTC calendar day of a timestamp column, as SQL (SQLite stores UTC text): the model's
    weekly history, whose weeks are the model's, not a viewer's."""
    if session.get_bind().dialect.name == "postgresql":
        return func.to_char(func.timezone("UTC", column), "YYYY-MM-DD")
    return func.strftime("%Y-%m-%d", column)


def _quarter(session: Session, column: Any) -> Any:
    """The UTC quarter of an hour a timestamp column falls in, as SQL text "YYYY-MM-DD HH q"
    (SQLite stores UTC text). Every zone's offset is a whole number of quarters of an hour, so a
    quarter lies within one local day, whichever the viewer's zone (`_local_day`)."""
    if session.get_bind().dialect.name == "postgresql":
        utc = func.timezone("UTC", column)
        minute = cast(func.extract("minute", utc), Integer)
        return func.to_char(utc, "YYYY-MM-DD HH24 ") + cast(minute // 15, String)
    minute = cast(func.strftime("%M", column), Integer)
    return func.strftime("%Y-%m-%d %H ", column) + cast(minute // 15, String)


def _local_day(quarter: str, tz: dt.tzinfo) -> str:
    """The viewer's calendar day (ISO) of a `_quarter` bucket."""
    day, hour, q = str(quarter).split()
    when = dt.datetime.fromisoformat(f"{day}T{hour}:00").replace(tzinfo=dt.UTC) + dt.timedelta(
        minutes=15 * int(q)
    )
    return when.astimezone(tz).date().isoformat()


def _midnight(day: dt.date, tz: dt.tzinfo) -> dt.datetime:
    """The instant (UTC) a local day starts."""
    return dt.datetime.combine(day, dt.time(), tzinfo=tz).astimezone(dt.UTC)


def percentile(values: list[float], q: float) -> float | None:
    """The q-th percentile (0..1), linear between closest ranks."""
    if not values:
        return None
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q
    lo, hi = math.floor(pos), math.ceil(pos)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def dashboard(
    session: Session,
    *,
    threshold: float,
    now: dt.datetime | None = None,
    days: int = DASHBOARD_DAYS,
    models_dir: Path | None = None,
    tz: dt.tzinfo = dt.UTC,
) -> Dashboard:
    """The last `days` days, days of the viewer's zone `tz`: messages per day by category,
    first-response time, backlog, shares; and the model's history over `CORRECTION_WEEKS` weeks
    (with its versions if `models_dir`)."""
    now = now or utcnow()
    start_day = (now.astimezone(tz) - dt.timedelta(days=days - 1)).date()
    start = _midnight(start_day, tz)
    day_list = [(start_day + dt.timedelta(days=i)).isoformat() for i in range(days)]

    quarter = _quarter(session, Message.received_at)
    per_day: dict[str, dict[str, int]] = {d: {} for d in day_list}
    went_to_sort = received = 0
    low = or_(Message.confidence.is_(None), Message.confidence < threshold)
    for d, category, n, n_low in session.execute(
        select(quarter, Message.category, func.count(), func.sum(case((low, 1), else_=0)))
        .where(Message.received_at >= start)
        .group_by(quarter, Message.category)
    ).all():
        key, local = category or "unsorted", _local_day(d, tz)
        if local in per_day:
            per_day[local][key] = per_day[local].get(key, 0) + int(n)
        received += int(n)
        went_to_sort += int(n_low or 0)

    answered = func.coalesce(Draft.sent_at, Draft.decided_at)
    waits: dict[str, list[float]] = {d: [] for d in day_list}
    for received_at, answered_at in session.execute(
        select(Message.received_at, answered)
        .join(Draft, Draft.message_id == Message.id)
        .where(
            Message.received_at >= start,
            Draft.status.in_(("approved", "sent", "failed")),
            answered.is_not(None),
        )
    ).all():
        if answered_at is None:
            continue
        if answered_at.tzinfo is None:  # coalesce() loses the column type on SQLite
            answered_at = dt.datetime.fromisoformat(str(answered_at)).replace(tzinfo=dt.UTC)
        if received_at.tzinfo is None:
            received_at = received_at.replace(tzinfo=dt.UTC)
        key = received_at.astimezone(tz).date().isoformat()
        if key in waits:
            waits[key].append(max(0.0, (answered_at - received_at).total_seconds()))
    response = {d: (percentile(v, 0.5), percentile(v, 0.9), len(v)) for d, v in waits.items()}

    # backlog at the end of each day: received by then, not yet decided by then
    ends = [_midnight(start_day + dt.timedelta(days=i + 1), tz) for i in range(days)]
    ends[-1] = min(ends[-1], now)
    cols = [
        func.sum(
            case(
                (
                    and_(
                        Draft.received_at < end,
                        or_(Draft.decided_at.is_(None), Draft.decided_at >= end),
                        or_(Draft.status != "withdrawn", Draft.updated_at >= end),
                    ),
                    1,
                ),
                else_=0,
            )
        )
        for end in ends
    ]
    backlog_row = session.execute(
        select(*cols).where(or_(Draft.decided_at.is_(None), Draft.decided_at >= start))
    ).one()
    backlog_by_day = {d: int(n or 0) for d, n in zip(day_list, backlog_row, strict=True)}

    oldest = session.scalar(select(func.min(Draft.received_at)).where(Draft.status == "pending"))
    if oldest is not None and oldest.tzinfo is None:
        oldest = dt.datetime.fromisoformat(str(oldest)).replace(tzinfo=dt.UTC)
    sent, unedited = session.execute(
        select(func.count(), func.sum(case((Draft.edited.is_(False), 1), else_=0))).where(
            Draft.status == "sent", Draft.sent_at >= start
        )
    ).one()

    return Dashboard(
        days=day_list,
        per_day=per_day,
        response=response,
        backlog_by_day=backlog_by_day,
        backlog=review.queue_counts(session),
        oldest_waiting_s=(now - oldest).total_seconds() if oldest is not None else None,
        sent=int(sent or 0),
        sent_unedited=int(unedited or 0),
        received=received,
        went_to_sort=went_to_sort,
        corrections=corrections_per_week(session, now=now, tz=tz),
        history=model_history(session, now=now, models_dir=models_dir),
    )


def corrections_per_week(
    session: Session, *, now: dt.datetime, weeks: int = CORRECTION_WEEKS, tz: dt.tzinfo = dt.UTC
) -> list[tuple[str, dict[str, int]]]:
    """Reviewers' category corrections per ISO week of the zone `tz`, by the category they chose:
    messages, not clicks (a message corrected twice the same day counts once, as in the dashboard's
    table)."""
    local_now = now.astimezone(tz)
    monday = (local_now - dt.timedelta(days=local_now.weekday())).date()
    first = monday - dt.timedelta(weeks=weeks - 1)
    start = _midnight(first, tz)
    out: dict[str, dict[str, int]] = {(first + dt.timedelta(weeks=i)).isoformat(): {} for i in range(weeks)}
    quarter = _quarter(session, Correction.created_at)
    days: dict[tuple[str, str], set[int]] = {}
    for q, category, message_id in session.execute(
        select(quarter, Correction.new_category, Correction.message_id)
        .where(Correction.created_at >= start)
        .distinct()
    ).all():
        days.setdefault((_local_day(q, tz), category), set()).add(message_id)
    for (d, category), messages in days.items():
        n = len(messages)
        when = dt.date.fromisoformat(d)
        week = (when - dt.timedelta(days=when.weekday())).isoformat()
        if week in out:
            out[week][category] = out[week].get(category, 0) + int(n)
    return list(out.items())


@dataclass
class ModelWeek:
    """One ISO week of the model's record with the reviewers."""

    week: str  # its Monday, ISO date
    reviewed: int = 0  # messages decided (approved, sent, rejected) or corrected in the week
    kept: int = 0  # ... whose predicted category the reviewers kept
    corrected: int = 0  # messages corrected in the week
    sent: int = 0  # drafts sent in the week
    sent_unedited: int = 0

    @property
    def iso_week(self) -> str:
        year, number, _ = dt.date.fromisoformat(self.week).isocalendar()
        return f"{year}-W{number:02d}"

    @property
    def accuracy(self) -> float | None:
        return self.kept / self.reviewed if self.reviewed else None

    @property
    def unedited_share(self) -> float | None:
        return self.sent_unedited / self.sent if self.sent else None


@dataclass
class ModelHistory:
    """Accuracy on reviewed messages and unedited sends per week, corrections by (old, new), versions."""

    weeks: list[ModelWeek]
    confusions: list[tuple[str, str, int]]  # (predicted or "unsorted", corrected to, messages), most first
    versions: list[dict[str, Any]] | None = None  # newest first, from `classifier.artifacts`


def model_versions(models_dir: Path) -> list[dict[str, Any]]:
    """Every stored model version, newest first, with its held-out macro-F1 and whether it is current."""
    return list(reversed(artifacts.list_versions(models_dir)))


def _week_of(day: str) -> str:
    when = dt.date.fromisoformat(str(day))
    return (when - dt.timedelta(days=when.weekday())).isoformat()


def model_history(
    session: Session, *, now: dt.datetime, weeks: int = CORRECTION_WEEKS, models_dir: Path | None = None
) -> ModelHistory:
    """Per ISO week: reviewed messages and the share whose predicted category was kept, corrected
    messages, the share of sent drafts that went out unedited; corrections per (old, new) category."""
    monday = (now - dt.timedelta(days=now.weekday())).date()
    first = monday - dt.timedelta(weeks=weeks - 1)
    start = dt.datetime.combine(first, dt.time(), tzinfo=dt.UTC)
    out = {
        (first + dt.timedelta(weeks=i)).isoformat(): ModelWeek((first + dt.timedelta(weeks=i)).isoformat())
        for i in range(weeks)
    }

    per_message = (
        select(
            Correction.message_id.label("message_id"),
            func.min(Correction.created_at).label("first_at"),
            func.max(Correction.id).label("last_id"),
        )
        .group_by(Correction.message_id)
        .subquery()
    )
    last = aliased(Correction)
    # A message with a prediction counts once, in the week it was decided (or first corrected, if
    # still pending); it is "kept" unless the reviewers' latest correction chose another category.
    reviewed_at = func.coalesce(Draft.decided_at, per_message.c.first_at, type_=Draft.decided_at.type)
    kept = or_(last.new_category.is_(None), last.new_category == Message.predicted_category)
    day = _day(session, reviewed_at)
    for d, n, n_kept in session.execute(
        select(day, func.count(), func.sum(case((kept, 1), else_=0)))
        .select_from(Message)
        .outerjoin(Draft, Draft.message_id == Message.id)
        .outerjoin(per_message, per_message.c.message_id == Message.id)
        .outerjoin(last, last.id == per_message.c.last_id)
        .where(
            Message.predicted_category.is_not(None),
            or_(Draft.status.in_(REVIEWED_STATUSES), per_message.c.message_id.is_not(None)),
            reviewed_at >= start,
        )
        .group_by(day)
    ).all():
        week = out.get(_week_of(d))
        if week is not None:
            week.reviewed += int(n)
            week.kept += int(n_kept or 0)
    # Corrections are counted in the week they were made, whatever the message's review week.
    corrected_day = _day(session, per_message.c.first_at)
    for d, n in session.execute(
        select(corrected_day, func.count()).where(per_message.c.first_at >= start).group_by(corrected_day)
    ).all():
        week = out.get(_week_of(d))
        if week is not None:
            week.corrected += int(n)
    sent_day = _day(session, Draft.sent_at)
    for d, n, n_unedited in session.execute(
        select(sent_day, func.count(), func.sum(case((Draft.edited.is_(False), 1), else_=0)))
        .where(Draft.status == "sent", Draft.sent_at >= start)
        .group_by(sent_day)
    ).all():
        week = out.get(_week_of(d))
        if week is not None:
            week.sent += int(n)
            week.sent_unedited += int(n_unedited or 0)

    # The predicted category against the one the reviewers settled on (their latest correction).
    pairs = session.execute(
        select(Message.predicted_category, last.new_category, func.count())
        .select_from(per_message)
        .join(last, last.id == per_message.c.last_id)
        .join(Message, Message.id == per_message.c.message_id)
        .where(
            per_message.c.first_at >= start,
            or_(Message.predicted_category.is_(None), Message.predicted_category != last.new_category),
        )
        .group_by(Message.predicted_category, last.new_category)
    ).all()
    confusions = sorted(
        ((old or "unsorted", new, int(n)) for old, new, n in pairs), key=lambda x: (-x[2], x[0], x[1])
    )
    return ModelHistory(
        weeks=list(out.values()),
        confusions=confusions,
        versions=model_versions(models_dir) if models_dir is not None else None,
    )
