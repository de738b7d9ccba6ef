"""The tables, in SQLAlchemy Core: one description that both SQLite and PostgreSQL are built from."""

from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import (
    BigInteger,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    text,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.types import TypeDecorator

# The Alembic revision this code's tables match (tests check it is the newest in migrations/versions).
SCHEMA_REVISION = "0003"


class Timestamp(TypeDecorator[datetime]):
    """An aware UTC datetime: `timestamptz` on PostgreSQL, ISO 8601 text on SQLite (as the first versions stored it)."""

    impl = String
    cache_ok = True

    def load_dialect_impl(self, dialect):
        if dialect.name == "postgresql":
            return dialect.type_descriptor(postgresql.TIMESTAMP(timezone=True))
        return dialect.type_descriptor(Text())

    def process_bind_param(self, value, dialect):
        if value is None or dialect.name == "postgresql":
            return value
        return value.isoformat()

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        moment = value if isinstance(value, datetime) else datetime.fromisoformat(value)
        return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


# Row IDs: 64-bit on PostgreSQL; on SQLite an INTEGER PRIMARY KEY is the rowid, as before.
RowId = BigInteger().with_variant(Integer(), "sqlite")
# Discord snowflakes need 64 bits.
DiscordId = BigInteger

metadata = MetaData()

meta = Table(
    "meta",
    metadata,
    Column("key", Text, primary_key=True),
    Column("value", Text, nullable=False),
)

support_models = Table(
    "support_models",
    metadata,
    Column("id", RowId, primary_key=True),
    Column("model", Text, nullable=False),
    Column("activated_at", Timestamp, nullable=False),
    Column("activated_by", Text),
    Column("reason", Text, nullable=False),
)

usage = Table(
    "usage",
    metadata,
    Column("id", RowId, primary_key=True),
    Column("at", Timestamp, nullable=False),
    Column("model", Text, nullable=False),
    Column("purpose", Text, nullable=False),
    Column("prompt_tokens", Integer, nullable=False),
    Column("completion_tokens", Integer, nullable=False),
    Column("user_id", DiscordId),
    Column("guild_id", DiscordId),
    Index("usage_by_time", "at"),
    Index("usage_by_user", "user_id", "at"),
    Index("usage_by_guild", "guild_id", "at"),
)

flagged_messages = Table(
    "flagged_messages",
    metadata,
    Column("id", RowId, primary_key=True),
    Column("at", Timestamp, nullable=False),
    Column("user_id", DiscordId),
    Column("guild_id", DiscordId),
    Column("purpose", Text, nullable=False),
    Column("categories", Text, nullable=False),
    Column("content", Text, nullable=False),
)

examples = Table(
    "examples",
    metadata,
    Column("id", RowId, primary_key=True),
    Column("question", Text, nullable=False),
    Column("answer", Text, nullable=False),
    Column("author_id", DiscordId),
    Column("created_at", Timestamp, nullable=False),
    Column("updated_at", Timestamp),
)

audit_log = Table(
    "audit_log",
    metadata,
    Column("id", RowId, primary_key=True),
    Column("at", Timestamp, nullable=False),
    Column("actor_id", DiscordId),
    Column("action", Text, nullable=False),
    Column("example_id", BigInteger),
    Column("detail", Text, nullable=False),
)

example_vectors = Table(
    "example_vectors",
    metadata,
    Column("example_id", RowId, ForeignKey("examples.id", ondelete="CASCADE"), primary_key=True),
    Column("model", Text, primary_key=True),
    Column("fingerprint", Text, nullable=False),
    Column("vector", LargeBinary, nullable=False),
)

training_jobs = Table(
    "training_jobs",
    metadata,
    Column("id", Text, primary_key=True),
    Column("run_id", Text, nullable=False, unique=True),
    Column("base_model", Text, nullable=False),
    Column("training_file", Text, nullable=False),
    Column("started_by", DiscordId, nullable=False),
    Column("channel_id", DiscordId),
    Column("status", Text, nullable=False),
    Column("reported_status", Text),
    Column("fine_tuned_model", Text),
    Column("error", Text),
    Column("trained_tokens", BigInteger),
    Column("created_at", Timestamp, nullable=False),
    Column("updated_at", Timestamp, nullable=False),
    Column("finished_at", Timestamp),
    Column("validation_file", Text),
    # What happens to a succeeded job's model: "pending" until it is evaluated (see bot/evaluation.py),
    # then "promoted", "awaiting" (an admin decides) or "kept"; NULL for jobs from before evaluation.
    Column("promotion", Text),
    # Evaluations of its model begun: bounded, so a failing one is not paid for again at every restart.
    Column("evaluation_attempts", Integer, nullable=False, server_default="0"),
    Index("training_jobs_by_time", "created_at"),
)

# The questions a run kept out of training, to evaluate its model on.
held_out_questions = Table(
    "held_out_questions",
    metadata,
    Column("run_id", Text, primary_key=True),
    Column("position", Integer, primary_key=True),
    Column("question", Text, nullable=False),
    Column("answer", Text, nullable=False),
)

# Questions staff wrote only to test with: never trained on, never matched; the expected answer is an example's.
test_questions = Table(
    "test_questions",
    metadata,
    Column("id", RowId, primary_key=True),
    Column("question", Text, nullable=False),
    Column("example_id", RowId, ForeignKey("examples.id", ondelete="CASCADE"), nullable=False),
    Column("author_id", DiscordId),
    Column("created_at", Timestamp, nullable=False),
)

evaluations = Table(
    "evaluations",
    metadata,
    Column("id", RowId, primary_key=True),
    Column("job_id", Text),
    Column("model", Text, nullable=False),
    Column("role", Text, nullable=False),
    Column("created_at", Timestamp, nullable=False),
    Column("requested_by", DiscordId),
    Column("asked", Integer, nullable=False),
    Column("answered_right", Integer, nullable=False),
    Column("confused", Integer, nullable=False),
    Column("off", Integer, nullable=False),
    Column("estimated_cost", Float),
    Column("detail", Text, nullable=False),
    Index("evaluations_by_job", "job_id"),
)

bartender_sessions = Table(
    "bartender_sessions",
    metadata,
    Column("id", RowId, primary_key=True),
    Column("scope", Text, nullable=False),
    Column("user_id", DiscordId, nullable=False),
    Column("thread_id", DiscordId),
    Column("summary", Text, nullable=False, server_default=""),
    Column("summarized_through", BigInteger, nullable=False, server_default="0"),
    Column("created_at", Timestamp, nullable=False),
    Column("last_active_at", Timestamp, nullable=False),
    Column("closed_at", Timestamp),
    Column("closed_because", Text),
    # One open session per place: two processes can't both start one.
    Index(
        "bartender_sessions_open",
        "scope",
        unique=True,
        sqlite_where=text("closed_at IS NULL"),
        postgresql_where=text("closed_at IS NULL"),
    ),
)

bartender_turns = Table(
    "bartender_turns",
    metadata,
    Column("id", RowId, primary_key=True),
    Column("session_id", RowId, ForeignKey("bartender_sessions.id"), nullable=False),
    Column("user_message", Text, nullable=False),
    Column("reply", Text),
    Column("status", Text, nullable=False),
    Column("tokens", Integer, nullable=False),
    Column("created_at", Timestamp, nullable=False),
    Index("bartender_turns_by_session", "session_id", "id"),
)


# A customer's question passed to staff: open until a staff member answers it; one open handoff per customer.
handoffs = Table(
    "handoffs",
    metadata,
    Column("id", RowId, primary_key=True),
    Column("customer_id", DiscordId, nullable=False),
    Column("guild_id", DiscordId),
    Column("channel_id", DiscordId, nullable=False),
    Column("message_id", DiscordId),
    Column("question", Text, nullable=False),
    Column("bot_answer", Text),
    Column("reason", Text, nullable=False),
    Column("status", Text, nullable=False),
    Column("staff_message_id", DiscordId),
    Column("staff_thread_id", DiscordId),
    Column("created_at", Timestamp, nullable=False),
    Column("updated_at", Timestamp, nullable=False),
    Column("reminded_at", Timestamp),
    Column("answered_by", DiscordId),
    Column("answered_at", Timestamp),
    Column("answer", Text),
    Index(
        "handoffs_open",
        "customer_id",
        unique=True,
        sqlite_where=text("status = 'open'"),
        postgresql_where=text("status = 'open'"),
    ),
)


# Every support answer, keyed by the customer's message (or /ask interaction) ID, with the customer's rating.
support_answers = Table(
    "support_answers",
    metadata,
    Column("key", BigInteger, primary_key=True, autoincrement=False),
    Column("at", Timestamp, nullable=False),
    Column("customer_id", DiscordId, nullable=False),
    Column("guild_id", DiscordId),
    Column("channel_id", DiscordId),
    Column("replied_to", DiscordId),  # the customer's message the answer replied to (none for /ask)
    Column("question", Text, nullable=False),
    Column("answer", Text, nullable=False),
    Column("source", Text, nullable=False),
    Column("example_id", BigInteger),
    Column("latency_ms", Integer, nullable=False),
    Column("rating", Integer),
    Column("rated_at", Timestamp),
    Index("support_answers_by_time", "at"),
)
