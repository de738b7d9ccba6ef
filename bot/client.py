"""The Discord client: holds the services, loads the cogs, syncs commands, shows errors in one place."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from typing import TypeVar

import discord
from discord import app_commands
from discord.ext import commands

from bot.config import Settings
from bot.errors import UserError
from bot.services import Services
from bot.text import split_message

log = logging.getLogger(__name__)
T = TypeVar("T")

# A text-only bot: discord.py's warnings about missing voice libraries are noise here.
discord.VoiceClient.warn_nacl = discord.VoiceClient.warn_dave = False

EXTENSIONS = ("cogs.support", "cogs.training", "cogs.teaching", "cogs.bartender", "cogs.admin")
COMMANDS_HASH_KEY = "global_commands_hash"
SOMETHING_WENT_WRONG = "Something went wrong on my side. Please try again; the team has been told."


class SupportTree(app_commands.CommandTree["SupportBot"]):
    """One error handler for every app command: user errors are shown, the rest logged."""

    async def on_error(self, interaction: discord.Interaction[SupportBot], error: app_commands.AppCommandError) -> None:
        cause = error.original if isinstance(error, app_commands.CommandInvokeError) else error
        if isinstance(cause, UserError):
            message = cause.message
        elif isinstance(cause, app_commands.CheckFailure):
            message = str(cause) or "You can't use this command here."
        else:
            command = interaction.command.qualified_name if interaction.command else "?"
            log.error("command /%s failed", command, exc_info=cause)
            message = SOMETHING_WENT_WRONG
        await send_ephemeral(interaction, message)


async def send_ephemeral(interaction: discord.Interaction, message: str) -> None:
    """Reply privately whether or not the interaction was already acknowledged."""
    try:
        for chunk in split_message(message):
            if interaction.response.is_done():
                await interaction.followup.send(chunk, ephemeral=True)
            else:
                await interaction.response.send_message(chunk, ephemeral=True)
    except discord.HTTPException:
        log.warning("could not tell the user about an error (interaction expired or gone)")


def in_channels(channel: object, wanted: frozenset[str]) -> bool:
    """Whether a channel (or the channel a thread belongs to) is named in a setting, by ID or name."""
    for candidate in (channel, getattr(channel, "parent", None)):
        if candidate is None:
            continue
        if str(candidate.id) in wanted or getattr(candidate, "name", "").casefold() in wanted:
            return True
    return False


def is_admin(member: discord.abc.User, settings: Settings) -> bool:
    """Manage Server, or a role named in ADMIN_ROLES (by ID or name)."""
    if not isinstance(member, discord.Member):
        return False
    return member.guild_permissions.manage_guild or _has_role(member, settings.admin_roles)


def is_staff(member: discord.abc.User, settings: Settings) -> bool:
    """A role in STAFF_ROLES, or an admin."""
    return is_admin(member, settings) or (
        isinstance(member, discord.Member) and _has_role(member, settings.staff_roles)
    )


def require_admin(interaction: discord.Interaction[SupportBot]) -> bool:
    """Server-side check: Discord's default_member_permissions can be overridden by server owners."""
    if interaction.guild is None:
        raise app_commands.CheckFailure("This command works in a server, not in DMs.")
    if not is_admin(interaction.user, interaction.client.settings):
        raise app_commands.CheckFailure("Only admins (Manage Server or an ADMIN_ROLES role) can use this command.")
    return True


def require_staff(interaction: discord.Interaction[SupportBot]) -> bool:
    if interaction.guild is None:
        raise app_commands.CheckFailure("This command works in a server, not in DMs.")
    if not is_staff(interaction.user, interaction.client.settings):
        raise app_commands.CheckFailure("Only staff (a STAFF_ROLES role) and admins can use this command.")
    return True


def admin_only() -> Callable[[T], T]:
    return app_commands.check(require_admin)


def staff_only() -> Callable[[T], T]:
    return app_commands.check(require_staff)


JSONL_SUFFIXES = (".jsonl", ".json", ".txt")


async def read_attachment(attachment: discord.Attachment, max_mb: float) -> bytes:
    """A JSONL attachment's bytes, refusing other file types, empty and oversized files before downloading."""
    if not attachment.filename.lower().endswith(JSONL_SUFFIXES):
        raise UserError(f"{attachment.filename} isn't a JSONL file: attach a .jsonl file with one JSON object per line.")
    if attachment.size > max_mb * 1_000_000:
        raise UserError(f"{attachment.filename} is {attachment.size / 1e6:.1f} MB; the limit is {max_mb:g} MB.")
    if attachment.size == 0:
        raise UserError(f"{attachment.filename} is empty.")
    try:
        return await attachment.read()
    except discord.HTTPException:
        raise UserError(f"I couldn't download {attachment.filename}; please attach it again.") from None


def limits_exempt(member: discord.abc.User, settings: Settings) -> bool:
    """Staff and admins skip the customers' limits when LIMITS_EXEMPT_STAFF is on."""
    return settings.limits_exempt_staff and is_staff(member, settings)


def _has_role(member: discord.Member, wanted: frozenset[str]) -> bool:
    return any(str(role.id) in wanted or role.name.casefold() in wanted for role in member.roles)


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
