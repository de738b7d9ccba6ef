"""Baseline: the schema the SQLite-only versions reached (their schema version 5), for both engines.

Revision ID: 0001
Revises:
Created: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

from bot.storage.schema import Timestamp

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

RowId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "meta",
        sa.Column("key", sa.Text, primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
    )
    op.create_table(
        "support_models",
        sa.Column("id", RowId, primary_key=True),
        sa.Column("model", sa.Text, nullable=False),
        sa.Column("activated_at", Timestamp, nullable=False),
        sa.Column("activated_by", sa.Text),
        sa.Column("reason", sa.Text, nullable=False),
    )
    op.create_table(
        "usage",
        sa.Column("id", RowId, primary_key=True),
        sa.Column("at", Timestamp, nullable=False),
        sa.Column("model", sa.Text, nullable=False),
        sa.Column("purpose", sa.Text, nullable=False),
        sa.Column("prompt_tokens", sa.Integer, nullable=False),
        sa.Column("completion_tokens", sa.Integer, nullable=False),
        sa.Column("user_id", sa.BigInteger),
        sa.Column("guild_id", sa.BigInteger),
    )
    op.create_index("usage_by_time", "usage", ["at"])
    op.create_index("usage_by_user", "usage", ["user_id", "at"])
    op.create_index("usage_by_guild", "usage", ["guild_id", "at"])
    op.create_table(
        "flagged_messages",
        sa.Column("id", RowId, primary_key=True),
        sa.Column("at", Timestamp, nullable=False),
        sa.Column("user_id", sa.BigInteger),
        sa.Column("guild_id", sa.BigInteger),
        sa.Column("purpose", sa.Text, nullable=False),
        sa.Column("categories", sa.Text, nullable=False),
        sa.Column("content", sa.Text, nullable=False),
    )
    op.create_table(
        "examples",
        sa.Column("id", RowId, primary_key=True),
        sa.Column("question", sa.Text, nullable=False),
        sa.Column("answer", sa.Text, nullable=False),
        sa.Column("author_id", sa.BigInteger),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.Column("updated_at", Timestamp),
    )
    op.create_table(
        "audit_log",
        sa.Column("id", RowId, primary_key=True),
        sa.Column("at", Timestamp, nullable=False),
        sa.Column("actor_id", sa.BigInteger),
        sa.Column("action", sa.Text, nullable=False),
        sa.Column("example_id", sa.BigInteger),
        sa.Column("detail", sa.Text, nullable=False),
    )
    op.create_table(
        "example_vectors",
        sa.Column("example_id", RowId, sa.ForeignKey("examples.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("model", sa.Text, primary_key=True),
        sa.Column("fingerprint", sa.Text, nullable=False),
        sa.Column("vector", sa.LargeBinary, nullable=False),
    )
    op.create_table(
        "training_jobs",
        sa.Column("id", sa.Text, primary_key=True),
        sa.Column("run_id", sa.Text, nullable=False, unique=True),
        sa.Column("base_model", sa.Text, nullable=False),
        sa.Column("training_file", sa.Text, nullable=False),
        sa.Column("started_by", sa.BigInteger, nullable=False),
        sa.Column("channel_id", sa.BigInteger),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("reported_status", sa.Text),
        sa.Column("fine_tuned_model", sa.Text),
        sa.Column("error", sa.Text),
        sa.Column("trained_tokens", sa.BigInteger),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.Column("updated_at", Timestamp, nullable=False),
        sa.Column("finished_at", Timestamp),
    )
    op.create_index("training_jobs_by_time", "training_jobs", ["created_at"])
    op.create_table(
        "bartender_sessions",
        sa.Column("id", RowId, primary_key=True),
        sa.Column("scope", sa.Text, nullable=False),
        sa.Column("user_id", sa.BigInteger, nullable=False),
        sa.Column("thread_id", sa.BigInteger),
        sa.Column("summary", sa.Text, nullable=False, server_default=""),
        sa.Column("summarized_through", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.Column("last_active_at", Timestamp, nullable=False),
        sa.Column("closed_at", Timestamp),
        sa.Column("closed_because", sa.Text),
    )
    op.create_index(
        "bartender_sessions_open",
        "bartender_sessions",
        ["scope"],
        unique=True,
        sqlite_where=sa.text("closed_at IS NULL"),
        postgresql_where=sa.text("closed_at IS NULL"),
    )
    op.create_table(
        "bartender_turns",
        sa.Column("id", RowId, primary_key=True),
        sa.Column("session_id", RowId, sa.ForeignKey("bartender_sessions.id"), nullable=False),
        sa.Column("user_message", sa.Text, nullable=False),
        sa.Column("reply", sa.Text),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("tokens", sa.Integer, nullable=False),
        sa.Column("created_at", Timestamp, nullable=False),
    )
    op.create_index("bartender_turns_by_session", "bartender_turns", ["session_id", "id"])


def downgrade() -> None:
    for table in (
        "bartender_turns", "bartender_sessions", "training_jobs", "example_vectors", "audit_log",
        "examples", "flagged_messages", "usage", "support_models", "meta",
    ):
        op.drop_table(table)
