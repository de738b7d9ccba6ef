"""Storage on both engines: every store, transactions, the schema, and two processes sharing one database.

Each test runs on a SQLite file and on a fresh PostgreSQL database (skipped with the reason when no
server is reachable and TEST_DATABASE_URL is unset).
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone

import pytest
import pytest_asyncio
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from bot.records import Usage
from bot.storage import Storage, StorageError, jobs as jobs_module
from bot.storage.database import MIGRATIONS_FOLDER, _alembic_config
from bot.storage.schema import SCHEMA_REVISION, metadata
from conftest import READ_ONLY, both_engines, on_every_connection, open_storage, query

pytestmark = both_engines

SNOWFLAKE = 1234567890123456789  # Discord IDs need 64 bits


@pytest_asyncio.fixture
async def store(settings):
    """A freshly migrated database on its own (no seeding), as the first start sees it."""
    storage = await open_storage(settings)
    yield storage
    await storage.close()


def day_ago() -> datetime:
    return datetime.now(timezone.utc) - timedelta(days=1)


# -- the schema ---------------------------------------------------------------------------


async def test_new_database_is_at_the_newest_revision_and_matches_the_tables(store):
    """Migrations build exactly the tables the code describes, and the code's revision is the newest one."""
    assert await store.database.revision() == SCHEMA_REVISION

    def differences(sync_conn):
        script = ScriptDirectory.from_config(_alembic_config(sync_conn))
        return script.get_current_head(), compare_metadata(MigrationContext.configure(sync_conn), metadata)

    async with store.database.read() as conn:
        head, diff = await conn.run_sync(differences)
    assert head == SCHEMA_REVISION
    assert diff == []
    assert MIGRATIONS_FOLDER.is_dir()


async def test_opening_again_migrates_nothing_and_keeps_data(settings, store):
    await store.state.set("greeting", "안녕")
    again = await open_storage(settings)
    try:
        assert await again.state.get("greeting") == "안녕"
        assert await again.database.revision() == SCHEMA_REVISION
    finally:
        await again.close()


async def test_database_with_an_unknown_revision_is_refused(settings, store):
    """A database migrated by a newer bot stops start-up with one clear line, and is left as it was."""
    async with store.database.write() as conn:
        await conn.exec_driver_sql("UPDATE alembic_version SET version_num = '9999'")
    from bot.storage import DatabaseError

    with pytest.raises(DatabaseError, match="schema revision 9999, newer than this bot knows"):
        await open_storage(settings)
    assert await query(store, "SELECT version_num FROM alembic_version") == [("9999",)]


# -- transactions and failures ---------------------------------------------------------------


async def test_failed_transaction_changes_nothing(store):
    """An error inside a write rolls back every statement in it."""
    with pytest.raises(RuntimeError):
        async with store.database.write() as conn:
            await conn.exec_driver_sql("INSERT INTO meta (key, value) VALUES ('k', 'v')")
            raise RuntimeError("boom")
    assert await store.state.get("k") is None
    await store.state.set("k", "after")
    assert await store.state.get("k") == "after"


async def test_read_only_database_gives_a_storage_error_and_changes_nothing(engine, store):
    """A database that refuses writes is the user's "couldn't save" message, not a traceback, and reading still works."""
    await store.examples.add("q", "a", author_id=1)
    await on_every_connection(store, READ_ONLY[engine])
    try:
        with pytest.raises(StorageError, match="couldn't save"):
            await store.examples.add("배송 조회", "앱에서 조회하세요", author_id=1)
        with pytest.raises(StorageError):
            await store.jobs.set_live_model("m", by=None, reason="test")
        assert [e.question for e in await store.examples.all()] == ["q"]
    finally:
        await on_every_connection(store, None)
    assert await store.jobs.live_model() is None


# -- examples --------------------------------------------------------------------------------


