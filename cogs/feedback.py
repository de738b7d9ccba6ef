"""Feedback: 👍 / 👎 under support answers (the asker's alone); 👎 passes the answer to staff for review."""

from __future__ import annotations

import contextlib
import logging

import discord
from discord.ext import commands

from bot.client import SupportBot
from bot.feedback import RATED_DOWN
from bot.i18n import ENGLISH, N_
from bot.replies import send_ephemeral, user_message
from cogs.handoffs import TalkToStaffButton, hand_over

log = logging.getLogger(__name__)

THANKS = N_("Thanks for letting us know!")
SORRY = N_("Sorry that didn't help. I've passed it to our staff; you'll get a better answer here.")
ONLY_THE_ASKER = N_("Only the customer who asked can rate this answer.")


class Feedback(commands.Cog):
    def __init__(self, bot: SupportBot) -> None:
        self.bot = bot

    async def cog_load(self) -> None:
        self.bot.add_dynamic_items(RatingButton)

    async def cog_unload(self) -> None:
        self.bot.remove_dynamic_items(RatingButton)


class RatingButton(discord.ui.DynamicItem[discord.ui.Button], template=r"rate:(?P<up>up|down):(?P<key>\d+):(?P<customer>\d+)"):
    """👍 / 👎 under an answer; `key` is the customer's message (or /ask) it answered."""

    def __init__(self, key: int, customer_id: int, up: bool) -> None:
        super().__init__(
            discord.ui.Button(
                emoji="👍" if up else "👎", style=discord.ButtonStyle.secondary,
                custom_id=f"rate:{'up' if up else 'down'}:{key}:{customer_id}",
            )
        )
        self.key = key
        self.customer_id = customer_id
        self.up = up

    @classmethod
    async def from_custom_id(cls, interaction: discord.Interaction, item: discord.ui.Button, match) -> RatingButton:
        return cls(int(match["key"]), int(match["customer"]), match["up"] == "up")

    async def callback(self, interaction: discord.Interaction[SupportBot]) -> None:
        if interaction.user.id != self.customer_id:
            await send_ephemeral(interaction, ONLY_THE_ASKER)
            return
        await interaction.response.defer(ephemeral=True, thinking=True)
        bot = interaction.client
        try:
            rated = await bot.feedback.rate(self.key, customer_id=self.customer_id, up=self.up)
            line = THANKS
            if not self.up:
                handed = await hand_over(
                    bot, customer_id=rated.customer_id, guild_id=rated.guild_id,
                    channel_id=rated.channel_id or interaction.channel_id or 0, message_id=rated.replied_to,
                    question=rated.question, bot_answer=rated.answer, reason=RATED_DOWN,
                )
                line = SORRY if handed else THANKS
        except Exception as error:
            await send_ephemeral(interaction, user_message(error, context="rating button"))
            return
        await send_ephemeral(interaction, line)
        if interaction.message is not None:
            with contextlib.suppress(discord.HTTPException):
                await interaction.message.edit(view=None)  # rated once; a second thought goes to staff via a new question


def answer_view(key: int, customer_id: int, *, staff: bool, language: str = ENGLISH) -> discord.ui.View:
    """What goes under a support answer: 👍 / 👎, and *Talk to staff* when there is a staff channel."""
    view = discord.ui.View(timeout=None)
    view.add_item(RatingButton(key, customer_id, up=True))
    view.add_item(RatingButton(key, customer_id, up=False))
    if staff:
        view.add_item(TalkToStaffButton(customer_id, key, language))
    return view


async def setup(bot: SupportBot) -> None:
    await bot.add_cog(Feedback(bot))
