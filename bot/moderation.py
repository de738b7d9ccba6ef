"""Moderation (MODERATION=on): customer messages and taught examples checked with the provider's endpoint."""

from __future__ import annotations

import logging

from bot.errors import ModelError
from bot.i18n import N_
from bot.limits import Who
from bot.llm import LLM
from bot.storage import UsageStore

log = logging.getLogger(__name__)

NEUTRAL_REPLY = N_("I can't help with that message. If you need something from the shop, please put it another way.")
BATCH = 32


class Moderator:
    def __init__(self, llm: LLM, usage: UsageStore, *, enabled: bool) -> None:
        self._llm = llm
        self._usage = usage
        self.enabled = enabled and llm.available

    async def flagged_message(self, text: str, who: Who, *, purpose: str) -> bool:
        """Whether a customer's message was flagged; flagged ones are recorded for staff."""
        [categories] = await self.flagged([text])
        if not categories:
            return False
        log.warning("moderation flagged a %s message from user %s: %s", purpose, who.user_id, ", ".join(categories))
        await self._usage.flag_message(
            user_id=who.user_id, guild_id=who.guild_id, purpose=purpose, categories=",".join(categories), content=text
        )
        return True

    async def flagged(self, texts: list[str]) -> list[list[str]]:
        """Categories per text. When moderation is off or unreachable, nothing is flagged (it must not stop support)."""
        if not self.enabled or not texts:
            return [[] for _ in texts]
        results: list[list[str]] = []
        try:
            for start in range(0, len(texts), BATCH):
                results += await self._llm.moderate(texts[start : start + BATCH])
        except ModelError as exc:
            log.warning("moderation unavailable (%s); letting %s texts through", exc.kind, len(texts))
            return [[] for _ in texts]
        return results