async def test_examples_add_replace_remove_with_audit(store):
    first = await store.examples.add("환불 되나요?", "7일 안에 돼요.", author_id=SNOWFLAKE)
    await store.examples.add("배송 얼마나 걸려요", "2~3일이요.", author_id=None)
    replaced = await store.examples.replace_answer(first.id, "구매 후 7일 안에 환불돼요.", author_id=5)
    assert (replaced.question, replaced.answer) == ("환불 되나요?", "구매 후 7일 안에 환불돼요.")
    assert (await store.examples.get(first.id)).answer == "구매 후 7일 안에 환불돼요."
    removed = await store.examples.remove(first.id, actor_id=5)
    assert removed.question == "환불 되나요?"
    assert await store.examples.get(first.id) is None
    assert await store.examples.remove(first.id, actor_id=5) is None
    assert await store.examples.replace_answer(first.id, "x", author_id=5) is None
    assert [e.question for e in await store.examples.all()] == ["배송 얼마나 걸려요"]
    log = await store.examples.audit_log()
    assert [(e.action, e.actor_id) for e in log] == [("remove", 5), ("replace", 5), ("teach", None), ("teach", SNOWFLAKE)]
    assert log[0].at.tzinfo is not None


async def test_find_is_case_insensitive_and_treats_wildcards_literally(store):
    await store.examples.add("Do you take AMEX?", "Yes, all major cards.", author_id=1)
    await store.examples.add("100% 환불 되나요", "네", author_id=1)
    await store.examples.add("1000원 할인", "쿠폰으로", author_id=1)
    found, total = await store.examples.find("amex", offset=0, limit=10)
    assert total == 1 and found[0].question == "Do you take AMEX?"
    found, total = await store.examples.find("100%", offset=0, limit=10)
    assert total == 1 and found[0].question == "100% 환불 되나요"
    page, total = await store.examples.find(None, offset=1, limit=1)
    assert total == 3 and [e.question for e in page] == ["100% 환불 되나요"]


async def test_import_is_all_or_nothing(engine, store):
    kept = await store.examples.add("교환 되나요", "네", author_id=1)
    await store.examples.import_many([("a", "1"), ("b", "2")], [(kept.id, "7일 안에 교환돼요")], actor_id=9, source="faq.jsonl")
    assert [(e.question, e.answer) for e in await store.examples.all()] == [
        ("교환 되나요", "7일 안에 교환돼요"), ("a", "1"), ("b", "2"),
    ]
    assert (await store.examples.audit_log(1))[0].detail == "faq.jsonl: 2 added, 1 replaced"
    change = await store.examples.last_change()

    await on_every_connection(store, READ_ONLY[engine])
    try:
        with pytest.raises(StorageError):
            await store.examples.import_many([("c", "3")], [(kept.id, "no")], actor_id=9, source="bad.jsonl")
    finally:
        await on_every_connection(store, None)
    assert len(await store.examples.all()) == 3
    assert await store.examples.last_change() == change


async def test_vectors_are_cached_per_model_and_overwritten(store):
    example = await store.examples.add("q", "a", author_id=1)
    await store.examples.save_vectors("m1", [(example.id, "fp1", b"\x00\x01")])
    await store.examples.save_vectors("m1", [(example.id, "fp2", b"\x02")])
    await store.examples.save_vectors("m2", [(example.id, "fp1", b"\x03")])
    assert await store.examples.cached_vectors("m1") == {example.id: ("fp2", b"\x02")}
    await store.examples.remove(example.id, actor_id=1)
    assert await store.examples.cached_vectors("m1") == {}  # the vector goes with its example


async def test_two_processes_starting_at_once_seed_the_sample_once(settings, store):
    """First-start seeding is atomic: however many processes start together, one adds the sample."""
    others = [await open_storage(settings) for _ in range(3)]
    try:
        pairs = [("구독 방법", "앱에서 신청하세요"), ("구독 안내", "월 9,900원이에요")]
        results = await asyncio.gather(*(s.examples.seed(pairs, source="sample.jsonl") for s in [store, *others]))
        assert sorted(results) == [False, False, False, True]
        assert [e.question for e in await store.examples.all()] == ["구독 방법", "구독 안내"]
        assert await store.examples.seeded()
    finally:
        for other in others:
            await other.close()


# -- bartender conversations -------------------------------------------------------------------


