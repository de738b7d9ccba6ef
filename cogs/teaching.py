"""Teaching: /teach (direct or in a form), "Teach as answer" on a reply, and /examples."""

from __future__ import annotations

import asyncio
import contextlib
import io
from typing import Optional

import discord
from discord import app_commands
from discord.ext import commands

from bot.access import require_staff, staff_only
from bot.attachments import read_attachment
from bot.client import SupportBot
from bot.feedback import Suggestion
from bot.i18n import ENGLISH, Lines, Text, _, _n, language_of, localize
from bot.records import Example
from bot.replies import send_ephemeral, user_message
from bot.retrieval import render_check
from bot.text import clip, shorten
from bot.teaching import MAX_ANSWER_CHARS, MAX_QUESTION_CHARS, AlreadyTaught, ExamplePage, TeachingService


class Teaching(commands.Cog):
    def __init__(self, bot: SupportBot) -> None:
        self.bot = bot
        self.teaching = bot.teaching
        # Context menus can't be declared in a cog's body; this one is added to the tree by hand.
        self.teach_as_answer = app_commands.ContextMenu(name="Teach as answer", callback=self.teach_from_message)
        self.teach_as_answer.guild_only = True
        self.teach_as_answer.default_permissions = discord.Permissions(manage_messages=True)
        self.teach_as_answer.add_check(require_staff)

    async def cog_load(self) -> None:
        self.bot.add_dynamic_items(SuggestionButton)
        self.bot.tree.add_command(self.teach_as_answer)
        self._catching_up = asyncio.create_task(self.teaching.follow_changes(), name="examples-catch-up")

    async def cog_unload(self) -> None:
        self.bot.remove_dynamic_items(SuggestionButton)
        self.bot.tree.remove_command(self.teach_as_answer.name, type=self.teach_as_answer.type)
        self._catching_up.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._catching_up

    @app_commands.command()
    @app_commands.guild_only()
    @app_commands.default_permissions(manage_messages=True)
    @app_commands.describe(
        question="The customer's question (leave both empty to open a form)",
        answer="The answer customers should get",
    )
    @staff_only()
    async def teach(
        self,
        interaction: discord.Interaction[SupportBot],
        question: Optional[app_commands.Range[str, 1, MAX_QUESTION_CHARS]] = None,
        answer: Optional[app_commands.Range[str, 1, MAX_ANSWER_CHARS]] = None,
    ) -> None:
        """Teach the bot the answer to a customer question."""
        if question and answer:
            await interaction.response.defer(ephemeral=True, thinking=True)
            await save_example(interaction, self.teaching, question, answer)
        else:
            await interaction.response.send_modal(
                TeachModal(self.teaching, question=question, answer=answer, language=language_of(interaction.locale))
            )

    async def teach_from_message(self, interaction: discord.Interaction[SupportBot], message: discord.Message) -> None:
        """Open the teaching form with the customer's question and this reply as the answer."""
        question = None
        reference = message.reference
        if reference is not None and reference.message_id is not None:
            replied = reference.resolved if isinstance(reference.resolved, discord.Message) else None
            if replied is None:
                try:
                    replied = await message.channel.fetch_message(reference.message_id)
                except discord.HTTPException:
                    replied = None
            question = replied.content if replied is not None else None
        await interaction.response.send_modal(
            TeachModal(self.teaching, question=question, answer=message.content or None, language=language_of(interaction.locale))
        )

    examples = app_commands.Group(
        name="examples",
        description="The examples the bot answers from",
        guild_only=True,
        default_permissions=discord.Permissions(manage_messages=True),
    )

    @examples.command(name="list")
    @app_commands.describe(search="Only examples whose question or answer contains this", page="Page number")
    @staff_only()
    async def examples_list(
        self,
        interaction: discord.Interaction[SupportBot],
        search: Optional[str] = None,
        page: app_commands.Range[int, 1, 10_000] = 1,
    ) -> None:
        """List taught examples with their IDs, 10 to a page."""
        await interaction.response.defer(ephemeral=True, thinking=True)
        text = render_page(await self.teaching.page(search, page))
        await interaction.followup.send(localize(text, language_of(interaction.locale))[:2000], ephemeral=True)

    @examples.command(name="remove")
    @app_commands.describe(example_id="The example's ID, from /examples list")
    @staff_only()
    async def examples_remove(self, interaction: discord.Interaction[SupportBot], example_id: int) -> None:
        """Remove a taught example."""
        await interaction.response.defer(ephemeral=True, thinking=True)
        removed = await self.teaching.remove(example_id, actor_id=interaction.user.id)
        removed_line = _("Removed #{example}: “{question}”.", example=removed.id, question=removed.question)
        await send_ephemeral(interaction, removed_line)

    @examples.command(name="export")
    @staff_only()
    async def examples_export(self, interaction: discord.Interaction[SupportBot]) -> None:
        """Download every example as JSONL in the training format (ready for /train)."""
        await interaction.response.defer(ephemeral=True, thinking=True)
        data = await self.teaching.export()
        count = data.count(b"\n")
        exported = _n(
            "{count:,} example in the training format; `/train dataset:` takes this file as it is.",
            "{count:,} examples in the training format; `/train dataset:` takes this file as it is.",
            count,
        )
        await interaction.followup.send(
            localize(exported, language_of(interaction.locale)),
            file=discord.File(io.BytesIO(data), filename="examples.jsonl"),
            ephemeral=True,
        )

    @examples.command(name="import")
    @app_commands.describe(file='JSONL: training-format lines or {"question": …, "answer": …} lines')
    @staff_only()
    async def examples_import(self, interaction: discord.Interaction[SupportBot], file: discord.Attachment) -> None:
        """Add examples from a JSONL file; nothing is saved unless every line is valid."""
        await interaction.response.defer(ephemeral=True, thinking=True)
        raw = await read_attachment(file, self.bot.settings.max_dataset_mb)
        result = await self.teaching.import_file(raw, file.filename, actor_id=interaction.user.id)
        imported = _(
            "Imported {file}: {added}, {replaced}.",
            file=file.filename,
            added=_n("{count:,} example added", "{count:,} examples added", result.added),
            replaced=_n("{count:,} answer replaced", "{count:,} answers replaced", result.replaced),
        )
        await send_ephemeral(interaction, Lines([imported, render_confusions(result.confusions)], separator="\n\n"))

    @examples.command(name="add-test")
    @app_commands.describe(
        question="A customer question, in words no example uses",
        example_id="The example whose answer it should get, from /examples list",
    )
    @staff_only()
    async def examples_add_test(
        self,
        interaction: discord.Interaction[SupportBot],
        question: app_commands.Range[str, 1, MAX_QUESTION_CHARS],
        example_id: int,
    ) -> None:
        """Add a question to evaluate models with (/evaluate); it is never trained on or matched."""
        await interaction.response.defer(ephemeral=True, thinking=True)
        test_id, example = await self.teaching.add_test_question(question, example_id, author_id=interaction.user.id)
        saved = _(
            "Test question {test} saved: “{question}” should get the answer of #{example} (“{example_question}”). `/evaluate` asks it.",
            test=test_id, question=question.strip(), example=example.id, example_question=example.question,
        )
        await send_ephemeral(interaction, saved)

    @examples.command(name="remove-test")
    @app_commands.describe(test_id="The test question's number, given when it was added")
    @staff_only()
    async def examples_remove_test(self, interaction: discord.Interaction[SupportBot], test_id: int) -> None:
        """Remove a test question."""
        await interaction.response.defer(ephemeral=True, thinking=True)
        await self.teaching.remove_test_question(test_id)
        removed = _("Removed test question {test}.", test=test_id)
        await send_ephemeral(interaction, removed)

    @examples.command(name="suggest")
    @app_commands.describe(days="How many days back (default 14)")
    @staff_only()
    async def examples_suggest(self, interaction: discord.Interaction[SupportBot], days: app_commands.Range[int, 1, 90] = 14) -> None:
        """The questions customers asked most that no taught answer covers, grouped, each with a Teach button."""
        await interaction.response.defer(ephemeral=True, thinking=True)
        language = language_of(interaction.locale)
        suggestions = await self.bot.feedback.suggestions(days)
        if not suggestions:
            none_left = _n(
                "Every question of the last day got a taught answer.", "Every question of the last {count} days got a taught answer.", days
            )
            await send_ephemeral(interaction, none_left)
            return
        shown = suggestions[:SUGGESTIONS_SHOWN]
        view = discord.ui.View(timeout=None)
        for number, suggestion in enumerate(shown, 1):
            view.add_item(SuggestionButton(suggestion.key, number, language=language))
        await interaction.followup.send(localize(render_suggestions(shown, days), language)[:2000], view=view, ephemeral=True)

    @examples.command(name="check")
    @staff_only()
    async def examples_check(self, interaction: discord.Interaction[SupportBot]) -> None:
        """How safely each taught intent is told apart, and which need more phrasings."""
        await interaction.response.defer(ephemeral=True, thinking=True)
        await send_ephemeral(interaction, render_check(await self.teaching.check()))


