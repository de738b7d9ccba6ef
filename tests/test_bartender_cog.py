"""The bartender through Discord: channels, threads, streaming edits, /reset, failures."""

from __future__ import annotations

from dataclasses import replace

from discord_fakes import BAR_CHANNEL, CUSTOMER, GENERAL_CHANNEL, GUILD_ID, OTHER_CUSTOMER, SUPPORT_CHANNEL

from bot.bartender import TOO_SLOW
from bot.llm import UNAVAILABLE
from cogs.bartender import CUT_OFF
from conftest import both_engines

pytestmark = both_engines  # every test here runs on SQLite and on PostgreSQL


def users_seen(request: dict) -> list[str]:
    return [m["content"] for m in request["messages"] if m["role"] == "user"]


async def test_bartender_channel_message_gets_a_streamed_reply(discord_bot, fake_openai):
    """A plain message in a bartender channel is answered as a reply, from the persona's model."""
    fake_openai.reply = "A gin fizz, maybe?"
    question = await discord_bot.send_message("Something fresh, please", channel_id=BAR_CHANNEL)

    [posted] = discord_bot.sent_messages(BAR_CHANNEL)
    assert posted["message_reference"]["message_id"] == int(question["id"])
    assert discord_bot.shown_messages(BAR_CHANNEL) == ["A gin fizz, maybe?"]
    assert posted["allowed_mentions"] == {"parse": []}


async def test_two_customers_in_one_bartender_channel_have_separate_histories(discord_bot, fake_openai):
    """Each customer's seat is their own conversation."""
    await discord_bot.send_message("I'm Mina", channel_id=BAR_CHANNEL, author=CUSTOMER)
    await discord_bot.send_message("I'm Joon", channel_id=BAR_CHANNEL, author=OTHER_CUSTOMER)
    await discord_bot.send_message("Who am I?", channel_id=BAR_CHANNEL, author=CUSTOMER)

    assert users_seen(fake_openai.chat_requests()[-1]) == ["I'm Mina", "Who am I?"]


async def test_streaming_edits_end_with_the_full_text_within_the_rate_limit(discord_bot, fake_openai, settings):
    """The reply appears at the first words, grows by edits no more often than allowed, and ends complete."""
    fake_openai.reply = " ".join(f"word{n}" for n in range(50))
    fake_openai.stream_chunks = 50
    fake_openai.chunk_delay = 0.02
    await discord_bot.send_message("Tell me a story", channel_id=BAR_CHANNEL)

    [posted] = discord_bot.sent_messages(BAR_CHANNEL)
    edits = discord_bot.edits(BAR_CHANNEL)
    assert len(posted["content"]) < len(fake_openai.reply)
    assert edits and edits[-1].payload["content"] == fake_openai.reply
    gaps = [later.at - earlier.at for earlier, later in zip(edits, edits[1:-1])]
    assert all(gap >= settings.bartender_edit_seconds * 0.95 for gap in gaps), gaps
    assert len(edits) <= 1 + (50 * 0.02) / settings.bartender_edit_seconds + 1


async def test_reply_longer_than_a_message_continues_in_a_new_one(discord_bot, fake_openai):
    """Past 2,000 characters the reply goes on in another message; nothing is lost."""
    fake_openai.reply = "\n\n".join("Sentence number %d is here to fill the glass." % n for n in range(80))
    fake_openai.stream_chunks = 20
    await discord_bot.send_message("Long story please", channel_id=BAR_CHANNEL)

    shown = discord_bot.shown_messages(BAR_CHANNEL)
    assert len(shown) >= 2 and all(len(text) <= 2000 for text in shown)
    assert " ".join(" ".join(shown).split()) == " ".join(fake_openai.reply.split())