async def test_sessions_turns_and_summaries(store):
    conversations = store.conversations
    first = await conversations.start_session("channel:1:user:2", user_id=SNOWFLAKE)
    second = await conversations.start_session("channel:1:user:2", user_id=SNOWFLAKE, close_because="reset")
    assert (await conversations.open_session("channel:1:user:2")).id == second.id
    assert (await conversations.session(first.id)).id == first.id
    assert await query(store, "SELECT closed_because FROM bartender_sessions ORDER BY id") == [("reset",), (None,)]

    done = await conversations.start_turn(second.id, "진 좋아해요", 5)
    await conversations.finish_turn(done, "김렛 어때요?", 12)
    failed = await conversations.start_turn(second.id, "그리고?", 3)
    await conversations.fail_turn(failed, "음…")
    await conversations.start_turn(second.id, "still waiting", 3)
    assert await conversations.interrupt_pending_turns() == 1
    [turn] = await conversations.recent_turns(second.id, after=0, limit=10)
    assert (turn.user_message, turn.reply, turn.tokens) == ("진 좋아해요", "김렛 어때요?", 12)

    await conversations.save_summary(second.id, "likes gin", done)
    await conversations.save_summary(second.id, "older summary", done - 1)  # a late, older summary is ignored
    session = await conversations.open_session("channel:1:user:2")
    assert (session.summary, session.summarized_through) == ("likes gin", done)
    assert await conversations.recent_turns(second.id, after=done, limit=10) == []

    thread = await conversations.start_session("thread:99", user_id=8, thread_id=99)
    assert await conversations.open_threads() == {99: 8}
    assert await conversations.close_session("thread:99", because="closed")
    assert not await conversations.close_session("thread:99", because="closed")
    assert await conversations.open_threads() == {}
    assert thread.last_active_at.tzinfo is not None


async def test_a_turn_begins_in_one_transaction_continuing_the_open_session_unless_idle(store):
    conversations = store.conversations
    first, turn, new = await conversations.begin_turn("channel:1:user:3", "진토닉 주세요", 5, user_id=3, thread_id=None, idle_since=day_ago())
    assert new and await conversations.open_session("channel:1:user:3") == first
    again, second_turn, new = await conversations.begin_turn("channel:1:user:3", "하나 더", 3, user_id=3, thread_id=None, idle_since=day_ago())
    assert (again.id, new, second_turn > turn) == (first.id, False, True)
    fresh, _, new = await conversations.begin_turn(
        "channel:1:user:3", "안녕", 2, user_id=3, thread_id=None, idle_since=datetime.now(timezone.utc) + timedelta(seconds=1)
    )
    assert new and fresh.id != first.id
    assert await query(store, "SELECT closed_because FROM bartender_sessions ORDER BY id") == [("idle",), (None,)]
    assert await query(store, "SELECT session_id, status FROM bartender_turns ORDER BY id") == [
        (first.id, "pending"), (first.id, "pending"), (fresh.id, "pending"),
    ]


# -- training jobs and the live model ----------------------------------------------------------------


async def add_job(store: Storage, job_id: str, status: str = "queued") -> None:
    await store.jobs.add(
        job_id=job_id, run_id="run-1", base_model="gpt-4.1-mini-2025-04-14", training_file="file-1",
        started_by=SNOWFLAKE, channel_id=SNOWFLAKE, status=status,
    )


async def test_job_update_is_recorded_once_and_promotes_once(settings, store):
    """Two processes seeing the same change: one records it, the other is told not to; the model goes live once."""
    other = await open_storage(settings)
    try:
        await add_job(store, "ftjob-1")
        change = dict(status="succeeded", fine_tuned_model="ft:m", error=None, trained_tokens=1000,
                      finished_at=datetime.now(timezone.utc))
        results = await asyncio.gather(
            store.jobs.update("ftjob-1", was="queued", **change),
            other.jobs.update("ftjob-1", was="queued", **change),
        )
        assert sorted(results) == [False, True]
        assert await store.jobs.model_history() == []  # evaluated first: "pending"
        assert (await store.jobs.get("ftjob-1")).promotion == "pending"
        settled = await asyncio.gather(
            store.jobs.settle("ftjob-1", "promoted", was=("pending",), by="42", reason="evaluated"),
            other.jobs.settle("ftjob-1", "promoted", was=("pending",), by="42", reason="evaluated"),
        )
        assert sorted(settled) == [False, True]
        assert [c.model for c in await store.jobs.model_history()] == ["ft:m"]
        job = await other.jobs.get()
        assert (job.id, job.status, job.started_by, job.finished) == ("ftjob-1", "succeeded", SNOWFLAKE, True)
        assert [j.id for j in await store.jobs.to_follow()] == ["ftjob-1"]  # finished, not yet reported
        await store.jobs.mark_reported("ftjob-1", "succeeded")
        assert await store.jobs.to_follow() == []
    finally:
        await other.close()