SUGGESTIONS_SHOWN = 10  # one Teach button each: at most 25 fit under a message


class SuggestionButton(discord.ui.DynamicItem[discord.ui.Button], template=r"suggest:(?P<key>\d+):(?P<number>\d+)"):
    """*Teach n* under `/examples suggest`: opens the teaching form with that question; staff only."""

    def __init__(self, key: int, number: int, *, language: str = ENGLISH) -> None:
        label = localize(_("Teach {number}", number=number), language)
        super().__init__(discord.ui.Button(label=label, style=discord.ButtonStyle.primary, custom_id=f"suggest:{key}:{number}"))
        self.key = key

    @classmethod
    async def from_custom_id(cls, interaction: discord.Interaction, item: discord.ui.Button, match) -> SuggestionButton:
        return cls(int(match["key"]), int(match["number"]))

    async def callback(self, interaction: discord.Interaction[SupportBot]) -> None:
        try:
            require_staff(interaction)
            question = (await interaction.client.feedback.get(self.key)).question
        except Exception as error:
            await send_ephemeral(interaction, user_message(error, context="suggestion button"))
            return
        await interaction.response.send_modal(
            TeachModal(interaction.client.teaching, question=question, answer=None, language=language_of(interaction.locale))
        )


class TeachModal(discord.ui.Modal):
    """The teaching form, in the language of the member who opened it."""

    def __init__(self, teaching: TeachingService, *, question: str | None, answer: str | None, language: str = ENGLISH) -> None:
        super().__init__(title=localize(_("Teach the bot an answer"), language))
        self.teaching = teaching
        self.question = discord.ui.TextInput(
            label=localize(_("Customer question"), language), max_length=MAX_QUESTION_CHARS, placeholder="구독 안내 부탁드려요.",
            default=(question or "")[:MAX_QUESTION_CHARS] or None,
        )
        self.answer = discord.ui.TextInput(
            label=localize(_("Answer"), language), style=discord.TextStyle.paragraph, max_length=MAX_ANSWER_CHARS,
            default=(answer or "")[:MAX_ANSWER_CHARS] or None,
        )
        self.add_item(self.question).add_item(self.answer)

    async def on_submit(self, interaction: discord.Interaction[SupportBot]) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        await save_example(interaction, self.teaching, self.question.value, self.answer.value)

    async def on_error(self, interaction: discord.Interaction[SupportBot], error: Exception) -> None:
        await send_ephemeral(interaction, user_message(error, context="teaching form"))


