"""StateStore: small named values the bot keeps between starts (e.g. the hash of the commands last synced)."""

from __future__ import annotations

from sqlalchemy import select

from bot.storage.database import Database
from bot.storage.schema import meta


class StateStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def get(self, key: str) -> str | None:
        async with self._db.read() as conn:
            return (await conn.execute(select(meta.c.value).where(meta.c.key == key))).scalar()

    async def set(self, key: str, value: str) -> None:
        statement = self._db.insert(meta).values(key=key, value=value)
        async with self._db.write() as conn:
            await conn.execute(statement.on_conflict_do_update(index_elements=[meta.c.key], set_={"value": value}))
