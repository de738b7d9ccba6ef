"""Opening a database: SQLite files old and new, damaged or from the future, and PostgreSQL URLs that can't work."""

from __future__ import annotations

import sqlite3
from datetime import datetime, timezone

import pytest

from bot.services import open_services
from bot.storage import DatabaseError, Storage
from bot.storage.database import ALEMBIC_MANAGED
from bot.storage.schema import SCHEMA_REVISION
from conftest import ROOT, query

LEGACY_DUMP = ROOT / "tests" / "data" / "legacy_v5.sql"
SNOWFLAKE = 1234567890123456789


def legacy_file(path) -> None:
    """A database as the SQLite-only version (schema 5) left it, with examples, sessions, jobs and usage."""
    with sqlite3.connect(path) as conn:
        conn.executescript(LEGACY_DUMP.read_text(encoding="utf-8"))
    conn.close()


async def test_first_start_creates_folder_file_and_schema(tmp_path):
    path = tmp_path / "new" / "folder" / "bot.db"
    storage = await Storage.open(None, path)
    try:
        assert path.exists()
        assert await storage.database.revision() == SCHEMA_REVISION
        assert await query(storage, "PRAGMA journal_mode") == [("wal",)]
        assert await query(storage, "PRAGMA foreign_keys") == [(1,)]
        assert await query(storage, "PRAGMA user_version") == [(ALEMBIC_MANAGED,)]
    finally:
        await storage.close()


async def test_database_of_the_sqlite_only_version_upgrades_in_place_losing_nothing(tmp_path, settings):
    """A shop's existing file keeps its examples, conversations, jobs, live model and usage, and is not re-seeded."""
    legacy_file(settings.database_path)
    async with open_services(settings) as services:
        storage = services.storage
        assert await storage.database.revision() == SCHEMA_REVISION
        assert await query(storage, "PRAGMA user_version") == [(ALEMBIC_MANAGED,)]

        examples = await storage.examples.all()
        assert [(e.question, e.answer) for e in examples] == [
            ("배송은 얼마나 걸리나요?", "보통 2~3일 걸려요."),
            ("구독 방법 알려주세요", "앱의 구독 탭에서 신청하세요."),
            ("환불 되나요?", "구매 후 7일 안에 환불돼요."),
        ]
        assert examples[2].author_id == SNOWFLAKE
        assert examples[0].created_at == datetime(2026, 12, 2, 18, 43, 52, 102584, tzinfo=timezone.utc)
        assert [entry.action for entry in await storage.examples.audit_log()] == [
            "replace", "teach", "import-file", "import", "import",
        ]
        assert await storage.examples.cached_vectors("text-embedding-3-small") == {3: ("fp1", b"\x00\x01\x02\x03")}

        session = await storage.conversations.open_session("channel:42:user:7")
        assert session.summary == "손님은 진을 좋아함"
        [turn] = await storage.conversations.recent_turns(session.id, after=0, limit=10)
        assert (turn.user_message, turn.reply) == ("진 좋아해요", "김렛 어때요?")
        assert await storage.conversations.open_threads() == {99: 8}
        # The turn a shutdown left pending is kept, out of the history (the bartender's start marks it).
        assert await query(storage, "SELECT status FROM bartender_turns WHERE user_message = 'pending one'") == [
            ("interrupted",)
        ]

        job = await storage.jobs.get()
        assert (job.id, job.status, job.started_by, job.fine_tuned_model) == (
            "ftjob-old", "succeeded", SNOWFLAKE, "ft:gpt-4.1-mini:shop::old",
        )
        assert await storage.jobs.to_follow() == []  # already announced: not announced again
        assert await storage.jobs.live_model() == "ft:gpt-4.1-mini:shop::old"

        since = datetime(2026, 12, 1, tzinfo=timezone.utc)
        assert await storage.usage.tokens_since(since, user_id=SNOWFLAKE) == 150
        assert await storage.usage.tokens_since(since, guild_id=987654321098765432) == 150
        assert await query(storage, "SELECT content FROM flagged_messages") == [("bad words",)]

        await storage.examples.add("교환 되나요", "네, 7일 안에요.", author_id=1)  # and it takes new writes
    # Opened again, as every later start does: nothing migrates twice.
    storage = await Storage.open(None, settings.database_path)
    try:
        assert len(await storage.examples.all()) == 4
    finally:
        await storage.close()


async def test_database_from_a_newer_version_is_refused_and_left_alone(tmp_path):
    path = tmp_path / "bot.db"
    with sqlite3.connect(path) as conn:
        conn.execute(f"PRAGMA user_version = {ALEMBIC_MANAGED + 1}")
    conn.close()
    with pytest.raises(DatabaseError, match=f"schema version {ALEMBIC_MANAGED + 1}, newer than this bot knows"):
        await Storage.open(None, path)
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone() == (ALEMBIC_MANAGED + 1,)
    conn.close()


async def test_corrupt_file_is_refused_with_a_clear_message(tmp_path):
    path = tmp_path / "bot.db"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(DatabaseError, match="is not a usable database"):
        await Storage.open(None, path)


async def test_folder_as_database_path_is_refused_naming_the_setting(tmp_path):
    with pytest.raises(DatabaseError, match="DATABASE_PATH"):
        await Storage.open(None, tmp_path)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("mysql://user@host/db", "must be a PostgreSQL URL"),
        ("not a url", "not a database URL"),
    ],
)
async def test_database_url_that_is_not_postgresql_is_refused(tmp_path, url, message):
    with pytest.raises(DatabaseError, match=message):
        await Storage.open(url, tmp_path / "bot.db")


async def test_unreachable_postgresql_is_refused_without_its_password(tmp_path):
    url = "postgresql://shop:hunter2secret@127.0.0.1:9/shop"  # nothing listens on port 9
    with pytest.raises(DatabaseError, match="DATABASE_URL") as refused:
        await Storage.open(url, tmp_path / "bot.db")
    assert "hunter2secret" not in str(refused.value)
    assert "127.0.0.1:9/shop" in str(refused.value)

