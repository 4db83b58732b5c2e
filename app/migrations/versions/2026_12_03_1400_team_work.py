"""team work: a conversation's assignee (copied on its drafts, with a queue index for "mine"),
internal notes on conversations, each reviewer's saved queue filters

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03 12:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIGINT = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
UTC = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("drafts") as batch:
        batch.add_column(sa.Column("assignee_id", sa.BigInteger(), nullable=True))
    op.create_index(
        "ix_drafts_queue_assignee", "drafts", ["status", "assignee_id", "priority", "received_at", "id"]
    )
    op.create_table(
        "assignments",
        sa.Column("id", BIGINT, nullable=False),
        sa.Column("platform", sa.String(length=16), nullable=False),
        sa.Column("account_id", sa.String(length=128), nullable=False),
        sa.Column("conversation", sa.String(length=256), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("assigned_by", sa.BigInteger(), nullable=True),
        sa.Column("assigned_at", UTC, nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name="fk_assignments_user_id_users", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_assignments"),
        sa.UniqueConstraint(
            "platform", "account_id", "conversation", name="uq_assignments_platform_account_id_conversation"
        ),
    )
    op.create_table(
        "notes",
        sa.Column("id", BIGINT, nullable=False),
        sa.Column("platform", sa.String(length=16), nullable=False),
        sa.Column("account_id", sa.String(length=128), nullable=False),
        sa.Column("conversation", sa.String(length=256), nullable=False),
        sa.Column("draft_id", sa.BigInteger(), nullable=True),
        sa.Column("author_id", sa.BigInteger(), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("created_at", UTC, nullable=False),
        sa.ForeignKeyConstraint(
            ["author_id"], ["users.id"], name="fk_notes_author_id_users", ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_notes"),
    )
    op.create_index("ix_notes_conversation", "notes", ["platform", "account_id", "conversation", "id"])
    op.create_table(
        "saved_filters",
        sa.Column("id", BIGINT, nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("query", sa.String(length=1000), nullable=False),
        sa.Column("created_at", UTC, nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name="fk_saved_filters_user_id_users", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_saved_filters"),
        sa.UniqueConstraint("user_id", "name", name="uq_saved_filters_user_id_name"),
    )


def downgrade() -> None:
    op.drop_table("saved_filters")
    op.drop_index("ix_notes_conversation", table_name="notes")
    op.drop_table("notes")
    op.drop_table("assignments")
    op.drop_index("ix_drafts_queue_assignee", table_name="drafts")
    with op.batch_alter_table("drafts") as batch:
        batch.drop_column("assignee_id")
