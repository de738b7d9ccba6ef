"""SupportService: a customer's question in, an answer out: taught answers first, then the live model."""

from __future__ import annotations

import logging

from bot.errors import ModelError, UserError
from bot.limits import Limits, Who
from bot.llm import LLM, UNAVAILABLE, Caller
from bot.moderation import NEUTRAL_REPLY, Moderator
from bot.retrieval import Match, Retriever
from bot.storage import JobStore
from bot.text import clean

log = logging.getLogger(__name__)

MAX_QUESTION_CHARS = 4000
FOLLOW_UP = "Thanks for your question! I don't have a ready answer for it, so a staff member will follow up with you here."
GUIDANCE_HEADER = (
    "Answers the shop has taught for similar questions. When one answers the customer's question, "
    "reply with its wording; do not mix in other knowledge:"
)


class SupportService:
    def __init__(
        self,
        jobs: JobStore,
        llm: LLM,
        retriever: Retriever,
        *,
        default_model: str,
        system_prompt: str,
        guidance_examples: int = 3,
        limits: Limits | None = None,
        moderator: Moderator | None = None,
    ) -> None:
        self._jobs = jobs
        self._llm = llm
        self._retriever = retriever
        self._limits = limits
        self._moderator = moderator
        self.default_model = default_model
        self.system_prompt = system_prompt
        self._guidance_examples = guidance_examples

    async def live_model(self) -> str:
        """The promoted fine-tune when there is one, else the configured SUPPORT_MODEL."""
        return await self._jobs.live_model() or self.default_model

    async def answer(
        self, question: str, *, user_id: int | None = None, guild_id: int | None = None, exempt: bool = False
    ) -> str:
        """A taught answer verbatim when the question is one staff taught; otherwise the live model, guided.

        Limits and moderation apply only on the way to the model: taught answers are free.
        """
        question = clean(question)
        if not question:
            raise UserError("Please write your question after the command or mention, and I'll answer it.")
        if len(question) > MAX_QUESTION_CHARS:
            raise UserError(f"That message is too long for me; please keep it under {MAX_QUESTION_CHARS:,} characters.")
        who = Who(user_id, guild_id, exempt)
        if self._limits is not None and self._retriever.costs_a_call:
            await self._limits.check(who)  # matching itself calls the provider
        matches = await self._matches(question, who)
        best = matches[0] if matches else None
        if best is not None and best.covered and best.score >= self._retriever.exact_threshold:
            log.debug("answered %r with taught example #%s (%.2f)", question, best.entry.id, best.score)
            return best.entry.answer
        if not self._llm.available:
            if best is not None and best.covered and best.score >= self._retriever.fallback_threshold:
                return best.entry.answer
            return FOLLOW_UP
        if self._limits is not None and not self._retriever.costs_a_call:
            await self._limits.check(who)
        if self._moderator is not None and await self._moderator.flagged_message(question, who, purpose="support"):
            return NEUTRAL_REPLY
        reply = await self._llm.chat(
            self._prompt(question, matches),
            model=await self.live_model(),
            caller=Caller("support", user_id=user_id, guild_id=guild_id),
        )
        return reply.text or UNAVAILABLE

    async def _matches(self, question: str, who: Who) -> list[Match]:
        caller = Caller("embeddings", user_id=who.user_id, guild_id=who.guild_id)
        try:
            return await self._retriever.search(question, k=max(1, self._guidance_examples), caller=caller)
        except ModelError as exc:
            # Without matches the model still answers; the cause is already logged.
            log.warning("matching taught examples failed (%s); answering without them", exc.kind)
            return []

    def _prompt(self, question: str, matches: list[Match]) -> list[dict[str, str]]:
        system = self.system_prompt
        guidance = [m for m in matches[: self._guidance_examples] if m.score >= self._retriever.fallback_threshold / 2]
        if guidance:
            shown = "\n\n".join(f"Q: {m.entry.question}\nA: {m.entry.answer}" for m in guidance)
            system = f"{system}\n\n{GUIDANCE_HEADER}\n\n{shown}"
        return [{"role": "system", "content": system}, {"role": "user", "content": question}]
