"""Engines, sessions and migrations, for SQLite (the embedded default) and PostgreSQL (scale).

SQLite runs in WAL mode with a busy timeout and `BEGIN IMMEDIATE` transactions, so that two
writers queue on the database lock instead of failing half-way with "database is locked" on
lock upgrade. PostgreSQL uses psycopg 3 with the same code and migrations.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, cast

from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import CursorResult, Engine
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.sql import Executable

from app.config import Settings

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
# Any constant will do: it names the lock that serialises concurrent `relais db upgrade`.
MIGRATION_LOCK_ID = 0x52454C4149
log = logging.getLogger("relais.db")


def sqlite_path(url: str) -> str:
    """The file of a `sqlite:///...` URL ("" for an in-memory database)."""
    return url.split("///", 1)[1] if "///" in url else ""


def make_engine(settings: Settings, *, autocheckpoint: bool = True) -> Engine:
    """Create the engine for `settings.database_url`, tuned per dialect.

    `autocheckpoint=False` (SQLite): commits never copy the WAL back into the database file
    themselves; a `WalCheckpointer` must run beside them (the intake child does)."""
    url = settings.database_url
    if url.startswith("sqlite"):
        path = sqlite_path(url)
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": settings.sqlite_busy_timeout_ms / 1000},
            pool_size=settings.db_pool_size,
            max_overflow=20,
        )
        _tune_sqlite(engine, settings, autocheckpoint=autocheckpoint)
        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return create_engine(
        url,
        pool_size=settings.db_pool_size,
        max_overflow=20,
        pool_pre_ping=True,
        connect_args={"connect_timeout": 5},
    )


def _tune_sqlite(engine: Engine, settings: Settings, *, autocheckpoint: bool = True) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy drive transactions (pysqlite's own BEGIN handling is off).
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute(f"PRAGMA synchronous={settings.sqlite_synchronous}")
        cur.execute(f"PRAGMA busy_timeout={int(settings.sqlite_busy_timeout_ms)}")
        cur.execute("PRAGMA foreign_keys=ON")
        # a multi-row INSERT keeps a statement journal (to undo it alone on a constraint error);
        # past 64 KiB SQLite spills it to a temporary file, which an intake batch did on every
        # insert: in memory, bench/intake_batches.py at batches of 16 measured the three inserts
        # at 45-47 µs per delivery instead of 60-64
        cur.execute("PRAGMA temp_store=MEMORY")
        if not autocheckpoint:
            cur.execute("PRAGMA wal_autocheckpoint=0")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        # Writers take the lock up front (waiting on busy_timeout); readers never block.
        if conn.get_execution_options().get("relais_readonly"):
            conn.exec_driver_sql("BEGIN")
        else:
            conn.exec_driver_sql("BEGIN IMMEDIATE")


class WalCheckpointer:
    """Copies SQLite's write-ahead log back into the database file from a thread of its own.

    By default the commit that takes the WAL past 1,000 pages does that copy (and, with
    synchronous=FULL, an fsync of the database file) before it returns: under a burst, one batch
    of deliveries in thirty waited for it. Here a PASSIVE checkpoint runs every `interval_s`
    beside the writer, never taking the write lock, so commits only append to the log.
    """

    def __init__(self, settings: Settings, interval_s: float = 0.25):
        self.path = sqlite_path(settings.database_url)
        self.interval_s = interval_s
        self.busy_timeout_ms = settings.sqlite_busy_timeout_ms
        self.synchronous = settings.sqlite_synchronous
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="relais-wal-checkpoint", daemon=True)

    def start(self) -> WalCheckpointer:
        self._thread.start()
        return self

    def _run(self) -> None:
        conn = None
        while not self._stop.wait(self.interval_s):
            try:
                if conn is None:
                    conn = sqlite3.connect(
                        self.path, timeout=self.busy_timeout_ms / 1000, isolation_level=None
                    )
                    conn.execute(f"PRAGMA synchronous={self.synchronous}")
                conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
            except sqlite3.Error as e:  # the file went away or is locked: try again next time
                log.warning("WAL checkpoint failed: %s", e)
                if conn is not None:
                    conn.close()
                conn = None
        if conn is not None:
            conn.close()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)


def make_sessionmaker(engine: Engine, *, readonly: bool = False) -> sessionmaker[Session]:
    """Sessions on `engine`; read-only ones do not take SQLite's write lock."""
    bind = engine.execution_options(relais_readonly=True) if readonly else engine
    return sessionmaker(bind, expire_on_commit=False)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One unit of work: commit on success, roll back on error."""
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def changed(session: Session, statement: Executable) -> int:
    """Run an UPDATE or DELETE in `session`; the number of rows it changed."""
    return cast("CursorResult[Any]", session.execute(statement)).rowcount


def alembic_config(database_url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return cfg


def upgrade(settings: Settings, revision: str = "head") -> None:
    """Apply migrations; safe when several processes start at once."""
    engine = make_engine(settings)
    try:
        with engine.connect() as conn:
            if engine.dialect.name == "postgresql":
                # Two servers starting together would both try to create the tables.
                conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": MIGRATION_LOCK_ID})
                conn.commit()
            try:
                cfg = alembic_config(settings.database_url)
                cfg.attributes["connection"] = conn
                command.upgrade(cfg, revision)
                conn.commit()
            finally:
                if engine.dialect.name == "postgresql":
                    conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": MIGRATION_LOCK_ID})
                    conn.commit()
    finally:
        engine.dispose()


def database_ok(engine: Engine) -> bool:
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        return True
    except (OperationalError, DBAPIError):
        return False