class ReplaceView(discord.ui.View):
    """Asks whether a taught question's answer should be replaced; only the person teaching may answer."""

    def __init__(self, teaching: TeachingService, duplicate: AlreadyTaught, author_id: int, *, language: str = ENGLISH) -> None:
        super().__init__(timeout=600)
        self.teaching = teaching
        self.duplicate = duplicate
        self.author_id = author_id
        self.replace.label = localize(_("Replace the answer"), language)
        self.keep.label = localize(_("Keep the current answer"), language)

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        if interaction.user.id != self.author_id:
            await send_ephemeral(interaction, _("Only the person teaching can choose here."))
            return False
        return True

    @discord.ui.button(label="Replace the answer", style=discord.ButtonStyle.danger)
    async def replace(self, interaction: discord.Interaction[SupportBot], button: discord.ui.Button) -> None:
        await interaction.response.defer()  # re-indexing a large library can take longer than Discord waits
        example = await self.teaching.replace(self.duplicate.existing.id, self.duplicate.new_answer, author_id=interaction.user.id)
        self.stop()
        others = self.teaching.other_phrasings(example)
        replaced = (
            _n(
                "Replaced the answer of #{example} and of its other phrasing ({others}).",
                "Replaced the answer of #{example} and of its other phrasings ({others}).",
                len(others),
                example=example.id,
                others=", ".join(f"#{e.id}" for e in others),
            )
            if others
            else _("Replaced the answer of #{example}.", example=example.id)
        )
        content = localize(Lines([replaced, render_example(example)], separator="\n\n"), language_of(interaction.locale))
        await interaction.edit_original_response(content=content[:2000], view=None)

    @discord.ui.button(label="Keep the current answer", style=discord.ButtonStyle.secondary)
    async def keep(self, interaction: discord.Interaction[SupportBot], button: discord.ui.Button) -> None:
        self.stop()
        kept = _("Kept the current answer of #{example}.", example=self.duplicate.existing.id)
        await interaction.response.edit_message(content=localize(kept, language_of(interaction.locale)), view=None)

    async def on_error(self, interaction: discord.Interaction, error: Exception, item: discord.ui.Item) -> None:
        await send_ephemeral(interaction, user_message(error, context="teaching button"))


