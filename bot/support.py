"""SupportService: a customer's question in, the live support model's answer out."""

from __future__ import annotations

from bot.db import Database
from bot.errors import UserError
from bot.llm import LLM, UNAVAILABLE, Caller

MAX_QUESTION_CHARS = 4000


class SupportService:
    def __init__(self, db: Database, llm: LLM, *, default_model: str, system_prompt: str) -> None:
        self._db = db
        self._llm = llm
        self.default_model = default_model
        self.system_prompt = system_prompt

    async def live_model(self) -> str:
        """The promoted fine-tune when there is one, else the configured SUPPORT_MODEL."""
        return await self._db.live_support_model() or self.default_model

    async def answer(self, question: str, *, user_id: int | None = None, guild_id: int | None = None) -> str:
        question = question.strip()
        if not question:
            raise UserError("Please write your question after the command or mention, and I'll answer it.")
        if len(question) > MAX_QUESTION_CHARS:
            raise UserError(f"That message is too long for me; please keep it under {MAX_QUESTION_CHARS:,} characters.")
        messages = [
            {"role": "system", "content": self.system_prompt},
            {"role": "user", "content": question},
        ]
        reply = await self._llm.chat(
            messages,
            model=await self.live_model(),
            caller=Caller("support", user_id=user_id, guild_id=guild_id),
        )
        return reply.text or UNAVAILABLE
