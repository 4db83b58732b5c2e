"""Page-specific queries of the review pages: neighbours in the queue, the outbox and channel health,
and the dashboard's numbers (SQL over messages, drafts and corrections). A message's conversation
is `app.review.conversation`.

Decisions themselves (approve, reject, relabel, ...) are `app.drafts.service`; nothing here writes.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.orm import Session, aliased

from app.drafts import service as drafts
from app.models import Channel, Correction, Draft, Message, OutboxItem, User, utcnow
from classifier import artifacts

DASHBOARD_DAYS = 14
CORRECTION_WEEKS = 8
REVIEWED_STATUSES = ("approved", "sent", "failed", "rejected")
CATEGORY_LABELS = {
    "complaint": "Complaint",
    "question": "Question",
    "suggestion": "Suggestion",
    "other": "Other",
    "unsorted": "To sort",
}


# -- formatting ------------------------------------------------------------------------------------


def waited(seconds: float) -> str:
    """A waiting time in plain words: "< 1 min", "42 min", "3 h 12 min", "2 d 4 h"."""
    minutes = int(max(0.0, seconds) // 60)
    if minutes < 1:
        return "< 1 min"
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes:02d} min" if minutes else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h" if hours else f"{days} d"


def confidence_text(confidence: float | None, threshold: float) -> tuple[str, str]:
    """(percentage, plain word) for a prediction's confidence."""
    if confidence is None:
        return "–", "no prediction"
    word = (
        "sure"
        if confidence >= max(threshold + 0.25, 0.85)
        else "fairly sure"
        if confidence >= threshold
        else "unsure"
    )
    return f"{round(confidence * 100)} %", word


def safe_url(value: Any) -> str | None:
    """A link from platform data, only if it is http(s); anything else (javascript:, data:) is dropped."""
    if not isinstance(value, str) or len(value) > 2000:
        return None
    try:
        parts = urlsplit(value.strip())
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    return value.strip()


# -- the queue -------------------------------------------------------------------------------------


def next_draft_id(session: Session, *, filt: drafts.QueueFilter, after: Draft | None) -> int | None:
    """The draft after `after` in queue order (or the first one), through `drafts.list_drafts`."""
    cursor = drafts.encode_cursor(after.priority, after.received_at, after.id) if after is not None else None
    rows, _ = drafts.list_drafts(session, filt=filt, limit=1, cursor=cursor)
    return rows[0][0].id if rows else None


def previous_draft_id(session: Session, *, filt: drafts.QueueFilter, before: Draft) -> int | None:
    """The draft before `before` in queue order."""
    return drafts.previous_in_queue(session, filt=filt, before=before)


def filter_options(session: Session) -> dict[str, list[str]]:
    """Platforms and languages present in the queue, for the filter menus."""
    platforms = [p for p in session.scalars(select(Draft.platform).distinct().order_by(Draft.platform)) if p]
    languages = [x for x in session.scalars(select(Draft.language).distinct().order_by(Draft.language)) if x]
    return {"platforms": platforms, "languages": languages}


def to_sort_count(session: Session) -> int:
    return (
        session.scalar(
            select(func.count()).select_from(Draft).where(Draft.status == "pending", Draft.to_sort.is_(True))
        )
        or 0
    )


# -- one message -----------------------------------------------------------------------------------


def user_names(session: Session, ids: set[int | None]) -> dict[int, str]:
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    return dict(session.execute(select(User.id, User.name).where(User.id.in_(wanted))).tuples().all())


# -- outbox and channels ---------------------------------------------------------------------------


def dead_letters(session: Session, limit: int = 100) -> list[tuple[OutboxItem, Message | None]]:
    rows = session.execute(
        select(OutboxItem, Message)
        .join(Draft, Draft.id == OutboxItem.draft_id)
        .join(Message, Message.id == Draft.message_id)
        .where(OutboxItem.status == "dead")
        .order_by(OutboxItem.updated_at.desc())
        .limit(limit)
    ).all()
    return [(o, m) for o, m in rows]


def outbox_counts(session: Session) -> dict[str, int]:
    return dict(
        session.execute(select(OutboxItem.status, func.count()).group_by(OutboxItem.status)).tuples().all()
    )


def channels(session: Session) -> list[Channel]:
    return list(session.scalars(select(Channel).order_by(Channel.platform, Channel.account_id)))


# -- dashboard -------------------------------------------------------------------------------------


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
    """The UTC calendar day of a timestamp column, as SQL (SQLite stores UTC text)."""
    if session.get_bind().dialect.name == "postgresql":
        return func.to_char(func.timezone("UTC", column), "YYYY-MM-DD")
    return func.strftime("%Y-%m-%d", column)


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
) -> Dashboard:
    """The last `days` days: messages per day by category, first-response time, backlog, shares;
    and the model's history over `CORRECTION_WEEKS` weeks (with its versions if `models_dir`)."""
    now = now or utcnow()
    start_day = (now - dt.timedelta(days=days - 1)).date()
    start = dt.datetime.combine(start_day, dt.time(), tzinfo=dt.UTC)
    day_list = [(start_day + dt.timedelta(days=i)).isoformat() for i in range(days)]

    day = _day(session, Message.received_at)
    per_day: dict[str, dict[str, int]] = {d: {} for d in day_list}
    went_to_sort = received = 0
    low = or_(Message.confidence.is_(None), Message.confidence < threshold)
    for d, category, n, n_low in session.execute(
        select(day, Message.category, func.count(), func.sum(case((low, 1), else_=0)))
        .where(Message.received_at >= start)
        .group_by(day, Message.category)
    ).all():
        key = category or "unsorted"
        if str(d) in per_day:
            per_day[str(d)][key] = per_day[str(d)].get(key, 0) + int(n)
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
        key = received_at.date().isoformat()
        if key in waits:
            waits[key].append(max(0.0, (answered_at - received_at).total_seconds()))
    response = {d: (percentile(v, 0.5), percentile(v, 0.9), len(v)) for d, v in waits.items()}

    # backlog at the end of each day: received by then, not yet decided by then
    ends = [
        dt.datetime.combine(start_day + dt.timedelta(days=i + 1), dt.time(), tzinfo=dt.UTC)
        for i in range(days)
    ]
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
        backlog=drafts.queue_counts(session),
        oldest_waiting_s=(now - oldest).total_seconds() if oldest is not None else None,
        sent=int(sent or 0),
        sent_unedited=int(unedited or 0),
        received=received,
        went_to_sort=went_to_sort,
        corrections=corrections_per_week(session, now=now),
        history=model_history(session, now=now, models_dir=models_dir),
    )


