"""Evaluation before promotion: held-out and test questions, evaluation reports, a job's promotion state.

Revision ID: 0002
Revises: 0001
Created: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

from bot.storage.schema import Timestamp

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

RowId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("training_jobs") as batch:
        batch.add_column(sa.Column("validation_file", sa.Text))
        batch.add_column(sa.Column("promotion", sa.Text))
        batch.add_column(sa.Column("evaluation_attempts", sa.Integer, nullable=False, server_default="0"))
    # Jobs that succeeded before evaluation existed were made live when they succeeded.
    op.execute("UPDATE training_jobs SET promotion = 'promoted' WHERE status = 'succeeded' AND fine_tuned_model IS NOT NULL")
    op.create_table(
        "held_out_questions",
        sa.Column("run_id", sa.Text, primary_key=True),
        sa.Column("position", sa.Integer, primary_key=True),
        sa.Column("question", sa.Text, nullable=False),
        sa.Column("answer", sa.Text, nullable=False),
    )
    op.create_table(
        "test_questions",
        sa.Column("id", RowId, primary_key=True),
        sa.Column("question", sa.Text, nullable=False),
        sa.Column("example_id", RowId, sa.ForeignKey("examples.id", ondelete="CASCADE"), nullable=False),
        sa.Column("author_id", sa.BigInteger),
        sa.Column("created_at", Timestamp, nullable=False),
    )
    op.create_table(
        "evaluations",
        sa.Column("id", RowId, primary_key=True),
        sa.Column("job_id", sa.Text),
        sa.Column("model", sa.Text, nullable=False),
        sa.Column("role", sa.Text, nullable=False),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.Column("requested_by", sa.BigInteger),
        sa.Column("asked", sa.Integer, nullable=False),
        sa.Column("answered_right", sa.Integer, nullable=False),
        sa.Column("confused", sa.Integer, nullable=False),
        sa.Column("off", sa.Integer, nullable=False),
        sa.Column("estimated_cost", sa.Float),
        sa.Column("detail", sa.Text, nullable=False),
    )
    op.create_index("evaluations_by_job", "evaluations", ["job_id"])


def downgrade() -> None:
    op.drop_table("evaluations")
    op.drop_table("test_questions")
    op.drop_table("held_out_questions")
    with op.batch_alter_table("training_jobs") as batch:
        batch.drop_column("evaluation_attempts")
        batch.drop_column("promotion")
        batch.drop_column("validation_file")
