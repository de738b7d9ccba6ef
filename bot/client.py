"""The discord.py Bot: holds the services, loads the cogs, syncs commands, hands command errors to the renderer."""

from __future__ import annotations

import hashlib
import json
import logging

import discord
from discord import app_commands
from discord.ext import commands

from bot.bartender import BartenderService
from bot.config import Settings
from bot.db import Database
from bot.llm import LLM
from bot.replies import send_ephemeral, user_message
from bot.support import SupportService
from bot.teaching import TeachingService
from bot.training import TrainingService
from bot.usage import UsageService

log = logging.getLogger(__name__)

EXTENSIONS = ("cogs.support", "cogs.training", "cogs.teaching", "cogs.bartender", "cogs.admin")
COMMANDS_HASH_KEY = "global_commands_hash"


class SupportTree(app_commands.CommandTree["SupportBot"]):
    """One error handler for every app command; bot/replies.py decides what the user sees."""

    async def on_error(self, interaction: discord.Interaction[SupportBot], error: app_commands.AppCommandError) -> None:
        command = interaction.command.qualified_name if interaction.command else "?"
        await send_ephemeral(interaction, user_message(error, context=f"command /{command}"))


class SupportBot(commands.Bot):
    def __init__(
        self,
        settings: Settings,
        *,
        db: Database,
        llm: LLM,
        support: SupportService,
        training: TrainingService,
        teaching: TeachingService,
        bartender: BartenderService,
        usage: UsageService,
        **options,
    ) -> None:
        intents = discord.Intents.default()
        intents.message_content = True
        super().__init__(
            command_prefix=commands.when_mentioned,
            help_command=None,
            intents=intents,
            tree_cls=SupportTree,
            allowed_mentions=discord.AllowedMentions.none(),
            **options,
        )
        self.settings = settings
        self.db = db
        self.llm = llm
        self.support = support
        self.training = training
        self.teaching = teaching
        self.bartender = bartender
        self.usage = usage

    async def setup_hook(self) -> None:
        for extension in EXTENSIONS:
            await self.load_extension(extension)
        await self.sync_commands()

    async def sync_commands(self) -> None:
        """Guilds in COMMAND_GUILDS get the commands at once; global ones only when they changed."""
        for guild_id in self.settings.command_guilds:
            guild = discord.Object(id=guild_id)
            self.tree.copy_global_to(guild=guild)
            try:
                synced = await self.tree.sync(guild=guild)
            except discord.HTTPException as exc:
                log.error("could not sync commands to guild %s from COMMAND_GUILDS (is the bot in it?): %s", guild_id, exc)
                continue
            log.info("synced %s commands to guild %s", len(synced), guild_id)
        if self.settings.command_guilds:
            return
        payload = [command.to_dict(self.tree) for command in self.tree.get_commands()]
        digest = hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()
        key = f"{COMMANDS_HASH_KEY}:{self.application_id}"
        if await self.db.get_meta(key) == digest:
            log.info("global commands unchanged; not syncing")
            return
        try:
            synced = await self.tree.sync()
        except discord.HTTPException as exc:
            log.error("could not sync global commands; will try again at the next start: %s", exc)
            return
        await self.db.set_meta(key, digest)
        log.info("synced %s global commands", len(synced))

    async def on_message(self, message: discord.Message) -> None:
        """There are no prefix commands: messages are for the cogs' listeners only."""

    async def on_ready(self) -> None:
        log.info("logged in as %s (%s)", self.user, self.user.id if self.user else "?")
