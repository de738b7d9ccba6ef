"""The SQLite database: creation, migrations, transactions and what survives a restart."""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta, timezone

import pytest

from bot.db import MIGRATIONS, Database, DatabaseError, Usage


async def test_open_creates_folder_file_and_schema(tmp_path):
    """A first run makes the folder and the file and applies every migration."""
    path = tmp_path / "new" / "folder" / "bot.db"
    db = await Database.open(path)
    try:
        assert path.exists()
        assert await db.schema_version() == len(MIGRATIONS)
    finally:
        await db.close()


async def test_database_uses_wal_and_foreign_keys(db):
    """WAL journaling and foreign keys are on."""
    async with db._conn.execute("PRAGMA journal_mode") as cursor:
        assert (await cursor.fetchone())[0] == "wal"
    async with db._conn.execute("PRAGMA foreign_keys") as cursor:
        assert (await cursor.fetchone())[0] == 1


async def test_live_model_and_usage_survive_a_restart(tmp_path):
    """Closing and reopening the database keeps the live model and the usage rows."""
    path = tmp_path / "bot.db"
    db = await Database.open(path)
    await db.set_support_model("ft:gpt-4.1-mini:shop::abc", by="admin#1", reason="promoted job ftjob-1")
    await db.record_usage(Usage("gpt-5-mini", "support", 12, 5, user_id=7, guild_id=9))
    await db.close()

    reopened = await Database.open(path)
    try:
        assert await reopened.live_support_model() == "ft:gpt-4.1-mini:shop::abc"
        [total] = await reopened.usage_totals(datetime.now(timezone.utc) - timedelta(days=1))
        assert (total.model, total.purpose, total.prompt_tokens, total.completion_tokens, total.calls) == (
            "gpt-5-mini", "support", 12, 5, 1,
        )
    finally:
        await reopened.close()


async def test_no_live_model_until_one_is_set(db):
    """A fresh database has no promoted model."""
    assert await db.live_support_model() is None


async def test_model_history_keeps_previous_models(db):
    """Setting a model keeps the earlier ones, newest first."""
    await db.set_support_model("a", by=None, reason="first")
    await db.set_support_model("b", by="admin", reason="second")
    assert [c.model for c in await db.support_model_history()] == ["b", "a"]


async def test_failed_transaction_changes_nothing(db):
    """An error inside a transaction rolls back every write in it."""
    with pytest.raises(RuntimeError):
        async with db.transaction() as conn:
            await conn.execute("INSERT INTO meta (key, value) VALUES ('k', 'v')")
            raise RuntimeError("boom")
    assert await db.get_meta("k") is None
    await db.set_meta("k", "after")
    assert await db.get_meta("k") == "after"


async def test_newer_schema_is_refused_with_a_clear_message(tmp_path):
    """A database from a newer bot version stops start-up instead of being damaged."""
    path = tmp_path / "bot.db"
    with sqlite3.connect(path) as conn:
        conn.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    with pytest.raises(DatabaseError, match="newer than this bot knows"):
        await Database.open(path)


async def test_corrupt_file_is_refused_with_a_clear_message(tmp_path):
    """A file that is not a database is reported, not a traceback."""
    path = tmp_path / "bot.db"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(DatabaseError, match="not a usable database"):
        await Database.open(path)


async def test_unusable_path_is_refused_naming_the_setting(tmp_path):
    """A DATABASE_PATH that is a folder gives a clear message, not a traceback."""
    with pytest.raises(DatabaseError, match="DATABASE_PATH"):
        await Database.open(tmp_path)
