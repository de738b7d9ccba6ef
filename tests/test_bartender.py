"""The bartender's prompt chain: memory, budget, summaries, restarts, idle sessions, failures, order."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from bot.bartender import OPENER, SUMMARY_INSTRUCTIONS, TOO_SLOW, BartenderService, Place
from bot.errors import ModelError
from bot.llm import LLM, UNAVAILABLE
from conftest import PERSONA, both_engines, open_storage, query

pytestmark = both_engines  # every test here runs on SQLite and on PostgreSQL

SEAT = Place.seat(channel_id=10, user_id=1)


async def say(bartender: BartenderService, text: str | None, place: Place = SEAT) -> str:
    return "".join([piece async for piece in bartender.reply(place, text)])


_made: list[BartenderService] = []


def service(storage, llm, *, history_tokens: int = 2000, idle_after: timedelta = timedelta(hours=2)) -> BartenderService:
    made = BartenderService(storage.conversations, llm, persona=PERSONA, model="gpt-5-mini", history_tokens=history_tokens, idle_after=idle_after)
    _made.append(made)
    return made


@pytest.fixture(autouse=True)
async def close_made_services(storage):
    """As the bot does at shutdown: turns being written down finish before the database closes."""
    yield
    while _made:
        await _made.pop().close()


def conversation(request: dict) -> list[tuple[str, str]]:
    return [(m["role"], m["content"]) for m in request["messages"][1:]]


async def test_reply_streams_and_is_remembered_in_the_next_turn(bartender, fake_openai):
    """The second turn's request carries the first turn, after the persona."""
    first = await say(bartender, "I like gin, not too sweet.")
    await say(bartender, "What should I make tonight?")

    assert first == "echo: I like gin, not too sweet."
    second = fake_openai.chat_requests()[-1]
    assert second["stream"] is True and second["model"] == "gpt-5-mini"
    assert second["messages"][0] == {"role": "system", "content": PERSONA}
    assert conversation(second) == [
        ("user", "I like gin, not too sweet."),
        ("assistant", "echo: I like gin, not too sweet."),
        ("user", "What should I make tonight?"),
    ]


async def test_the_whole_reply_is_out_before_it_is_written_down_and_the_next_message_waits_for_it(storage, llm, fake_openai):
    """A slow database delays neither the end of a reply nor loses it: the next message still sees it in the history."""
    bartender = service(storage, llm)
    finish_turn, written = storage.conversations.finish_turn, asyncio.Event()

    async def slow_finish_turn(*args, **kwargs):
        await written.wait()
        await finish_turn(*args, **kwargs)

    storage.conversations.finish_turn = slow_finish_turn
    assert await asyncio.wait_for(say(bartender, "I like gin."), 5) == "echo: I like gin."
    second = asyncio.create_task(say(bartender, "And tonight?"))
    await asyncio.sleep(0.2)
    assert not second.done() and len(fake_openai.chat_requests()) == 1  # it waits for the first turn's record
    written.set()
    assert await asyncio.wait_for(second, 5) == "echo: And tonight?"
    assert conversation(fake_openai.chat_requests()[-1])[:2] == [("user", "I like gin."), ("assistant", "echo: I like gin.")]


async def test_two_places_keep_separate_histories(bartender, fake_openai):
    """Two customers in one channel never see each other's turns."""
    await say(bartender, "I'm Mina, I love rum.", Place.seat(10, 1))
    await say(bartender, "I'm Joon, whisky please.", Place.seat(10, 2))
    await say(bartender, "Remember me?", Place.seat(10, 1))

    assert conversation(fake_openai.chat_requests()[-1]) == [
        ("user", "I'm Mina, I love rum."),
        ("assistant", "echo: I'm Mina, I love rum."),
        ("user", "Remember me?"),
    ]


