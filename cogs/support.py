"""Support: answers customers in support channels, DMs, mentions and /ask."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import discord
from discord import app_commands
from discord.ext import commands

from bot.access import limits_exempt
from bot.client import SupportBot
from bot.replies import user_message
from bot.routing import Question
from bot.support import MAX_QUESTION_CHARS
from bot.i18n import language_of, localize
from bot.text import split_message
from cogs.feedback import answer_view
from cogs.handoffs import hand_over

log = logging.getLogger(__name__)

TYPING_AFTER = 0.2  # seconds an answer may take before "typing…" is shown
TYPING_REFRESH = 8.0  # Discord shows one typing request for about 10 seconds
TYPING_LANDS = 0.25  # at most this long an answer waits for a typing request already sent


class Support(commands.Cog):
    def __init__(self, bot: SupportBot) -> None:
        self.bot = bot
        self.support = bot.support

    @commands.Cog.listener()
    async def on_message(self, message: discord.Message) -> None:
        question = self.bot.route(message)
        if not isinstance(question, Question):
            return
        asked = Asked(
            key=message.id, text=question.text, customer=message.author,
            guild_id=message.guild.id if message.guild else None, channel_id=message.channel.id, replied_to=message.id,
            language=self.bot.language(message.guild),
        )
        view = None
        try:
            async with typing_shown(message.channel):
                text, view = await answer_customer(self.bot, asked)
        except Exception as exc:
            text = localize(user_message(exc, context=f"answering message {message.id}"), asked.language)
        await reply_in_chunks(message, text, view=view)

    @app_commands.command()
    @app_commands.describe(question="What you need help with")
    async def ask(
        self,
        interaction: discord.Interaction[SupportBot],
        question: app_commands.Range[str, 1, MAX_QUESTION_CHARS],
    ) -> None:
        """Ask the shop's support assistant a question."""
        await interaction.response.defer(thinking=True)
        asked = Asked(
            key=interaction.id, text=question, customer=interaction.user, guild_id=interaction.guild_id,
            channel_id=interaction.channel_id, replied_to=None, language=language_of(interaction.locale),
        )
        text, view = await answer_customer(self.bot, asked)
        chunks = split_message(text)
        for number, chunk in enumerate(chunks):
            await interaction.followup.send(chunk, view=view if view and number == len(chunks) - 1 else discord.utils.MISSING)


@dataclass(frozen=True)
class Asked:
    """A customer's question, where it was asked: a message (`replied_to` is its ID) or /ask (`key` is the interaction's)."""

    key: int
    text: str
    customer: discord.abc.User
    guild_id: int | None
    channel_id: int | None
    replied_to: int | None
    language: str  # of the bot's own lines and buttons: the server's for a message, the member's for /ask


async def answer_customer(bot: SupportBot, asked: Asked) -> tuple[str, discord.ui.View | None]:
    """Support's answer (or the handoff line), kept for feedback, with 👍 / 👎 (and *Talk to staff*) under an answer.

    A taught or model answer is sent as it is; only the bot's own lines are put into the asker's language.
    """
    started = time.perf_counter()
    answer = await bot.support.respond(
        asked.text, user_id=asked.customer.id, guild_id=asked.guild_id, exempt=limits_exempt(asked.customer, bot.settings)
    )
    source, view = answer.source, None
    text = answer.text if source in ("taught", "model") else localize(answer.text, asked.language)
    if answer.for_staff:
        handed = await hand_over(
            bot, customer_id=asked.customer.id, guild_id=asked.guild_id, channel_id=asked.channel_id or 0,
            message_id=asked.replied_to, question=asked.text, bot_answer=None, reason=answer.for_staff,
        )
        if handed:
            text, source = localize(handed, asked.language), "handoff"
    elif answer.source in ("taught", "model"):
        view = answer_view(asked.key, asked.customer.id, staff=bot.settings.staff_channel is not None, language=asked.language)
    bot.feedback.record(
        asked.key, question=asked.text, answer=text, source=source, example_id=answer.example_id,
        customer_id=asked.customer.id, guild_id=asked.guild_id, channel_id=asked.channel_id, replied_to=asked.replied_to,
        latency_ms=round((time.perf_counter() - started) * 1000),
    )
    return text, view


@asynccontextmanager
async def typing_shown(channel: discord.abc.Messageable, *, after: float = TYPING_AFTER) -> AsyncIterator[None]:
    """Show "typing…" while the body runs, if it runs longer than `after` seconds.

    The indicator goes out beside the answer, never in front of it: the answer does not wait for
    Discord to accept it (under a busy channel's rate limit that wait queued every answer), and an
    answer ready at once (a taught one) sends no typing request at all. A typing request already
    on its way is let land first, so "typing…" never shows under the answer.
    """
    sending: list[asyncio.Task[None]] = []
    shown = asyncio.create_task(_keep_typing(channel, after, sending))
    try:
        yield
    finally:
        shown.cancel()
        if sending and not sending[-1].done():
            await asyncio.wait(sending[-1:], timeout=TYPING_LANDS)


async def _keep_typing(channel: discord.abc.Messageable, after: float, sending: list[asyncio.Task[None]]) -> None:
    await asyncio.sleep(after)
    while True:
        sending[:] = [asyncio.ensure_future(_send_typing(channel))]
        await asyncio.shield(sending[0])
        await asyncio.sleep(TYPING_REFRESH)


async def _send_typing(channel: discord.abc.Messageable) -> None:
    try:
        await channel.typing()  # one typing request; Discord shows it for about 10 seconds
    except Exception as exc:  # a failure to show it must not cost the answer, nor litter the log with tracebacks
        log.warning("could not show typing: %s", exc)


async def reply_in_chunks(message: discord.Message, text: str, *, view: discord.ui.View | None = None) -> None:
    """Reply to a message, continuing in further messages past Discord's length limit; `view` goes under the last."""
    try:
        # A reply to a message deleted meanwhile still goes out, as a plain message.
        reference = message.to_reference(fail_if_not_exists=False)
        chunks = split_message(text)
        for number, chunk in enumerate(chunks):
            last = number == len(chunks) - 1
            await message.channel.send(
                chunk, reference=reference if number == 0 else None, view=view if last and view else discord.utils.MISSING
            )
    except discord.HTTPException as exc:
        log.warning("could not reply in channel %s: %s", message.channel.id, exc)


async def setup(bot: SupportBot) -> None:
    await bot.add_cog(Support(bot))