def corrections_per_week(
    session: Session, *, now: dt.datetime, weeks: int = CORRECTION_WEEKS
) -> list[tuple[str, dict[str, int]]]:
    """Reviewers' category corrections per ISO week, by the category they chose."""
    monday = (now - dt.timedelta(days=now.weekday())).date()
    first = monday - dt.timedelta(weeks=weeks - 1)
    start = dt.datetime.combine(first, dt.time(), tzinfo=dt.UTC)
    out: dict[str, dict[str, int]] = {(first + dt.timedelta(weeks=i)).isoformat(): {} for i in range(weeks)}
    day = _day(session, Correction.created_at)
    for d, category, n in session.execute(
        select(day, Correction.new_category, func.count())
        .where(Correction.created_at >= start)
        .group_by(day, Correction.new_category)
    ).all():
        when = dt.date.fromisoformat(str(d))
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


# -- SVG charts (numbers only; the template escapes every label) -------------------------------------

CHART_W, CHART_H, PAD_L, PAD_B, PAD_T = 640, 200, 44, 28, 10


def nice_max(value: float) -> float:
    if value <= 0:
        return 1.0
    exp = 10 ** math.floor(math.log10(value))
    for m in (1, 2, 2.5, 5, 10):
        if value <= m * exp:
            return float(m * exp)
    return float(10 * exp)


def stacked_bars(labels: list[str], series: list[dict[str, int]], keys: list[str]) -> dict[str, Any]:
    """Geometry of a stacked bar chart: one bar per label, one segment per key."""
    top = nice_max(max((sum(s.values()) for s in series), default=0))
    plot_w, plot_h = CHART_W - PAD_L - 8, CHART_H - PAD_B - PAD_T
    step = plot_w / max(1, len(labels))
    bars = []
    for i, (label, values) in enumerate(zip(labels, series, strict=True)):
        y: float = PAD_T + plot_h
        segments = []
        for k in keys:
            n = values.get(k, 0)
            if not n:
                continue
            h = plot_h * n / top
            y -= h
            segments.append(
                {
                    "key": k,
                    "n": n,
                    "x": round(PAD_L + i * step + step * 0.15, 1),
                    "y": round(y, 1),
                    "w": round(step * 0.7, 1),
                    "h": round(h, 1),
                }
            )
        bars.append(
            {
                "label": label,
                "short": label[5:],
                "x": round(PAD_L + i * step + step / 2, 1),
                "total": sum(values.values()),
                "segments": segments,
                "tick": len(labels) <= 8 or (len(labels) - 1 - i) % 2 == 0,
            }
        )
    return {
        "w": CHART_W,
        "h": CHART_H,
        "bars": bars,
        "axis": _axis(top, plot_h),
        "base": PAD_T + plot_h,
        "left": PAD_L,
    }


def lines(labels: list[str], named: dict[str, list[float | None]], *, unit: float = 1.0) -> dict[str, Any]:
    """Geometry of a line chart with gaps where a value is missing; values divided by `unit`."""
    values = [v / unit for vs in named.values() for v in vs if v is not None]
    top = nice_max(max(values, default=0))
    plot_w, plot_h = CHART_W - PAD_L - 8, CHART_H - PAD_B - PAD_T
    step = plot_w / max(1, len(labels))
    out = []
    for name, vs in named.items():
        points = []
        for i, v in enumerate(vs):
            if v is None:
                continue
            points.append(
                {
                    "x": round(PAD_L + i * step + step / 2, 1),
                    "y": round(PAD_T + plot_h - plot_h * (v / unit) / top, 1),
                    "v": v / unit,
                    "label": labels[i],
                }
            )
        out.append({"name": name, "points": points, "path": " ".join(f"{p['x']},{p['y']}" for p in points)})
    ticks = [
        {"x": round(PAD_L + i * step + step / 2, 1), "label": lab[5:]}
        for i, lab in enumerate(labels)
        if len(labels) <= 8 or (len(labels) - 1 - i) % 2 == 0
    ]
    return {
        "w": CHART_W,
        "h": CHART_H,
        "series": out,
        "axis": _axis(top, plot_h),
        "ticks": ticks,
        "base": PAD_T + plot_h,
        "left": PAD_L,
    }


def _axis(top: float, plot_h: float) -> list[dict[str, Any]]:
    return [{"y": round(PAD_T + plot_h - plot_h * f, 1), "label": f"{top * f:g}"} for f in (0, 0.5, 1)]
