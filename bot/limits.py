"""Limits on what customers can spend: replies per minute, and tokens per day per user and per server."""

from __future__ import annotations

import asyncio
import contextvars
import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from bot.records import Usage
from bot.storage import UsageStore
from bot.errors import UserError
from bot.i18n import Line, _, _n


class LimitReached(UserError):
    """A customer (or their server) has used what they may for now; the message says when to come back."""


@dataclass(frozen=True)
class Who:
    """Whom a model-backed reply is for; staff can be exempt."""

    user_id: int | None
    guild_id: int | None = None
    exempt: bool = False


# Tokens held for a model call while it runs, so concurrent messages can't all pass a budget that
# only one of them fits in. A reply's real usage then takes the hold's place.
DEFAULT_ESTIMATE = 500
HOLD_SECONDS = 180.0  # a hold whose call never reported usage (it failed) lapses after this
SETTLED_BY = frozenset({"support", "bartender"})  # the reply's own call; embeddings and matching only draw on the hold
SWEEP_SECONDS = 60.0  # how often customers with no recent message are forgotten


class Hold:
    """Tokens set aside against a customer's (and their server's) budget until their call's usage is known."""

    def __init__(self, limits: Limits, keys: tuple[tuple[str, int], ...], tokens: int, expires: float) -> None:
        self._limits = limits
        self.keys = keys
        self.tokens = tokens
        self.expires = expires

    def draw(self, tokens: int) -> None:
        """Real usage arrived for part of the call: hold that much less."""
        self._limits._unhold(self, min(tokens, self.tokens))

    def release(self) -> None:
        """The call is over (done or failed): hold nothing more."""
        self._limits._unhold(self, self.tokens)