async def test_history_keeps_the_newest_whole_turns_within_the_budget(storage, llm, fake_openai):
    """Only whole turns, newest first, up to BARTENDER_HISTORY_TOKENS; older ones drop out of the prompt."""
    bartender = service(storage, llm, history_tokens=100)
    for n in range(6):
        await say(bartender, f"turn {n} " + "word " * 8)
    await bartender.wait_for_summaries()
    fake_openai.requests.clear()
    await say(bartender, "and now?")

    [request] = [r for r in fake_openai.chat_requests() if r.get("stream")]
    users = [content for role, content in conversation(request) if role == "user"]
    assert users[-1] == "and now?"
    kept = [u.split()[1] for u in users[:-1]]
    assert kept == sorted(kept) and kept[-1] == "5" and "0" not in kept
    assert len([c for r, c in conversation(request) if r == "assistant"]) == len(kept)  # whole turns only


async def test_summary_is_made_when_history_outgrows_the_budget_and_goes_into_the_prompt(storage, llm, fake_openai):
    """Older turns are folded into a running summary by a model call, which the next prompt carries."""
    fake_openai.reply = lambda body: "SUMMARY: likes gin, hates sweet" if body["messages"][0]["content"] == SUMMARY_INSTRUCTIONS else "Cheers!"
    bartender = service(storage, llm, history_tokens=60)
    for n in range(6):
        await say(bartender, f"message number {n} about gin and tonic and limes")
    await bartender.wait_for_summaries()

    summaries = [r for r in fake_openai.chat_requests() if r["messages"][0]["content"] == SUMMARY_INSTRUCTIONS]
    assert summaries and "message number 0" in summaries[0]["messages"][1]["content"]
    await say(bartender, "What do I like?")
    system = fake_openai.chat_requests()[-1]["messages"][0]["content"]
    assert system.startswith(PERSONA) and "SUMMARY: likes gin, hates sweet" in system


async def test_history_within_the_budget_is_not_read_again_for_a_summary(storage, llm, fake_openai):
    """A turn whose history still fits the budget asks the database nothing more after the reply."""
    bartender = service(storage, llm, history_tokens=2000)
    await say(bartender, "I like gin.")
    recent_turns, reads = storage.conversations.recent_turns, []

    async def counted_recent_turns(*args, **kwargs):
        reads.append(args)
        return await recent_turns(*args, **kwargs)

    storage.conversations.recent_turns = counted_recent_turns
    await say(bartender, "And tonight?")
    await bartender.wait_for_summaries()

    assert len(reads) == 1  # the prompt's; no summary check reads the history again
    assert not [r for r in fake_openai.chat_requests() if r["messages"][0]["content"] == SUMMARY_INSTRUCTIONS]


async def test_restart_continues_the_same_conversation(settings, llm, fake_openai):
    """Closing and reopening the database (a restart) loses no turn."""
    storage = await open_storage(settings)
    await say(service(storage, llm), "My name is Mina.")
    await storage.close()

    storage = await open_storage(settings)
    try:
        await say(service(storage, llm), "What's my name?")
    finally:
        await storage.close()
    assert ("user", "My name is Mina.") in conversation(fake_openai.chat_requests()[-1])


async def test_reset_starts_fresh_and_keeps_the_old_session(bartender, storage, fake_openai):
    """After a reset the next turn has no history; the old turns stay in the database."""
    await say(bartender, "I love mezcal.")
    assert await bartender.reset(SEAT) is True
    await say(bartender, "Hi again")

    assert conversation(fake_openai.chat_requests()[-1]) == [("user", "Hi again")]
    assert await query(storage, "SELECT COUNT(*) FROM bartender_turns WHERE user_message = 'I love mezcal.'") == [(1,)]


async def test_idle_session_starts_fresh(storage, llm, fake_openai):
    """A session idle longer than BARTENDER_IDLE_MINUTES is not continued."""
    bartender = service(storage, llm, idle_after=timedelta(milliseconds=50))
    await say(bartender, "I love mezcal.")
    await asyncio.sleep(0.1)
    await say(bartender, "Hello?")

    assert conversation(fake_openai.chat_requests()[-1]) == [("user", "Hello?")]


