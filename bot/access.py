"""Who may do what: admin and staff roles, the server-side checks on commands, who skips the limits."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

import discord
from discord import app_commands

from bot.config import Settings
from bot.i18n import N_

if TYPE_CHECKING:
    from bot.client import SupportBot

T = TypeVar("T")
log = logging.getLogger(__name__)

# Refusals are raised as CheckFailure (plain strings) and shown by bot/replies.py, in the member's language.
SERVER_ONLY = N_("This command works in a server, not in DMs.")
ADMINS_ONLY = N_("Only admins (Manage Server or an ADMIN_ROLES role) can use this command.")
STAFF_ONLY = N_("Only staff (a STAFF_ROLES role) and admins can use this command.")


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
        raise app_commands.CheckFailure(SERVER_ONLY)
    if not is_admin(interaction.user, interaction.client.settings):
        raise app_commands.CheckFailure(ADMINS_ONLY)
    return True


def require_staff(interaction: discord.Interaction[SupportBot]) -> bool:
    if interaction.guild is None:
        raise app_commands.CheckFailure(SERVER_ONLY)
    if not is_staff(interaction.user, interaction.client.settings):
        raise app_commands.CheckFailure(STAFF_ONLY)
    return True


def admin_only() -> Callable[[T], T]:
    return app_commands.check(require_admin)


def staff_only() -> Callable[[T], T]:
    return app_commands.check(require_staff)


def limits_exempt(member: discord.abc.User, settings: Settings) -> bool:
    """Staff and admins skip the customers' limits when LIMITS_EXEMPT_STAFF is on."""
    return settings.limits_exempt_staff and is_staff(member, settings)


def _has_role(member: discord.Member, wanted: frozenset[str]) -> bool:
    """A role by ID, or by a name no other role in the server shares (anyone able to make roles could copy it)."""
    for role in member.roles:
        if str(role.id) in wanted:
            return True
        name = role.name.casefold()
        if name in wanted and sum(1 for other in member.guild.roles if other.name.casefold() == name) == 1:
            return True
    return False


def ambiguous_role_names(guild: discord.Guild, settings: Settings) -> list[str]:
    """Role names in ADMIN_ROLES/STAFF_ROLES that several roles of this server share: they match nobody."""
    names = {n for n in settings.admin_roles | settings.staff_roles if not n.isdigit()}
    return sorted(n for n in names if sum(1 for role in guild.roles if role.name.casefold() == n) > 1)


SERVED_GUILDS_KEY = "served_guilds"
NOT_SERVED = N_("This bot only serves its shop's own servers, and this server isn't one of them.")


class ServedGuilds:
    """The servers the bot works in: ALLOWED_GUILDS, else COMMAND_GUILDS, else the ones it was in at its first start.

    Anywhere else it answers nothing, calls no model and runs no command. DMs are served (support only).
    """

    def __init__(self, settings: Settings) -> None:
        configured = settings.allowed_guilds or settings.command_guilds
        self.ids: frozenset[int] | None = frozenset(configured) if configured else None  # None: not known yet
        self._configured = bool(configured)
        self._refused: set[int] = set()

    def serves(self, guild_id: int | None) -> bool:
        if guild_id is None:
            return True
        if self.ids is not None and guild_id in self.ids:
            return True
        if guild_id not in self._refused:
            self._refused.add(guild_id)
            log.warning(
                "server %s is not served (not in ALLOWED_GUILDS): its messages and commands are ignored; "
                "add its ID to ALLOWED_GUILDS to serve it", guild_id,
            )
        return False

    async def settle(self, state, present: list[int]) -> None:
        """With no setting: the servers recorded at the first start, recorded now if this is it."""
        if self._configured:
            return
        try:
            recorded = await state.get(SERVED_GUILDS_KEY)
            if recorded is None:
                recorded = ",".join(str(i) for i in sorted(present))
                await state.set(SERVED_GUILDS_KEY, recorded)
                log.info("first start: serving the servers the bot is in now (%s); set ALLOWED_GUILDS to change that", recorded or "none")
        except Exception:
            recorded = ",".join(str(i) for i in sorted(present))
            log.exception("could not read or record the served servers; serving the ones present now (%s)", recorded or "none")
        self.ids = frozenset(int(i) for i in recorded.split(",") if i)
