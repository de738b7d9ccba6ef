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

from bot.errors import UserError

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
    # 2: examples staff taught, and fine-tuning jobs followed to the end
    """
    CREATE TABLE examples (
        id         INTEGER PRIMARY KEY,
        question   TEXT NOT NULL,
        answer     TEXT NOT NULL,
        author_id  INTEGER,
        created_at TEXT NOT NULL
    );
    CREATE TABLE training_jobs (
        id               TEXT PRIMARY KEY,
        run_id           TEXT NOT NULL UNIQUE,
        base_model       TEXT NOT NULL,
        training_file    TEXT NOT NULL,
        started_by       INTEGER NOT NULL,
        channel_id       INTEGER,
        status           TEXT NOT NULL,
        reported_status  TEXT,
        fine_tuned_model TEXT,
        error            TEXT,
        trained_tokens   INTEGER,
        created_at       TEXT NOT NULL,
        updated_at       TEXT NOT NULL,
        finished_at      TEXT
    );
    CREATE INDEX training_jobs_by_time ON training_jobs (created_at);
    """,
    # 3: who taught, replaced, removed or imported what; cached embedding vectors of examples
    """
    ALTER TABLE examples ADD COLUMN updated_at TEXT;
    CREATE TABLE audit_log (
        id         INTEGER PRIMARY KEY,
        at         TEXT NOT NULL,
        actor_id   INTEGER,
        action     TEXT NOT NULL,
        example_id INTEGER,
        detail     TEXT NOT NULL
    );
    CREATE TABLE example_vectors (
        example_id  INTEGER NOT NULL REFERENCES examples (id) ON DELETE CASCADE,
        model       TEXT NOT NULL,
        fingerprint TEXT NOT NULL,
        vector      BLOB NOT NULL,
        PRIMARY KEY (example_id, model)
    );
    """,
    # 4: bartender conversations: one open session per place, its turns as they happen
    """
    CREATE TABLE bartender_sessions (
        id                 INTEGER PRIMARY KEY,
        scope              TEXT NOT NULL,
        user_id            INTEGER NOT NULL,
        thread_id          INTEGER,
        summary            TEXT NOT NULL DEFAULT '',
        summarized_through INTEGER NOT NULL DEFAULT 0,
        created_at         TEXT NOT NULL,
        last_active_at     TEXT NOT NULL,
        closed_at          TEXT,
        closed_because     TEXT
    );
    CREATE UNIQUE INDEX bartender_sessions_open ON bartender_sessions (scope) WHERE closed_at IS NULL;
    CREATE TABLE bartender_turns (
        id           INTEGER PRIMARY KEY,
        session_id   INTEGER NOT NULL REFERENCES bartender_sessions (id),
        user_message TEXT NOT NULL,
        reply        TEXT,
        status       TEXT NOT NULL,
        tokens       INTEGER NOT NULL,
        created_at   TEXT NOT NULL
    );
    CREATE INDEX bartender_turns_by_session ON bartender_turns (session_id, id);
    """,
    # 5: daily budgets look usage up per user and per server; messages moderation flagged
    """
    CREATE INDEX usage_by_user ON usage (user_id, at);
    CREATE INDEX usage_by_guild ON usage (guild_id, at);
    CREATE TABLE flagged_messages (
        id         INTEGER PRIMARY KEY,
        at         TEXT NOT NULL,
        user_id    INTEGER,
        guild_id   INTEGER,
        purpose    TEXT NOT NULL,
        categories TEXT NOT NULL,
        content    TEXT NOT NULL
    );
    """,
)

FINISHED_STATUSES = ("succeeded", "failed", "cancelled")
USAGE_FLUSH_SECONDS = 0.25


class DatabaseError(Exception):
    """The database cannot be used as it is (corrupt, from a newer version, unwritable)."""


class StorageError(UserError):
    """A write failed (read-only file, full disk); nothing was changed."""

    def __init__(self) -> None:
        super().__init__("I couldn't save that: my storage is unavailable right now. Nothing was changed; please try again later.")


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
class Example:
    id: int
    question: str
    answer: str
    author_id: int | None
    created_at: datetime