async def save_example(interaction: discord.Interaction[SupportBot], teaching: TeachingService, question: str, answer: str) -> None:
    """Save, then confirm with what was saved; a taught question asks before replacing."""
    try:
        example = await teaching.teach(question, answer, author_id=interaction.user.id)
    except AlreadyTaught as duplicate:
        await offer_replacement(interaction, teaching, duplicate)
        return
    warning = render_confusions(await teaching.confusions([example.id]))
    saved = Lines([_("Saved as #{example}.", example=example.id), render_example(example), warning], separator="\n\n")
    await send_ephemeral(interaction, saved)


QUOTED_ANSWER_CHARS = 1400  # with the question cut at 200, the line and what goes before it stay under 2,000


async def offer_replacement(
    interaction: discord.Interaction[SupportBot], teaching: TeachingService, duplicate: AlreadyTaught, *, before: Text = ""
) -> None:
    """The taught question's current answer, and buttons to replace it with the new one or keep it (after `before`)."""
    language = language_of(interaction.locale)
    asked = _(
        "“{question}” is already taught (#{example}) with this answer:\n>>> {answer}\n\nReplace it with your new answer?",
        question=shorten(duplicate.existing.question, 200),
        example=duplicate.existing.id,
        answer=clip(duplicate.existing.answer, QUOTED_ANSWER_CHARS),  # a long answer must not push the question out
    )
    await interaction.followup.send(
        localize(Lines([before, asked], separator=" "), language)[:2000],
        view=ReplaceView(teaching, duplicate, interaction.user.id, language=language),
        ephemeral=True,
    )


def render_example(example: Example) -> Text:
    return _("**Q:** {question}\n**A:** {answer}", question=example.question, answer=example.answer)


def render_confusions(confusions: list[tuple[str, str, float]], most: int = 5) -> Text:
    """A warning after teaching: questions customers might now get the wrong taught answer for."""
    if not confusions:
        return ""
    lines: list[Text] = [_("⚠️ Asked in other words, these could get another intent's answer:")]
    lines += [
        _("• “{question}” could get the answer of “{other}” ({alike:.0%} alike)", question=q, other=other, alike=alike)
        for q, other, alike in confusions[:most]
    ]
    if len(confusions) > most:
        lines.append(_("• … and {more} more", more=len(confusions) - most))
    lines.append(_("Teach a few more phrasings of each; `/examples check` shows the whole library."))
    return Lines(lines)


def render_suggestions(suggestions: list[Suggestion], days: int) -> Text:
    """The untaught questions asked most, numbered as their Teach buttons."""
    lines: list[Text] = [
        _n(
            "Asked most in the last day with no taught answer (teach one to answer them all):",
            "Asked most in the last {count} days with no taught answer (teach one to answer them all):",
            days,
        )
    ]
    for number, suggestion in enumerate(suggestions, 1):
        customers = _n("{count} customer", "{count} customers", suggestion.count)
        lines.append(_("{number}. “{question}” · {customers}", number=number, question=shorten(suggestion.question, 150), customers=customers))
        if suggestion.others:
            others = "; ".join(f"“{shorten(o, 60)}”" for o in suggestion.others[:3])
            lines.append(Lines(["   ", _("also: {others}", others=others)], separator=""))
    return Lines(lines)


def render_page(page: ExamplePage) -> Text:
    if not page.total:
        return _("No examples match “{search}”.", search=page.search) if page.search else _("No examples are taught yet. Use `/teach`.")
    if not page.examples:
        return _("There are only {pages} pages of examples; try `page:{pages}`.", pages=page.pages)
    heading = (
        _n("{count:,} example matching “{search}”", "{count:,} examples matching “{search}”", page.total, search=page.search)
        if page.search
        else _n("{count:,} example", "{count:,} examples", page.total)
    )
    lines: list[Text] = [_("{heading} · page {page} of {pages}", heading=heading, page=page.page, pages=page.pages)]
    for example in page.examples:
        answer = example.answer.replace("\n", " ")
        lines.append(f"`#{example.id}` {example.question}\n  → {answer[:120] + '…' if len(answer) > 120 else answer}")
    if page.page < page.pages:
        next_page = f"`/examples list page:{page.page + 1}`" + (f" `search:{page.search}`" if page.search else "")
        lines.append(_("Next: {command}", command=next_page))
    return Lines(lines)


async def setup(bot: SupportBot) -> None:
    await bot.add_cog(Teaching(bot))
