"""UsageStore: the tokens each model call used (written in batches), and the messages moderation flagged."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy import func, insert, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.types import Text

from bot.records import Usage, UsageTotal, utcnow
from bot.storage.batches import Batch
from bot.storage.database import Database
from bot.storage.schema import flagged_messages, usage


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
        self._batch = Batch(db, usage, "usage")

    async def record(self, call: Usage) -> None:
        """Queue a usage row; it is written within FLUSH_SECONDS, with the others queued meanwhile."""
        self._batch.add(
            {
                "at": utcnow(), "model": call.model, "purpose": call.purpose, "prompt_tokens": call.prompt_tokens,
                "completion_tokens": call.completion_tokens, "user_id": call.user_id, "guild_id": call.guild_id,
            }
        )

    async def flush(self) -> None:
        await self._batch.flush()

    async def close(self) -> None:
        await self._batch.close()

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
        async with self._batch.lock:  # a flush under way finishes first; none starts until the read is done
            snapshot()
            for row in self._batch.pending:
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
