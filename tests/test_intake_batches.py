"""Batches prepared apart and written in one transaction (what the intake child's writer does when
several batches are ready at once): every message once, every delivery its own counts."""

from __future__ import annotations

import hashlib

import orjson
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from app import db
from app.intake import Delivery, merge_prepared
from app.main import create_app
from app.models import Draft, Event, Message
from app.webhooks.router import PARSERS
from tests.conftest import fb_comment, make_settings


def delivery(client: TestClient, body: bytes) -> Delivery:
    parsed = PARSERS["meta"]({}, orjson.loads(body), client.app.state.adapter_context)
    return Delivery("meta", hashlib.sha256(body).hexdigest(), None, {}, body, parsed)


def test_merged_batches_store_each_message_once(database_url: str) -> None:
    settings = make_settings(database_url)
    with TestClient(create_app(settings)) as client:
        intake = client.app.state.intake
        a = [delivery(client, fb_comment(f"m_{i}", f"Ma commande {i} est en retard")) for i in range(3)]
        # the same comment m_1 again in a different body (a retry with another timestamp), the
        # very same body as a[2] (a redelivery), and one new comment
        again = fb_comment("m_1", "Ma commande 1 est en retard").replace(b'"time": ', b'"time": 1')
        b = [
            delivery(client, again),
            delivery(client, a[2].body),
            delivery(client, fb_comment("m_9", "Merci !")),
        ]
        first, second = intake.prepare(a), intake.prepare(b)
        deliveries, merged = merge_prepared([(a, first), (b, second)])
        assert [d.digest for d in deliveries] == [d.digest for d in a + b]
        results = intake.commit(deliveries, merged)
        stored = [r.stored for r in results]
        duplicates = [r.duplicates for r in results]
        assert stored == [1, 1, 1, 0, 0, 1]
        assert duplicates == [0, 0, 0, 1, 1, 0]
        assert results[4].duplicate_delivery and not results[3].duplicate_delivery
        assert len({i for r in results for i in r.message_ids}) == 4
    engine = db.make_engine(settings)
    with engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(Message)) == 4
        assert conn.scalar(select(func.count()).select_from(Draft)) == 4
        assert (
            conn.scalar(select(func.count()).select_from(Event)) == 5
        )  # the redelivery is not journaled twice
    engine.dispose()


def test_merging_one_batch_changes_nothing(sqlite_url: str) -> None:
    with TestClient(create_app(make_settings(sqlite_url))) as client:
        intake = client.app.state.intake
        batch = [delivery(client, fb_comment(f"s_{i}", "Vous livrez le dimanche ?")) for i in range(2)]
        prepared = intake.prepare(batch)
        deliveries, merged = merge_prepared([(batch, prepared)])
        assert merged.fresh == prepared.fresh and merged.duplicates == prepared.duplicates
        assert merged.message_rows == prepared.message_rows and merged.now == prepared.now


def test_wal_checkpointer_keeps_the_log_short_while_commits_only_append(sqlite_url: str) -> None:
    import os
    import time

    from sqlalchemy import text

    settings = make_settings(sqlite_url)
    db.upgrade(settings)
    path = sqlite_url.split("///", 1)[1]
    engine = db.make_engine(settings, autocheckpoint=False)
    factory = db.make_sessionmaker(engine)

    written = 0

    def write(n: int) -> None:
        nonlocal written
        for _ in range(n):
            written += 1
            i = written
            with db.transaction(factory) as s:
                s.execute(
                    text(
                        "INSERT INTO echoes (platform, account_id, external_id, text, seen_at)"
                        " VALUES ('x', 'a', :e, :t, '2026-11-24 00:00:00.000000')"
                    ),
                    {"e": str(i), "t": "x" * 3000},
                )

    write(1500)  # ~1,500 pages: past the 1,000 at which a commit would checkpoint by itself
    grown = os.path.getsize(path + "-wal")
    assert grown > 1000 * 4096, "commits checkpointed by themselves"
    write(300)  # without a checkpointer the log only grows
    assert os.path.getsize(path + "-wal") > grown
    grown, before = os.path.getsize(path + "-wal"), os.path.getsize(path)
    checkpointer = db.WalCheckpointer(settings, interval_s=0.05).start()
    try:
        deadline = time.monotonic() + 10
        while os.path.getsize(path) < before + 1000 * 4096 and time.monotonic() < deadline:
            time.sleep(0.05)  # the pages are being copied back into the database file
        assert os.path.getsize(path) >= before + 1000 * 4096
        time.sleep(0.3)
        write(300)  # the log restarts from its beginning once everything was copied back
        assert os.path.getsize(path + "-wal") <= grown
        with engine.connect() as conn:
            assert conn.scalar(text("SELECT count(*) FROM echoes")) == 2100
    finally:
        checkpointer.stop()
        engine.dispose()
