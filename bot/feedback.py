"""FeedbackService: every support answer kept (question, answer, where it came from), and customers' 👍 / 👎 on them."""

from __future__ import annotations

from datetime import timedelta

from bot.errors import UserError
from bot.records import utcnow
from bot.storage import AnswerStore
from bot.storage.answers import AnswerCounts, RatedAnswer
from bot.support import Answer

RATED_DOWN = "rated 👎"
RATING_DAYS = 7  # an answer older than this is not rated any more


class FeedbackService:
    def __init__(self, answers: AnswerStore) -> None:
        self._answers = answers

    def record(
        self, key: int, answer: Answer, *, question: str, customer_id: int, guild_id: int | None, channel_id: int | None,
        latency_ms: int,
    ) -> None:
        """Keep an answer shown to a customer, under the ID of their message (or /ask): queued, never waited for."""
        source = "handoff" if answer.for_staff else answer.source
        self._answers.record(
            key=key, customer_id=customer_id, guild_id=guild_id, channel_id=channel_id, question=question,
            answer=answer.text, source=source, example_id=answer.example_id, latency_ms=latency_ms,
        )

    async def rate(self, key: int, *, customer_id: int, up: bool) -> RatedAnswer:
        since = utcnow() - timedelta(days=RATING_DAYS)
        rated = await self._answers.rate(key, customer_id=customer_id, rating=1 if up else -1, answered_since=since)
        if rated is None:
            raise UserError("This answer can't be rated any more; ask again and rate the new one.")
        return rated

    async def counts(self, days: int) -> AnswerCounts:
        today = utcnow().replace(hour=0, minute=0, second=0, microsecond=0)
        return await self._answers.counts(today - timedelta(days=days - 1))
