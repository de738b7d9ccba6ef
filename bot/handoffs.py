"""HandoffService: questions support can't answer go to staff; a staff answer goes back to the customer and becomes an example.

A handoff opens when support has no answer (no sure taught answer and no model, or a model that says the
taught answers don't cover the question), when a customer asks for a person, or when a customer asks for
staff under an answer. One customer's further questions join
their open handoff. A handoff nobody answered within HANDOFF_REMIND_MINUTES is announced once more.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import timedelta

from bot.errors import UserError
from bot.records import Example, Handoff, utcnow
from bot.storage import HandoffStore
from bot.teaching import MAX_ANSWER_CHARS, AlreadyTaught, TeachingService
from bot.text import clean

log = logging.getLogger(__name__)

NO_ANSWER, ASKED_FOR_STAFF, FROM_BUTTON = "no answer", "asked for staff", "asked under an answer"
MODEL_DID_NOT_KNOW = "the model did not know"

# What a customer writes to reach a person, in Korean (spaces ignored) and English.
_STAFF_WORDS = ("상담원", "상담사", "상담직원", "직원분", "직원이랑", "직원과", "직원연결", "사람이랑", "사람과", "사람연결", "매니저님", "관리자님")
_STAFF_PHRASES = re.compile(
    r"\b(human|real person|a person|someone real|(talk|speak|chat) (to|with) (a |an |your )?(staff|agent|someone|representative|rep)|"
    r"customer service rep|live agent|live person)\b",
    re.IGNORECASE,
)


def asks_for_staff(question: str) -> bool:
    """Whether the customer asks to talk to a person rather than the bot."""
    squeezed = "".join(question.split())
    return any(word in squeezed for word in _STAFF_WORDS) or _STAFF_PHRASES.search(question) is not None


@dataclass(frozen=True)
class Answered:
    taught: Example | None = None
    already_taught: Example | None = None  # the question was taught before: its answer was kept


class HandoffService:
    def __init__(self, store: HandoffStore, teaching: TeachingService, *, remind_after_minutes: float) -> None:
        self._store = store
        self._teaching = teaching
        self.remind_after = timedelta(minutes=remind_after_minutes)

    async def open(
        self, *, customer_id: int, guild_id: int | None, channel_id: int, message_id: int | None, question: str,
        bot_answer: str | None, reason: str,
    ) -> tuple[Handoff, bool]:
        """A new handoff, or the customer's open one with this question added (True)."""
        handoff, joined = await self._store.open_or_join(
            customer_id=customer_id, guild_id=guild_id, channel_id=channel_id, message_id=message_id,
            question=clean(question), bot_answer=bot_answer, reason=reason,
        )
        log.info("%s handoff #%s for customer %s (%s)", "joined" if joined else "opened", handoff.id, customer_id, reason)
        return handoff, joined

    async def posted(self, handoff_id: int, *, message_id: int, thread_id: int | None) -> None:
        await self._store.set_staff_post(handoff_id, message_id=message_id, thread_id=thread_id)

    async def get(self, handoff_id: int) -> Handoff:
        handoff = await self._store.get(handoff_id)
        if handoff is None:
            raise UserError(f"There is no handoff #{handoff_id}.")
        return handoff

    async def claim(self, handoff_id: int, answer: str, *, by: int) -> Handoff:
        """Record a staff member's answer, once: a second staff member answering the same handoff is told who was first."""
        answer = clean(answer)
        if not answer:
            raise UserError("The answer is empty; write what the customer should be told.")
        if len(answer) > MAX_ANSWER_CHARS:
            raise UserError(f"The answer is {len(answer):,} characters; keep it under {MAX_ANSWER_CHARS:,}.")
        handoff = await self._store.answer(handoff_id, by=by, answer=answer)
        if handoff is None:
            current = await self.get(handoff_id)
            raise UserError(f"Handoff #{handoff_id} was already answered by <@{current.answered_by}>; nothing was sent.")
        return handoff

    async def reopen(self, handoff_id: int) -> bool:
        """The answer could not be delivered: the handoff is open again, for another try (False: the customer has a newer one)."""
        return await self._store.reopen(handoff_id)

    async def teach(self, question: str, answer: str, *, by: int) -> Answered:
        """Teach a delivered answer, so the next customer asking this gets it at once."""
        try:
            return Answered(taught=await self._teaching.teach(question, answer, author_id=by))
        except AlreadyTaught as taught:
            return Answered(already_taught=taught.existing)

    async def open_ones(self) -> list[Handoff]:
        return await self._store.open_ones()

    async def due_reminders(self) -> list[Handoff]:
        """Open handoffs older than the reminder delay, each returned once (ever)."""
        return await self._store.claim_reminders(utcnow() - self.remind_after)
