"""Support through Discord: channel messages, DMs, mentions and /ask, on a fake gateway."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest
from discord_fakes import (
    ADMIN,
    BAR_CHANNEL,
    BOT_USER,
    CUSTOMER,
    GENERAL_CHANNEL,
    MANAGER,
    OTHER_BOT,
    STAFF,
    STAFF_ROLE,
    SUPPORT_CHANNEL,
    SUPPORT_THREAD,
)

from bot.llm import BUSY, MISCONFIGURED, UNAVAILABLE
from cogs.support import TYPING_AFTER
from conftest import PERSONA, both_engines

pytestmark = both_engines  # every test here runs on SQLite and on PostgreSQL


async def test_support_channel_message_gets_a_reply_from_the_support_model(discord_bot, fake_openai):
    """A customer's question in a support channel is answered as a reply to it, with typing shown while the model thinks."""
    fake_openai.reply = "Orders ship within two business days."
    fake_openai.latency = TYPING_AFTER + 0.2
    question = await discord_bot.send_message("When will my order ship?", channel_id=SUPPORT_CHANNEL)

    [sent] = discord_bot.sent_messages(SUPPORT_CHANNEL)
    assert sent["content"] == "Orders ship within two business days."
    assert sent["message_reference"]["message_id"] == int(question["id"])
    assert discord_bot.typing_calls(SUPPORT_CHANNEL) == 1
    [request] = fake_openai.chat_requests()
    assert request["model"] == "gpt-5-mini"
    assert request["messages"][0]["role"] == "system"
    assert request["messages"][-1] == {"role": "user", "content": "When will my order ship?"}


async def test_direct_message_gets_a_reply(discord_bot, fake_openai):
    """A DM to the bot is answered in the DM."""
    fake_openai.reply = "Yes, we ship abroad."
    await discord_bot.send_message("Do you ship abroad?", channel_id=None)

    [sent] = discord_bot.sent_messages()
    assert sent["content"] == "Yes, we ship abroad."
    assert fake_openai.chat_requests()[0]["messages"][-1]["content"] == "Do you ship abroad?"


async def test_mention_in_other_channel_is_answered_without_the_mention(discord_bot, fake_openai):
    """Mentioning the bot in any channel asks it; the mention is not part of the question."""
    await discord_bot.send_message(f"<@{BOT_USER.id}> how do I return an item?", channel_id=GENERAL_CHANNEL, mentions=(BOT_USER,))

    [sent] = discord_bot.sent_messages(GENERAL_CHANNEL)
    assert sent["content"] == "echo: how do I return an item?"


async def test_plain_message_in_other_channel_is_ignored(discord_bot, fake_openai):
    """Outside support channels the bot speaks only when mentioned."""
    await discord_bot.send_message("anyone around?", channel_id=GENERAL_CHANNEL)

    assert discord_bot.sent_messages() == []
    assert fake_openai.chat_requests() == []


async def test_mention_in_bartender_channel_is_left_to_the_bartender(discord_bot, fake_openai):
    """Support does not answer in bartender channels, even when mentioned."""
    await discord_bot.send_message(f"<@{BOT_USER.id}> a negroni please", channel_id=BAR_CHANNEL, mentions=(BOT_USER,))

    [request] = fake_openai.chat_requests()
    assert request["messages"][0]["content"] == PERSONA


async def test_bot_authors_are_ignored(discord_bot, fake_openai):
    """Messages from bots (this one included) never get an answer."""
    await discord_bot.send_message("When will my order ship?", author=OTHER_BOT)
    await discord_bot.send_message("Orders ship within two days.", author=BOT_USER)

    assert discord_bot.sent_messages() == []
    assert fake_openai.chat_requests() == []


async def test_staff_talking_in_support_channel_is_not_answered(discord_bot, fake_openai):
    """Staff helping customers in a support channel are not asking the bot."""
    await discord_bot.send_message("I'll check your order now.", author=STAFF)

    assert fake_openai.chat_requests() == []


async def test_staff_mentioning_the_bot_in_support_channel_is_answered(discord_bot, fake_openai):
    """Staff can still ask the bot by mentioning it."""
    await discord_bot.send_message(f"<@{BOT_USER.id}> what is the refund window?", author=STAFF, mentions=(BOT_USER,))

    [sent] = discord_bot.sent_messages(SUPPORT_CHANNEL)
    assert sent["content"] == "echo: what is the refund window?"


async def test_mention_without_question_gets_a_hint(discord_bot, fake_openai):
    """An empty mention gets a hint, not a model call."""
    await discord_bot.send_message(f"<@{BOT_USER.id}>", channel_id=GENERAL_CHANNEL, mentions=(BOT_USER,))

    [sent] = discord_bot.sent_messages(GENERAL_CHANNEL)
    assert "write your question" in sent["content"]
    assert fake_openai.chat_requests() == []


