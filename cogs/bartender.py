"""Bartender: /bartender opens a thread, bartender channels and threads continue it, /reset starts fresh."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from contextlib import aclosing
from typing import Optional

import discord
from discord import app_commands
from discord.ext import commands

from bot.access import limits_exempt
from bot.bartender import TOO_SLOW, Place
from bot.client import SupportBot
from bot.errors import UserError
from bot.i18n import ENGLISH, N_, Text, _, localize, translate
from bot.replies import send_ephemeral, user_message
from bot.routing import in_channels
from bot.text import DISCORD_LIMIT, cut_head

log = logging.getLogger(__name__)

CUT_OFF = N_("\n\n*(cut off: something went wrong on my side. Send your message again and I'll pick up from there.)*")


class Bartender(commands.Cog):
    def __init__(self, bot: SupportBot) -> None:
        self.bot = bot
        self.bartender = bot.bartender

    @commands.Cog.listener()
    async def on_message(self, message: discord.Message) -> None:
        place = self.bot.route(message)
        if not isinstance(place, Place):
            return
        writer = StreamWriter(
            message.channel, reply_to=message, edit_every=self.bot.settings.bartender_edit_seconds, language=self.bot.language(message.guild)
        )
        exempt = limits_exempt(message.author, self.bot.settings)
        await writer.write(self.bartender.reply(place, message.content, exempt=exempt))

    @app_commands.command()
    @app_commands.guild_only()
    @app_commands.describe(message="What you'd like to say to the bartender (optional)")
    async def bartender(self, interaction: discord.Interaction[SupportBot], message: Optional[str] = None) -> None:
        """Take a seat at the bar: a private thread with the bartender, who remembers your chat."""
        await interaction.response.defer(ephemeral=True, thinking=True)
        channel = interaction.channel
        if isinstance(channel, discord.Thread):
            channel = channel.parent
        if not isinstance(channel, discord.TextChannel):
            raise UserError(_("I can only open a table in a text channel."))
        exempt = limits_exempt(interaction.user, self.bot.settings)
        await self.bartender.may_reply(interaction.user.id, interaction.guild_id, exempt=exempt)
        thread = await open_thread(channel, interaction.user)
        place = await self.bartender.open_thread(thread.id, interaction.user.id, interaction.guild_id)
        ready = _("Your table is ready: {thread} 🍸", thread=thread.mention)
        await send_ephemeral(interaction, ready)
        writer = StreamWriter(
            thread, reply_to=None, edit_every=self.bot.settings.bartender_edit_seconds, language=self.bot.language(interaction.guild)
        )
        await writer.write(self.bartender.reply(place, message, exempt=exempt))

    @app_commands.command()
    @app_commands.guild_only()
    async def reset(self, interaction: discord.Interaction[SupportBot]) -> None:
        """Start a fresh conversation with the bartender here."""
        channel = interaction.channel
        owner = self.bartender.thread_owner(interaction.channel_id or 0)
        if owner is not None:
            if owner != interaction.user.id:
                raise UserError(_("This is someone else's table; only they can reset it."))
            place = Place.thread(interaction.channel_id, owner)  # type: ignore[arg-type]
        elif channel is not None and in_channels(channel, self.bot.settings.bartender_channels):
            place = Place.seat(channel.id, interaction.user.id)
        else:
            raise UserError(_("There's no bartender conversation here. Use `/bartender` to take a seat."))
        await interaction.response.defer(ephemeral=True, thinking=True)
        had_one = await self.bartender.reset(place)
        text = (
            _("Fresh start! I've forgotten our chat here; what can I pour you?")
            if had_one
            else _("We hadn't started chatting here yet; say hi!")
        )
        await send_ephemeral(interaction, text)


async def open_thread(channel: discord.TextChannel, user: discord.abc.User) -> discord.Thread:
    """A private thread for the customer, or a public one where private threads aren't allowed."""
    name = f"🍸 {getattr(user, 'display_name', user.name)}"[:100]
    try:
        try:
            thread = await channel.create_thread(name=name, type=discord.ChannelType.private_thread, invitable=False)
        except discord.Forbidden:
            return await channel.create_thread(name=name, type=discord.ChannelType.public_thread)
        await thread.add_user(user)
    except discord.HTTPException as exc:
        log.warning("could not open a bartender thread in %s: %s", channel.id, exc)
        raise UserError(_("I couldn't open a thread here; check that I may create threads in this channel.")) from None
    return thread


class StreamWriter:
    """Shows a streamed reply: posts at the first words, edits at most every `edit_every` seconds, splits past 2,000.

    The model's words are shown as they come; the bot's own lines (cut off, too slow, errors) in `language`.
    """

    def __init__(
        self, channel: discord.abc.Messageable, *, reply_to: discord.Message | None, edit_every: float, language: str = ENGLISH
    ) -> None:
        self.channel = channel
        self.language = language
        self.reply_to = reply_to
        self.edit_every = edit_every
        self.message: discord.Message | None = None
        self.shown = ""  # what the current message shows
        self.text = ""  # what the current message should show
        self.last_edit = 0.0
        self.gone = False  # the channel refused us: stop showing, keep reading

    async def write(self, pieces: AsyncIterator[str]) -> None:
        try:
            # aclosing: however this loop ends, the reply generator ends too and frees its session.
            async with aclosing(pieces):
                async for piece in pieces:
                    self.text += translate(piece, self.language) if piece == TOO_SLOW else piece
                    await self._show(final=False)
        except Exception as exc:
            await self._finish_with(user_message(exc, context="bartender reply"))
            return
        await self._show(final=True)

    async def _finish_with(self, notice: Text) -> None:
        """A reply that failed part-way is marked as cut off; one that never started gets the notice alone."""
        self.text += localize(CUT_OFF if self.text.strip() else notice, self.language)
        await self._show(final=True)

    async def _show(self, *, final: bool) -> None:
        if self.gone:
            return
        try:
            while len(self.text) > DISCORD_LIMIT:
                # The message is full: finish it at a good boundary and go on in a new one.
                self.text, rest = cut_head(self.text, DISCORD_LIMIT)
                await self._update(force=True)
                self.message, self.shown, self.text = None, "", rest
            await self._update(force=final)
        except (discord.Forbidden, discord.NotFound) as exc:
            # Trying again for every piece would only pile up failed requests (Discord bans for that).
            log.warning("cannot show a bartender reply in %s: %s", getattr(self.channel, "id", "?"), exc)
            self.gone = True
        except discord.HTTPException as exc:
            log.warning("could not show a bartender reply: %s", exc)

    async def _update(self, *, force: bool) -> None:
        if not self.text.strip() or self.text == self.shown:
            return
        if self.message is None:
            self.message = await self._send(self.text)
        elif force or time.monotonic() - self.last_edit >= self.edit_every:
            await self.message.edit(content=self.text)
        else:
            return
        self.shown, self.last_edit = self.text, time.monotonic()

    async def _send(self, text: str) -> discord.Message:
        reference = self.reply_to.to_reference(fail_if_not_exists=False) if self.reply_to and self.message is None else None
        self.reply_to = None  # only the first message is a reply
        return await self.channel.send(text, reference=reference)


async def setup(bot: SupportBot) -> None:
    await bot.add_cog(Bartender(bot))
