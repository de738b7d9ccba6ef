"""The database: SQLite (the default) or PostgreSQL behind one engine, transactions, migrations, a lock across processes."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections.abc import AsyncIterator
from pathlib import Path

from sqlalchemy import event, func, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DataError, DBAPIError, IntegrityError, ProgrammingError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from bot.errors import UserError
from bot.i18n import N_
from bot.storage.legacy import LEGACY_MIGRATIONS
from bot.storage.schema import SCHEMA_REVISION

log = logging.getLogger(__name__)

MIGRATIONS_FOLDER = Path(__file__).resolve().parent / "migrations"
# PRAGMA user_version of a SQLite file: 1-5 were the SQLite-only versions' own steps. From 6 on,
# Alembic manages the file; the number stays above 5 so those older versions refuse it clearly.
ALEMBIC_MANAGED = len(LEGACY_MIGRATIONS) + 1


class DatabaseError(Exception):
    """The database cannot be used as it is (unreachable, corrupt, from a newer version, unwritable)."""


STORAGE_UNAVAILABLE = N_("I couldn't save that: my storage is unavailable right now. Nothing was changed; please try again later.")


class StorageError(UserError):
    """A write failed (read-only file, full disk, database gone); nothing was changed."""

    def __init__(self) -> None:
        super().__init__(STORAGE_UNAVAILABLE)


def database_url(url: str | None, path: Path) -> URL:
    """DATABASE_URL (postgres://… as hosting platforms give it) for PostgreSQL, else the SQLite file at DATABASE_PATH."""
    if not url:
        return URL.create("sqlite+aiosqlite", database=str(path))
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise DatabaseError("DATABASE_URL is not a database URL; it looks like postgresql://user:password@host:5432/name.") from None
    if parsed.drivername not in ("postgres", "postgresql", "postgresql+asyncpg"):
        raise DatabaseError(f"DATABASE_URL must be a PostgreSQL URL (postgresql://…), not {parsed.drivername}://….")
    query = dict(parsed.query)
    if "sslmode" in query:  # libpq's name, as platforms write it; asyncpg calls it ssl
        query["ssl"] = query.pop("sslmode")
    return parsed.set(drivername="postgresql+asyncpg", query=query)


class Database:
    """Owns the engine: hands out connections for reading and transactions for writing."""

    def __init__(self, engine: AsyncEngine, *, where: str) -> None:
        self.engine = engine
        self.where = where  # for messages: the file, or the server without its password
        self.dialect = engine.dialect.name
        # SQLite takes one writer at a time: queue writers here rather than in the driver's busy wait.
        self._write_lock = asyncio.Lock() if self.dialect == "sqlite" else None
        self.read_only = False  # found so at start-up; writes are still tried, and fail one by one

    @classmethod
    async def open(cls, url: URL) -> Database:
        """Connect (creating a SQLite file and its folder if missing) and bring the schema up to date."""
        if url.get_backend_name() == "sqlite":
            path = Path(url.database or "")
            where = f"{path} (DATABASE_PATH)"
            try:
                await asyncio.to_thread(path.parent.mkdir, parents=True, exist_ok=True)
            except OSError as exc:
                raise DatabaseError(f"cannot open the database at {where}: {exc.strerror}.") from exc
            engine = create_async_engine(url)
            event.listen(engine.sync_engine, "connect", _sqlite_connect)
            event.listen(engine.sync_engine, "begin", _sqlite_begin)
        else:
            where = f"{url.render_as_string(hide_password=True)} (DATABASE_URL)"
            engine = create_async_engine(url, pool_size=10, max_overflow=10, pool_pre_ping=True)
        db = cls(engine, where=where)
        try:
            await db._migrate()
        except DBAPIError as exc:
            await engine.dispose()
            cause = str(exc.orig if exc.orig is not None else exc).strip().splitlines()[0]
            raise DatabaseError(f"{where} is not a usable database ({cause}).") from exc
        except (OSError, asyncio.TimeoutError) as exc:
            await engine.dispose()
            raise DatabaseError(f"cannot reach the database at {where}: {exc}.") from exc
        except BaseException:
            await engine.dispose()
            raise
        db.read_only = not await db.writable()
        if db.read_only:
            # Said once here; each write that then fails is logged on its own (see write()).
            log.warning("database %s is read-only: answering from what it holds, nothing new can be saved", where)
        return db

    async def close(self) -> None:
        await self.engine.dispose()

    # -- reading and writing ----------------------------------------------------------

    @contextlib.asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        async with self.engine.connect() as conn:
            yield conn

    @contextlib.asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncConnection]:
        """One transaction: committed when the block ends, rolled back on any error.

        A write the database refuses (read-only, full disk, server gone or shutting down) becomes
        a StorageError the user can be shown.
        """
        async with self._write_lock or contextlib.nullcontext():
            try:
                async with self.engine.connect() as conn:
                    if self.dialect == "sqlite":
                        # Take the write lock at BEGIN: a read that later writes can't then fail half-way.
                        await conn.execution_options(sqlite_begin="IMMEDIATE")
                    async with conn.begin():
                        yield conn
            except (DBAPIError, OSError) as exc:
                denied = getattr(getattr(exc, "orig", None), "sqlstate", None) == "42501"  # a role without write rights
                if isinstance(exc, (IntegrityError, ProgrammingError, DataError)) and not denied:
                    raise  # a bug in what was written, not the storage failing
                log.error("database write failed (%s): %s", self.where, exc)
                raise StorageError() from exc

    def insert(self, table):
        """INSERT with this engine's ON CONFLICT clauses (on_conflict_do_nothing / _do_update)."""
        return (postgresql.insert if self.dialect == "postgresql" else sqlite.insert)(table)

    @contextlib.asynccontextmanager
    async def exclusive(self, name: str) -> AsyncIterator[bool]:
        """Whether this process alone holds `name` among all processes on this database, until the block ends.

        PostgreSQL: a session advisory lock, freed by the server if the process dies. SQLite: one
        process uses a file, so it is always held.
        """
        if self.dialect != "postgresql":
            yield True
            return
        key = int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)
        async with self.engine.connect() as conn:
            held = (await conn.execute(select(func.pg_try_advisory_lock(key)))).scalar_one()
            await conn.commit()  # keep the lock, not an open transaction
            try:
                yield held
            finally:
                if held:
                    with contextlib.suppress(DBAPIError, OSError):
                        await conn.execute(select(func.pg_advisory_unlock(key)))
                        await conn.commit()

    # -- the schema -------------------------------------------------------------------

    async def revision(self) -> str | None:
        """The Alembic revision the database is at; None before the first migration."""
        async with self.read() as conn:
            return await conn.run_sync(_current_revision)

    async def _migrate(self) -> None:
        if await self._up_to_date():
            return  # the usual start, and one a read-only database can make: no write transaction
        async with self.write_for_migration() as conn:
            if self.dialect == "sqlite":
                await self._upgrade_legacy_sqlite(conn)
            current = await conn.run_sync(_current_revision)
            if current == SCHEMA_REVISION:
                return  # the usual start: Alembic (slow to import) isn't needed
            await conn.run_sync(_alembic_upgrade, self.where)
            if self.dialect == "sqlite":
                await conn.exec_driver_sql(f"PRAGMA user_version = {ALEMBIC_MANAGED}")
            log.info("database %s migrated to schema revision %s", self.where, SCHEMA_REVISION)

    async def _up_to_date(self) -> bool:
        async with self.read() as conn:
            if self.dialect == "sqlite" and (await conn.exec_driver_sql("PRAGMA user_version")).scalar_one() != ALEMBIC_MANAGED:
                return False
            return await conn.run_sync(_current_revision) == SCHEMA_REVISION

    async def writable(self) -> bool:
        """Whether the database takes writes now; False for a read-only file, disk or server."""
        try:
            async with self.engine.connect() as conn:
                if self.dialect == "sqlite":
                    await conn.execution_options(sqlite_begin="IMMEDIATE")
                    async with conn.begin() as transaction:
                        await transaction.rollback()
                    return True
                return (await conn.execute(text("SHOW transaction_read_only"))).scalar_one() != "on"
        except (DBAPIError, OSError):
            return False

    @contextlib.asynccontextmanager
    async def write_for_migration(self) -> AsyncIterator[AsyncConnection]:
        """A transaction that no other process migrates at the same time."""
        async with self.engine.connect() as conn:
            if self.dialect == "sqlite":
                await conn.execution_options(sqlite_begin="IMMEDIATE")
            async with conn.begin():
                if self.dialect == "postgresql":
                    await conn.execute(text("SELECT pg_advisory_xact_lock(7268105)"))  # freed at commit
                yield conn

    async def _upgrade_legacy_sqlite(self, conn: AsyncConnection) -> None:
        """Files of the SQLite-only versions (user_version 1-5): finish their steps, then hand them to Alembic."""
        version = (await conn.exec_driver_sql("PRAGMA user_version")).scalar_one()
        if version > ALEMBIC_MANAGED:
            raise DatabaseError(
                f"{self.where} has schema version {version}, newer than this bot knows; "
                "run a newer version of the bot or use another DATABASE_PATH."
            )
        if version == 0 or version == ALEMBIC_MANAGED:
            return
        for number, script in enumerate(LEGACY_MIGRATIONS[version:], start=version + 1):
            for statement in filter(str.strip, script.split(";")):
                await conn.exec_driver_sql(statement)
            log.info("database %s: legacy schema step %s applied", self.where, number)
        await conn.run_sync(_alembic_stamp_baseline)
        await conn.exec_driver_sql(f"PRAGMA user_version = {ALEMBIC_MANAGED}")
        log.info("database %s: handed over to Alembic at the baseline revision", self.where)


