"""The discord.py Bot: holds the services, loads the cogs, syncs commands, hands command errors to the renderer."""

from __future__ import annotations

import hashlib
import json
import logging

import discord
import yarl
from discord import app_commands
from discord.ext import commands
from discord.gateway import DiscordWebSocket

from bot.access import NOT_SERVED, ServedGuilds, ambiguous_role_names
from bot.i18n import ENGLISH, language_of, translate
from bot.replies import send_ephemeral, user_message
from bot.routing import Route, route
from bot.services import Services

log = logging.getLogger(__name__)

EXTENSIONS = ("cogs.support", "cogs.handoffs", "cogs.feedback", "cogs.training", "cogs.teaching", "cogs.bartender", "cogs.admin")
COMMANDS_HASH_KEY = "global_commands_hash"


class SupportTree(app_commands.CommandTree["SupportBot"]):
    """One error handler for every app command; bot/replies.py decides what the user sees."""

    async def interaction_check(self, interaction: discord.Interaction[SupportBot]) -> bool:
        """Every command, in every server: refused where the bot does not serve (a global command can be run anywhere)."""
        if interaction.client.served.serves(interaction.guild_id):
            return True
        if interaction.type is not discord.InteractionType.autocomplete:
            await send_ephemeral(interaction, NOT_SERVED)
        return False

    async def on_error(self, interaction: discord.Interaction[SupportBot], error: app_commands.AppCommandError) -> None:
        command = interaction.command.qualified_name if interaction.command else "?"
        message = user_message(error, context=f"command /{command}")
        await send_ephemeral(interaction, message)


class CatalogTranslator(app_commands.Translator):
    """Command names, options and descriptions from the gettext catalogs (locale/): a Korean client shows them in Korean."""

    async def translate(
        self, string: app_commands.locale_str, locale: discord.Locale, context: app_commands.TranslationContextTypes
    ) -> str | None:
        language = language_of(locale)
        translated = translate(string.message, language)
        return translated if language != ENGLISH and translated != string.message else None


class SupportBot(commands.Bot):
    def __init__(self, services: Services, **options) -> None:
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
        self.services = services
        self.settings = services.settings
        self.support = services.support
        self.training = services.training
        self.teaching = services.teaching
        self.bartender = services.bartender
        self.usage = services.usage
        self.handoffs = services.handoffs
        self.feedback = services.feedback
        self.served = ServedGuilds(services.settings)
        self._locales: dict[int, discord.Locale] = {}  # servers this process does not hold, as Discord described them

    def language(self, guild: discord.Guild | None) -> str:
        """The language of the bot's own lines in a server's (or a DM's) messages: BOT_LANGUAGE, else the server's locale."""
        return language_of(self.settings.bot_language or (guild.preferred_locale if guild else None))

    async def language_in(self, guild: discord.abc.Snowflake | None) -> str:
        """The same for a server that may not be in this process's cache (another shard's): Discord is asked once."""
        if self.settings.bot_language or guild is None:
            return self.language(None)
        cached = self.get_guild(guild.id)
        if cached is not None and not cached.unavailable:
            return self.language(cached)
        if guild.id not in self._locales:
            try:
                self._locales[guild.id] = (await self.fetch_guild(guild.id)).preferred_locale
            except discord.HTTPException as exc:
                log.warning("could not read server %s's language (%s); writing in English", guild.id, exc)
                return ENGLISH
        return language_of(self._locales[guild.id])

    def route(self, message: discord.Message) -> Route | None:
        """Where a message goes (support, the bartender, or nowhere): bot/routing.py decides, with this bot's state."""
        return route(
            message, me=self.user, settings=self.settings, thread_owner=self.bartender.thread_owner, served=self.served.serves
        )

    async def setup_hook(self) -> None:
        if self.settings.discord_api_base:
            await use_gateway_of_api(self)
        for extension in EXTENSIONS:
            await self.load_extension(extension)
        await self.tree.set_translator(CatalogTranslator())
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
        translator = self.tree.translator
        assert translator is not None
        # What would be sent, translations included: a changed translation is synced like a changed command.
        payload = [await command.get_translated_payload(self.tree, translator) for command in self.tree.get_commands()]
        digest = hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()
        key = f"{COMMANDS_HASH_KEY}:{self.application_id}"
        if await self.services.storage.state.get(key) == digest:
            log.info("global commands unchanged; not syncing")
            return
        try:
            synced = await self.tree.sync()
        except discord.HTTPException as exc:
            log.error("could not sync global commands; will try again at the next start: %s", exc)
            return
        await self.services.storage.state.set(key, digest)
        log.info("synced %s global commands", len(synced))

    async def on_message(self, message: discord.Message) -> None:
        """There are no prefix commands: messages are for the cogs' listeners only."""

    async def on_ready(self) -> None:
        log.info("logged in as %s (%s)", self.user, self.user.id if self.user else "?")
        await self.served.settle(self.services.storage.state, [guild.id for guild in self.guilds])
        for guild in self.guilds:
            if not self.served.serves(guild.id):
                continue
            for name in ambiguous_role_names(guild, self.settings):
                log.warning(
                    "several roles in server %s are named %r: ADMIN_ROLES/STAFF_ROLES match none of them by name; use role IDs",
                    guild.id, name,
                )

    async def on_guild_join(self, guild: discord.Guild) -> None:
        if not self.served.serves(guild.id):
            log.warning("added to server %s (%s), which is not served until its ID is in ALLOWED_GUILDS", guild.name, guild.id)


async def use_gateway_of_api(client: discord.Client) -> None:
    """With DISCORD_API_BASE set, connect to the gateway that API names (as sharded bots always ask), not discord.gg's."""
    _, url, _ = await client.http.get_bot_gateway()
    DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(url)


class ShardedSupportBot(SupportBot, commands.AutoShardedBot):
    """The same bot on several gateway shards (SHARD_COUNT, SHARD_IDS): one process runs some or all of them."""


def make_bot(services: Services, **options) -> SupportBot:
    """One process's bot: sharded when SHARD_COUNT is set, so several processes can share the work."""
    settings = services.settings
    if settings.shard_count is None:
        return SupportBot(services, **options)
    return ShardedSupportBot(
        services, shard_count=settings.shard_count, shard_ids=list(settings.shard_ids) or None, **options
    )