async def test_failed_turn_stays_out_of_the_history(bartender, fake_openai):
    """A reply cut mid-stream raises the friendly error, and the next prompt does not contain it."""
    fake_openai.stream_chunks = 6
    fake_openai.cut_stream_next(after_chunks=2)
    with pytest.raises(ModelError):
        await say(bartender, "Tell me about negronis")
    await say(bartender, "Tell me about negronis")

    assert conversation(fake_openai.chat_requests()[-1]) == [("user", "Tell me about negronis")]


async def test_messages_to_one_session_are_answered_in_order(bartender, fake_openai):
    """A second message while the first is being answered waits its turn and sees the first turn."""
    fake_openai.latency = 0.05
    first, second = await asyncio.gather(say(bartender, "first"), say(bartender, "second"))

    assert (first, second) == ("echo: first", "echo: second")
    assert conversation(fake_openai.chat_requests()[-1]) == [("user", "first"), ("assistant", "echo: first"), ("user", "second")]


async def test_no_message_gets_an_opening_greeting(bartender, fake_openai):
    """/bartender without a message asks the model to greet the customer."""
    await say(bartender, None)

    assert conversation(fake_openai.chat_requests()[-1]) == [("user", OPENER)]


async def test_without_an_api_key_the_bartender_says_so(storage, fake_openai):
    """No key: a friendly error, no crash."""
    from bot.config import Settings

    bartender = service(storage, LLM.from_settings(Settings(), record_usage=storage.usage.record))
    with pytest.raises(ModelError):
        await say(bartender, "hi")


async def test_only_whole_newest_turns_are_kept_even_when_an_older_one_would_fit(storage, llm, fake_openai):
    """A newer turn that doesn't fit stops the history there: an older, smaller turn is not slipped in."""
    bartender = service(storage, llm, history_tokens=60)
    session = await storage.conversations.start_session(SEAT.scope, user_id=SEAT.user_id)
    for text, tokens in (("old small", 10), ("big one", 80), ("newest", 10)):
        turn = await storage.conversations.start_turn(session.id, text, tokens)
        await storage.conversations.finish_turn(turn, f"re: {text}", tokens)
    await say(bartender, "now")

    stream = [r for r in fake_openai.chat_requests() if r.get("stream")][-1]
    assert conversation(stream) == [("user", "newest"), ("assistant", "re: newest"), ("user", "now")]


async def test_failed_turn_keeps_the_partial_reply_in_the_database(bartender, storage, fake_openai):
    """What was streamed before a failure is kept for the record, marked failed."""
    fake_openai.reply = "one two three four five six"
    fake_openai.stream_chunks = 6
    fake_openai.cut_stream_next(after_chunks=2)
    with pytest.raises(ModelError):
        await say(bartender, "count")

    [(reply, status)] = await query(storage, "SELECT reply, status FROM bartender_turns WHERE user_message = 'count'")
    assert status == "failed" and reply and "one two three four five six".startswith(reply)


async def test_idle_session_is_kept_closed_in_the_database(storage, llm, fake_openai):
    """The idle session is closed as idle, not deleted."""
    bartender = service(storage, llm, idle_after=timedelta(milliseconds=50))
    await say(bartender, "I love mezcal.")
    await asyncio.sleep(0.1)
    await say(bartender, "Hello?")

    assert await query(storage, "SELECT closed_because FROM bartender_sessions ORDER BY id") == [("idle",), (None,)]


async def test_reset_during_a_reply_waits_for_it(bartender, fake_openai):
    """A /reset while a reply streams takes effect after it; the next message starts fresh."""
    fake_openai.latency = 0.1
    reply = asyncio.create_task(say(bartender, "I love mezcal."))
    await asyncio.sleep(0.02)
    assert await bartender.reset(SEAT) is True
    assert reply.done() and await reply == "echo: I love mezcal."
    await say(bartender, "hi")
    assert conversation(fake_openai.chat_requests()[-1]) == [("user", "hi")]


