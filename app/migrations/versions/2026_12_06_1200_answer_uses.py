"""the knowledge base learns from its use: each approved reply drafted from an answer (and kept
close to it) records the customer's message as one more example of that answer

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06 12:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigIntPK = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "answer_uses",
        sa.Column("id", BigIntPK, nullable=False),
        sa.Column("answer_id", sa.BigInteger(), nullable=False),
        sa.Column("draft_id", sa.BigInteger(), nullable=True),
        sa.Column("message_text", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["answer_id"], ["answers.id"], name=op.f("fk_answer_uses_answer_id_answers"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_answer_uses")),
    )
    op.create_index("ix_answer_uses_answer", "answer_uses", ["answer_id", "id"])


def downgrade() -> None:
    op.drop_index("ix_answer_uses_answer", table_name="answer_uses")
    op.drop_table("answer_uses")
