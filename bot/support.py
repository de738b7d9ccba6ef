"""SupportService: a customer's question in, an answer out: taught answers first, then the live model."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

from bot.errors import ModelError, UserError
from bot.handoffs import ASKED_FOR_STAFF, MODEL_DID_NOT_KNOW, NO_ANSWER, asks_for_staff
from bot.i18n import N_, _
from bot.limits import Hold, Limits, Who
from bot.llm import LLM, UNAVAILABLE, Caller
from bot.moderation import NEUTRAL_REPLY, Moderator
from bot.retrieval import Candidate, Decision, Matcher
from bot.storage import JobStore
from bot.text import clean

log = logging.getLogger(__name__)

MAX_QUESTION_CHARS = 4000
FOLLOW_UP = N_("Thanks for your question! I don't have a ready answer for it; please ask a staff member of the shop.")
CHOOSER_PROMPT = (
    "You match a customer's question to a shop's FAQ. Reply with only the number of the FAQ question that "
    "asks the same thing as the customer's question, or 0 if none does. Near questions differ: "
    "'how to subscribe' is not 'what the subscription includes'."
)
# The support prompt asks the model to reply with this word alone when the taught answers don't cover a question.
_DONT_KNOW = re.compile(r"\s*HANDOFF\W*")
GUIDANCE_HEADER = (
    "Answers the shop has taught for similar questions. When one answers the customer's question, "
    "reply with its wording; do not mix in other knowledge:"
)


@dataclass(frozen=True)
class Answer:
    """What support replies, and where it came from."""

    text: str
    source: str  # "taught", "model", "none" (nothing to answer with), "staff" (a person asked for), "refused" (moderation)
    example_id: int | None = None  # the taught example sent verbatim
    for_staff: str | None = None  # why a person should take this question over (bot/handoffs.py), if they should


class SupportService:
    def __init__(
        self,
        jobs: JobStore,
        llm: LLM,
        matcher: Matcher,
        *,
        default_model: str,
        system_prompt: str,
        guidance_examples: int = 3,
        limits: Limits | None = None,
        moderator: Moderator | None = None,
        chooser: bool = False,
    ) -> None:
        self._jobs = jobs
        self._llm = llm
        self._matcher = matcher
        self._chooser = chooser
        self._limits = limits
        self._moderator = moderator
        self.default_model = default_model
        self.system_prompt = system_prompt
        self.guidance_examples = guidance_examples

    async def live_model(self) -> str:
        """The promoted fine-tune when there is one, else the configured SUPPORT_MODEL."""
        return await self._jobs.live_model() or self.default_model

    async def answer(
        self, question: str, *, user_id: int | None = None, guild_id: int | None = None, exempt: bool = False
    ) -> str:
        """The reply's text (see `respond`)."""
        return (await self.respond(question, user_id=user_id, guild_id=guild_id, exempt=exempt)).text

    async def respond(
        self, question: str, *, user_id: int | None = None, guild_id: int | None = None, exempt: bool = False
    ) -> Answer:
        """A taught answer verbatim when the question is one staff taught; otherwise the live model, guided.

        A customer asking for a person, or a question with no answer at all, is marked for staff.
        Limits and moderation apply only on the way to the model: taught answers are free.
        """
        question = clean(question)
        if not question:
            raise UserError(_("Please write your question after the command or mention, and I'll answer it."))
        if len(question) > MAX_QUESTION_CHARS:
            raise UserError(_("That message is too long for me; please keep it under {most:,} characters.", most=MAX_QUESTION_CHARS))
        who = Who(user_id, guild_id, exempt)
        holds: list[Hold] = []
        try:
            return await self._respond(question, who, holds)
        finally:
            for hold in holds:
                hold.release()  # the call is over, answered or failed: its budget estimate is freed now

    async def _hold(self, who: Who, holds: list[Hold]) -> None:
        if self._limits is not None:
            hold = await self._limits.check(who)
            if hold is not None:
                holds.append(hold)

    async def _respond(self, question: str, who: Who, holds: list[Hold]) -> Answer:
        user_id, guild_id = who.user_id, who.guild_id
        if self._matcher.costs_a_call:
            await self._hold(who, holds)  # matching itself calls the provider
        decision = await self._decide(question, who)
        best = decision.best
        if decision.sure:
            log.debug("answered %r with taught example #%s (%.2f, lead %.2f)", question, best.entry.id, best.score, decision.margin)
            return Answer(best.entry.answer, "taught", example_id=best.entry.id)
        if asks_for_staff(question):
            return Answer(FOLLOW_UP, "staff", for_staff=ASKED_FOR_STAFF)
        if not self._llm.available:
            return Answer(FOLLOW_UP, "none", for_staff=NO_ANSWER)
        if not self._matcher.costs_a_call:
            await self._hold(who, holds)
        if self._moderator is not None and await self._moderator.flagged_message(question, who, purpose="support"):
            return Answer(NEUTRAL_REPLY, "refused")
        model = await self.live_model()
        if self._chooser:
            chosen = await self.choose(question, decision, model, who)
            if chosen is not None:
                return Answer(chosen.entry.answer, "taught", example_id=chosen.entry.id)
        reply = await self._llm.chat(
            self.prompt(question, decision), model=model, caller=Caller("support", user_id=user_id, guild_id=guild_id)
        )
        if _DONT_KNOW.fullmatch(reply.text or ""):
            return Answer(FOLLOW_UP, "model", for_staff=MODEL_DID_NOT_KNOW)  # the marker itself is never shown
        return Answer(reply.text or UNAVAILABLE, "model")

    async def _decide(self, question: str, who: Who) -> Decision:
        caller = Caller("embeddings", user_id=who.user_id, guild_id=who.guild_id)
        try:
            return await self._matcher.search(question, k=max(3, self.guidance_examples), caller=caller)
        except ModelError as exc:
            # Without matches the model still answers; the cause is already logged.
            log.warning("matching taught examples failed (%s); answering without them", exc.kind)
            return Decision([], 0.0, False)

    async def choose(self, question: str, decision: Decision, model: str, who: Who) -> Candidate | None:
        """MATCH_CHOOSER=model: when the matcher is unsure between intents, the model picks one of their questions, or none.

        Also what `python -m bench.matching --chooser MODEL` measures."""
        candidates = self._near(decision, 3)
        if not candidates:
            return None
        listed = "\n".join(f"{n}. {c.entry.question}" for n, c in enumerate(candidates, 1))
        try:
            reply = await self._llm.chat(
                [
                    {"role": "system", "content": CHOOSER_PROMPT},
                    {"role": "user", "content": f"Customer: {question}\n\nFAQ:\n{listed}"},
                ],
                model=model,
                caller=Caller("matching", user_id=who.user_id, guild_id=who.guild_id),
            )
        except ModelError:
            return None  # the model answers as usual (or says why it can't)
        number = reply.text.strip().rstrip(".")
        if number.isdigit() and 1 <= int(number) <= len(candidates):
            return candidates[int(number) - 1]
        return None

    def _near(self, decision: Decision, most: int, floor: float | None = None) -> list[Candidate]:
        """The best intents close enough to mean something: at least half the floor of a verbatim answer."""
        floor = (self._matcher.calibration.floor if floor is None else floor) / 2
        return [c for c in decision.candidates[:most] if c.score >= floor]

    def prompt(self, question: str, decision: Decision, floor: float | None = None) -> list[dict[str, str]]:
        """What the model is asked: the system prompt, the taught answers nearest the question, the question.

        `floor` is the verbatim floor of the matcher that made `decision` (default: support's own).
        """
        system = self.system_prompt
        guidance = self._near(decision, self.guidance_examples, floor)
        if guidance:
            shown = "\n\n".join(f"Q: {c.entry.question}\nA: {c.entry.answer}" for c in guidance)
            system = f"{system}\n\n{GUIDANCE_HEADER}\n\n{shown}"
        return [{"role": "system", "content": system}, {"role": "user", "content": question}]
