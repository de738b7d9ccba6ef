"""Abuse and cost: per-user rate limits, daily token budgets, moderation, /usage."""

from __future__ import annotations

import asyncio
import re
import tracemalloc
from dataclasses import replace

import pytest
from sqlalchemy.event import listen
from discord_fakes import ADMIN, BAR_CHANNEL, BOT_USER, CUSTOMER, OTHER_CUSTOMER, STAFF, SUPPORT_CHANNEL

from bot.errors import ModelError
from bot.i18n import localize
from bot.limits import LimitReached, Limits, Who
from bot.moderation import NEUTRAL_REPLY, Moderator
from bot.records import Usage
from bot.support import SupportService
from bot.teaching import TeachingService
from bot.services import open_services
from bot.usage import UsageService, parse_prices
from conftest import SUPPORT_PROMPT, both_engines, query

pytestmark = both_engines  # every test here runs on SQLite and on PostgreSQL

UNTAUGHT = "Can I pay with a gift card?"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def support_with(storage, llm, matcher, **services) -> SupportService:
    return SupportService(storage.jobs, llm, matcher, default_model="gpt-5-mini", system_prompt=SUPPORT_PROMPT, **services)


async def test_rate_limit_refuses_before_the_model_call_and_says_when(storage, llm, matcher, teaching, fake_openai):
    """The third model-backed reply in a minute is refused politely, with the wait, and costs nothing."""
    clock = Clock()
    support = support_with(storage, llm, matcher, limits=Limits(storage.usage, per_minute=2, daily_user_tokens=0, daily_server_tokens=0, clock=clock))
    await support.answer(UNTAUGHT, user_id=1)
    clock.now += 15
    await support.answer(UNTAUGHT, user_id=1)
    with pytest.raises(LimitReached, match="wait 45 seconds"):
        await support.answer(UNTAUGHT, user_id=1)
    assert len(fake_openai.chat_requests()) == 2

    await support.answer(UNTAUGHT, user_id=2)  # someone else is not affected
    clock.now += 46
    await support.answer(UNTAUGHT, user_id=1)  # and the minute passes
    assert len(fake_openai.chat_requests()) == 4


async def test_each_customer_of_the_last_minute_costs_little_memory(storage):
    """The rate limit remembers a customer who wrote once in the last minute in under 300 bytes (with a deque: 850)."""
    limits = Limits(storage.usage, per_minute=10, daily_user_tokens=0, daily_server_tokens=0)
    await limits.check(Who(user_id=1))
    tracemalloc.start()
    try:
        for user_id in range(2, 2002):
            await limits.check(Who(user_id=user_id))
        used = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    assert used / 2000 < 300


async def test_taught_answers_do_not_count_against_the_rate_limit(storage, llm, matcher, teaching, fake_openai):
    """Verbatim taught answers are free and unlimited."""
    support = support_with(storage, llm, matcher, limits=Limits(storage.usage, per_minute=1, daily_user_tokens=0, daily_server_tokens=0))
    for _ in range(5):
        await support.answer("구독 방법 알려주세요.", user_id=1)
    assert fake_openai.chat_requests() == []


async def test_daily_user_budget_is_enforced_from_the_usage_table(storage, llm, matcher, teaching, fake_openai):
    """Once a user's tokens today reach the budget, they are told when it resets; others still get answers."""
    support = support_with(storage, llm, matcher, limits=Limits(storage.usage, per_minute=0, daily_user_tokens=100, daily_server_tokens=0))
    await storage.usage.record(Usage("gpt-5-mini", "bartender", 90, 20, user_id=1, guild_id=5))
    with pytest.raises(LimitReached, match=r"today's limit .* resets at 00:00 UTC, in \d+ h \d+ min|today's limit .* in \d+ min"):
        await support.answer(UNTAUGHT, user_id=1, guild_id=5)
    assert fake_openai.chat_requests() == []
    await support.answer(UNTAUGHT, user_id=2, guild_id=5)


async def test_the_bot_counts_each_answer_towards_today_budget_as_it_goes(settings, validation_executor, fake_openai):
    """As built for the bot, every model call adds to today's tally at once, without waiting for the usage rows to be written."""
    budget = replace(settings, daily_tokens_per_user=1)
    async with open_services(budget, executor=validation_executor) as services:
        await services.support.answer(UNTAUGHT, user_id=1, guild_id=5)
        with pytest.raises(LimitReached, match="today's limit"):
            await services.support.answer("Do you ship to Jeju?", user_id=1, guild_id=5)
        await services.support.answer(UNTAUGHT, user_id=2, guild_id=5)
    assert len(fake_openai.chat_requests()) == 2


