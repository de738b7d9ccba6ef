"""AnswerStore: every support answer (written in batches) and the customers' ratings of them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select, update

from bot.records import utcnow
from bot.storage.batches import Batch
from bot.storage.database import Database
from bot.storage.schema import support_answers as answers


@dataclass(frozen=True)
class StoredAnswer:
    key: int
    customer_id: int
    guild_id: int | None
    channel_id: int | None
    replied_to: int | None
    question: str
    answer: str
    source: str
    rating: int | None


_STORED = (
    answers.c.key, answers.c.customer_id, answers.c.guild_id, answers.c.channel_id, answers.c.replied_to,
    answers.c.question, answers.c.answer, answers.c.source, answers.c.rating,
)


@dataclass(frozen=True)
class AnswerCounts:
    """Answers since a day, by where they came from, and how customers rated them."""

    by_source: dict[str, int]
    up: int
    down: int


class AnswerStore:
    def __init__(self, db: Database) -> None:
        self._db = db
        self._batch = Batch(db, answers, "answers")

    def record(
        self, *, key: int, customer_id: int, guild_id: int | None, channel_id: int | None, replied_to: int | None,
        question: str, answer: str, source: str, example_id: int | None, latency_ms: int,
    ) -> None:
        """Queue one answer: written within a quarter of a second, with the others queued meanwhile."""
        self._batch.add(
            {
                "key": key, "at": utcnow(), "customer_id": customer_id, "guild_id": guild_id, "channel_id": channel_id,
                "replied_to": replied_to, "question": question, "answer": answer, "source": source, "example_id": example_id,
                "latency_ms": latency_ms,
            }
        )

    async def get(self, key: int) -> StoredAnswer | None:
        await self._batch.flush()
        async with self._db.read() as conn:
            row = (await conn.execute(select(*_STORED).where(answers.c.key == key))).first()
        return StoredAnswer(*row) if row else None

    async def rate(self, key: int, *, customer_id: int, rating: int, answered_since: datetime) -> StoredAnswer | None:
        """The customer's first rating of their own answer; None when it was rated already, is older, or isn't theirs."""
        await self._batch.flush()
        async with self._db.write() as conn:
            row = (await conn.execute(
                update(answers)
                .where(
                    answers.c.key == key, answers.c.customer_id == customer_id, answers.c.at >= answered_since,
                    answers.c.rating.is_(None),
                )
                .values(rating=rating, rated_at=utcnow())
                .returning(*_STORED)
            )).first()
        return StoredAnswer(*row) if row else None

    async def counts(self, since: datetime) -> AnswerCounts:
        await self._batch.flush()
        async with self._db.read() as conn:
            by_source = dict((await conn.execute(
                select(answers.c.source, func.count()).where(answers.c.at >= since).group_by(answers.c.source)
            )).all())
            ratings = dict((await conn.execute(
                select(answers.c.rating, func.count()).where(answers.c.at >= since, answers.c.rating.is_not(None)).group_by(answers.c.rating)
            )).all())
        return AnswerCounts({str(k): int(v) for k, v in by_source.items()}, int(ratings.get(1, 0)), int(ratings.get(-1, 0)))

    async def unanswered(self, since: datetime, *, most: int = 5000) -> list[tuple[int, int, str]]:
        """(key, customer, question) of the questions since `since` no taught answer covered, newest first.

        Questions that asked for a person, or that moderation refused, are not questions to teach.
        """
        await self._batch.flush()
        query = (
            select(answers.c.key, answers.c.customer_id, answers.c.question)
            .where(answers.c.at >= since, answers.c.source.not_in(("taught", "staff", "refused")))
            .order_by(answers.c.at.desc())
            .limit(most)
        )
        async with self._db.read() as conn:
            return [(int(key), int(customer), question) for key, customer, question in (await conn.execute(query)).all()]

    async def flush(self) -> None:
        await self._batch.flush()

    async def close(self) -> None:
        await self._batch.close()