def _sqlite_connect(dbapi_connection, _record) -> None:
    # The driver must not start transactions on its own: _sqlite_begin decides how each one begins.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    for pragma in ("journal_mode = WAL", "foreign_keys = ON", "busy_timeout = 5000", "synchronous = NORMAL"):
        cursor.execute(f"PRAGMA {pragma}")
    cursor.close()


def _sqlite_begin(conn) -> None:
    """Writes begin IMMEDIATE; reads run without a transaction (WAL gives each statement a consistent view)."""
    mode = conn.get_execution_options().get("sqlite_begin")
    if mode:
        conn.exec_driver_sql(f"BEGIN {mode}")


def _current_revision(sync_conn) -> str | None:
    from sqlalchemy import inspect

    if not inspect(sync_conn).has_table("alembic_version"):
        return None
    return sync_conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()


def _alembic_config(sync_conn):
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_FOLDER))
    config.attributes["connection"] = sync_conn
    return config


def _alembic_upgrade(sync_conn, where: str) -> None:
    from alembic import command
    from alembic.script import ScriptDirectory
    from alembic.util import CommandError

    config = _alembic_config(sync_conn)
    current = _current_revision(sync_conn)
    if current is not None:
        try:
            ScriptDirectory.from_config(config).get_revision(current)
        except CommandError:
            raise DatabaseError(
                f"{where} has schema revision {current}, newer than this bot knows; "
                "run a newer version of the bot or point it at another database."
            ) from None
    command.upgrade(config, "head")


def _alembic_stamp_baseline(sync_conn) -> None:
    from alembic import command

    command.stamp(_alembic_config(sync_conn), "0001")
