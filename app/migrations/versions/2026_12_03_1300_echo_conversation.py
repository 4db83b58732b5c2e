"""echoes carry their thread and the platform's time of posting, for the conversation page

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 19:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("echoes") as batch:
        batch.add_column(sa.Column("conversation_id", sa.String(length=255), nullable=True))
        batch.add_column(sa.Column("created_at", sa.DateTime(timezone=True), nullable=True))
    op.create_index("ix_echoes_conversation", "echoes", ["platform", "account_id", "conversation_id"])


def downgrade() -> None:
    op.drop_index("ix_echoes_conversation", table_name="echoes")
    with op.batch_alter_table("echoes") as batch:
        batch.drop_column("created_at")
        batch.drop_column("conversation_id")
