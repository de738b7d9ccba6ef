"""Admin: /usage, tokens and estimated cost per day, model and purpose, and where support answers came from."""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from bot.access import admin_only
from bot.client import SupportBot
from bot.storage.answers import AnswerCounts
from bot.text import split_message
from bot.usage import UsageLine


class Admin(commands.Cog):
    def __init__(self, bot: SupportBot) -> None:
        self.bot = bot
        self.usage_service = bot.usage

    @app_commands.command()
    @app_commands.guild_only()
    @app_commands.default_permissions(manage_guild=True)
    @app_commands.describe(days="How many days back, today included (default 7)")
    @admin_only()
    async def usage(self, interaction: discord.Interaction[SupportBot], days: app_commands.Range[int, 1, 90] = 7) -> None:
        """Tokens and estimated cost per day, model and purpose."""
        await interaction.response.defer(ephemeral=True, thinking=True)
        lines = await self.usage_service.report(days)
        counts = await self.bot.feedback.counts(days)
        for chunk in split_message(render_usage(lines, days) + "\n" + render_answers(counts, days)):
            await interaction.followup.send(chunk, ephemeral=True)


def render_usage(lines: list[UsageLine], days: int) -> str:
    if not lines:
        return f"No model usage in the last {days} days."
    known = [line.cost for line in lines if line.cost is not None]
    header = f"Usage, last {days} days: ≈ ${sum(known):,.2f}" + (" (some models have no price; see PRICES)" if len(known) < len(lines) else "")
    rows = [f"{'day':<10} {'purpose':<10} {'model':<28} {'in':>10} {'out':>9} {'cost':>8}"]
    for line in lines:
        cost = f"${line.cost:,.4f}" if line.cost is not None else "?"
        rows.append(
            f"{line.day:<10} {line.purpose:<10} {line.model[:28]:<28} {line.prompt_tokens:>10,} {line.completion_tokens:>9,} {cost:>8}"
        )
    # Code blocks keep the columns; split_message re-fences them when the table is long.
    return header + "\n```\n" + "\n".join(rows) + "\n```"


SOURCES = (("taught", "taught answers"), ("model", "the model"), ("handoff", "handed to staff"), ("none", "no answer"), ("refused", "refused"))


def render_answers(counts: AnswerCounts, days: int) -> str:
    """Where support answers came from, and how customers rated them."""
    total = sum(counts.by_source.values())
    if not total:
        return f"No support answers in the last {days} days."
    parts = [f"{label} {counts.by_source[key]:,}" for key, label in SOURCES if counts.by_source.get(key)]
    rated = counts.up + counts.down
    satisfaction = f"; 👍 {counts.up:,} · 👎 {counts.down:,}" + (f" ({counts.up / rated:.0%} 👍)" if rated else "")
    return f"Support answers, last {days} days: {total:,} ({', '.join(parts)}){satisfaction}"


async def setup(bot: SupportBot) -> None:
    await bot.add_cog(Admin(bot))
