"""the context pass: what a new message still needs (name, language, earlier details), and
whether its language was too short to tell

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02 19:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("messages") as batch:
        batch.add_column(
            sa.Column("language_guessed", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch.add_column(sa.Column("context_due", sa.SmallInteger(), nullable=False, server_default="0"))
    op.create_index(
        "ix_messages_context_due",
        "messages",
        ["id"],
        sqlite_where=sa.text("context_due > 0"),
        postgresql_where=sa.text("context_due > 0"),
    )


def downgrade() -> None:
    op.drop_index("ix_messages_context_due", table_name="messages")
    with op.batch_alter_table("messages") as batch:
        batch.drop_column("context_due")
        batch.drop_column("language_guessed")
