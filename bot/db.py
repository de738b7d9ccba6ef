"""The SQLite database: one aiosqlite connection, WAL, versioned migrations, and every query."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import aiosqlite

log = logging.getLogger(__name__)

# Append only: a migration that has shipped is never edited, a new one is added.
MIGRATIONS: tuple[str, ...] = (
    # 1: the live support model (history kept), token usage, small key/value state
    """
    CREATE TABLE meta (
        key   TEXT PRIMARY KEY,
        value TEXT NOT NULL
    );
    CREATE TABLE support_models (
        id           INTEGER PRIMARY KEY,
        model        TEXT NOT NULL,
        activated_at TEXT NOT NULL,
        activated_by TEXT,
        reason       TEXT NOT NULL
    );
    CREATE TABLE usage (
        id                INTEGER PRIMARY KEY,
        at                TEXT NOT NULL,
        model             TEXT NOT NULL,
        purpose           TEXT NOT NULL,
        prompt_tokens     INTEGER NOT NULL,
        completion_tokens INTEGER NOT NULL,
        user_id           INTEGER,
        guild_id          INTEGER
    );
    CREATE INDEX usage_by_time ON usage (at);
    """,
)


class DatabaseError(Exception):
    """The database cannot be used as it is (corrupt, from a newer version, unwritable)."""


@dataclass(frozen=True)
class Usage:
    model: str
    purpose: str
    prompt_tokens: int
    completion_tokens: int
    user_id: int | None = None
    guild_id: int | None = None


@dataclass(frozen=True)
class UsageTotal:
    day: str
    model: str
    purpose: str
    prompt_tokens: int
    completion_tokens: int
    calls: int


@dataclass(frozen=True)
class SupportModelChange:
    model: str
    activated_at: datetime
    activated_by: str | None
    reason: str


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class Database:
    """Owns the connection; callers get plain dataclasses back, never rows or SQL."""

    def __init__(self, conn: aiosqlite.Connection, path: Path) -> None:
        self._conn = conn
        self.path = path
        self._write_lock = asyncio.Lock()

    @classmethod
    async def open(cls, path: Path | str) -> Database:
        """Open (creating file and folder if missing) and migrate to the current schema."""
        path = Path(path)
        try:
            await asyncio.to_thread(path.parent.mkdir, parents=True, exist_ok=True)
            conn = await aiosqlite.connect(path, isolation_level=None)
        except (OSError, sqlite3.Error) as exc:
            raise DatabaseError(f"cannot open the database at {path} ({exc}); check DATABASE_PATH.") from exc
        db = cls(conn, path)
        try:
            await conn.execute("PRAGMA journal_mode = WAL")
            await conn.execute("PRAGMA foreign_keys = ON")
            await conn.execute("PRAGMA busy_timeout = 5000")
            await conn.execute("PRAGMA synchronous = NORMAL")
            await db._migrate()
        except sqlite3.DatabaseError as exc:
            await conn.close()
            raise DatabaseError(f"{path} is not a usable database ({exc}).") from exc
        except BaseException:
            await conn.close()
            raise
        return db

    async def close(self) -> None:
        await self._conn.close()

    async def _migrate(self) -> None:
        async with self._conn.execute("PRAGMA user_version") as cursor:
            (version,) = await cursor.fetchone()
        if version > len(MIGRATIONS):
            raise DatabaseError(
                f"{self.path} has schema version {version}, newer than this bot knows "
                f"({len(MIGRATIONS)}); run a newer version of the bot or use another DATABASE_PATH."
            )
        for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
            try:
                await self._conn.executescript(f"BEGIN; {script}; PRAGMA user_version = {number}; COMMIT;")
            except BaseException:
                if self._conn.in_transaction:
                    await self._conn.rollback()
                raise
            log.info("database migrated to schema version %s", number)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        """One write transaction at a time; committed on success, rolled back on any error."""
        async with self._write_lock:
            await self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                await self._conn.rollback()
                raise
            else:
                await self._conn.commit()

    async def schema_version(self) -> int:
        async with self._conn.execute("PRAGMA user_version") as cursor:
            (version,) = await cursor.fetchone()
        return version

    # -- key/value state -------------------------------------------------------------

    async def get_meta(self, key: str) -> str | None:
        async with self._conn.execute("SELECT value FROM meta WHERE key = ?", (key,)) as cursor:
            row = await cursor.fetchone()
        return row[0] if row else None

    async def set_meta(self, key: str, value: str) -> None:
        async with self.transaction() as conn:
            await conn.execute(
                "INSERT INTO meta (key, value) VALUES (?, ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (key, value),
            )

    # -- the live support model ------------------------------------------------------

    async def live_support_model(self) -> str | None:
        """The model most recently made live, or None when none was ever promoted."""
        async with self._conn.execute("SELECT model FROM support_models ORDER BY id DESC LIMIT 1") as cursor:
            row = await cursor.fetchone()
        return row[0] if row else None

    async def set_support_model(self, model: str, *, by: str | None, reason: str) -> None:
        async with self.transaction() as conn:
            await conn.execute(
                "INSERT INTO support_models (model, activated_at, activated_by, reason) VALUES (?, ?, ?, ?)",
                (model, utcnow().isoformat(), by, reason),
            )

    async def support_model_history(self, limit: int = 10) -> list[SupportModelChange]:
        """Newest first."""
        async with self._conn.execute(
            "SELECT model, activated_at, activated_by, reason FROM support_models ORDER BY id DESC LIMIT ?",
            (limit,),
        ) as cursor:
            rows = await cursor.fetchall()
        return [SupportModelChange(m, datetime.fromisoformat(at), by, r) for m, at, by, r in rows]

    # -- token usage -----------------------------------------------------------------

    async def record_usage(self, usage: Usage) -> None:
        async with self.transaction() as conn:
            await conn.execute(
                "INSERT INTO usage (at, model, purpose, prompt_tokens, completion_tokens, user_id, guild_id) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    utcnow().isoformat(),
                    usage.model,
                    usage.purpose,
                    usage.prompt_tokens,
                    usage.completion_tokens,
                    usage.user_id,
                    usage.guild_id,
                ),
            )

    async def usage_totals(self, since: datetime) -> list[UsageTotal]:
        """Tokens per day, model and purpose since `since`, oldest day first."""
        async with self._conn.execute(
            "SELECT substr(at, 1, 10) AS day, model, purpose, SUM(prompt_tokens), SUM(completion_tokens), COUNT(*) "
            "FROM usage WHERE at >= ? GROUP BY day, model, purpose ORDER BY day, model, purpose",
            (since.isoformat(),),
        ) as cursor:
            rows = await cursor.fetchall()
        return [UsageTotal(*row) for row in rows]
