"""Which area a message belongs to: support, the bartender, or neither, on real discord.py messages."""

from __future__ import annotations

from typing import Any

from discord_fakes import (
    BAR_CHANNEL,
    BOT_USER,
    CUSTOMER,
    GENERAL_CHANNEL,
    GUILD_ID,
    OTHER_BOT,
    OTHER_CUSTOMER,
    STAFF,
    SUPPORT_CHANNEL,
    SUPPORT_THREAD,
)

from bot.bartender import Place
from bot.routing import Question, route


def route_of(discord_bot, content: str, *, threads: dict[int, int] | None = None, **message: Any):
    """Route a message built by the fake gateway; `threads` maps bartender threads to their owners."""
    bot = discord_bot.bot
    return route(discord_bot.message(content, **message), me=bot.user, settings=bot.settings, thread_owner=(threads or {}).get, served=bot.served.serves)


async def test_customer_in_support_channel_asks_support(discord_bot):
    """A customer's message in a support channel is a support question."""
    assert route_of(discord_bot, "When will my order ship?", channel_id=SUPPORT_CHANNEL) == Question("When will my order ship?")


async def test_staff_in_support_channel_is_left_alone(discord_bot):
    """Staff talking in a support channel are helping customers, not asking the bot."""
    assert route_of(discord_bot, "I'll check your order now.", author=STAFF, channel_id=SUPPORT_CHANNEL) is None


async def test_staff_mentioning_the_bot_in_support_channel_asks_support(discord_bot):
    """Staff ask the bot by mentioning it; the mention is not part of the question."""
    routed = route_of(
        discord_bot, f"<@{BOT_USER.id}> what is the refund window?", author=STAFF, channel_id=SUPPORT_CHANNEL, mentions=(BOT_USER,)
    )

    assert routed == Question("what is the refund window?")


async def test_bartender_channel_message_takes_the_authors_seat(discord_bot):
    """In a bartender channel each customer has a seat of their own."""
    assert route_of(discord_bot, "A negroni, please", channel_id=BAR_CHANNEL) == Place.seat(BAR_CHANNEL, CUSTOMER.id, GUILD_ID)


async def test_mention_in_bartender_channel_is_still_for_the_bartender(discord_bot):
    """Bartender channels are never support, even when the bot is mentioned."""
    routed = route_of(discord_bot, f"<@{BOT_USER.id}> a negroni", channel_id=BAR_CHANNEL, mentions=(BOT_USER,))

    assert routed == Place.seat(BAR_CHANNEL, CUSTOMER.id, GUILD_ID)


async def test_owner_in_bartender_thread_continues_the_thread(discord_bot):
    """A bartender thread's owner continues its conversation, even where the thread's channel is a support channel."""
    routed = route_of(discord_bot, "Another one", channel_id=SUPPORT_THREAD, threads={SUPPORT_THREAD: CUSTOMER.id})

    assert routed == Place.thread(SUPPORT_THREAD, CUSTOMER.id, GUILD_ID)


async def test_others_in_a_bartender_thread_are_neither_bartender_nor_support(discord_bot):
    """Someone else talking in a customer's bartender thread is not answered at all."""
    routed = route_of(discord_bot, "Hi there", author=OTHER_CUSTOMER, channel_id=SUPPORT_THREAD, threads={SUPPORT_THREAD: CUSTOMER.id})

    assert routed is None


async def test_direct_message_asks_support(discord_bot):
    """A DM to the bot is a support question."""
    assert route_of(discord_bot, "Do you ship abroad?", channel_id=None) == Question("Do you ship abroad?")


async def test_plain_message_in_other_channel_is_left_alone(discord_bot):
    """Outside support and bartender channels a message without a mention is not for the bot."""
    assert route_of(discord_bot, "anyone around?", channel_id=GENERAL_CHANNEL) is None


async def test_mention_in_other_channel_asks_support(discord_bot):
    """Mentioning the bot in any other channel asks support."""
    routed = route_of(discord_bot, f"<@{BOT_USER.id}> how do I return an item?", channel_id=GENERAL_CHANNEL, mentions=(BOT_USER,))

    assert routed == Question("how do I return an item?")


async def test_bot_authors_are_left_alone(discord_bot):
    """Messages from bots go nowhere, in support and bartender channels alike."""
    assert route_of(discord_bot, "Orders ship in two days.", author=OTHER_BOT, channel_id=SUPPORT_CHANNEL) is None
    assert route_of(discord_bot, "A negroni, please", author=OTHER_BOT, channel_id=BAR_CHANNEL) is None


async def test_system_notices_go_nowhere_in_bartender_channels_and_threads(discord_bot):
    """A thread-created notice in a bartender channel, or a pin notice by a thread's owner, is nobody's message."""
    thread_created, pins_add = 18, 6

    assert route_of(discord_bot, "🍸 Mina", channel_id=BAR_CHANNEL, message_type=thread_created) is None
    assert route_of(discord_bot, "pinned", channel_id=SUPPORT_THREAD, threads={SUPPORT_THREAD: CUSTOMER.id}, message_type=pins_add) is None