async def test_failure_mid_stream_marks_the_reply_cut_off(discord_bot, fake_openai):
    """A stream that breaks leaves the partial text marked as cut off; the next message works."""
    fake_openai.reply = "one two three four five six seven eight"
    fake_openai.stream_chunks = 8
    fake_openai.cut_stream_next(after_chunks=3)
    await discord_bot.send_message("Tell me", channel_id=BAR_CHANNEL)

    [shown] = discord_bot.shown_messages(BAR_CHANNEL)
    assert shown.endswith(CUT_OFF) and shown.startswith("one two")
    await discord_bot.send_message("Tell me", channel_id=BAR_CHANNEL)
    assert users_seen(fake_openai.chat_requests()[-1]) == ["Tell me"]


async def test_failure_before_any_words_gets_a_friendly_line(discord_bot, fake_openai):
    """When the model fails outright, the customer gets one friendly line."""
    fake_openai.fail_next(500, times=2, retry_after_ms=1)
    await discord_bot.send_message("hello", channel_id=BAR_CHANNEL)

    [posted] = discord_bot.sent_messages(BAR_CHANNEL)
    assert posted["content"] == "I couldn't come up with an answer just now. Please try again in a moment."


async def test_two_quick_messages_are_answered_in_order(discord_bot, fake_openai):
    """A second message sent while the first is answered is queued, then answered knowing the first."""
    fake_openai.latency = 0.05
    first = discord_bot.message_payload("first", channel_id=BAR_CHANNEL)
    second = discord_bot.message_payload("second", channel_id=BAR_CHANNEL)
    discord_bot.state.parse_message_create(first)
    discord_bot.state.parse_message_create(second)
    await discord_bot.settle()

    replies = discord_bot.sent_messages(BAR_CHANNEL)
    assert [r["message_reference"]["message_id"] for r in replies] == [int(first["id"]), int(second["id"])]
    assert users_seen(fake_openai.chat_requests()[-1]) == ["first", "second"]


async def test_bartender_command_opens_a_private_thread_with_a_first_reply(discord_bot, fake_openai):
    """/bartender makes a private thread named for the customer and the bartender speaks first there."""
    fake_openai.reply = "Welcome! What are you in the mood for?"
    interaction = await discord_bot.slash("bartender", user=CUSTOMER, channel_id=GENERAL_CHANNEL)

    [created] = discord_bot.created_threads()
    assert created.payload["type"] == 12 and created.payload["name"] == "🍸 Customer"
    thread_id = discord_bot.state._get_guild(GUILD_ID).threads[-1].id
    assert discord_bot.ephemeral_texts(interaction) == [f"Your table is ready: <#{thread_id}> 🍸"]
    assert any(c.path == f"/channels/{thread_id}/thread-members/{CUSTOMER.id}" for c in discord_bot.calls)
    assert discord_bot.shown_messages(thread_id) == ["Welcome! What are you in the mood for?"]


async def test_thread_messages_continue_only_the_owners_conversation(discord_bot, fake_openai):
    """In a bartender thread the customer's messages continue their chat; others are not mixed in."""
    await discord_bot.slash("bartender", user=CUSTOMER, channel_id=SUPPORT_CHANNEL, message="I like rum")
    thread = discord_bot.state._get_guild(GUILD_ID).threads[-1]
    await discord_bot.send_message("me too!", channel_id=thread.id, author=OTHER_CUSTOMER)
    await discord_bot.send_message("Recommend one?", channel_id=thread.id, author=CUSTOMER)

    requests = fake_openai.chat_requests()
    assert len(requests) == 2  # support did not answer in its own channel's thread, nor the bartender for another user
    assert users_seen(requests[-1]) == ["I like rum", "Recommend one?"]


async def test_reset_in_a_bartender_channel_starts_fresh(discord_bot, fake_openai):
    """/reset forgets the caller's chat there and says so."""
    await discord_bot.send_message("I love mezcal", channel_id=BAR_CHANNEL)
    interaction = await discord_bot.slash("reset", user=CUSTOMER, channel_id=BAR_CHANNEL)
    await discord_bot.send_message("hi", channel_id=BAR_CHANNEL)

    assert discord_bot.ephemeral_texts(interaction) == ["Fresh start! I've forgotten our chat here; what can I pour you?"]
    assert users_seen(fake_openai.chat_requests()[-1]) == ["hi"]


