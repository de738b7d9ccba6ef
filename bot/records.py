"""The records services pass around: what storage returns and takes, plain and immutable."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

FINISHED_STATUSES = ("succeeded", "failed", "cancelled")


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


@dataclass(frozen=True)
class Usage:
    """One model call's tokens, and whom they were spent for."""

    model: str
    purpose: str
    prompt_tokens: int
    completion_tokens: int
    user_id: int | None = None
    guild_id: int | None = None


@dataclass(frozen=True)
class UsageTotal:
    day: str
    model: str
    purpose: str
    prompt_tokens: int
    completion_tokens: int
    calls: int


@dataclass(frozen=True)
class Example:
    id: int
    question: str
    answer: str
    author_id: int | None
    created_at: datetime


@dataclass(frozen=True)
class AuditEntry:
    at: datetime
    actor_id: int | None
    action: str
    example_id: int | None
    detail: str


@dataclass(frozen=True)
class BartenderSession:
    id: int
    scope: str
    user_id: int
    thread_id: int | None
    summary: str
    summarized_through: int
    last_active_at: datetime


@dataclass(frozen=True)
class Turn:
    id: int
    user_message: str
    reply: str
    tokens: int


@dataclass(frozen=True)
class TrainingJob:
    id: str
    run_id: str
    base_model: str
    training_file: str
    started_by: int
    channel_id: int | None
    status: str
    reported_status: str | None
    fine_tuned_model: str | None
    error: str | None
    trained_tokens: int | None
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None
    validation_file: str | None = None
    promotion: str | None = None  # see schema.training_jobs
    evaluation_attempts: int = 0

    @property
    def finished(self) -> bool:
        return self.status in FINISHED_STATUSES


@dataclass(frozen=True)
class SupportModelChange:
    model: str
    activated_at: datetime
    activated_by: str | None
    reason: str


@dataclass(frozen=True)
class EvalQuestion:
    """A question to evaluate with, and the taught answer it should get."""

    question: str
    answer: str


@dataclass(frozen=True)
class Handoff:
    """A customer's question passed to staff (see bot/handoffs.py)."""

    id: int
    customer_id: int
    guild_id: int | None
    channel_id: int
    message_id: int | None
    question: str
    bot_answer: str | None
    reason: str
    status: str  # "open" or "answered"
    staff_message_id: int | None
    staff_thread_id: int | None
    created_at: datetime
    updated_at: datetime
    reminded_at: datetime | None
    answered_by: int | None
    answered_at: datetime | None
    answer: str | None

    @property
    def open(self) -> bool:
        return self.status == "open"
