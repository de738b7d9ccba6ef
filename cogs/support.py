"""Support: answers customers in support channels, DMs, mentions and /ask."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace

import discord
from discord import app_commands
from discord.ext import commands

from bot.access import limits_exempt
from bot.client import SupportBot
from bot.replies import user_message
from bot.routing import Question
from bot.support import MAX_QUESTION_CHARS
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
        guild_id = message.guild.id if message.guild else None
        view = None
        started = time.perf_counter()
        try:
            async with typing_shown(message.channel):
                answer = await self.support.respond(
                    question.text,
                    user_id=message.author.id,
                    guild_id=guild_id,
                    exempt=limits_exempt(message.author, self.bot.settings),
                )
            text = answer.text
            if answer.for_staff:
                text = await hand_over(
                    self.bot, customer_id=message.author.id, guild_id=guild_id, channel_id=message.channel.id,
                    message_id=message.id, question=question.text, bot_answer=None, reason=answer.for_staff,
                ) or text
            elif answer.source in ("taught", "model"):
                view = answer_view(message.id, message.author.id, staff=self.bot.settings.staff_channel is not None)
            self.bot.feedback.record(
                message.id, replace(answer, text=text), question=question.text, customer_id=message.author.id,
                guild_id=guild_id, channel_id=message.channel.id, latency_ms=round((time.perf_counter() - started) * 1000),
            )
        except Exception as exc:
            text = user_message(exc, context=f"answering message {message.id}")
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
        started = time.perf_counter()
        answer = await self.support.respond(
            question,
            user_id=interaction.user.id,
            guild_id=interaction.guild_id,
            exempt=limits_exempt(interaction.user, self.bot.settings),
        )
        text = answer.text
        if answer.for_staff:
            text = await hand_over(
                self.bot, customer_id=interaction.user.id, guild_id=interaction.guild_id, channel_id=interaction.channel_id,
                message_id=None, question=question, bot_answer=None, reason=answer.for_staff,
            ) or text
        self.bot.feedback.record(
            interaction.id, replace(answer, text=text), question=question, customer_id=interaction.user.id,
            guild_id=interaction.guild_id, channel_id=interaction.channel_id,
            latency_ms=round((time.perf_counter() - started) * 1000),
        )
        chunks = split_message(text)
        rateable = answer.source in ("taught", "model") and not answer.for_staff
        for number, chunk in enumerate(chunks):
            last = number == len(chunks) - 1
            view = answer_view(interaction.id, interaction.user.id, staff=False) if last and rateable else discord.utils.MISSING
            await interaction.followup.send(chunk, view=view)


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
