"""Storage: the database and one store per area; the only package that holds SQL."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bot.storage.answers import AnswerStore
from bot.storage.conversations import ConversationStore
from bot.storage.database import Database, DatabaseError, StorageError, database_url
from bot.storage.evaluations import EvaluationStore
from bot.storage.examples import ExampleStore
from bot.storage.handoffs import HandoffStore
from bot.storage.jobs import JobStore
from bot.storage.state import StateStore
from bot.storage.usage import UsageStore

__all__ = [
    "AnswerStore", "ConversationStore", "Database", "DatabaseError", "EvaluationStore", "ExampleStore", "HandoffStore", "JobStore", "StateStore", "Storage",
    "StorageError", "UsageStore",
]


@dataclass(frozen=True)
class Storage:
    database: Database
    examples: ExampleStore
    conversations: ConversationStore
    jobs: JobStore
    usage: UsageStore
    state: StateStore
    evaluations: EvaluationStore
    handoffs: HandoffStore
    answers: AnswerStore

    @classmethod
    async def open(cls, url: str | None, path: Path) -> Storage:
        """DATABASE_URL's PostgreSQL when given, else the SQLite file at `path`; migrated to the current schema."""
        database = await Database.open(database_url(url, path))
        return cls(
            database,
            ExampleStore(database),
            ConversationStore(database),
            JobStore(database),
            UsageStore(database),
            StateStore(database),
            EvaluationStore(database),
            HandoffStore(database),
            AnswerStore(database),
        )

    async def close(self) -> None:
        await self.usage.close()
        await self.answers.close()
        await self.database.close()