async def test_reset_outside_the_bar_says_there_is_nothing_to_reset(discord_bot):
    """/reset where there is no bartender conversation explains where to go."""
    interaction = await discord_bot.slash("reset", user=CUSTOMER, channel_id=GENERAL_CHANNEL)

    assert discord_bot.ephemeral_texts(interaction) == ["There's no bartender conversation here. Use `/bartender` to take a seat."]


async def test_restart_of_the_bot_continues_a_thread_conversation(discord_bot, fake_openai, settings, storage, llm):
    """After a restart (new service, same database) the customer's thread continues with its history."""
    from datetime import timedelta

    from bot.bartender import BartenderService
    from conftest import PERSONA

    await discord_bot.slash("bartender", user=CUSTOMER, channel_id=GENERAL_CHANNEL, message="I'm Mina")
    thread = discord_bot.state._get_guild(GUILD_ID).threads[-1]
    await discord_bot.bot.bartender.wait_for_summaries()  # a stopping bot writes down what it has shown first
    restarted = BartenderService(storage.conversations, llm, persona=PERSONA, model="gpt-5-mini", history_tokens=2000, idle_after=timedelta(hours=2))
    await restarted.start()
    discord_bot.bot.bartender = discord_bot.bot.get_cog("Bartender").bartender = restarted
    await discord_bot.send_message("What's my name?", channel_id=thread.id, author=CUSTOMER)

    assert users_seen(fake_openai.chat_requests()[-1]) == ["I'm Mina", "What's my name?"]


async def test_channel_that_refuses_the_bot_gets_one_attempt(discord_bot, fake_openai):
    """Without permission to post, the bot tries once, not once per streamed piece, and logs it."""
    fake_openai.stream_chunks = 20
    discord_bot.fail_next("POST", rf"/channels/{BAR_CHANNEL}/messages$", 403)
    await discord_bot.send_message("hello", channel_id=BAR_CHANNEL)

    posts = [c for c in discord_bot.calls if c.method == "POST" and c.path == f"/channels/{BAR_CHANNEL}/messages"]
    assert len(posts) == 1


async def test_failure_with_a_refusing_channel_does_not_escape(discord_bot, fake_openai):
    """Model failure and a channel that refuses the notice: logged, nothing escapes to discord.py."""
    fake_openai.fail_next(500, times=2, retry_after_ms=1)
    discord_bot.fail_next("POST", rf"/channels/{BAR_CHANNEL}/messages$", 403)
    await discord_bot.send_message("hello", channel_id=BAR_CHANNEL)


async def test_thread_created_notice_in_a_bartender_channel_gets_no_reply(discord_bot, fake_openai):
    """Discord's "started a thread" notice in the bar calls no model and posts nothing."""
    await discord_bot.send_message("🍸 Mina", channel_id=BAR_CHANNEL, message_type=18)

    assert discord_bot.sent_messages(BAR_CHANNEL) == []
    assert fake_openai.chat_requests() == []


async def test_slow_reply_ends_politely_and_the_next_message_is_answered(discord_bot, fake_openai):
    """A reply trickling past the deadline ends with a polite line, and the message sent meanwhile gets its own reply."""
    discord_bot.bot.bartender._reply_seconds = 0.6  # BARTENDER_REPLY_SECONDS, small for the test
    fake_openai.reply = "one two three four five six seven eight nine ten"
    fake_openai.stream_chunks = 10
    fake_openai.chunk_delay = 0.25
    first = discord_bot.message_payload("Tell me a long one", channel_id=BAR_CHANNEL)
    second = discord_bot.message_payload("Still there?", channel_id=BAR_CHANNEL)
    discord_bot.state.parse_message_create(first)
    discord_bot.state.parse_message_create(second)
    await discord_bot.settle()

    shown = discord_bot.shown_messages(BAR_CHANNEL)
    assert len(shown) == 2 and all(text.endswith(TOO_SLOW.strip()) for text in shown)
    assert shown[0].startswith("one")
    assert [r["message_reference"]["message_id"] for r in discord_bot.sent_messages(BAR_CHANNEL)] == [int(first["id"]), int(second["id"])]