async def test_a_korean_server_gets_supports_own_lines_in_korean(discord_bot, fake_openai):
    """BOT_LANGUAGE=ko: an empty mention, an overlong question and a failing model are answered with Korean lines."""
    discord_bot.bot.settings = replace(discord_bot.bot.settings, bot_language="ko")
    await discord_bot.send_message(f"<@{BOT_USER.id}>", channel_id=GENERAL_CHANNEL, mentions=(BOT_USER,))
    await discord_bot.send_message("배송 " * 2001, channel_id=SUPPORT_CHANNEL)
    fake_openai.fail_next(500, times=5, retry_after_ms=1)
    await discord_bot.send_message("When will my order ship?", channel_id=SUPPORT_CHANNEL)

    assert [m["content"] for m in discord_bot.sent_messages(GENERAL_CHANNEL)] == ["명령어나 멘션 뒤에 질문을 적어 주시면 답변해 드릴게요."]
    assert [m["content"] for m in discord_bot.sent_messages(SUPPORT_CHANNEL)] == [
        "메시지가 너무 길어요. 4,000자 이내로 적어 주세요.",
        "지금은 답변을 드리지 못했어요. 잠시 후 다시 시도해 주세요.",
    ]


async def test_a_model_answer_that_happens_to_be_a_line_of_the_bots_is_sent_as_it_is(discord_bot, fake_openai):
    """Taught and model answers never go through the catalog: a reply that reads "Answer" stays "Answer" in a Korean server."""
    discord_bot.bot.settings = replace(discord_bot.bot.settings, bot_language="ko")
    fake_openai.reply = "Answer"
    await discord_bot.send_message("What is the reply to this?", channel_id=SUPPORT_CHANNEL)
    assert [m["content"] for m in discord_bot.sent_messages(SUPPORT_CHANNEL)] == ["Answer"]


async def test_long_answer_is_split_into_messages_under_the_limit(discord_bot, fake_openai):
    """An answer over 2,000 characters arrives in several messages, the first as the reply."""
    paragraphs = [f"Step {n}: " + "do the thing carefully. " * 30 for n in range(1, 6)]
    fake_openai.reply = "\n\n".join(paragraphs)
    await discord_bot.send_message("How do I set it up?")

    sent = discord_bot.sent_messages(SUPPORT_CHANNEL)
    assert len(sent) >= 2
    assert all(len(m["content"]) <= 2000 for m in sent)
    assert "message_reference" in sent[0] and all("message_reference" not in m for m in sent[1:])
    assert [p.strip() for m in sent for p in m["content"].split("\n\n")] == [p.strip() for p in paragraphs]


async def test_api_failure_is_answered_with_a_friendly_line(discord_bot, fake_openai, caplog):
    """A 500 from the model API gives the customer one short line; the log gets the cause."""
    fake_openai.fail_next(500, times=5, retry_after_ms=1)
    await discord_bot.send_message("When will my order ship?")

    [sent] = discord_bot.sent_messages(SUPPORT_CHANNEL)
    assert sent["content"] == UNAVAILABLE
    assert "server_error" in caplog.text


async def test_bot_keeps_answering_after_a_failure(discord_bot, fake_openai):
    """The message after a rate-limited one is answered normally."""
    fake_openai.fail_next(429, times=2, retry_after_ms=1)
    await discord_bot.send_message("first?")
    await discord_bot.send_message("second?")

    assert [m["content"] for m in discord_bot.sent_messages(SUPPORT_CHANNEL)] == [BUSY, "echo: second?"]


async def test_mentions_in_model_output_do_not_ping(discord_bot, fake_openai):
    """Whatever the model writes, the reply is sent with no mention allowed to ping."""
    fake_openai.reply = f"@everyone look! <@{CUSTOMER.id}> <@&{STAFF_ROLE}>"
    await discord_bot.send_message("ping people please")

    [sent] = discord_bot.sent_messages(SUPPORT_CHANNEL)
    assert sent["content"].startswith("@everyone")
    assert sent["allowed_mentions"] == {"parse": []}


async def test_ask_command_defers_then_answers(discord_bot, fake_openai):
    """/ask acknowledges at once and answers in a follow-up, in any channel."""
    fake_openai.reply = "We are open 9 to 6."
    interaction = await discord_bot.slash("ask", question="When are you open?", channel_id=GENERAL_CHANNEL)

    calls = discord_bot.interaction_calls(interaction)
    assert calls[0].path.endswith("/callback") and calls[0].payload["type"] == 5
    assert discord_bot.interaction_texts(interaction) == ["We are open 9 to 6."]
    assert calls[1].payload["allowed_mentions"] == {"parse": []}


async def test_ask_command_works_in_a_dm(discord_bot, fake_openai):
    """/ask answers in a DM too."""
    interaction = await discord_bot.slash("ask", question="Hello?", channel_id=None)

    assert discord_bot.interaction_texts(interaction) == ["echo: Hello?"]


