"""FeedbackService: every support answer kept (question, answer, where it came from), and customers' 👍 / 👎 on them."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import timedelta

import numpy as np

from bot.errors import UserError
from bot.i18n import N_, _
from bot.matching import LexicalIndex, analyzer, terms
from bot.records import utcnow
from bot.retrieval import Matcher
from bot.storage import AnswerStore
from bot.storage.answers import AnswerCounts, StoredAnswer

RATED_DOWN = N_("rated 👎")  # the handoff's reason, shown to staff with the review
RATING_DAYS = 7  # an answer older than this is not rated any more
# Two unanswered questions this alike (lemma TF-IDF cosine) are one suggestion: "선물포장 돼요?" and "선물 포장 가능한가요?".
ALIKE = 0.5


@dataclass(frozen=True)
class Suggestion:
    """Customers' questions that got no taught answer, alike enough to be taught as one."""

    key: int  # the newest asking of `question`, to teach from
    question: str  # the wording asked most
    count: int  # customers who asked it
    others: list[str]  # other wordings, newest first


class FeedbackService:
    def __init__(self, answers: AnswerStore, matcher: Matcher) -> None:
        self._answers = answers
        self._matcher = matcher  # support's: a question it now answers verbatim is taught already

    def record(
        self, key: int, *, question: str, answer: str, source: str, example_id: int | None, customer_id: int,
        guild_id: int | None, channel_id: int | None, replied_to: int | None, latency_ms: int,
    ) -> None:
        """Keep an answer shown to a customer, under the ID of their message (or /ask): queued, never waited for."""
        self._answers.record(
            key=key, customer_id=customer_id, guild_id=guild_id, channel_id=channel_id, replied_to=replied_to,
            question=question, answer=answer, source=source, example_id=example_id, latency_ms=latency_ms,
        )

    async def get(self, key: int) -> StoredAnswer:
        stored = await self._answers.get(key)
        if stored is None:
            raise UserError(_("That answer is no longer kept; ask the question again."))
        return stored

    async def rate(self, key: int, *, customer_id: int, up: bool) -> StoredAnswer:
        """The asker's one rating of their answer, within RATING_DAYS."""
        since = utcnow() - timedelta(days=RATING_DAYS)
        rated = await self._answers.rate(key, customer_id=customer_id, rating=1 if up else -1, answered_since=since)
        if rated is None:
            raise UserError(_("This answer was rated already, or is too old to rate; ask again and rate the new one."))
        return rated

    async def counts(self, days: int) -> AnswerCounts:
        today = utcnow().replace(hour=0, minute=0, second=0, microsecond=0)
        return await self._answers.counts(today - timedelta(days=days - 1))

    async def suggestions(self, days: int, most: int = 10) -> list[Suggestion]:
        """The most-asked questions of the last `days` days that got no taught answer (and still get none), grouped."""
        since = utcnow() - timedelta(days=days)
        asked = await self._answers.unanswered(since)

        def still_unanswered_grouped() -> list[Suggestion]:  # thousands of questions: off the event loop
            return group_alike([row for row in asked if not self._matcher.search_now(row[2], k=2).sure])

        return (await asyncio.to_thread(still_unanswered_grouped))[:most]


def group_alike(asked: list[tuple[int, int, str]]) -> list[Suggestion]:
    """Group (key, customer, question) rows, newest first, by wording: each joins the first earlier group it is ALIKE to.

    Groups are ranked by how many customers asked; each shows its most asked wording.
    """
    if not asked:
        return []
    words = analyzer()
    features = [terms(words.lemmas(question)) for _, _, question in asked]
    index = LexicalIndex(features)
    group_of = np.full(len(asked), -1)
    groups: list[list[int]] = []
    for i in range(len(asked)):
        if group_of[i] >= 0:
            continue
        group_of[i] = len(groups)
        members = [i]
        for j in np.flatnonzero((index.scores(features[i]) >= ALIKE) & (group_of < 0)):
            group_of[j] = group_of[i]
            members.append(int(j))
        groups.append(members)
    suggestions = []
    for members in groups:
        askers: dict[str, set[int]] = {}
        newest: dict[str, int] = {}
        for i in members:  # newest first
            key, customer, question = asked[i]
            askers.setdefault(question, set()).add(customer)
            newest.setdefault(question, key)
        wordings = list(askers)
        top = max(wordings, key=lambda w: len(askers[w]))  # ties: the newest
        customers = set().union(*askers.values())
        suggestions.append(Suggestion(newest[top], top, len(customers), [w for w in wordings if w != top]))
    return sorted(suggestions, key=lambda s: -s.count)