async def test_live_model_survives_a_restart_and_another_process_sees_changes(settings, store, monkeypatch):
    assert await store.jobs.live_model() is None
    await store.jobs.set_live_model("ft:a", by=None, reason="first")
    await store.jobs.set_live_model("ft:b", by="admin#1", reason="second")
    assert [(c.model, c.activated_by) for c in await store.jobs.model_history()] == [("ft:b", "admin#1"), ("ft:a", None)]

    other = await open_storage(settings)
    try:
        assert await other.jobs.live_model() == "ft:b"
        await store.jobs.set_live_model("ft:c", by=None, reason="third")
        assert await other.jobs.live_model() == "ft:b"  # cached for LIVE_MODEL_SECONDS
        monkeypatch.setattr(jobs_module, "LIVE_MODEL_SECONDS", 0.0)
        assert await other.jobs.live_model() == "ft:c"
    finally:
        await other.close()


async def test_one_process_at_a_time_follows_jobs(engine, settings, store):
    """On PostgreSQL the follower's lock is held by one process until it lets go; SQLite has one process."""
    other = await open_storage(settings)
    try:
        async with store.jobs.following() as first:
            async with other.jobs.following() as second:
                assert first is True
                assert second is (engine == "sqlite")
        async with other.jobs.following() as after_release:
            assert after_release is True
    finally:
        await other.close()


# -- usage and state ----------------------------------------------------------------------------------


async def test_usage_is_counted_per_user_server_and_day_and_survives_a_restart(settings, store):
    await store.usage.record(Usage("gpt-5-mini", "support", 120, 30, user_id=SNOWFLAKE, guild_id=SNOWFLAKE - 1))
    await store.usage.record(Usage("gpt-5-mini", "support", 10, 5, user_id=7, guild_id=SNOWFLAKE - 1))
    await store.usage.record(Usage("text-embedding-3-small", "embeddings", 8, 0, user_id=7))
    assert await store.usage.tokens_since(day_ago(), user_id=SNOWFLAKE) == 150
    assert await store.usage.tokens_since(day_ago(), guild_id=SNOWFLAKE - 1) == 165
    assert await store.usage.tokens_since(datetime.now(timezone.utc) + timedelta(seconds=1), user_id=7) == 0

    await store.usage.record(Usage("gpt-5-mini", "bartender", 1, 1, user_id=7))  # queued when the bot stops
    await store.close()
    reopened = await open_storage(settings)
    try:
        today = datetime.now(timezone.utc).strftime("%Y-%m-%d")
        totals = await reopened.usage.totals(day_ago())
        assert [(t.day, t.model, t.purpose, t.prompt_tokens, t.completion_tokens, t.calls) for t in totals] == [
            (today, "gpt-5-mini", "bartender", 1, 1, 1),
            (today, "gpt-5-mini", "support", 130, 35, 2),
            (today, "text-embedding-3-small", "embeddings", 8, 0, 1),
        ]
    finally:
        await reopened.close()


async def test_usage_rows_wait_in_memory_while_storage_is_down(engine, store):
    """A flush that fails keeps its rows for the next one: no tokens go uncounted."""
    await on_every_connection(store, READ_ONLY[engine])
    await store.usage.record(Usage("gpt-5-mini", "support", 3, 4, user_id=7))
    with pytest.raises(StorageError):
        await store.usage.flush()
    await on_every_connection(store, None)
    assert await store.usage.tokens_since(day_ago(), user_id=7) == 7


async def test_flagged_messages_and_state(store):
    await store.usage.flag_message(user_id=SNOWFLAKE, guild_id=None, purpose="support", categories="harassment", content="…")
    assert await query(store, "SELECT user_id, categories FROM flagged_messages") == [(SNOWFLAKE, "harassment")]
    assert await store.state.get("commands") is None
    await store.state.set("commands", "hash-1")
    await store.state.set("commands", "hash-2")
    assert await store.state.get("commands") == "hash-2"
