"""The migrations build exactly the schema the models describe, on SQLite and PostgreSQL, and
running them twice changes nothing."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, text

from app import db
from app.config import Settings
from app.models import Base


def test_migrated_schema_matches_the_models(database_url: str) -> None:
    db.upgrade(Settings(database_url=database_url))  # a second run is a no-op
    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            diff = compare_metadata(
                MigrationContext.configure(conn, opts={"compare_type": False}), Base.metadata
            )
            templates = conn.execute(text("SELECT count(*) FROM reply_templates")).scalar()
    finally:
        engine.dispose()
    assert diff == []
    assert templates == 18  # the default templates, seeded once
