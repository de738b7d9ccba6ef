"""Where a Discord message belongs: a question for support, a bartender conversation, or neither."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import discord

from bot.access import is_staff
from bot.bartender import Place
from bot.config import Settings
from bot.text import clean

_ANSWERED_TYPES = (discord.MessageType.default, discord.MessageType.reply)


@dataclass(frozen=True)
class Question:
    """A message for support: the question it asks, without the bot's mention."""

    text: str


Route = Question | Place


def route(
    message: discord.Message,
    *,
    me: discord.abc.User | None,
    settings: Settings,
    thread_owner: Callable[[int], int | None],
    served: Callable[[int | None], bool],
) -> Route | None:
    """Where a message goes, or None when the bot should stay quiet.

    Bartender channels and bartender threads are never support: a thread continues only its
    owner's conversation, a channel seats each customer apart. Support channels answer customers
    but not staff unless they mention the bot; DMs are support; elsewhere only mentions are.
    """
    if message.author.bot or message.webhook_id or message.type not in _ANSWERED_TYPES:
        return None  # system notices (a thread created, a pin, a member joining) are nobody's question
    guild_id = message.guild.id if message.guild else None
    if not served(guild_id):
        return None  # a server that isn't the shop's: nothing is answered, no model is called
    owner = thread_owner(message.channel.id)
    if owner is not None:
        # A bartender thread is one customer's table; others talking there are not mixed in.
        if message.author.id != owner or not clean(message.content):
            return None
        return Place.thread(message.channel.id, owner, guild_id)
    if message.guild is not None and in_channels(message.channel, settings.bartender_channels):
        return Place.seat(message.channel.id, message.author.id, guild_id) if clean(message.content) else None
    return _question(message, me, settings)


def _question(message: discord.Message, me: discord.abc.User | None, settings: Settings) -> Question | None:
    if me is None:
        return None
    mentioned = me in message.mentions
    if message.guild is None:
        addressed = True
    elif in_channels(message.channel, settings.support_channels):
        # Staff answering customers there are not asking the bot, unless they mention it.
        addressed = mentioned or not is_staff(message.author, settings)
    else:
        addressed = mentioned
    if not addressed:
        return None
    text = clean(re.sub(rf"<@!?{me.id}>", "", message.content))
    if not text and not mentioned:
        return None  # an image or sticker alone is not a question
    return Question(text)


def in_channels(channel: object, wanted: frozenset[str]) -> bool:
    """Whether a channel (or the channel a thread belongs to) is named in a setting, by ID or name."""
    for candidate in (channel, getattr(channel, "parent", None)):
        if candidate is None:
            continue
        if str(candidate.id) in wanted or getattr(candidate, "name", "").casefold() in wanted:
            return True
    return False
