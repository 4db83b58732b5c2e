"""SQLite under the intake child: the write-ahead log is checkpointed beside the commits."""

from __future__ import annotations

import os
import time

from sqlalchemy import text

from app import db
from tests.conftest import make_settings


def test_wal_checkpointer_keeps_the_log_short_while_commits_only_append(sqlite_url: str) -> None:
    settings = make_settings(sqlite_url)
    db.upgrade(settings)
    path = db.sqlite_path(sqlite_url)
    engine = db.make_engine(settings, autocheckpoint=False)
    factory = db.make_sessionmaker(engine)

    written = 0

    def write(n: int) -> None:
        nonlocal written
        for _ in range(n):
            written += 1
            with db.transaction(factory) as s:
                s.execute(
                    text(
                        "INSERT INTO echoes (platform, account_id, external_id, text, seen_at)"
                        " VALUES ('x', 'a', :e, :t, '2026-11-24 00:00:00.000000')"
                    ),
                    {"e": str(written), "t": "x" * 3000},
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