_current_hold: contextvars.ContextVar[Hold | None] = contextvars.ContextVar("current_hold", default=None)


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
        # A list per customer who wrote in the last minute (a deque is 770 bytes, even holding one time: 8x a list).
        self._recent: defaultdict[int, list[float]] = defaultdict(list)
        self._next_sweep = clock() + SWEEP_SECONDS
        # Today's tokens per ("user"|"guild", id): read from the usage table once a day, then kept current
        # by add(), so a customer's message costs no database read. Absent means nothing spent today.
        self._day: datetime | None = None
        self._spent: dict[tuple[str, int], int] = {}
        self._day_lock = asyncio.Lock()
        self._while_loading: list[tuple[tuple[str, int], int]] | None = None  # usage recorded after the day's read took its snapshot
        self._held: dict[tuple[str, int], int] = {}  # tokens held for calls still running
        self._holds: set[Hold] = set()

    def add(self, usage: Usage) -> None:
        """Count a model call's tokens towards today's budgets (called for every usage row recorded)."""
        tokens = usage.prompt_tokens + usage.completion_tokens
        for key in (("user", usage.user_id), ("guild", usage.guild_id)):
            if key[1] is None:
                continue
            if self._while_loading is not None:
                self._while_loading.append((key, tokens))
            elif self._day is not None:
                self._spent[key] = self._spent.get(key, 0) + tokens
        hold = _current_hold.get()
        if hold is not None and hold.tokens and ("user", usage.user_id) in hold.keys:
            # The call this hold was for reports its usage: the real tokens replace the estimate.
            if usage.purpose in SETTLED_BY:
                hold.release()
            else:
                hold.draw(tokens)

    def held(self, kind: str, owner: int) -> int:
        """Tokens held for `kind`'s calls still running (for tests and /usage)."""
        self._expire_holds()
        return self._held.get((kind, owner), 0)

    async def _load_day(self, today: datetime) -> None:
        """At the first check of a UTC day, what every user and server has spent today (one read, not one per customer)."""
        if self._day == today:
            return
        async with self._day_lock:
            if self._day != today:

                def collect() -> None:
                    self._while_loading = []

                try:
                    spent = await self._usage.spent_since(today, snapshot=collect)
                    for key, tokens in self._while_loading or ():  # recorded after the read's snapshot, so not in it
                        spent[key] = spent.get(key, 0) + tokens
                    self._day, self._spent = today, spent
                finally:
                    self._while_loading = None

    async def check(self, who: Who, *, count: bool = True, estimate: int = DEFAULT_ESTIMATE) -> Hold | None:
        """Raise LimitReached before a model call the customer may not make now; 0 means no limit.

        count=True also holds `estimate` tokens against today's budgets until the call's usage
        arrives (or the returned Hold is released); count=False only asks (e.g. before opening a thread).
        """
        if who.exempt or who.user_id is None:
            return None
        budgets = self._budgets(who)
        if budgets:
            today = datetime.now(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
            await self._load_day(today)
            # No await from here on: two messages can't both pass on the same unspent tokens.
            self._expire_holds()
            resets = _until(today + timedelta(days=1))
            for key, cap in budgets:
                if self._spent.get(key, 0) + self._held.get(key, 0) >= cap:
                    raise LimitReached(_refusal(key[0], resets))
        self._check_rate(who.user_id, count=count)
        if not (count and budgets):
            return None
        return self._hold(tuple(key for key, _cap in budgets), max(1, estimate))

    def _budgets(self, who: Who) -> list[tuple[tuple[str, int], int]]:
        budgets = []
        if self._daily_user_tokens:
            budgets.append((("user", who.user_id), self._daily_user_tokens))
        if self._daily_server_tokens and who.guild_id is not None:
            budgets.append((("guild", who.guild_id), self._daily_server_tokens))
        return budgets

    def _hold(self, keys: tuple[tuple[str, int], ...], tokens: int) -> Hold:
        previous = _current_hold.get()
        if previous is not None:
            previous.release()  # a new call from the same task: the last one has ended
        hold = Hold(self, keys, tokens, self._clock() + HOLD_SECONDS)
        for key in keys:
            self._held[key] = self._held.get(key, 0) + tokens
        self._holds.add(hold)
        _current_hold.set(hold)
        return hold

    def _unhold(self, hold: Hold, tokens: int) -> None:
        if tokens <= 0:
            return
        hold.tokens -= tokens
        for key in hold.keys:
            left = self._held.get(key, 0) - tokens
            if left > 0:
                self._held[key] = left
            else:
                self._held.pop(key, None)
        if not hold.tokens:
            self._holds.discard(hold)

    def _expire_holds(self) -> None:
        now = self._clock()
        for hold in [h for h in self._holds if h.expires <= now]:
            hold.release()

    def _check_rate(self, user_id: int, *, count: bool) -> None:
        if not self._per_minute:
            return
        now = self._clock()
        if now >= self._next_sweep:
            self._sweep(now)
        recent = self._recent[user_id]
        while recent and now - recent[0] >= 60:
            del recent[0]  # at most per_minute times are kept
        if len(recent) >= self._per_minute:
            wait = max(1, round(60 - (now - recent[0])))
            raise LimitReached(
                _n(
                    "You're sending messages quickly. Please wait {count} second and try again.",
                    "You're sending messages quickly. Please wait {count} seconds and try again.",
                    wait,
                )
            )
        if count:
            recent.append(now)
        elif not recent:
            del self._recent[user_id]  # nobody kept around who sent nothing

    def _sweep(self, now: float) -> None:
        """Forget customers whose last message is over a minute old: memory stays bounded by the last minute's senders."""
        for user_id in [u for u, times in self._recent.items() if not times or now - times[-1] >= 60]:
            del self._recent[user_id]
        self._next_sweep = now + SWEEP_SECONDS


def _refusal(kind: str, resets: Line) -> Line:
    if kind == "guild":
        return _("This server has reached today's limit for AI answers. It resets at 00:00 UTC, in {resets}.", resets=resets)
    return _("You've reached today's limit for AI answers. It resets at 00:00 UTC, in {resets}.", resets=resets)


def _until(moment: datetime) -> Line:
    minutes = max(1, int((moment - datetime.now(timezone.utc)).total_seconds() // 60))
    hours, minutes = divmod(minutes, 60)
    return _("{hours} h {minutes} min", hours=hours, minutes=minutes) if hours else _("{minutes} min", minutes=minutes)