async def test_new_customers_cost_one_budget_read_a_day_not_one_each(storage, llm, matcher, teaching, fake_openai):
    """Today's spending is read once; after that a new customer's budget check asks the database nothing,
    and what was spent before the read (by anyone) still counts."""
    await storage.usage.record(Usage("gpt-5-mini", "support", 90, 20, user_id=1, guild_id=5))
    support = support_with(storage, llm, matcher, limits=Limits(storage.usage, per_minute=0, daily_user_tokens=100, daily_server_tokens=10**6))
    statements: list[str] = []
    listen(storage.database.engine.sync_engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
    for user_id in range(2, 22):
        await support.answer(UNTAUGHT, user_id=user_id, guild_id=5)
    with pytest.raises(LimitReached, match="today's limit"):
        await support.answer(UNTAUGHT, user_id=1, guild_id=5)
    assert len([s for s in statements if "sum(" in s.lower()]) == 2  # users and servers, once
    assert len(fake_openai.chat_requests()) == 20


async def test_usage_being_written_when_the_day_is_read_counts_once(storage, engine):
    """Rows a flush has taken but not yet written, and rows recorded during the day's read, are each counted once."""
    if engine != "sqlite":
        pytest.skip("holds SQLite's writer queue to keep a flush in flight")
    limits = Limits(storage.usage, per_minute=0, daily_user_tokens=100, daily_server_tokens=0)
    record = lambda tokens: (limits.add(u := Usage("gpt-5-mini", "support", tokens, 0, user_id=1, guild_id=5)), storage.usage.record(u))[1]
    await record(60)
    async with storage.database._write_lock:  # the flush below takes the row, then waits for the writer
        flushing = asyncio.create_task(storage.usage.flush())
        await asyncio.sleep(0.05)
        checking = asyncio.create_task(limits.check(Who(1, 5)))
        await asyncio.sleep(0.05)
        await record(30)  # during the day's read
    await flushing
    await checking  # 60 + 30 < 100
    with pytest.raises(LimitReached):
        await record(10) or await limits.check(Who(1, 5))


async def test_daily_server_budget_is_enforced(storage, llm, matcher, teaching, fake_openai):
    """A server's shared budget stops model replies for everyone in it."""
    support = support_with(storage, llm, matcher, limits=Limits(storage.usage, per_minute=0, daily_user_tokens=0, daily_server_tokens=100))
    await storage.usage.record(Usage("gpt-5-mini", "support", 200, 0, user_id=1, guild_id=5))
    with pytest.raises(LimitReached, match="This server has reached today's limit"):
        await support.answer(UNTAUGHT, user_id=2, guild_id=5)
    await support.answer(UNTAUGHT, user_id=2, guild_id=6)


async def test_staff_are_exempt_when_configured(storage, llm, matcher, teaching, fake_openai):
    """Exempt callers are never limited."""
    limits = Limits(storage.usage, per_minute=1, daily_user_tokens=1, daily_server_tokens=1)
    await storage.usage.record(Usage("gpt-5-mini", "support", 500, 0, user_id=1, guild_id=5))
    support = support_with(storage, llm, matcher, limits=limits)
    for _ in range(3):
        await support.answer(UNTAUGHT, user_id=1, guild_id=5, exempt=True)
    assert len(fake_openai.chat_requests()) == 3


async def test_limits_reach_discord_users_as_a_polite_reply(discord_bot, fake_openai, limits):
    """A limited customer in a support channel gets the limit message as the reply; staff are exempt by default."""
    limits._per_minute = 1
    await discord_bot.send_message(UNTAUGHT, author=CUSTOMER)
    await discord_bot.send_message(UNTAUGHT, author=CUSTOMER)
    await discord_bot.send_message(f"<@{BOT_USER.id}> {UNTAUGHT}", author=STAFF, mentions=(BOT_USER,))
    await discord_bot.send_message(f"<@{BOT_USER.id}> {UNTAUGHT}", author=STAFF, mentions=(BOT_USER,))

    replies = [m["content"] for m in discord_bot.sent_messages(SUPPORT_CHANNEL)]
    assert replies[0] == f"echo: {UNTAUGHT}"
    assert replies[1].startswith("You're sending messages quickly. Please wait")
    assert replies[2:] == [f"echo: {UNTAUGHT}", f"echo: {UNTAUGHT}"]


async def test_a_limited_customer_in_a_korean_server_is_told_in_korean(discord_bot, fake_openai, limits):
    """BOT_LANGUAGE=ko: the rate-limit reply in a support channel and in the bar is Korean."""
    discord_bot.bot.settings = replace(discord_bot.bot.settings, bot_language="ko")
    limits._per_minute = 1
    await discord_bot.send_message(UNTAUGHT, author=CUSTOMER)
    await discord_bot.send_message(UNTAUGHT, author=CUSTOMER)
    await discord_bot.send_message("hi", channel_id=BAR_CHANNEL, author=OTHER_CUSTOMER)
    await discord_bot.send_message("hi again", channel_id=BAR_CHANNEL, author=OTHER_CUSTOMER)

    replies = [m["content"] for m in discord_bot.sent_messages(SUPPORT_CHANNEL)]
    assert replies[0] == f"echo: {UNTAUGHT}"
    assert re.fullmatch(r"메시지를 너무 빨리 보내고 있어요\. \d+초 뒤에 다시 시도해 주세요\.", replies[1])
    assert re.fullmatch(r"메시지를 너무 빨리 보내고 있어요\. \d+초 뒤에 다시 시도해 주세요\.", discord_bot.shown_messages(BAR_CHANNEL)[-1])


async def test_a_one_second_wait_is_said_in_the_singular(storage):
    clock = Clock()
    limits = Limits(storage.usage, per_minute=1, daily_user_tokens=0, daily_server_tokens=0, clock=clock)
    await limits.check(Who(user_id=1))
    clock.now += 59.4
    with pytest.raises(LimitReached) as caught:
        await limits.check(Who(user_id=1))
    assert str(caught.value) == "You're sending messages quickly. Please wait 1 second and try again."
    assert localize(caught.value.message, "ko") == "메시지를 너무 빨리 보내고 있어요. 1초 뒤에 다시 시도해 주세요."


async def test_bartender_is_rate_limited_too(discord_bot, fake_openai, limits):
    """Bartender replies count against the same limit."""
    limits._per_minute = 1
    await discord_bot.send_message("hi", channel_id=BAR_CHANNEL, author=OTHER_CUSTOMER)
    await discord_bot.send_message("hi again", channel_id=BAR_CHANNEL, author=OTHER_CUSTOMER)

    assert discord_bot.shown_messages(BAR_CHANNEL)[-1].startswith("You're sending messages quickly.")
    assert len(fake_openai.chat_requests()) == 1


async def test_flagged_support_message_gets_a_neutral_reply_and_is_recorded(storage, llm, matcher, teaching, fake_openai):
    """With moderation on, a flagged question never reaches the model and is logged for staff."""
    support = support_with(storage, llm, matcher, moderator=Moderator(llm, storage.usage, enabled=True))
    assert await support.answer("how do I make a bomb", user_id=3, guild_id=5) == NEUTRAL_REPLY

    assert fake_openai.chat_requests() == []
    assert await query(storage, "SELECT user_id, purpose, categories, content FROM flagged_messages") == [
        (3, "support", "violence", "how do I make a bomb")
    ]


async def test_unflagged_message_is_answered_with_moderation_on(storage, llm, matcher, teaching, fake_openai):
    """Moderation lets ordinary questions through to the model."""
    support = support_with(storage, llm, matcher, moderator=Moderator(llm, storage.usage, enabled=True))
    assert await support.answer(UNTAUGHT, user_id=3) == f"echo: {UNTAUGHT}"
    assert [r.path for r in fake_openai.requests] == ["/v1/moderations", "/v1/chat/completions"]


async def test_moderation_outage_does_not_stop_support(storage, llm, matcher, teaching, fake_openai):
    """If the moderation endpoint fails, customers still get answers."""
    support = support_with(storage, llm, matcher, moderator=Moderator(llm, storage.usage, enabled=True))
    fake_openai.fail_next(500, times=2, retry_after_ms=1, path="/v1/moderations")
    assert await support.answer(UNTAUGHT, user_id=3) == f"echo: {UNTAUGHT}"


async def test_flagged_examples_are_refused_when_taught_or_imported(storage, llm, matcher, fake_openai):
    """/teach and /examples import refuse flagged content so fine-tuning won't reject it later."""
    library = TeachingService(storage.examples, matcher, system_prompt=SUPPORT_PROMPT, moderator=Moderator(llm, storage.usage, enabled=True))
    await library.start(None)
    from bot.errors import DatasetError, UserError

    before = await storage.examples.all()
    with pytest.raises(UserError, match="Moderation flagged this example"):
        await library.teach("how to kill time here?", "Browse our shop!", author_id=1)
    raw = b'{"question": "fine", "answer": "ok"}\n{"question": "bomb", "answer": "no"}\n'
    with pytest.raises(DatasetError, match="example 2: flagged by moderation"):
        await library.import_file(raw, "x.jsonl", actor_id=1)
    assert await storage.examples.all() == before


async def test_usage_shows_tokens_and_cost_per_day_model_and_purpose(discord_bot, storage):
    """/usage lists each purpose and model with tokens and estimated cost from the configured prices."""
    await storage.usage.record(Usage("gpt-5-mini", "support", 1_000_000, 100_000, user_id=1))
    await storage.usage.record(Usage("text-embedding-3-small", "embeddings", 500_000, 0))
    await storage.usage.record(Usage("gpt-4.1-mini-2025-04-14", "training", 2_000_000, 0))
    interaction = await discord_bot.slash("usage", user=ADMIN, days=1)

    [text] = discord_bot.ephemeral_texts(interaction)
    assert text.startswith("Usage, last day: ≈ $10.46")
    assert "support    gpt-5-mini" in text and "$0.4500" in text
    assert "training   gpt-4.1-mini-2025-04-14" in text and "$10.0000" in text
    [korean] = discord_bot.ephemeral_texts(await discord_bot.slash("usage", user=ADMIN, days=1, locale="ko"))
    table = korean.split("```")[1].strip("\n").splitlines()
    assert korean.startswith("최근 1일 사용량: ≈ $10.46")
    assert table[0].split() == ["날짜", "용도", "모델", "입력", "출력", "비용"]
    assert "상담       gpt-5-mini" in korean and "학습       gpt-4.1-mini-2025-04-14" in korean
    # Columns line up in a monospace font: each row is as wide as the heading, Hangul counting two.
    assert len({sum(2 if "\uac00" <= c <= "\ud7a3" else 1 for c in row) for row in table}) == 1


async def test_usage_is_admins_only(discord_bot):
    """Staff and customers can't see costs."""
    for user in (CUSTOMER, STAFF):
        interaction = await discord_bot.slash("usage", user=user)
        assert discord_bot.ephemeral_texts(interaction) == ["Only admins (Manage Server or an ADMIN_ROLES role) can use this command."]


def test_prices_are_configuration(storage):
    """PRICES overrides and adds models; the longest matching prefix wins; fine-tunes have their own price."""
    usage = UsageService(storage.usage, prices=parse_prices('{"my-model": [1, 2], "gpt-5-mini": [0.3, 2.5]}'))
    assert usage.cost("my-model-v2", "support", 1_000_000, 1_000_000) == 3.0
    assert usage.cost("gpt-5-mini", "support", 1_000_000, 0) == 0.3
    assert usage.cost("ft:gpt-4.1-mini-2025-04-14:shop::x", "support", 1_000_000, 0) == 0.8
    assert usage.cost("unknown", "support", 1, 1) is None


def test_bad_prices_setting_names_the_variable():
    """A malformed PRICES stops start-up with a clear message."""
    from bot.errors import ConfigError

    with pytest.raises(ConfigError, match="PRICES"):
        parse_prices("gpt-5-mini=1")


async def test_training_run_is_recorded_as_usage(training, storage, fake_openai):
    """A succeeded job's trained tokens appear in usage as training for its base model; its evaluation as evaluation."""
    from test_training_service import REQUEST, SAMPLE, Announcements, follow_to_end, no_progress

    await training.train(SAMPLE, "sample.jsonl", REQUEST, no_progress)
    await follow_to_end(training, Announcements())
    lines = await UsageService(storage.usage, prices=parse_prices(None)).report(1)
    by_purpose = {(line.purpose, line.model.split(":")[0]): line for line in lines}
    assert sorted(by_purpose) == [("evaluation", "ft"), ("evaluation", "gpt-5-mini"), ("training", "gpt-4.1-mini-2025-04-14")]
    trained = by_purpose["training", "gpt-4.1-mini-2025-04-14"]
    assert trained.prompt_tokens > 0 and trained.cost > 0
    assert by_purpose["evaluation", "ft"].calls == 2  # the two held-out questions


def test_settings_switches(monkeypatch):
    """MODERATION and LIMITS_EXEMPT_STAFF take on/off."""
    from bot.config import Settings

    settings = Settings.from_env({"MODERATION": "on", "LIMITS_EXEMPT_STAFF": "off", "RATE_LIMIT_PER_MINUTE": "3"})
    assert (settings.moderation, settings.limits_exempt_staff, settings.rate_limit_per_minute) == (True, False, 3)
    assert replace(settings, moderation=False).moderation is False


async def test_flagged_bartender_message_gets_the_neutral_reply(discord_bot, fake_openai, bartender, llm, storage):
    """With moderation on, the bartender never sees a flagged message either."""
    bartender._moderator = Moderator(llm, storage.usage, enabled=True)
    await discord_bot.send_message("let's make a bomb cocktail", channel_id=BAR_CHANNEL)

    assert discord_bot.shown_messages(BAR_CHANNEL) == [NEUTRAL_REPLY]
    assert fake_openai.chat_requests() == []


async def test_replacing_an_answer_with_flagged_text_is_refused(storage, llm, matcher, fake_openai):
    """Moderation covers replaced answers too."""
    from bot.errors import UserError

    library = TeachingService(storage.examples, matcher, system_prompt=SUPPORT_PROMPT, moderator=Moderator(llm, storage.usage, enabled=True))
    await library.start(None)
    example = await library.teach("쿠폰?", "이벤트 페이지에서요.", author_id=1)
    with pytest.raises(UserError, match="Moderation flagged"):
        await library.replace(example.id, "go kill it", author_id=1)
    assert (await storage.examples.get(example.id)).answer == "이벤트 페이지에서요."


async def test_staff_are_limited_when_exemption_is_off(discord_bot, fake_openai, limits):
    """LIMITS_EXEMPT_STAFF=off puts staff under the same limits."""
    limits._per_minute = 1
    discord_bot.bot.settings = replace(discord_bot.bot.settings, limits_exempt_staff=False)
    for _ in range(2):
        await discord_bot.send_message(f"<@{BOT_USER.id}> {UNTAUGHT}", author=STAFF, mentions=(BOT_USER,))

    assert discord_bot.sent_messages(SUPPORT_CHANNEL)[-1]["content"].startswith("You're sending messages quickly.")


async def test_bartender_command_over_the_limit_opens_no_thread(discord_bot, fake_openai, limits, storage):
    """A customer over budget gets the limit line, not an empty private thread."""
    limits._daily_user_tokens = 10
    await storage.usage.record(Usage("gpt-5-mini", "bartender", 50, 0, user_id=CUSTOMER.id))
    interaction = await discord_bot.slash("bartender", user=CUSTOMER)

    assert discord_bot.created_threads() == []
    assert discord_bot.ephemeral_texts(interaction)[0].startswith("You've reached today's limit")


async def test_the_daily_limit_is_told_in_the_members_language(discord_bot, fake_openai, limits, storage):
    """Over the daily budget, /bartender tells a Korean member in Korean, when it resets included, and an English one in English."""
    limits._daily_user_tokens = 10
    await storage.usage.record(Usage("gpt-5-mini", "bartender", 50, 0, user_id=CUSTOMER.id))
    [korean] = discord_bot.ephemeral_texts(await discord_bot.slash("bartender", user=CUSTOMER, locale="ko"))
    [english] = discord_bot.ephemeral_texts(await discord_bot.slash("bartender", user=CUSTOMER))

    assert re.fullmatch(r"오늘의 AI 답변 한도에 도달했어요\. 한도는 UTC 00:00\((\d+시간 )?\d+분 후\)에 초기화돼요\.", korean)
    assert re.fullmatch(r"You've reached today's limit for AI answers\. It resets at 00:00 UTC, in (\d+ h )?\d+ min\.", english)
    assert discord_bot.created_threads() == []


async def test_embedding_search_is_limited_and_counted_for_the_customer(settings, storage, llm, fake_openai):
    """With the embeddings matcher, matching costs a call: it is limited and recorded against the customer."""
    from test_retrieval import embedding_matcher

    matcher = await embedding_matcher(settings, storage, llm)
    await TeachingService(storage.examples, matcher, system_prompt=SUPPORT_PROMPT).start(settings.sample_dataset_file)
    clock = Clock()
    support = support_with(storage, llm, matcher, limits=Limits(storage.usage, per_minute=1, daily_user_tokens=0, daily_server_tokens=0, clock=clock))
    await support.answer(UNTAUGHT, user_id=7, guild_id=5)
    embeddings = len([r for r in fake_openai.requests if r.path == "/v1/embeddings"])
    with pytest.raises(LimitReached):
        await support.answer(UNTAUGHT, user_id=7, guild_id=5)

    assert len([r for r in fake_openai.requests if r.path == "/v1/embeddings"]) == embeddings
    await storage.usage.flush()
    assert (7, 5) in await query(storage, "SELECT user_id, guild_id FROM usage WHERE purpose = 'embeddings'")


async def test_rate_limit_forgets_customers_after_a_quiet_minute(storage):
    """Many customers' entries are dropped a minute later, so memory stays bounded; someone still sending stays limited."""
    clock = Clock()
    limits = Limits(storage.usage, per_minute=2, daily_user_tokens=0, daily_server_tokens=0, clock=clock)
    for user_id in range(20_000):
        await limits.check(Who(user_id))
    clock.now += 50
    for _ in range(2):
        await limits.check(Who(50_000))  # a regular, still talking
    clock.now += 15

    await limits.check(Who(999_999))
    assert len(limits._recent) == 2  # the regular and the newcomer, not 20,001
    with pytest.raises(LimitReached, match="wait 45 seconds"):
        await limits.check(Who(50_000))


async def test_concurrent_questions_cannot_overshoot_the_daily_budget(settings, validation_executor, fake_openai):
    """Thirty questions at once against a 200-token budget: one is answered, the rest hear the limit; once its real usage is in, the next fits."""
    fake_openai.latency = 0.05
    budget = replace(settings, daily_tokens_per_user=200)
    async with open_services(budget, executor=validation_executor) as services:
        asked = [services.support.answer(UNTAUGHT, user_id=1, guild_id=5) for _ in range(30)]
        results = await asyncio.gather(*asked, return_exceptions=True)
        assert [r for r in results if not isinstance(r, (str, LimitReached))] == []
        assert sum(isinstance(r, str) for r in results) == 1
        assert all("today's limit" in str(r) for r in results if isinstance(r, LimitReached))

        assert await services.support.answer("Do you ship to Jeju?", user_id=1, guild_id=5)  # ~110 of 200 spent: settled, not held
        with pytest.raises(LimitReached, match="today's limit"):
            await services.support.answer("And to Busan?", user_id=1, guild_id=5)
        assert services.limits.held("user", 1) == 0
    assert len(fake_openai.chat_requests()) == 2


async def test_concurrent_bartender_messages_cannot_overshoot_the_daily_budget(settings, validation_executor, fake_openai):
    """Ten bar messages at once against a small budget: one reply, the rest told the limit; the hold is gone after."""
    from bot.bartender import Place

    budget = replace(settings, daily_tokens_per_user=200)
    async with open_services(budget, executor=validation_executor) as services:

        async def say(n: int) -> str:
            return "".join([p async for p in services.bartender.reply(Place.seat(10, 1), f"drink {n}")])

        results = await asyncio.gather(*(say(n) for n in range(10)), return_exceptions=True)
        assert sum(isinstance(r, str) for r in results) == 1
        assert sum(isinstance(r, LimitReached) for r in results) == 9
        assert services.limits.held("user", 1) == 0
    assert len([r for r in fake_openai.chat_requests() if r.get("stream")]) == 1


async def test_a_failed_support_call_frees_its_budget_hold_at_once(settings, validation_executor, fake_openai):
    """The model fails: the customer's estimate is released now, not when the hold lapses minutes later."""
    budget = replace(settings, daily_tokens_per_user=2_000)
    async with open_services(budget, executor=validation_executor) as services:
        fake_openai.fail_next(500, times=2, retry_after_ms=1, path="/v1/chat/completions")  # the call and its one retry
        with pytest.raises(ModelError):
            await services.support.answer(UNTAUGHT, user_id=1, guild_id=5)
        assert services.limits.held("user", 1) == 0
        assert await services.support.answer(UNTAUGHT, user_id=1, guild_id=5) == f"echo: {UNTAUGHT}"
