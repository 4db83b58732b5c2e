"""spam and abuse flagged on messages and their drafts (kept, filterable, no reply text)

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 19:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    for table in ("messages", "drafts"):
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("spam", sa.Boolean(), nullable=False, server_default=sa.false()))
    # only the (rare) spam rows are in this index: the queue's "spam only" filter
    op.create_index(
        "ix_drafts_queue_spam",
        "drafts",
        ["status", "priority", "received_at", "id"],
        sqlite_where=sa.text("spam"),
        postgresql_where=sa.text("spam"),
    )


def downgrade() -> None:
    op.drop_index("ix_drafts_queue_spam", table_name="drafts")
    for table in ("drafts", "messages"):
        with op.batch_alter_table(table) as batch:
            batch.drop_column("spam")
