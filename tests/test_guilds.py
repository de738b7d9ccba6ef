"""Only the shop's servers: a stranger who adds the bot to a server of their own can't teach, train, switch models or spend.

The fake gateway carries a second server (the stranger's), with a channel named "support" and a role named
"Admins" like the shop's, where the stranger has Manage Server.
"""

from __future__ import annotations

import logging
from dataclasses import replace

import discord
import pytest
from discord_fakes import (
    APP_ID,
    BOT_USER,
    CUSTOMER,
    GUILD_ID,
    STAFF,
    STRANGER,
    STRANGER_GENERAL_CHANNEL,
    STRANGER_GUILD_ID,
    STRANGER_SUPPORT_CHANNEL,
    SUPPORT_CHANNEL,
    FakeDiscord,
    FakeFile,
)

from bot.access import NOT_SERVED, is_admin
from bot.client import make_bot
from conftest import ROOT

SAMPLE = (ROOT / "data" / "sample_dataset.jsonl").read_bytes()
PHISHING = "환불은 여기서: http://evil.example/refund"


@pytest.fixture
async def stranger(discord_bot):
    """The bot, in the shop's server since its first start, then added to a stranger's server."""
    await discord_bot.add_stranger_guild()
    return discord_bot


async def test_stranger_cannot_teach_or_import(stranger, storage):
    before = await storage.examples.all()
    taught = await stranger.slash("teach", user=STRANGER, channel_id=STRANGER_GENERAL_CHANNEL, question="환불 되나요?", answer=PHISHING)
    imported = await stranger.slash(
        "examples import", user=STRANGER, channel_id=STRANGER_GENERAL_CHANNEL,
        file=FakeFile("x.jsonl", ('{"question": "환불 되나요?", "answer": "%s"}' % PHISHING).encode()),
    )

    assert stranger.ephemeral_texts(taught) == [NOT_SERVED]
    assert stranger.ephemeral_texts(imported) == [NOT_SERVED]
    assert await storage.examples.all() == before
    assert [c for c in stranger.calls if "cdn.discordapp.com" in c.path] == []  # the file was not even downloaded


async def test_stranger_cannot_switch_the_model_or_train(stranger, storage, fake_openai):
    switched = await stranger.slash("model use", user=STRANGER, channel_id=STRANGER_GENERAL_CHANNEL, model_id="gpt-4.1-2025-04-14")
    trained = await stranger.slash("train", user=STRANGER, channel_id=STRANGER_GENERAL_CHANNEL, dataset=FakeFile("d.jsonl", SAMPLE))

    assert stranger.ephemeral_texts(switched) == [NOT_SERVED]
    assert stranger.ephemeral_texts(trained) == [NOT_SERVED]
    assert await storage.jobs.live_model() is None
    assert fake_openai.files == {} and fake_openai.jobs == {}


@pytest.mark.parametrize("mentioned", [False, True])
async def test_stranger_servers_support_channel_gets_no_answer_and_costs_nothing(stranger, fake_openai, mentioned):
    """A channel named like the shop's support channel, or a mention: no reply, no model call."""
    channel = STRANGER_GENERAL_CHANNEL if mentioned else STRANGER_SUPPORT_CHANNEL
    content = f"<@{BOT_USER.id}> 환불 어떻게 해요?" if mentioned else "Do you ship abroad?"
    await stranger.send_message(content, channel_id=channel, author=CUSTOMER, mentions=(BOT_USER,) if mentioned else ())

    assert stranger.sent_messages(channel) == []
    assert fake_openai.requests == []


async def test_the_shops_server_works_as_before(stranger, storage, fake_openai):
    interaction = await stranger.slash("teach", user=STAFF, question="주차 되나요?", answer="건물 뒤 공영주차장을 쓰세요.")
    assert stranger.ephemeral_texts(interaction)[0].startswith("Saved as #")
    await stranger.send_message("When will my order ship?", channel_id=SUPPORT_CHANNEL)
    assert [m["content"] for m in stranger.sent_messages(SUPPORT_CHANNEL)] == ["echo: When will my order ship?"]


async def test_refused_servers_are_logged_once(discord_bot, caplog):
    caplog.set_level(logging.WARNING, logger="bot.access")
    await discord_bot.add_stranger_guild()
    for _ in range(3):
        await discord_bot.send_message("hello?", channel_id=STRANGER_SUPPORT_CHANNEL)
    refusals = [r for r in caplog.records if r.name == "bot.access" and str(STRANGER_GUILD_ID) in r.getMessage()]
    assert len(refusals) == 1 and "ALLOWED_GUILDS" in refusals[0].getMessage()


