"""the knowledge base (answers) and its audit (admin_events), the approved replies drafting
reuses (past_replies), and where each draft came from (drafts.source_*)

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 18:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigIntPK = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "answers",
        sa.Column("id", BigIntPK, nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("language", sa.String(length=8), nullable=False),
        sa.Column("category", sa.String(length=16), nullable=True),
        sa.Column("examples", sa.JSON(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("updated_by", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_answers")),
    )
    op.create_table(
        "past_replies",
        sa.Column("id", BigIntPK, nullable=False),
        sa.Column("draft_id", sa.BigInteger(), nullable=True),
        sa.Column("language", sa.String(length=8), nullable=True),
        sa.Column("message_text", sa.Text(), nullable=False),
        sa.Column("author_name", sa.String(length=255), nullable=True),
        sa.Column("reply", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_past_replies")),
    )
    op.create_table(
        "admin_events",
        sa.Column("id", BigIntPK, nullable=False),
        sa.Column("subject", sa.String(length=32), nullable=False),
        sa.Column("subject_id", sa.BigInteger(), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("actor_id", sa.BigInteger(), nullable=True),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_admin_events")),
    )
    op.create_index("ix_admin_events_subject", "admin_events", ["subject", "subject_id", "id"])
    with op.batch_alter_table("drafts") as batch:
        batch.add_column(sa.Column("source_kind", sa.String(length=16), nullable=True))
        batch.add_column(sa.Column("source_id", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("source_score", sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("drafts") as batch:
        batch.drop_column("source_score")
        batch.drop_column("source_id")
        batch.drop_column("source_kind")
    op.drop_index("ix_admin_events_subject", table_name="admin_events")
    op.drop_table("admin_events")
    op.drop_table("past_replies")
    op.drop_table("answers")