async def test_ask_command_failure_shows_the_friendly_line(discord_bot, fake_openai):
    """An unknown model is reported to the user as a friendly line, never a traceback."""
    fake_openai.models.discard("gpt-5-mini")
    interaction = await discord_bot.slash("ask", question="When are you open?")

    assert discord_bot.interaction_texts(interaction) == [MISCONFIGURED]



@pytest.mark.parametrize("member", [ADMIN, MANAGER], ids=["admin role", "manage server"])
async def test_admins_count_as_staff_in_support_channel(discord_bot, fake_openai, member):
    """Admins, by ADMIN_ROLES or Manage Server, are staff and are not answered unasked."""
    await discord_bot.send_message("Let me look into that for you.", author=member)

    assert fake_openai.chat_requests() == []


async def test_thread_in_support_channel_is_answered(discord_bot, fake_openai):
    """A thread inside a support channel counts as support."""
    await discord_bot.send_message("Any update on my order?", channel_id=SUPPORT_THREAD)

    [sent] = discord_bot.sent_messages(SUPPORT_THREAD)
    assert sent["content"] == "echo: Any update on my order?"


async def test_support_channel_can_be_named_by_id(discord_bot, fake_openai):
    """SUPPORT_CHANNELS takes channel IDs as well as names."""
    discord_bot.bot.settings = replace(discord_bot.bot.settings, support_channels=frozenset({str(GENERAL_CHANNEL)}))
    await discord_bot.send_message("Hello?", channel_id=GENERAL_CHANNEL)

    assert [m["content"] for m in discord_bot.sent_messages(GENERAL_CHANNEL)] == ["echo: Hello?"]


async def test_message_without_text_is_not_answered(discord_bot, fake_openai):
    """An image or sticker alone in a support channel gets no hint and no model call."""
    await discord_bot.send_message("")

    assert discord_bot.sent_messages() == []


async def test_an_answer_ready_at_once_is_one_request_and_never_waits_for_typing(discord_bot, fake_openai):
    """A taught answer is sent with no typing request at all; a model answer does not wait for Discord to accept "typing…"."""
    before = len(discord_bot.calls)
    await discord_bot.send_message("구독 방법 알려주세요.")
    await asyncio.sleep(TYPING_AFTER + 0.1)
    assert [c.path for c in discord_bot.calls[before:]] == [f"/channels/{SUPPORT_CHANNEL}/messages"]

    fake_openai.latency = TYPING_AFTER + 0.3
    typing_accepted = asyncio.Event()
    request = discord_bot.bot.http.request

    async def slow_typing(route, **kwargs):
        if route.path.endswith("/typing"):
            await typing_accepted.wait()  # Discord is slow to accept it (a busy channel's rate limit)
        return await request(route, **kwargs)

    discord_bot.bot.http.request = slow_typing
    message = discord_bot.message_payload("When will my order ship?")
    discord_bot.state.parse_message_create(message)
    for _ in range(100):
        if discord_bot.sent_messages(SUPPORT_CHANNEL)[1:]:
            break
        await asyncio.sleep(0.02)
    assert [m["content"] for m in discord_bot.sent_messages(SUPPORT_CHANNEL)][1:] == ["echo: When will my order ship?"]
    typing_accepted.set()
    await discord_bot.settle()


async def test_a_typing_request_already_sent_lands_before_the_answer(discord_bot, fake_openai):
    """"typing…" never shows under an answer: one already on its way is let arrive first."""
    fake_openai.latency = TYPING_AFTER + 0.02  # the answer is ready while the typing request is still travelling
    request = discord_bot.bot.http.request

    async def slow_typing(route, **kwargs):
        if route.path.endswith("/typing"):
            await asyncio.sleep(0.1)
        return await request(route, **kwargs)

    discord_bot.bot.http.request = slow_typing
    await discord_bot.send_message("When will my order ship?")
    paths = [c.path for c in discord_bot.calls if c.path.startswith(f"/channels/{SUPPORT_CHANNEL}/")]
    assert paths == [f"/channels/{SUPPORT_CHANNEL}/typing", f"/channels/{SUPPORT_CHANNEL}/messages"]


async def test_answer_is_sent_even_if_typing_indicator_fails(discord_bot, fake_openai):
    """A failure to show "typing…" does not cost the customer the answer."""
    discord_bot.fail_next("POST", r"/typing$", 500)
    fake_openai.latency = TYPING_AFTER + 0.2
    await discord_bot.send_message("When will my order ship?")
    assert discord_bot.typing_calls(SUPPORT_CHANNEL) == 1

    assert [m["content"] for m in discord_bot.sent_messages(SUPPORT_CHANNEL)] == ["echo: When will my order ship?"]
