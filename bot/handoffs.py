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
from datetime import datetime, timedelta

from bot.errors import UserError
from bot.i18n import N_, _
from bot.records import Example, Handoff, utcnow
from bot.storage import HandoffStore
from bot.teaching import MAX_ANSWER_CHARS, AlreadyTaught, TeachingService
from bot.text import clean

log = logging.getLogger(__name__)

# Why a handoff was opened: stored as written here, shown to staff in their server's language.
NO_ANSWER, ASKED_FOR_STAFF, FROM_BUTTON = N_("no answer"), N_("asked for staff"), N_("asked under an answer")
MODEL_DID_NOT_KNOW = N_("the model did not know")

# What a customer writes to reach a person: a person *and* reaching them, in Korean (spaces ignored) and English.
_STAFF_KO = re.compile(r"(상담원|상담사|상담직원)|(직원|사람|매니저|담당자)(분)?(이랑|과|와|하고|한테|에게)?(연결|통화|상담|얘기|이야기|대화|바꿔)")
_STAFF_EN = re.compile(
    r"\b((talk|speak|chat)\s+(to|with)\s+(a\s+|an\s+|your\s+|some\s+)?(real\s+)?(human|person|staff|agent|someone|representative|rep)\b"
    r"|real\s+person|live\s+(agent|person)|human\s+(agent|please|pls))",
    re.IGNORECASE,
)
MAX_JOINED_CHARS = 4000  # a handoff's questions together: a customer who keeps asking adds no more past this


def asks_for_staff(question: str) -> bool:
    """Whether the customer asks to be put through to a person rather than the bot."""
    return _STAFF_KO.search("".join(question.split())) is not None or _STAFF_EN.search(question) is not None


@dataclass(frozen=True)
class Taught:
    """What teaching a staff answer did."""

    example: Example | None = None
    already_taught: AlreadyTaught | None = None  # the question was taught before: its answer is kept unless staff replace it


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
            question=clean(question)[:MAX_JOINED_CHARS] or "(no text)", bot_answer=bot_answer, reason=reason,
            most=MAX_JOINED_CHARS,
        )
        log.info("%s handoff #%s for customer %s (%s)", "joined" if joined else "opened", handoff.id, customer_id, reason)
        return handoff, joined

    async def posted(self, handoff_id: int, *, message_id: int, thread_id: int | None) -> None:
        await self._store.set_staff_post(handoff_id, message_id=message_id, thread_id=thread_id)

    async def get(self, handoff_id: int) -> Handoff:
        handoff = await self._store.get(handoff_id)
        if handoff is None:
            raise UserError(_("There is no handoff #{handoff}.", handoff=handoff_id))
        return handoff

    async def claim(self, handoff_id: int, answer: str, *, by: int, seen: datetime) -> Handoff:
        """Record a staff member's answer, once, to the questions they saw (the handoff as updated at `seen`).

        A second staff member is told who was first; a question added meanwhile makes the staff member look again.
        """
        answer = clean(answer)
        if not answer:
            raise UserError(_("The answer is empty; write what the customer should be told."))
        if len(answer) > MAX_ANSWER_CHARS:
            raise UserError(
                _("The answer is {length:,} characters; keep it under {most:,}.", length=len(answer), most=MAX_ANSWER_CHARS)
            )
        handoff = await self._store.answer(handoff_id, by=by, answer=answer, seen=seen)
        if handoff is None:
            current = await self.get(handoff_id)
            if current.open:
                raise UserError(
                    _(
                        "The customer added a question to handoff #{handoff} since you opened it; nothing was sent. "
                        "Open it again to see everything they asked.",
                        handoff=handoff_id,
                    )
                )
            raise UserError(
                _("Handoff #{handoff} was already answered by {staff}; nothing was sent.", handoff=handoff_id, staff=f"<@{current.answered_by}>")
            )
        return handoff

    async def reopen(self, handoff_id: int) -> bool:
        """The answer could not be delivered: the handoff is open again, for another try (False: the customer has a newer one)."""
        return await self._store.reopen(handoff_id)

    async def teach(self, question: str, answer: str, *, by: int) -> Taught:
        """Teach a delivered answer, so the next customer asking this gets it at once."""
        try:
            return Taught(example=await self._teaching.teach(question, answer, author_id=by))
        except AlreadyTaught as taught:
            return Taught(already_taught=taught)

    async def open_ones(self) -> tuple[list[Handoff], int]:
        """The oldest open handoffs, and how many are open in all."""
        return await self._store.open_ones(), await self._store.count_open()

    async def due_reminders(self) -> list[Handoff]:
        """Open handoffs older than the reminder delay not yet re-announced (see `reminded`)."""
        return await self._store.due_reminders(utcnow() - self.remind_after)

    async def reminded(self, handoff_id: int) -> None:
        """Re-announced: never again (marked only once the post went out, so a failed one is tried again)."""
        await self._store.mark_reminded(handoff_id)