@dataclass(frozen=True)
class BartenderSession:
    id: int
    scope: str
    user_id: int
    thread_id: int | None
    summary: str
    summarized_through: int
    last_active_at: datetime


@dataclass(frozen=True)
class Turn:
    id: int
    user_message: str
    reply: str
    tokens: int


@dataclass(frozen=True)
class AuditEntry:
    at: datetime
    actor_id: int | None
    action: str
    example_id: int | None
    detail: str


@dataclass(frozen=True)
class TrainingJob:
    id: str
    run_id: str
    base_model: str
    training_file: str
    started_by: int
    channel_id: int | None
    status: str
    reported_status: str | None
    fine_tuned_model: str | None
    error: str | None
    trained_tokens: int | None
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None

    @property
    def finished(self) -> bool:
        return self.status in FINISHED_STATUSES


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
        # Usage rows are written in batches: one transaction per model call would queue every
        # reply behind the others' writes under load. Readers of usage flush first.
        self._pending_usage: list[tuple] = []
        self._usage_flush: asyncio.Task[None] | None = None
        self._live_model: tuple[str | None] | None = None  # cached; changed only through this class

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
        try:
            await self.flush_usage()
        except UserError:
            log.error("%s usage rows could not be saved before closing", len(self._pending_usage))
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
            try:
                await self._conn.execute("BEGIN IMMEDIATE")
                try:
                    yield self._conn
                except BaseException:
                    await self._conn.rollback()
                    raise
                else:
                    await self._conn.commit()
            except sqlite3.OperationalError as exc:
                if self._conn.in_transaction:
                    await self._conn.rollback()
                # Read-only file, full disk, locked by another program: say so once, clearly.
                log.error("database write failed (%s): %s", self.path, exc)
                raise StorageError() from exc

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
        """The model most recently made live, or None when none was ever promoted (asked on every answer: cached)."""
        if self._live_model is None:
            async with self._conn.execute("SELECT model FROM support_models ORDER BY id DESC LIMIT 1") as cursor:
                row = await cursor.fetchone()
            self._live_model = (row[0] if row else None,)
        return self._live_model[0]

    async def set_support_model(self, model: str, *, by: str | None, reason: str) -> None:
        async with self.transaction() as conn:
            await conn.execute(
                "INSERT INTO support_models (model, activated_at, activated_by, reason) VALUES (?, ?, ?, ?)",
                (model, utcnow().isoformat(), by, reason),
            )
        self._live_model = (model,)

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
        """Queue a usage row; it is written within USAGE_FLUSH_SECONDS, with the others queued meanwhile."""
        self._pending_usage.append(
            (utcnow().isoformat(), usage.model, usage.purpose, usage.prompt_tokens, usage.completion_tokens,
             usage.user_id, usage.guild_id)
        )
        if self._usage_flush is None or self._usage_flush.done():
            self._usage_flush = asyncio.create_task(self._flush_usage_soon(), name="usage-flush")

    async def _flush_usage_soon(self) -> None:
        await asyncio.sleep(USAGE_FLUSH_SECONDS)
        try:
            await self.flush_usage()
        except UserError:
            pass  # storage unavailable, already logged; the rows stay queued for the next flush

    async def flush_usage(self) -> None:
        if not self._pending_usage:
            return
        rows, self._pending_usage = self._pending_usage, []
        try:
            async with self.transaction() as conn:
                await conn.executemany(
                    "INSERT INTO usage (at, model, purpose, prompt_tokens, completion_tokens, user_id, guild_id) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?)",
                    rows,
                )
        except BaseException:
            self._pending_usage[:0] = rows
            raise

    async def tokens_since(self, since: datetime, *, user_id: int | None = None, guild_id: int | None = None) -> int:
        """Prompt and completion tokens used since `since` by a user or in a server."""
        column, value = ("user_id", user_id) if user_id is not None else ("guild_id", guild_id)
        await self.flush_usage()
        async with self._conn.execute(
            f"SELECT COALESCE(SUM(prompt_tokens + completion_tokens), 0) FROM usage WHERE {column} = ? AND at >= ?",
            (value, since.isoformat()),
        ) as cursor:
            (total,) = await cursor.fetchone()
        return total

    async def flag_message(self, *, user_id: int | None, guild_id: int | None, purpose: str, categories: str, content: str) -> None:
        async with self.transaction() as conn:
            await conn.execute(
                "INSERT INTO flagged_messages (at, user_id, guild_id, purpose, categories, content) VALUES (?, ?, ?, ?, ?, ?)",
                (utcnow().isoformat(), user_id, guild_id, purpose, categories, content),
            )

    async def usage_totals(self, since: datetime) -> list[UsageTotal]:
        """Tokens per day, model and purpose since `since`, oldest day first."""
        await self.flush_usage()
        async with self._conn.execute(
            "SELECT substr(at, 1, 10) AS day, model, purpose, SUM(prompt_tokens), SUM(completion_tokens), COUNT(*) "
            "FROM usage WHERE at >= ? GROUP BY day, model, purpose ORDER BY day, model, purpose",
            (since.isoformat(),),
        ) as cursor:
            rows = await cursor.fetchall()
        return [UsageTotal(*row) for row in rows]

    # -- taught examples -------------------------------------------------------------

    _EXAMPLE_COLUMNS = "id, question, answer, author_id, created_at"

    async def add_example(self, question: str, answer: str, *, author_id: int | None, action: str = "teach") -> Example:
        """Store an example and its audit entry together."""
        created_at = utcnow()
        async with self.transaction() as conn:
            cursor = await conn.execute(
                "INSERT INTO examples (question, answer, author_id, created_at) VALUES (?, ?, ?, ?)",
                (question, answer, author_id, created_at.isoformat()),
            )
            await _audit(conn, author_id, action, cursor.lastrowid, question)
        return Example(cursor.lastrowid, question, answer, author_id, created_at)

    async def replace_answer(self, example_id: int, answer: str, *, author_id: int | None) -> Example | None:
        async with self.transaction() as conn:
            cursor = await conn.execute(
                "UPDATE examples SET answer = ?, author_id = ?, updated_at = ? WHERE id = ?",
                (answer, author_id, utcnow().isoformat(), example_id),
            )
            if cursor.rowcount == 0:
                return None
            await _audit(conn, author_id, "replace", example_id, answer)
        return await self.example(example_id)

    async def remove_example(self, example_id: int, *, actor_id: int | None) -> Example | None:
        example = await self.example(example_id)
        if example is None:
            return None
        async with self.transaction() as conn:
            await conn.execute("DELETE FROM examples WHERE id = ?", (example_id,))
            await _audit(conn, actor_id, "remove", example_id, f"{example.question} -> {example.answer}")
        return example

    async def import_examples(
        self, new: list[tuple[str, str]], replaced: list[tuple[int, str]], *, actor_id: int | None, source: str
    ) -> None:
        """Add and replace many examples in one transaction: all of them or none."""
        now = utcnow().isoformat()
        async with self.transaction() as conn:
            for question, answer in new:
                cursor = await conn.execute(
                    "INSERT INTO examples (question, answer, author_id, created_at) VALUES (?, ?, ?, ?)",
                    (question, answer, actor_id, now),
                )
                await _audit(conn, actor_id, "import", cursor.lastrowid, question)
            for example_id, answer in replaced:
                await conn.execute(
                    "UPDATE examples SET answer = ?, author_id = ?, updated_at = ? WHERE id = ?",
                    (answer, actor_id, now, example_id),
                )
                await _audit(conn, actor_id, "import-replace", example_id, answer)
            await _audit(conn, actor_id, "import-file", None, f"{source}: {len(new)} added, {len(replaced)} replaced")

    async def example(self, example_id: int) -> Example | None:
        async with self._conn.execute(f"SELECT {self._EXAMPLE_COLUMNS} FROM examples WHERE id = ?", (example_id,)) as cursor:
            row = await cursor.fetchone()
        return _example(row) if row else None

    async def examples(self) -> list[Example]:
        """Oldest first."""
        async with self._conn.execute(f"SELECT {self._EXAMPLE_COLUMNS} FROM examples ORDER BY id") as cursor:
            rows = await cursor.fetchall()
        return [_example(row) for row in rows]

    async def find_examples(self, search: str | None, *, offset: int, limit: int) -> tuple[list[Example], int]:
        """A page of examples whose question or answer contains `search`, and how many match in all."""
        where, args = "", ()
        if search:
            pattern = "%" + search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            where, args = "WHERE question LIKE ? ESCAPE '\\' OR answer LIKE ? ESCAPE '\\'", (pattern, pattern)
        async with self._conn.execute(f"SELECT COUNT(*) FROM examples {where}", args) as cursor:
            (total,) = await cursor.fetchone()
        async with self._conn.execute(
            f"SELECT {self._EXAMPLE_COLUMNS} FROM examples {where} ORDER BY id LIMIT ? OFFSET ?", (*args, limit, offset)
        ) as cursor:
            rows = await cursor.fetchall()
        return [_example(row) for row in rows], total

    async def audit_log(self, limit: int = 50) -> list[AuditEntry]:
        """Newest first."""
        async with self._conn.execute(
            "SELECT at, actor_id, action, example_id, detail FROM audit_log ORDER BY id DESC LIMIT ?", (limit,)
        ) as cursor:
            rows = await cursor.fetchall()
        return [AuditEntry(datetime.fromisoformat(at), actor, action, example_id, detail) for at, actor, action, example_id, detail in rows]

    # -- embedding vectors ---------------------------------------------------------------

    async def cached_vectors(self, model: str) -> dict[int, tuple[str, bytes]]:
        async with self._conn.execute(
            "SELECT example_id, fingerprint, vector FROM example_vectors WHERE model = ?", (model,)
        ) as cursor:
            rows = await cursor.fetchall()
        return {example_id: (fingerprint, vector) for example_id, fingerprint, vector in rows}

    async def save_vectors(self, model: str, vectors: list[tuple[int, str, bytes]]) -> None:
        async with self.transaction() as conn:
            await conn.executemany(
                "INSERT INTO example_vectors (example_id, model, fingerprint, vector) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (example_id, model) DO UPDATE SET fingerprint = excluded.fingerprint, vector = excluded.vector",
                [(example_id, model, fingerprint, vector) for example_id, fingerprint, vector in vectors],
            )

    # -- bartender sessions --------------------------------------------------------------

    _SESSION_COLUMNS = "id, scope, user_id, thread_id, summary, summarized_through, last_active_at"

    async def open_session(self, scope: str) -> BartenderSession | None:
        async with self._conn.execute(
            f"SELECT {self._SESSION_COLUMNS} FROM bartender_sessions WHERE scope = ? AND closed_at IS NULL", (scope,)
        ) as cursor:
            row = await cursor.fetchone()
        return _session(row) if row else None

    async def start_session(self, scope: str, *, user_id: int, thread_id: int | None = None, close_because: str | None = None) -> BartenderSession:
        """A new open session for `scope`; any open one is closed first (kept, not used)."""
        now = utcnow().isoformat()
        async with self.transaction() as conn:
            await conn.execute(
                "UPDATE bartender_sessions SET closed_at = ?, closed_because = ? WHERE scope = ? AND closed_at IS NULL",
                (now, close_because or "replaced", scope),
            )
            cursor = await conn.execute(
                "INSERT INTO bartender_sessions (scope, user_id, thread_id, created_at, last_active_at) VALUES (?, ?, ?, ?, ?)",
                (scope, user_id, thread_id, now, now),
            )
        return BartenderSession(cursor.lastrowid, scope, user_id, thread_id, "", 0, datetime.fromisoformat(now))

    async def close_session(self, scope: str, *, because: str) -> bool:
        async with self.transaction() as conn:
            cursor = await conn.execute(
                "UPDATE bartender_sessions SET closed_at = ?, closed_because = ? WHERE scope = ? AND closed_at IS NULL",
                (utcnow().isoformat(), because, scope),
            )
        return cursor.rowcount > 0

    async def bartender_threads(self) -> dict[int, int]:
        """Thread ID -> the customer it belongs to, for every open thread session."""
        async with self._conn.execute(
            "SELECT thread_id, user_id FROM bartender_sessions WHERE thread_id IS NOT NULL AND closed_at IS NULL"
        ) as cursor:
            rows = await cursor.fetchall()
        return dict(rows)

    async def start_turn(self, session_id: int, user_message: str, tokens: int) -> int:
        """Record the customer's message before answering it, so a restart loses nothing."""
        now = utcnow().isoformat()
        async with self.transaction() as conn:
            cursor = await conn.execute(
                "INSERT INTO bartender_turns (session_id, user_message, status, tokens, created_at) VALUES (?, ?, 'pending', ?, ?)",
                (session_id, user_message, tokens, now),
            )
            await conn.execute("UPDATE bartender_sessions SET last_active_at = ? WHERE id = ?", (now, session_id))
        return cursor.lastrowid

    async def finish_turn(self, turn_id: int, reply: str, tokens: int) -> None:
        async with self.transaction() as conn:
            await conn.execute(
                "UPDATE bartender_turns SET reply = ?, status = 'done', tokens = ? WHERE id = ?", (reply, tokens, turn_id)
            )

    async def fail_turn(self, turn_id: int, partial_reply: str) -> None:
        """Keep what was said, out of the history: a failed turn must not poison the next prompt."""
        async with self.transaction() as conn:
            await conn.execute(
                "UPDATE bartender_turns SET reply = ?, status = 'failed' WHERE id = ?", (partial_reply, turn_id)
            )

    async def interrupt_pending_turns(self) -> int:
        """Turns left unanswered by a shutdown: kept, but out of the history like failed ones."""
        async with self.transaction() as conn:
            cursor = await conn.execute("UPDATE bartender_turns SET status = 'interrupted' WHERE status = 'pending'")
        return cursor.rowcount

    async def recent_turns(self, session_id: int, *, after: int, limit: int) -> list[Turn]:
        """Finished turns newer than turn `after`, newest first."""
        async with self._conn.execute(
            "SELECT id, user_message, reply, tokens FROM bartender_turns "
            "WHERE session_id = ? AND id > ? AND status = 'done' ORDER BY id DESC LIMIT ?",
            (session_id, after, limit),
        ) as cursor:
            rows = await cursor.fetchall()
        return [Turn(*row) for row in rows]

    async def save_summary(self, session_id: int, summary: str, through_turn: int) -> None:
        async with self.transaction() as conn:
            await conn.execute(
                "UPDATE bartender_sessions SET summary = ?, summarized_through = ? WHERE id = ? AND summarized_through < ?",
                (summary, through_turn, session_id, through_turn),
            )

    async def session(self, session_id: int) -> BartenderSession | None:
        async with self._conn.execute(
            f"SELECT {self._SESSION_COLUMNS} FROM bartender_sessions WHERE id = ?", (session_id,)
        ) as cursor:
            row = await cursor.fetchone()
        return _session(row) if row else None

    # -- fine-tuning jobs --------------------------------------------------------------

    _JOB_COLUMNS = (
        "id, run_id, base_model, training_file, started_by, channel_id, status, reported_status, "
        "fine_tuned_model, error, trained_tokens, created_at, updated_at, finished_at"
    )

    async def add_training_job(
        self, *, job_id: str, run_id: str, base_model: str, training_file: str, started_by: int,
        channel_id: int | None, status: str,
    ) -> None:
        now = utcnow().isoformat()
        async with self.transaction() as conn:
            await conn.execute(
                "INSERT INTO training_jobs (id, run_id, base_model, training_file, started_by, channel_id, status, "
                "created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (job_id, run_id, base_model, training_file, started_by, channel_id, status, now, now),
            )

    async def training_job(self, job_id: str | None = None) -> TrainingJob | None:
        """The job with that ID, or the latest one when no ID is given."""
        if job_id is None:
            query, args = f"SELECT {self._JOB_COLUMNS} FROM training_jobs ORDER BY created_at DESC, rowid DESC LIMIT 1", ()
        else:
            query, args = f"SELECT {self._JOB_COLUMNS} FROM training_jobs WHERE id = ?", (job_id,)
        async with self._conn.execute(query, args) as cursor:
            row = await cursor.fetchone()
        return _training_job(row) if row else None

    async def jobs_to_follow(self) -> list[TrainingJob]:
        """Jobs still running, and finished ones whose final status was not yet reported."""
        placeholders = ", ".join("?" * len(FINISHED_STATUSES))
        async with self._conn.execute(
            f"SELECT {self._JOB_COLUMNS} FROM training_jobs "
            f"WHERE status NOT IN ({placeholders}) OR reported_status IS NOT status ORDER BY created_at",
            FINISHED_STATUSES,
        ) as cursor:
            rows = await cursor.fetchall()
        return [_training_job(row) for row in rows]

    async def update_training_job(
        self, job_id: str, *, was: str, status: str, fine_tuned_model: str | None, error: str | None,
        trained_tokens: int | None, finished_at: datetime | None, promote_by: str | None = None,
    ) -> bool:
        """Record a job's new state if it is still `was`; on success make its model live in the same transaction.

        False when someone else recorded a change first: the caller must not announce or promote again.
        """
        async with self.transaction() as conn:
            cursor = await conn.execute(
                "UPDATE training_jobs SET status = ?, fine_tuned_model = ?, error = ?, trained_tokens = ?, "
                "finished_at = ?, updated_at = ? WHERE id = ? AND status = ?",
                (
                    status, fine_tuned_model, error, trained_tokens,
                    finished_at.isoformat() if finished_at else None, utcnow().isoformat(), job_id, was,
                ),
            )
            if cursor.rowcount == 0:
                return False
            if promote_by is not None and fine_tuned_model:
                await conn.execute(
                    "INSERT INTO support_models (model, activated_at, activated_by, reason) VALUES (?, ?, ?, ?)",
                    (fine_tuned_model, utcnow().isoformat(), promote_by, f"fine-tuning job {job_id} succeeded"),
                )
        if promote_by is not None and fine_tuned_model:
            self._live_model = (fine_tuned_model,)
        return True

    async def mark_job_reported(self, job_id: str, status: str) -> None:
        async with self.transaction() as conn:
            await conn.execute("UPDATE training_jobs SET reported_status = ? WHERE id = ?", (status, job_id))


def _session(row: tuple) -> BartenderSession:
    *head, last_active_at = row
    return BartenderSession(*head, last_active_at=datetime.fromisoformat(last_active_at))


async def _audit(conn: aiosqlite.Connection, actor_id: int | None, action: str, example_id: int | None, detail: str) -> None:
    await conn.execute(
        "INSERT INTO audit_log (at, actor_id, action, example_id, detail) VALUES (?, ?, ?, ?, ?)",
        (utcnow().isoformat(), actor_id, action, example_id, detail),
    )


def _example(row: tuple) -> Example:
    example_id, question, answer, author_id, created_at = row
    return Example(example_id, question, answer, author_id, datetime.fromisoformat(created_at))


def _training_job(row: tuple) -> TrainingJob:
    *head, created_at, updated_at, finished_at = row
    return TrainingJob(
        *head,
        created_at=datetime.fromisoformat(created_at),
        updated_at=datetime.fromisoformat(updated_at),
        finished_at=datetime.fromisoformat(finished_at) if finished_at else None,
    )
