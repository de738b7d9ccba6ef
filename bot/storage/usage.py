"""UsageStore: the tokens each model call used (written in batches), and the messages moderation flagged."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import func, insert, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.types import Text

from bot.errors import UserError
from bot.records import Usage, UsageTotal, utcnow
from bot.storage.database import Database
from bot.storage.schema import flagged_messages, usage

log = logging.getLogger(__name__)

FLUSH_SECONDS = 0.25


class utc_day(FunctionElement):
    """A timestamp's UTC day as YYYY-MM-DD, whichever engine stores it."""

    type = Text()
    inherit_cache = True


@compiles(utc_day, "sqlite")
def _utc_day_sqlite(element, compiler, **kw):
    return f"substr({compiler.process(element.clauses, **kw)}, 1, 10)"  # ISO 8601 text in UTC


@compiles(utc_day, "postgresql")
def _utc_day_postgresql(element, compiler, **kw):
    return f"to_char({compiler.process(element.clauses, **kw)} AT TIME ZONE 'UTC', 'YYYY-MM-DD')"


class UsageStore:
    def __init__(self, db: Database) -> None:
        self._db = db
        # One transaction per model call would queue every reply behind the others' writes under
        # load: rows wait here up to FLUSH_SECONDS and go in together. Readers flush first.
        self._pending: list[dict] = []
        self._flush: asyncio.Task[None] | None = None
        self._flushing = asyncio.Lock()  # rows taken by one flush are written before anyone reads

    async def record(self, call: Usage) -> None:
        """Queue a usage row; it is written within FLUSH_SECONDS, with the others queued meanwhile."""
        self._pending.append(
            {
                "at": utcnow(), "model": call.model, "purpose": call.purpose, "prompt_tokens": call.prompt_tokens,
                "completion_tokens": call.completion_tokens, "user_id": call.user_id, "guild_id": call.guild_id,
            }
        )
        if self._flush is None or self._flush.done():
            self._flush = asyncio.create_task(self._flush_soon(), name="usage-flush")

    async def _flush_soon(self) -> None:
        await asyncio.sleep(FLUSH_SECONDS)
        try:
            await self.flush()
        except UserError:
            pass  # storage unavailable, already logged; the rows stay queued for the next flush

    async def flush(self) -> None:
        async with self._flushing:
            await self._write_pending()

    async def _write_pending(self) -> None:
        if not self._pending:
            return
        rows, self._pending = self._pending, []
        try:
            async with self._db.write() as conn:
                await conn.execute(insert(usage), rows)
        except BaseException:
            self._pending[:0] = rows
            raise

    async def close(self) -> None:
        """Write what is queued before the database closes."""
        if self._flush is not None and not self._flush.done():
            self._flush.cancel()
        try:
            await self.flush()
        except UserError:
            log.error("%s usage rows could not be saved before closing", len(self._pending))

    async def tokens_since(self, since: datetime, *, user_id: int | None = None, guild_id: int | None = None) -> int:
        """Prompt and completion tokens used since `since` by a user or in a server."""
        owner = usage.c.user_id == user_id if user_id is not None else usage.c.guild_id == guild_id
        query = select(func.coalesce(func.sum(usage.c.prompt_tokens + usage.c.completion_tokens), 0)).where(
            owner, usage.c.at >= since
        )
        await self.flush()
        async with self._db.read() as conn:
            return int((await conn.execute(query)).scalar_one())

    async def spent_since(self, since: datetime, *, snapshot: Callable[[], None] = lambda: None) -> dict[tuple[str, int], int]:
        """Tokens used since `since` by every user and in every server that used any: {("user"|"guild", id): tokens}.

        Rows still queued count too. `snapshot` is called at the instant the queued rows are taken
        into the sum: a row recorded after it is in neither (no flush writes while this reads).
        """
        spent: dict[tuple[str, int], int] = {}
        tokens = func.sum(usage.c.prompt_tokens + usage.c.completion_tokens)
        async with self._flushing:  # a flush under way finishes first; none starts until the read is done
            snapshot()
            for row in self._pending:
                if row["at"] >= since:
                    for key in (("user", row["user_id"]), ("guild", row["guild_id"])):
                        if key[1] is not None:
                            spent[key] = spent.get(key, 0) + row["prompt_tokens"] + row["completion_tokens"]
            async with self._db.read() as conn:
                for kind, owner in (("user", usage.c.user_id), ("guild", usage.c.guild_id)):
                    query = select(owner, tokens).where(usage.c.at >= since, owner.is_not(None)).group_by(owner)
                    for owner_id, used in (await conn.execute(query)).all():
                        spent[(kind, int(owner_id))] = spent.get((kind, int(owner_id)), 0) + int(used)
        return spent

    async def totals(self, since: datetime) -> list[UsageTotal]:
        """Tokens per day, model and purpose since `since`, oldest day first."""
        day = utc_day(usage.c.at).label("day")
        query = (
            select(day, usage.c.model, usage.c.purpose, func.sum(usage.c.prompt_tokens), func.sum(usage.c.completion_tokens), func.count())
            .where(usage.c.at >= since)
            .group_by(day, usage.c.model, usage.c.purpose)
            .order_by(day, usage.c.model, usage.c.purpose)
        )
        await self.flush()
        async with self._db.read() as conn:
            rows = (await conn.execute(query)).all()
        return [UsageTotal(d, m, p, int(i), int(o), int(n)) for d, m, p, i, o, n in rows]

    async def flag_message(self, *, user_id: int | None, guild_id: int | None, purpose: str, categories: str, content: str) -> None:
        async with self._db.write() as conn:
            await conn.execute(
                insert(flagged_messages).values(
                    at=utcnow(), user_id=user_id, guild_id=guild_id, purpose=purpose, categories=categories, content=content
                )
            )
