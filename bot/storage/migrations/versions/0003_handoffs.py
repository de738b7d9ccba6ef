"""Handoffs (customers' questions passed to staff) and support answers with their ratings.

Revision ID: 0003
Revises: 0002
Created: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

from bot.storage.schema import Timestamp

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

RowId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "handoffs",
        sa.Column("id", RowId, primary_key=True),
        sa.Column("customer_id", sa.BigInteger, nullable=False),
        sa.Column("guild_id", sa.BigInteger),
        sa.Column("channel_id", sa.BigInteger, nullable=False),
        sa.Column("message_id", sa.BigInteger),
        sa.Column("question", sa.Text, nullable=False),
        sa.Column("bot_answer", sa.Text),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("staff_message_id", sa.BigInteger),
        sa.Column("staff_thread_id", sa.BigInteger),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.Column("updated_at", Timestamp, nullable=False),
        sa.Column("reminded_at", Timestamp),
        sa.Column("answered_by", sa.BigInteger),
        sa.Column("answered_at", Timestamp),
        sa.Column("answer", sa.Text),
    )
    op.create_index(
        "handoffs_open", "handoffs", ["customer_id"], unique=True,
        sqlite_where=sa.text("status = 'open'"), postgresql_where=sa.text("status = 'open'"),
    )
    op.create_table(
        "support_answers",
        sa.Column("key", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("at", Timestamp, nullable=False),
        sa.Column("customer_id", sa.BigInteger, nullable=False),
        sa.Column("guild_id", sa.BigInteger),
        sa.Column("channel_id", sa.BigInteger),
        sa.Column("replied_to", sa.BigInteger),
        sa.Column("question", sa.Text, nullable=False),
        sa.Column("answer", sa.Text, nullable=False),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("example_id", sa.BigInteger),
        sa.Column("latency_ms", sa.Integer, nullable=False),
        sa.Column("rating", sa.Integer),
        sa.Column("rated_at", Timestamp),
    )
    op.create_index("support_answers_by_time", "support_answers", ["at"])


def downgrade() -> None:
    op.drop_table("support_answers")
    op.drop_table("handoffs")
