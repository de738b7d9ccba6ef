"""BartenderService: the persona's prompt chain: sessions, history within a token budget, summaries, streaming."""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import AsyncIterator, Coroutine
from typing import Any
from contextlib import aclosing
from dataclasses import dataclass
from datetime import timedelta

from bot.config import Settings
from bot.errors import ModelError, UserError
from bot.i18n import N_, _
from bot.limits import Limits, Who
from bot.llm import LLM, UNAVAILABLE, Caller
from bot.moderation import NEUTRAL_REPLY, Moderator
from bot.records import BartenderSession, Turn, utcnow
from bot.storage import ConversationStore, StorageError
from bot.text import clean
from bot.tokens import estimate_tokens

log = logging.getLogger(__name__)

MAX_MESSAGE_CHARS = 4000
OPENER = "(The customer has just taken a seat at the bar and hasn't said anything yet. Greet them and ask what they're in the mood for.)"
SUMMARY_INSTRUCTIONS = (
    "You keep a running summary of a conversation between a bartender and a customer, so the bartender "
    "remembers it. Keep what matters for later: the customer's name if given, tastes, dislikes, allergies, "
    "what was recommended and how they liked it, plans, and the tone. At most 150 words, in the language "
    "of the conversation. Reply with the summary only."
)
REPLY_ALLOWANCE = 500  # tokens held for a reply's words against the daily budgets while it streams
# Yielded as it is, after the reply's words; the cog shows it in the channel's language.
TOO_SLOW = N_("\n\n*(I'll leave it there for now; that took me too long. Ask again if you'd like more.)*")
TURNS_PER_QUERY = 200  # more whole turns than any sensible budget holds
SUMMARY_FOLD_TOKENS = 8000  # the most history one summary call reads


@dataclass(frozen=True)
class Place:
    """Where a conversation lives: its own thread, or one customer's seat in a bartender channel."""

    scope: str
    user_id: int
    thread_id: int | None = None
    guild_id: int | None = None

    @classmethod
    def thread(cls, thread_id: int, user_id: int, guild_id: int | None = None) -> Place:
        return cls(f"thread:{thread_id}", user_id, thread_id, guild_id)

    @classmethod
    def seat(cls, channel_id: int, user_id: int, guild_id: int | None = None) -> Place:
        return cls(f"channel:{channel_id}:user:{user_id}", user_id, None, guild_id)


