"""queue index for the language filter

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24 07:45:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_drafts_queue_language", "drafts", ["status", "language", "priority", "received_at", "id"]
    )


def downgrade() -> None:
    op.drop_index("ix_drafts_queue_language", table_name="drafts")
