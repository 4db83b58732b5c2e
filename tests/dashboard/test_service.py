"""The dashboard's days are the viewer's: a message is counted on the day of its zone (SQLite and
PostgreSQL alike), the day a customer wrote at 00:30 in Paris being the next UTC-day's."""

from __future__ import annotations

import datetime as dt
import zoneinfo

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from app.dashboard import service
from app.models import Draft, Message
from tests.web.conftest import db, feed, login, make_user

UTC = dt.UTC
NOW = dt.datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


def _received(client: TestClient, times: list[dt.datetime]) -> None:
    for i, _ in enumerate(times):
        feed(client, f"77_{i}", f"Bonjour, question {i} ?", author=f"70{i}")
    with db(client) as s:
        ids = list(s.scalars(select(Message.id).order_by(Message.id)))
        for mid, when in zip(ids, times, strict=True):
            s.execute(update(Message).where(Message.id == mid).values(received_at=when))
            s.execute(update(Draft).where(Draft.message_id == mid).values(received_at=when))
        s.commit()


def _per_day(client: TestClient, tz: dt.tzinfo) -> dict[str, int]:
    with db(client) as s:
        stats = service.dashboard(s, threshold=0.55, now=NOW, tz=tz)
    return {d: sum(c.values()) for d, c in stats.per_day.items() if sum(c.values())}


@pytest.mark.parametrize(
    ("zone", "expected"),
    [
        ("UTC", {"2026-12-02": 4}),
        ("Europe/Paris", {"2026-12-02": 2, "2026-12-03": 2}),  # +1 h
        ("Asia/Kolkata", {"2026-12-02": 1, "2026-12-03": 3}),  # +5 h 30
        ("America/New_York", {"2026-12-02": 4}),  # -5 h
    ],
)
def test_messages_per_day_are_counted_in_the_viewers_zone(
    client: TestClient, zone: str, expected: dict[str, int]
) -> None:
    _received(
        client,
        [
            dt.datetime(2026, 12, 2, 18, 29, tzinfo=UTC),  # 23:59 in Kolkata, 19:29 in Paris
            dt.datetime(2026, 12, 2, 18, 31, tzinfo=UTC),  # 00:01 in Kolkata
            dt.datetime(2026, 12, 2, 23, 30, tzinfo=UTC),  # 00:30 in Paris
            dt.datetime(2026, 12, 2, 23, 59, tzinfo=UTC),
        ],
    )
    tz = zoneinfo.ZoneInfo(zone)
    assert _per_day(client, tz) == expected
    with db(client) as s:
        stats = service.dashboard(s, threshold=0.55, now=NOW, tz=tz)
    assert stats.days[-1] == NOW.astimezone(tz).date().isoformat()
    # the backlog at the end of each local day: all four are still pending after their last one
    last = max(expected)
    assert stats.backlog_by_day[last] == 4


def test_the_dashboard_page_uses_the_viewers_zone(client: TestClient) -> None:
    make_user(client)
    login(client)
    _received(client, [dt.datetime.now(UTC).replace(hour=23, minute=30) - dt.timedelta(days=1)])
    with db(client) as s:
        paris = service.dashboard(s, threshold=0.55, tz=zoneinfo.ZoneInfo("Europe/Paris"))
    page = client.get("/dashboard")
    assert page.status_code == 200
    shown = page.context["stats"]
    assert shown.days == paris.days and shown.per_day == paris.per_day  # RELAIS_TIMEZONE, Europe/Paris