class BartenderService:
    def __init__(
        self,
        conversations: ConversationStore,
        llm: LLM,
        *,
        persona: str,
        model: str,
        history_tokens: int,
        idle_after: timedelta,
        reply_seconds: float = 60.0,
        limits: Limits | None = None,
        moderator: Moderator | None = None,
    ) -> None:
        self._conversations = conversations
        self._llm = llm
        self._limits = limits
        self._moderator = moderator
        self.persona = persona
        self._model = model
        self._history_tokens = history_tokens
        self._idle_after = idle_after
        self._reply_seconds = reply_seconds
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()
        self._summaries: dict[int, asyncio.Task[None]] = {}
        self._recording: set[asyncio.Task[None]] = set()  # replies shown, being written down
        self._threads: dict[int, int] = {}  # open thread sessions: thread ID -> customer

    @classmethod
    def from_settings(
        cls, settings: Settings, conversations: ConversationStore, llm: LLM, *, persona: str, limits: Limits | None, moderator: Moderator | None
    ) -> BartenderService:
        return cls(
            conversations,
            llm,
            persona=persona,
            model=settings.bartender_model,
            history_tokens=settings.bartender_history_tokens,
            idle_after=timedelta(minutes=settings.bartender_idle_minutes),
            reply_seconds=settings.bartender_reply_seconds,
            limits=limits,
            moderator=moderator,
        )

    async def start(self) -> None:
        try:
            interrupted = await self._conversations.interrupt_pending_turns()
        except StorageError:
            interrupted = 0  # a read-only database: pending turns stay out of the history all the same
        if interrupted:
            log.info("%s bartender replies were cut off by the last shutdown; left out of the history", interrupted)
        self._threads = await self._conversations.open_threads()

    async def close(self) -> None:
        """Let summaries being written finish, briefly, before the database closes."""
        try:
            await asyncio.wait_for(self.wait_for_summaries(), timeout=10)
        except TimeoutError:
            log.warning("stopped waiting for bartender summaries; they will be made after the next turn")

    def thread_owner(self, thread_id: int) -> int | None:
        """The customer whose bartender thread this is, or None when it isn't one."""
        return self._threads.get(thread_id)

    async def may_reply(self, user_id: int, guild_id: int | None, *, exempt: bool = False) -> None:
        """Raise LimitReached if the customer may not get a reply now (asked before opening a thread)."""
        if self._limits is not None:
            await self._limits.check(Who(user_id, guild_id, exempt), count=False)

    async def open_thread(self, thread_id: int, user_id: int, guild_id: int | None = None) -> Place:
        place = Place.thread(thread_id, user_id, guild_id)
        await self._conversations.start_session(place.scope, user_id=user_id, thread_id=thread_id)
        self._threads[thread_id] = user_id
        return place

    async def reset(self, place: Place) -> bool:
        """Start fresh where the customer is; the old session stays in the database. False if there was none."""
        async with self._lock(place.scope):
            if place.thread_id is not None:
                # A thread stays the customer's table: it gets a fresh session straight away.
                had_one = await self._conversations.open_session(place.scope) is not None
                await self._conversations.start_session(place.scope, user_id=place.user_id, thread_id=place.thread_id, close_because="reset")
                return had_one
            return await self._conversations.close_session(place.scope, because="reset")

    async def reply(self, place: Place, message: str | None, *, exempt: bool = False) -> AsyncIterator[str]:
        """Stream the bartender's reply; messages to one session are answered one at a time, in order."""
        text = clean(message or "") or OPENER
        if len(text) > MAX_MESSAGE_CHARS:
            raise UserError(_("That's a long one! Please keep messages under {most:,} characters.", most=MAX_MESSAGE_CHARS))
        who = Who(place.user_id, place.guild_id, exempt)
        hold = None
        if self._limits is not None:
            # Held until the turn ends: what the prompt can hold, plus room for the reply.
            estimate = estimate_tokens(self.persona) + self._history_tokens + estimate_tokens(text) + REPLY_ALLOWANCE
            hold = await self._limits.check(who, estimate=estimate)
        try:
            # aclosing: a reader that stops early ends the turn (and frees its lock) now, not at garbage collection.
            async with aclosing(self._turn(place, text, who)) as pieces:
                async for piece in pieces:
                    yield piece
        finally:
            if hold is not None:
                hold.release()

    async def _turn(self, place: Place, text: str, who: Who) -> AsyncIterator[str]:
        if self._moderator is not None and text != OPENER and await self._moderator.flagged_message(text, who, purpose="bartender"):
            raise UserError(NEUTRAL_REPLY)
        lock = self._lock(place.scope)
        await lock.acquire()
        try:
            idle_since = utcnow() - self._idle_after
            session = await self._conversations.open_session(place.scope)
            if session is not None and session.last_active_at < idle_since:
                session = None  # idle too long: the turn starts a fresh one
            prompted_id = session.id if session is not None else None
            messages, history_tokens = await self._prompt(session, text)
            # The message is written down while the model starts on it; no word of the reply is shown before that.
            recording = asyncio.ensure_future(
                self._conversations.begin_turn(
                    place.scope, text, estimate_tokens(text), user_id=place.user_id, thread_id=place.thread_id, idle_since=idle_since
                )
            )
            parts: list[str] = []
            caller = Caller("bartender", user_id=place.user_id, guild_id=place.guild_id)
            # A whole reply has a deadline, so a trickling stream can't hold the customer's lock (and their next message).
            deadline = asyncio.get_running_loop().time() + self._reply_seconds
            timed_out = False
            try:
                async with aclosing(self._llm.stream_chat(messages, model=self._model, caller=caller)) as stream:
                    while True:
                        try:
                            async with asyncio.timeout_at(deadline):  # never around the yield: that's the reader's time
                                piece = await anext(stream)
                        except StopAsyncIteration:
                            break
                        except TimeoutError:
                            log.warning("bartender reply in %s passed %ss; ending it there", place.scope, self._reply_seconds)
                            timed_out = True
                            break
                        if not parts:
                            await asyncio.shield(recording)  # a cancelled reader must not cut the write short
                        parts.append(piece)
                        yield piece
                if not "".join(parts).strip():
                    log.warning("bartender stream in %s ended without any text", place.scope)
                    raise ModelError(UNAVAILABLE, kind="timeout" if timed_out else "empty_reply")
                session, turn_id, _new = await recording  # not `_`: that name is the catalog mark
            except BaseException:
                # Cut off (model error, or the reader went away): kept for the record, left out of the history.
                recorded = await asyncio.gather(asyncio.shield(recording), return_exceptions=True)
                if not isinstance(recorded[0], BaseException):
                    await asyncio.shield(self._conversations.fail_turn(recorded[0][1], "".join(parts)))
                raise
            reply = "".join(parts)
            # Recorded after the reply is shown, still holding the session: the customer's next message waits for it.
            tokens = estimate_tokens(text) + estimate_tokens(reply)
            # The history past the summary, this turn included, as the prompt read it (a new session has only this
            # turn); None when that read did not hold all of it. A concurrent summary only makes it smaller.
            if history_tokens is None:
                unsummarised = None
            else:
                unsummarised = tokens + (history_tokens if prompted_id == session.id else 0)
            self._track(self._finish_turn(lock, session.id, turn_id, reply, tokens, place.guild_id, unsummarised))
            lock = None
            if timed_out:
                yield TOO_SLOW  # shown, not remembered: the history keeps what was said
        finally:
            if lock is not None:
                lock.release()

    async def _prompt(self, session: BartenderSession | None, text: str) -> tuple[list[dict[str, str]], int | None]:
        """Persona, the summary of older turns, the newest whole turns within the budget, and the new message
        (a turn that begins a session has only the persona before it); with the tokens of every turn past the
        summary, or None when one query could not read them all."""
        system = self.persona
        if session is not None and session.summary:
            system += f"\n\nWhat happened earlier in this conversation (a summary):\n{session.summary}"
        turns = [] if session is None else await self._conversations.recent_turns(
            session.id, after=session.summarized_through, limit=TURNS_PER_QUERY
        )
        history = newest_within(turns, self._history_tokens)
        messages = [{"role": "system", "content": system}]
        for turn in reversed(history):
            messages += [{"role": "user", "content": turn.user_message}, {"role": "assistant", "content": turn.reply}]
        messages.append({"role": "user", "content": text})
        return messages, None if len(turns) >= TURNS_PER_QUERY else sum(turn.tokens for turn in turns)

    # -- summaries -------------------------------------------------------------------

    def _summarise_later(self, session_id: int, guild_id: int | None) -> None:
        """Fold turns that no longer fit into the summary, after the reply, one task per session."""
        running = self._summaries.get(session_id)
        if running is not None and not running.done():
            return
        self._summaries[session_id] = asyncio.create_task(
            self._summarise(session_id, guild_id), name=f"bartender-summary-{session_id}"
        )

    async def _summarise(self, session_id: int, guild_id: int | None) -> None:
        try:
            session = await self._conversations.session(session_id)
            if session is None:
                return
            turns = await self._conversations.recent_turns(session_id, after=session.summarized_through, limit=TURNS_PER_QUERY * 5)
            if sum(t.tokens for t in turns) <= self._history_tokens:
                return
            # Keep about half the budget as verbatim turns, so a summary isn't needed on every turn;
            # fold the oldest first, a bounded amount per call, so one call never outgrows the context.
            kept = newest_within(turns, self._history_tokens // 2)
            folded = newest_within(list(reversed(turns[len(kept) :])), SUMMARY_FOLD_TOKENS) or [turns[-1]]
            transcript = "\n".join(f"Customer: {t.user_message}\nBartender: {t.reply}" for t in folded)
            prompt = [
                {"role": "system", "content": SUMMARY_INSTRUCTIONS},
                {"role": "user", "content": f"Summary so far:\n{session.summary or '(none)'}\n\nNew turns:\n{transcript}"},
            ]
            caller = Caller("summary", user_id=session.user_id, guild_id=guild_id)
            result = await self._llm.chat(prompt, model=self._model, caller=caller)
            await self._conversations.save_summary(session_id, result.text, folded[-1].id)
            log.info("bartender session %s: folded %s turns into the summary", session_id, len(folded))
        except ModelError as exc:
            log.warning("bartender session %s: summary failed (%s); will try after the next turn", session_id, exc.kind)
        except Exception:
            log.exception("bartender session %s: summary failed", session_id)
        finally:
            self._summaries.pop(session_id, None)

    async def _finish_turn(
        self, lock: asyncio.Lock, session_id: int, turn_id: int, reply: str, tokens: int, guild_id: int | None, unsummarised: int | None
    ) -> None:
        try:
            await self._conversations.finish_turn(turn_id, reply, tokens)
        except StorageError:
            return  # the customer has the reply; unrecorded, the turn stays out of the history
        except Exception:
            log.exception("could not record bartender turn %s", turn_id)
            return
        finally:
            lock.release()
        if unsummarised is None or unsummarised > self._history_tokens:  # otherwise _summarise would read it all to find it fits
            self._summarise_later(session_id, guild_id)

    def _track(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._recording.add(task)
        task.add_done_callback(self._recording.discard)

    async def wait_for_summaries(self) -> None:
        """For tests and shutdown: let turns being recorded and running summaries finish."""
        while self._recording:
            await asyncio.gather(*self._recording, return_exceptions=True)
        while self._summaries:
            await asyncio.gather(*self._summaries.values(), return_exceptions=True)

    def _lock(self, scope: str) -> asyncio.Lock:
        lock = self._locks.get(scope)
        if lock is None:
            lock = self._locks[scope] = asyncio.Lock()
        return lock


def newest_within(newest_first: list[Turn], budget: int) -> list[Turn]:
    """The newest whole turns whose tokens fit in `budget`; an older turn never skips past a newer one."""
    kept, used = [], 0
    for turn in newest_first:
        if used + turn.tokens > budget:
            break
        kept.append(turn)
        used += turn.tokens
    return kept