async def test_first_start_records_its_servers_and_a_restart_keeps_them(services, fake_openai):
    """With no setting, the servers present at the first start are served; one present at a later start is not."""
    first = make_bot(services, application_id=APP_ID)
    fake = FakeDiscord(first)
    await fake.start()
    await fake.close()
    await first.close()
    assert await services.storage.state.get("served_guilds") == str(GUILD_ID)

    again = make_bot(services, application_id=APP_ID)
    fake = FakeDiscord(again)
    fake.state._add_guild_from_data(fake._stranger_guild_payload())  # already in the stranger's server at this start
    await fake.start()
    try:
        await fake.send_message("Do you ship abroad?", channel_id=STRANGER_SUPPORT_CHANNEL)
        await fake.send_message("Do you ship abroad?", channel_id=SUPPORT_CHANNEL)
        assert fake.sent_messages(STRANGER_SUPPORT_CHANNEL) == []
        assert len(fake.sent_messages(SUPPORT_CHANNEL)) == 1
    finally:
        await fake.close()
        await again.close()


@pytest.mark.parametrize("setting", ["allowed_guilds", "command_guilds"])
async def test_allowed_guilds_setting_decides_and_command_guilds_is_its_default(services, fake_openai, setting):
    """ALLOWED_GUILDS (or, unset, COMMAND_GUILDS) names the servers served; no other is, the first one included."""
    only_stranger = replace(services, settings=replace(services.settings, **{setting: (STRANGER_GUILD_ID,)}))
    bot = make_bot(only_stranger, application_id=APP_ID)
    fake = FakeDiscord(bot)
    await fake.start()
    await fake.add_stranger_guild()
    try:
        await fake.send_message("Do you ship abroad?", channel_id=SUPPORT_CHANNEL)
        await fake.send_message("Do you ship abroad?", channel_id=STRANGER_SUPPORT_CHANNEL)  # a customer there
        assert fake.sent_messages(SUPPORT_CHANNEL) == []
        assert len(fake.sent_messages(STRANGER_SUPPORT_CHANNEL)) == 1
    finally:
        await fake.close()
        await bot.close()


async def test_direct_messages_are_support_and_count_against_the_limits(discord_bot, limits, fake_openai):
    limits._per_minute = 1
    await discord_bot.send_message("Do you ship abroad?", channel_id=None)
    await discord_bot.send_message("And to Jeju?", channel_id=None)

    replies = [m["content"] for m in discord_bot.sent_messages()]
    assert replies[0] == "echo: Do you ship abroad?"
    assert replies[1].startswith("You're sending messages quickly.")
    assert len(fake_openai.chat_requests()) == 1


async def test_a_role_name_several_roles_share_makes_nobody_admin(discord_bot, caplog):
    """ADMIN_ROLES by name: if another role takes the same name (anyone who can make roles could), the name matches nobody."""
    guild = discord_bot.bot.get_guild(GUILD_ID)
    member = discord.Member(data={**STAFF.member_payload(0), "user": STAFF.payload(), "roles": [str(r.id) for r in guild.roles if r.name == "Admins"]}, guild=guild, state=discord_bot.state)
    settings = discord_bot.bot.settings
    assert is_admin(member, settings)

    copy = discord.Role(guild=guild, state=discord_bot.state, data={"id": "300000000000000999", "name": "admins", "permissions": "0", "position": 5})
    guild._add_role(copy)
    assert not is_admin(member, settings)

    caplog.set_level(logging.WARNING, logger="bot.client")
    await discord_bot.bot.on_ready()
    assert any("named 'admins'" in r.getMessage() and "use role IDs" in r.getMessage() for r in caplog.records)


async def test_customer_cannot_be_served_in_the_strangers_server_even_by_dm_commands(stranger, fake_openai):
    """/ask in the stranger's server is refused too; /ask in a DM is the customer's own support."""
    refused = await stranger.slash("ask", user=CUSTOMER, channel_id=STRANGER_GENERAL_CHANNEL, question="배송 얼마나 걸려요?")
    answered = await stranger.slash("ask", user=CUSTOMER, channel_id=None, question="What's your refund policy?")
    assert stranger.ephemeral_texts(refused) == [NOT_SERVED]
    assert stranger.interaction_texts(answered)[-1] == "echo: What's your refund policy?"
    assert len(fake_openai.chat_requests()) == 1


async def test_servers_present_are_served_when_the_record_cannot_be_written(settings, storage):
    """A read-only database at the first start: the servers present now are served (and the failure logged), not none."""
    from bot.access import ServedGuilds
    from conftest import READ_ONLY, on_every_connection

    await on_every_connection(storage, READ_ONLY["sqlite"])
    try:
        served = ServedGuilds(settings)
        await served.settle(storage.state, [GUILD_ID])
        assert served.serves(GUILD_ID) and not served.serves(STRANGER_GUILD_ID)
    finally:
        await on_every_connection(storage, None)