async def test_thread_is_still_the_customers_after_reset_and_restart(settings, llm, fake_openai):
    """A reset thread gets a fresh session at once, so a restart still knows whose thread it is."""
    storage = await open_storage(settings)
    bartender = service(storage, llm)
    place = await bartender.open_thread(555, user_id=7)
    await say(bartender, "hello", place)
    await bartender.reset(place)
    await storage.close()

    storage = await open_storage(settings)
    try:
        restarted = service(storage, llm)
        await restarted.start()
        assert restarted.thread_owner(555) == 7
    finally:
        await storage.close()


async def test_reply_cut_by_a_shutdown_is_left_out_after_restart(settings, llm, fake_openai):
    """A turn still pending at shutdown is marked interrupted at start and kept out of the history."""
    storage = await open_storage(settings)
    session = await storage.conversations.start_session(SEAT.scope, user_id=SEAT.user_id)
    await storage.conversations.start_turn(session.id, "answer me", 3)
    await storage.close()

    storage = await open_storage(settings)
    try:
        restarted = service(storage, llm)
        await restarted.start()
        await say(restarted, "hello again")
    finally:
        await storage.close()
    assert conversation(fake_openai.chat_requests()[-1]) == [("user", "hello again")]


async def test_stream_without_text_is_a_failed_turn_not_an_empty_reply(bartender, storage, fake_openai):
    """A stream that yields no words raises the friendly error and is stored as failed, out of the history."""
    fake_openai.reply = ""
    with pytest.raises(ModelError) as caught:
        await say(bartender, "hello?")
    assert caught.value.message == UNAVAILABLE

    assert await query(storage, "SELECT reply, status FROM bartender_turns WHERE user_message = 'hello?'") == [("", "failed")]
    fake_openai.reply = "Evening!"
    await say(bartender, "anyone there?")
    assert conversation(fake_openai.chat_requests()[-1]) == [("user", "anyone there?")]


def slow_stream_bartender(storage, llm, fake_openai) -> BartenderService:
    """A bartender with a 0.5 s turn deadline, and a provider streaming ten words over 2 s."""
    fake_openai.reply = "one two three four five six seven eight nine ten"
    fake_openai.stream_chunks = 10
    fake_openai.chunk_delay = 0.2
    return BartenderService(
        storage.conversations, llm, persona=PERSONA, model="gpt-5-mini", history_tokens=2000, idle_after=timedelta(hours=2), reply_seconds=0.5
    )


async def test_slow_stream_is_ended_at_the_deadline_and_what_was_said_is_kept(storage, llm, fake_openai):
    """A reply trickling past the turn's deadline ends with a polite line; its words are remembered, the lock freed."""
    bartender = slow_stream_bartender(storage, llm, fake_openai)
    started = asyncio.get_running_loop().time()
    first, second = await asyncio.gather(say(bartender, "count"), say(bartender, "again"))

    assert asyncio.get_running_loop().time() - started < 2
    assert first.endswith(TOO_SLOW) and second.endswith(TOO_SLOW)
    said = first.removesuffix(TOO_SLOW)
    assert said and fake_openai.reply.startswith(said)
    assert conversation(fake_openai.chat_requests()[-1])[:2] == [("user", "count"), ("assistant", said)]


async def test_a_reply_cut_at_the_deadline_still_counts_its_tokens(storage, llm, fake_openai):
    """The provider bills what it generated even when the usage chunk never came: an estimate is recorded."""
    bartender = slow_stream_bartender(storage, llm, fake_openai)
    await say(bartender, "count")
    await storage.usage.flush()
    [(prompt, completion)] = await query(storage, "SELECT prompt_tokens, completion_tokens FROM usage WHERE purpose = 'bartender'")
    assert prompt > 0 and completion > 0


def test_reply_deadline_is_a_setting():
    """BARTENDER_REPLY_SECONDS sets the deadline; a minute by default."""
    from bot.config import Settings

    assert Settings.from_env({}).bartender_reply_seconds == 60
    assert Settings.from_env({"BARTENDER_REPLY_SECONDS": "5"}).bartender_reply_seconds == 5
