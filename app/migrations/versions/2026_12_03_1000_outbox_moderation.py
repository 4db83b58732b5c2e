"""the outbox carries moderations too (hide, unhide, delete a comment): an action per row, one
reply per draft kept by a partial unique index

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

REPLY = sa.text("action = 'reply'")


def upgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("action", sa.String(length=16), nullable=False, server_default="reply"))
        batch.drop_constraint("uq_outbox_draft_id", type_="unique")
    op.create_index("ix_outbox_draft", "outbox", ["draft_id", "id"])
    op.create_index(
        "uq_outbox_reply", "outbox", ["draft_id"], unique=True, sqlite_where=REPLY, postgresql_where=REPLY
    )


def downgrade() -> None:
    op.execute("DELETE FROM outbox WHERE action <> 'reply'")
    op.drop_index("uq_outbox_reply", table_name="outbox")
    op.drop_index("ix_outbox_draft", table_name="outbox")
    with op.batch_alter_table("outbox") as batch:
        batch.create_unique_constraint("uq_outbox_draft_id", ["draft_id"])
        batch.drop_column("action")