async def test_stream_with_no_words_gets_the_friendly_line(discord_bot, fake_openai):
    """A model stream that says nothing is answered like any bad response, not with silence."""
    fake_openai.reply = ""
    await discord_bot.send_message("hello", channel_id=BAR_CHANNEL)

    assert discord_bot.shown_messages(BAR_CHANNEL) == [UNAVAILABLE]


# -- the reader's language ---------------------------------------------------------------


async def test_a_korean_server_sees_the_bartenders_own_lines_in_korean_and_the_models_words_as_they_are(discord_bot, fake_openai):
    """BOT_LANGUAGE=ko: a reply cut off, one that fails outright and one too slow end in Korean lines."""
    discord_bot.bot.settings = replace(discord_bot.bot.settings, bot_language="ko")
    fake_openai.reply = "one two three four five six seven eight"
    fake_openai.stream_chunks = 8
    fake_openai.cut_stream_next(after_chunks=3)
    await discord_bot.send_message("Tell me", channel_id=BAR_CHANNEL)
    fake_openai.fail_next(500, times=2, retry_after_ms=1)
    await discord_bot.send_message("hello", channel_id=BAR_CHANNEL, author=OTHER_CUSTOMER)

    cut, failed = discord_bot.shown_messages(BAR_CHANNEL)
    assert cut.startswith("one two") and cut.endswith("\n\n*(중단됨: 제 쪽에 문제가 생겼어요. 메시지를 다시 보내 주시면 이어서 말씀드릴게요.)*")
    assert failed == "지금은 답변을 드리지 못했어요. 잠시 후 다시 시도해 주세요."

    discord_bot.bot.bartender._reply_seconds = 0.6
    fake_openai.reply = "one two three four five six seven eight nine ten"
    fake_openai.stream_chunks = 10
    fake_openai.chunk_delay = 0.25
    await discord_bot.send_message("Tell me a long one", channel_id=BAR_CHANNEL)
    slow = discord_bot.shown_messages(BAR_CHANNEL)[-1]
    assert slow.startswith("one") and slow.endswith("\n\n*(시간이 너무 오래 걸려서 여기까지만 말씀드릴게요. 더 듣고 싶으시면 다시 물어봐 주세요.)*")


async def test_bartender_commands_answer_a_korean_member_in_korean(discord_bot, fake_openai):
    """/bartender and /reset reply in the member's Discord language, refusals included."""
    opened = await discord_bot.slash("bartender", user=CUSTOMER, channel_id=GENERAL_CHANNEL, locale="ko")
    thread_id = discord_bot.state._get_guild(GUILD_ID).threads[-1].id
    assert discord_bot.ephemeral_texts(opened) == [f"자리가 준비됐어요: <#{thread_id}> 🍸"]

    not_theirs = await discord_bot.slash("reset", user=OTHER_CUSTOMER, channel_id=thread_id, locale="ko")
    fresh = await discord_bot.slash("reset", user=CUSTOMER, channel_id=thread_id, locale="ko")
    nothing = await discord_bot.slash("reset", user=CUSTOMER, channel_id=GENERAL_CHANNEL, locale="ko")
    not_yet = await discord_bot.slash("reset", user=OTHER_CUSTOMER, channel_id=BAR_CHANNEL, locale="ko")
    assert [discord_bot.ephemeral_texts(i) for i in (not_theirs, fresh, nothing, not_yet)] == [
        ["다른 분의 자리예요. 그분만 대화를 새로 시작할 수 있어요."],
        ["새로 시작해요! 여기서 나눈 대화는 잊었어요. 무엇을 따라 드릴까요?"],
        ["여기에는 바텐더와 나눈 대화가 없어요. `/바텐더`로 자리에 앉아 보세요."],
        ["여기서는 아직 대화를 시작하지 않았어요. 인사해 주세요!"],
    ]
