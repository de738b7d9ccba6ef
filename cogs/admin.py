"""Admin: /usage, tokens and estimated cost per day, model and purpose, and where support answers came from."""

from __future__ import annotations

import unicodedata

import discord
from discord import app_commands
from discord.ext import commands

from bot.access import admin_only
from bot.client import SupportBot
from bot.i18n import ENGLISH, Lines, Text, _, _n, language_of, localize
from bot.replies import send_ephemeral
from bot.storage.answers import AnswerCounts
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
        language = language_of(interaction.locale)
        await send_ephemeral(interaction, Lines([render_usage(lines, days, language), render_answers(counts, days)]))


def render_usage(lines: list[UsageLine], days: int, language: str = ENGLISH) -> Text:
    """The heading in the reader's language, then the table, its columns padded by display width (Hangul takes two)."""
    if not lines:
        return _n("No model usage in the last day.", "No model usage in the last {count} days.", days)
    known = [line.cost for line in lines if line.cost is not None]
    cost = f"{sum(known):,.2f}"
    header = (
        _n("Usage, last day: ≈ ${cost}", "Usage, last {count} days: ≈ ${cost}", days, cost=cost)
        if len(known) == len(lines)
        else _n(
            "Usage, last day: ≈ ${cost} (some models have no price; see PRICES)",
            "Usage, last {count} days: ≈ ${cost} (some models have no price; see PRICES)",
            days,
            cost=cost,
        )
    )

    def row(day: str, purpose: str, model: str, tokens_in: str, tokens_out: str, cost: str) -> str:
        return " ".join((pad(day, 10), pad(purpose, 10), pad(model[:28], 28), pad(tokens_in, 10, ">"), pad(tokens_out, 9, ">"), pad(cost, 8, ">")))

    def say(text: Text) -> str:
        return localize(text, language)

    rows = [row(say(_("day")), say(_("purpose")), say(_("model")), say(_("in")), say(_("out")), say(_("cost")))]
    for line in lines:
        cost = f"${line.cost:,.4f}" if line.cost is not None else "?"
        purpose = say(PURPOSES[line.purpose]) if line.purpose in PURPOSES else line.purpose
        rows.append(row(line.day, purpose, line.model, f"{line.prompt_tokens:,}", f"{line.completion_tokens:,}", cost))
    # Code blocks keep the columns; split_message re-fences them when the table is long.
    return Lines([header, "```\n" + "\n".join(rows) + "\n```"])


PURPOSES = {
    "support": _("support"),
    "bartender": _("bartender"),
    "summary": _("summary"),
    "embeddings": _("embeddings"),
    "training": _("training"),
    "evaluation": _("evaluation"),
    "matching": _("matching"),
}


def pad(text: str, width: int, align: str = "<") -> str:
    """`text` padded to `width` columns as a monospace font shows it: wide characters (Hangul, CJK) take two."""
    shown = sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)
    space = " " * max(width - shown, 0)
    return text + space if align == "<" else space + text


SOURCES = (
    ("taught", _("taught answers")),
    ("model", _("the model")),
    ("handoff", _("handed to staff")),
    ("none", _("no answer")),
    ("refused", _("refused")),
)


def render_answers(counts: AnswerCounts, days: int) -> Text:
    """Where support answers came from, and how customers rated them."""
    total = sum(counts.by_source.values())
    if not total:
        return _n("No support answers in the last day.", "No support answers in the last {count} days.", days)
    sources = Lines(
        [Lines([label, f"{counts.by_source[key]:,}"], separator=" ") for key, label in SOURCES if counts.by_source.get(key)],
        separator=", ",
    )
    rated = counts.up + counts.down
    satisfaction = f"👍 {counts.up:,} · 👎 {counts.down:,}" + (f" ({counts.up / rated:.0%} 👍)" if rated else "")
    return _n(
        "Support answers, last day: {total:,} ({sources}); {satisfaction}",
        "Support answers, last {count} days: {total:,} ({sources}); {satisfaction}",
        days,
        total=total,
        sources=sources,
        satisfaction=satisfaction,
    )


async def setup(bot: SupportBot) -> None:
    await bot.add_cog(Admin(bot))
