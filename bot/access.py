"""Who may do what: admin and staff roles, the server-side checks on commands, who skips the limits."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

import discord
from discord import app_commands

from bot.config import Settings

if TYPE_CHECKING:
    from bot.client import SupportBot

T = TypeVar("T")


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


def limits_exempt(member: discord.abc.User, settings: Settings) -> bool:
    """Staff and admins skip the customers' limits when LIMITS_EXEMPT_STAFF is on."""
    return settings.limits_exempt_staff and is_staff(member, settings)


def _has_role(member: discord.Member, wanted: frozenset[str]) -> bool:
    return any(str(role.id) in wanted or role.name.casefold() in wanted for role in member.roles)
