"""ConversationStore: the bartender's sessions (one open per place) and their turns as they happen."""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.records import BartenderSession, Turn, utcnow
from bot.storage.database import Database
from bot.storage.schema import bartender_sessions as sessions
from bot.storage.schema import bartender_turns as turns

log = logging.getLogger(__name__)

_SESSION = (
    sessions.c.id, sessions.c.scope, sessions.c.user_id, sessions.c.thread_id,
    sessions.c.summary, sessions.c.summarized_through, sessions.c.last_active_at,
)


class ConversationStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def open_session(self, scope: str) -> BartenderSession | None:
        async with self._db.read() as conn:
            row = (await conn.execute(select(*_SESSION).where(sessions.c.scope == scope, sessions.c.closed_at.is_(None)))).first()
        return BartenderSession(*row) if row else None

    async def session(self, session_id: int) -> BartenderSession | None:
        async with self._db.read() as conn:
            row = (await conn.execute(select(*_SESSION).where(sessions.c.id == session_id))).first()
        return BartenderSession(*row) if row else None

    async def start_session(
        self, scope: str, *, user_id: int, thread_id: int | None = None, close_because: str | None = None
    ) -> BartenderSession:
        """A new open session for `scope`; any open one is closed first (kept, not used)."""
        now = utcnow()
        async with self._db.write() as conn:
            await conn.execute(
                update(sessions)
                .where(sessions.c.scope == scope, sessions.c.closed_at.is_(None))
                .values(closed_at=now, closed_because=close_because or "replaced")
            )
            session = await _insert_session(conn, scope, user_id, thread_id, now)
        return session

    async def close_session(self, scope: str, *, because: str) -> bool:
        async with self._db.write() as conn:
            result = await conn.execute(
                update(sessions)
                .where(sessions.c.scope == scope, sessions.c.closed_at.is_(None))
                .values(closed_at=utcnow(), closed_because=because)
            )
        return result.rowcount > 0

    async def open_threads(self) -> dict[int, int]:
        """Thread ID -> the customer it belongs to, for every open thread session."""
        query = select(sessions.c.thread_id, sessions.c.user_id).where(
            sessions.c.thread_id.is_not(None), sessions.c.closed_at.is_(None)
        )
        async with self._db.read() as conn:
            return {thread_id: user_id for thread_id, user_id in (await conn.execute(query)).all()}

    async def start_turn(self, session_id: int, user_message: str, tokens: int) -> int:
        """Record the customer's message before answering it, so a restart loses nothing."""
        now = utcnow()
        async with self._db.write() as conn:
            turn_id = (
                await conn.execute(
                    insert(turns)
                    .values(session_id=session_id, user_message=user_message, status="pending", tokens=tokens, created_at=now)
                    .returning(turns.c.id)
                )
            ).scalar_one()
            await conn.execute(update(sessions).where(sessions.c.id == session_id).values(last_active_at=now))
        return turn_id

    async def begin_turn(
        self, scope: str, user_message: str, tokens: int, *, user_id: int, thread_id: int | None, idle_since: datetime
    ) -> tuple[BartenderSession, int, bool]:
        """Record a customer's message in `scope`'s open session (a new one if there is none, or it has been
        idle since `idle_since`), in one transaction: (the session, the turn's ID, whether the session is new)."""
        now = utcnow()
        async with self._db.write() as conn:
            row = (await conn.execute(select(*_SESSION).where(sessions.c.scope == scope, sessions.c.closed_at.is_(None)))).first()
            session = BartenderSession(*row) if row else None
            if session is not None and session.last_active_at < idle_since:
                log.info("bartender session %s was idle since %s; starting fresh", session.id, session.last_active_at)
                await conn.execute(update(sessions).where(sessions.c.id == session.id).values(closed_at=now, closed_because="idle"))
                session = None
            new = session is None
            if new:
                session = await _insert_session(conn, scope, user_id, thread_id, now)
            else:
                await conn.execute(update(sessions).where(sessions.c.id == session.id).values(last_active_at=now))
            turn_id = (
                await conn.execute(
                    insert(turns)
                    .values(session_id=session.id, user_message=user_message, status="pending", tokens=tokens, created_at=now)
                    .returning(turns.c.id)
                )
            ).scalar_one()
        return session, turn_id, new

    async def finish_turn(self, turn_id: int, reply: str, tokens: int) -> None:
        async with self._db.write() as conn:
            await conn.execute(update(turns).where(turns.c.id == turn_id).values(reply=reply, status="done", tokens=tokens))

    async def fail_turn(self, turn_id: int, partial_reply: str) -> None:
        """Keep what was said, out of the history: a failed turn must not poison the next prompt."""
        async with self._db.write() as conn:
            await conn.execute(update(turns).where(turns.c.id == turn_id).values(reply=partial_reply, status="failed"))

    async def interrupt_pending_turns(self) -> int:
        """Turns left unanswered by a shutdown: kept, but out of the history like failed ones."""
        async with self._db.write() as conn:
            result = await conn.execute(update(turns).where(turns.c.status == "pending").values(status="interrupted"))
        return result.rowcount

    async def recent_turns(self, session_id: int, *, after: int, limit: int) -> list[Turn]:
        """Finished turns newer than turn `after`, newest first."""
        query = (
            select(turns.c.id, turns.c.user_message, turns.c.reply, turns.c.tokens)
            .where(turns.c.session_id == session_id, turns.c.id > after, turns.c.status == "done")
            .order_by(turns.c.id.desc())
            .limit(limit)
        )
        async with self._db.read() as conn:
            rows = (await conn.execute(query)).all()
        return [Turn(*row) for row in rows]

    async def save_summary(self, session_id: int, summary: str, through_turn: int) -> None:
        async with self._db.write() as conn:
            await conn.execute(
                update(sessions)
                .where(sessions.c.id == session_id, sessions.c.summarized_through < through_turn)
                .values(summary=summary, summarized_through=through_turn)
            )


async def _insert_session(conn: AsyncConnection, scope: str, user_id: int, thread_id: int | None, now: datetime) -> BartenderSession:
    session_id = (
        await conn.execute(
            insert(sessions)
            .values(scope=scope, user_id=user_id, thread_id=thread_id, created_at=now, last_active_at=now)
            .returning(sessions.c.id)
        )
    ).scalar_one()
    return BartenderSession(session_id, scope, user_id, thread_id, "", 0, now)
