"""The one place an error becomes what the user sees, for commands, listeners, modals and views alike."""

from __future__ import annotations

import logging

import discord
from discord import app_commands

from bot.errors import UserError
from bot.i18n import N_, Text, language_of, localize
from bot.text import split_message

log = logging.getLogger(__name__)

SOMETHING_WENT_WRONG = N_("Something went wrong on my side. Please try again; the team has been told.")
NOT_ALLOWED_HERE = N_("You can't use this command here.")


def user_message(error: BaseException, *, context: str) -> Text:
    """What to tell the user about an error; anything unexpected is logged once, naming the context, and stays hidden."""
    if isinstance(error, app_commands.CommandInvokeError):
        error = error.original
    if isinstance(error, UserError):
        return error.message
    if isinstance(error, app_commands.CheckFailure):
        return str(error) or NOT_ALLOWED_HERE
    log.error("%s failed", context, exc_info=error)
    return SOMETHING_WENT_WRONG


async def send_ephemeral(interaction: discord.Interaction, message: Text) -> None:
    """Reply privately, in the member's language, whether or not the interaction was already acknowledged."""
    try:
        for chunk in split_message(localize(message, language_of(interaction.locale))):
            if interaction.response.is_done():
                await interaction.followup.send(chunk, ephemeral=True)
            else:
                await interaction.response.send_message(chunk, ephemeral=True)
    except discord.HTTPException:
        log.warning("could not reply to the user (interaction expired or gone)")
