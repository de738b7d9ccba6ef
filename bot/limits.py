"""Limits on what customers can spend: replies per minute, and tokens per day per user and per server."""

from __future__ import annotations

import time
from collections import defaultdict, deque
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from bot.records import Usage
from bot.storage import UsageStore
from bot.errors import UserError


SWEEP_SECONDS = 60.0  # how often customers with no recent message are forgotten


class LimitReached(UserError):
    """A customer (or their server) has used what they may for now; the message says when to come back."""


@dataclass(frozen=True)
class Who:
    """Whom a model-backed reply is for; staff can be exempt."""

    user_id: int | None
    guild_id: int | None = None
    exempt: bool = False


class Limits:
    def __init__(
        self,
        usage: UsageStore,
        *,
        per_minute: int,
        daily_user_tokens: int,
        daily_server_tokens: int,
        clock=time.monotonic,
    ) -> None:
        self._usage = usage
        self._per_minute = per_minute
        self._daily_user_tokens = daily_user_tokens
        self._daily_server_tokens = daily_server_tokens
        self._clock = clock
        self._recent: defaultdict[int, deque[float]] = defaultdict(deque)
        self._next_sweep = clock() + SWEEP_SECONDS
        # Today's tokens per ("user"|"guild", id), read from the usage table once, then kept current by add().
        self._day: datetime | None = None
        self._spent: dict[tuple[str, int], int] = {}

    def add(self, usage: Usage) -> None:
        """Count a model call's tokens towards today's budgets (called for every usage row recorded)."""
        tokens = usage.prompt_tokens + usage.completion_tokens
        for key in (("user", usage.user_id), ("guild", usage.guild_id)):
            if key in self._spent:
                self._spent[key] += tokens

    async def _spent_today(self, kind: str, owner: int, today: datetime) -> int:
        if self._day != today:
            self._day, self._spent = today, {}
        key = (kind, owner)
        if key not in self._spent:
            since = await self._usage.tokens_since(today, **{f"{kind}_id": owner})
            self._spent[key] = since
        return self._spent[key]

    async def check(self, who: Who, *, count: bool = True) -> None:
        """Raise LimitReached before a model call the customer may not make now; 0 means no limit.

        count=False only asks (e.g. before opening a thread); the call itself is counted later.
        """
        if who.exempt or who.user_id is None:
            return
        await self._check_daily(who)
        self._check_rate(who.user_id, count=count)

    def _check_rate(self, user_id: int, *, count: bool) -> None:
        if not self._per_minute:
            return
        now = self._clock()
        if now >= self._next_sweep:
            self._sweep(now)
        recent = self._recent[user_id]
        while recent and now - recent[0] >= 60:
            recent.popleft()
        if len(recent) >= self._per_minute:
            wait = max(1, round(60 - (now - recent[0])))
            raise LimitReached(f"You're sending messages quickly. Please wait {wait} seconds and try again.")
        if count:
            recent.append(now)
        elif not recent:
            del self._recent[user_id]  # nobody kept around who sent nothing

    def _sweep(self, now: float) -> None:
        """Forget customers whose last message is over a minute old: memory stays bounded by the last minute's senders."""
        for user_id in [u for u, times in self._recent.items() if not times or now - times[-1] >= 60]:
            del self._recent[user_id]
        self._next_sweep = now + SWEEP_SECONDS

    async def _check_daily(self, who: Who) -> None:
        if not (self._daily_user_tokens or self._daily_server_tokens):
            return
        today = datetime.now(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
        resets = _until(today + timedelta(days=1))
        if self._daily_user_tokens and await self._spent_today("user", who.user_id, today) >= self._daily_user_tokens:
            raise LimitReached(f"You've reached today's limit for AI answers. It resets at 00:00 UTC, in {resets}.")
        if (
            self._daily_server_tokens
            and who.guild_id is not None
            and await self._spent_today("guild", who.guild_id, today) >= self._daily_server_tokens
        ):
            raise LimitReached(f"This server has reached today's limit for AI answers. It resets at 00:00 UTC, in {resets}.")


def _until(moment: datetime) -> str:
    minutes = max(1, int((moment - datetime.now(timezone.utc)).total_seconds() // 60))
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if hours else f"{minutes} min"
