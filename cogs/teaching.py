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
from bot.records import Example
from bot.replies import send_ephemeral, user_message
from bot.retrieval import render_check
from bot.text import shorten, split_message
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
            await interaction.response.send_modal(TeachModal(self.teaching, question=question, answer=answer))

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
            TeachModal(self.teaching, question=question, answer=message.content or None)
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
        await interaction.followup.send(render_page(await self.teaching.page(search, page)), ephemeral=True)

    @examples.command(name="remove")
    @app_commands.describe(example_id="The example's ID, from /examples list")
    @staff_only()
    async def examples_remove(self, interaction: discord.Interaction[SupportBot], example_id: int) -> None:
        """Remove a taught example."""
        await interaction.response.defer(ephemeral=True, thinking=True)
        removed = await self.teaching.remove(example_id, actor_id=interaction.user.id)
        await interaction.followup.send(f"Removed #{removed.id}: “{removed.question}”.", ephemeral=True)

    @examples.command(name="export")
    @staff_only()
    async def examples_export(self, interaction: discord.Interaction[SupportBot]) -> None:
        """Download every example as JSONL in the training format (ready for /train)."""
        await interaction.response.defer(ephemeral=True, thinking=True)
        data = await self.teaching.export()
        count = data.count(b"\n")
        await interaction.followup.send(
            f"{count:,} examples in the training format; `/train dataset:` takes this file as it is.",
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
        await interaction.followup.send(
            f"Imported {file.filename}: {result.added:,} examples added, {result.replaced:,} answers replaced."
            + render_confusions(result.confusions),
            ephemeral=True,
        )

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
        await interaction.followup.send(
            f"Test question {test_id} saved: “{question.strip()}” should get the answer of #{example.id} "
            f"(“{example.question}”). `/evaluate` asks it.",
            ephemeral=True,
        )

    @examples.command(name="remove-test")
    @app_commands.describe(test_id="The test question's number, given when it was added")
    @staff_only()
    async def examples_remove_test(self, interaction: discord.Interaction[SupportBot], test_id: int) -> None:
        """Remove a test question."""
        await interaction.response.defer(ephemeral=True, thinking=True)
        await self.teaching.remove_test_question(test_id)
        await interaction.followup.send(f"Removed test question {test_id}.", ephemeral=True)

    @examples.command(name="suggest")
    @app_commands.describe(days="How many days back (default 14)")
    @staff_only()
    async def examples_suggest(self, interaction: discord.Interaction[SupportBot], days: app_commands.Range[int, 1, 90] = 14) -> None:
        """The questions customers asked most that no taught answer covers, grouped, each with a Teach button."""
        await interaction.response.defer(ephemeral=True, thinking=True)
        suggestions = await self.bot.feedback.suggestions(days)
        if not suggestions:
            await interaction.followup.send(f"Every question of the last {days} days got a taught answer.", ephemeral=True)
            return
        lines = [f"Asked most in the last {days} days with no taught answer (teach one to answer them all):"]
        view = discord.ui.View(timeout=None)
        for number, suggestion in enumerate(suggestions[:SUGGESTIONS_SHOWN], 1):
            also = f"\n   also: {'; '.join(f'“{shorten(o, 60)}”' for o in suggestion.others[:3])}" if suggestion.others else ""
            customers = f"{suggestion.count} customer{'s' if suggestion.count != 1 else ''}"
            lines.append(f"{number}. “{shorten(suggestion.question, 150)}” · {customers}{also}")
            view.add_item(SuggestionButton(suggestion.key, number))
        await interaction.followup.send("\n".join(lines)[:2000], view=view, ephemeral=True)

    @examples.command(name="check")
    @staff_only()
    async def examples_check(self, interaction: discord.Interaction[SupportBot]) -> None:
        """How safely each taught intent is told apart, and which need more phrasings."""
        await interaction.response.defer(ephemeral=True, thinking=True)
        report = render_check(await self.teaching.check())
        for chunk in split_message(report):
            await interaction.followup.send(chunk, ephemeral=True)


SUGGESTIONS_SHOWN = 10  # one Teach button each: at most 25 fit under a message


class SuggestionButton(discord.ui.DynamicItem[discord.ui.Button], template=r"suggest:(?P<key>\d+):(?P<number>\d+)"):
    """*Teach n* under `/examples suggest`: opens the teaching form with that question; staff only."""

    def __init__(self, key: int, number: int) -> None:
        super().__init__(
            discord.ui.Button(label=f"Teach {number}", style=discord.ButtonStyle.primary, custom_id=f"suggest:{key}:{number}")
        )
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
        await interaction.response.send_modal(TeachModal(interaction.client.teaching, question=question, answer=None))


class TeachModal(discord.ui.Modal, title="Teach the bot an answer"):
    question: discord.ui.TextInput = discord.ui.TextInput(
        label="Customer question", max_length=MAX_QUESTION_CHARS, placeholder="구독 안내 부탁드려요."
    )
    answer: discord.ui.TextInput = discord.ui.TextInput(
        label="Answer", style=discord.TextStyle.paragraph, max_length=MAX_ANSWER_CHARS
    )

    def __init__(self, teaching: TeachingService, *, question: str | None, answer: str | None) -> None:
        super().__init__()
        self.teaching = teaching
        self.question.default = (question or "")[:MAX_QUESTION_CHARS] or None
        self.answer.default = (answer or "")[:MAX_ANSWER_CHARS] or None

    async def on_submit(self, interaction: discord.Interaction[SupportBot]) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        await save_example(interaction, self.teaching, self.question.value, self.answer.value)

    async def on_error(self, interaction: discord.Interaction[SupportBot], error: Exception) -> None:
        await send_ephemeral(interaction, user_message(error, context="teaching form"))


class ReplaceView(discord.ui.View):
    """Asks whether a taught question's answer should be replaced; only the person teaching may answer."""

    def __init__(self, teaching: TeachingService, duplicate: AlreadyTaught, author_id: int) -> None:
        super().__init__(timeout=600)
        self.teaching = teaching
        self.duplicate = duplicate
        self.author_id = author_id

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        if interaction.user.id != self.author_id:
            await interaction.response.send_message("Only the person teaching can choose here.", ephemeral=True)
            return False
        return True

    @discord.ui.button(label="Replace the answer", style=discord.ButtonStyle.danger)
    async def replace(self, interaction: discord.Interaction[SupportBot], button: discord.ui.Button) -> None:
        await interaction.response.defer()  # re-indexing a large library can take longer than Discord waits
        example = await self.teaching.replace(self.duplicate.existing.id, self.duplicate.new_answer, author_id=interaction.user.id)
        self.stop()
        others = self.teaching.other_phrasings(example)
        also = f" and of its other phrasing{'s' if len(others) > 1 else ''} ({', '.join(f'#{e.id}' for e in others)})" if others else ""
        await interaction.edit_original_response(
            content=f"Replaced the answer of #{example.id}{also}.\n\n{render_example(example)}", view=None
        )

    @discord.ui.button(label="Keep the current answer", style=discord.ButtonStyle.secondary)
    async def keep(self, interaction: discord.Interaction[SupportBot], button: discord.ui.Button) -> None:
        self.stop()
        await interaction.response.edit_message(content=f"Kept the current answer of #{self.duplicate.existing.id}.", view=None)

    async def on_error(self, interaction: discord.Interaction, error: Exception, item: discord.ui.Item) -> None:
        await send_ephemeral(interaction, user_message(error, context="teaching button"))


async def save_example(interaction: discord.Interaction[SupportBot], teaching: TeachingService, question: str, answer: str) -> None:
    """Save, then confirm with what was saved; a taught question asks before replacing."""
    try:
        example = await teaching.teach(question, answer, author_id=interaction.user.id)
    except AlreadyTaught as duplicate:
        await interaction.followup.send(
            f"“{duplicate.existing.question}” is already taught (#{duplicate.existing.id}) with this answer:\n"
            f">>> {duplicate.existing.answer}\n\nReplace it with your new answer?",
            view=ReplaceView(teaching, duplicate, interaction.user.id),
            ephemeral=True,
        )
        return
    warning = render_confusions(await teaching.confusions([example.id]))
    await interaction.followup.send(f"Saved as #{example.id}.\n\n{render_example(example)}{warning}", ephemeral=True)


def render_example(example: Example) -> str:
    return f"**Q:** {example.question}\n**A:** {example.answer}"


def render_confusions(confusions: list[tuple[str, str, float]], most: int = 5) -> str:
    """A warning after teaching: questions customers might now get the wrong taught answer for."""
    if not confusions:
        return ""
    lines = [f"• “{q}” could get the answer of “{other}” ({alike:.0%} alike)" for q, other, alike in confusions[:most]]
    more = f"\n• … and {len(confusions) - most} more" if len(confusions) > most else ""
    return (
        "\n\n⚠️ Asked in other words, these could get another intent's answer:\n" + "\n".join(lines) + more
        + "\nTeach a few more phrasings of each; `/examples check` shows the whole library."
    )


def render_page(page: ExamplePage) -> str:
    if not page.total:
        return f"No examples match “{page.search}”." if page.search else "No examples are taught yet. Use `/teach`."
    if not page.examples:
        return f"There are only {page.pages} pages of examples; try `page:{page.pages}`."
    heading = f"{page.total:,} examples" + (f" matching “{page.search}”" if page.search else "")
    lines = [f"{heading} · page {page.page} of {page.pages}"]
    for example in page.examples:
        answer = example.answer.replace("\n", " ")
        lines.append(f"`#{example.id}` {example.question}\n  → {answer[:120] + '…' if len(answer) > 120 else answer}")
    if page.page < page.pages:
        lines.append(f"Next: `/examples list page:{page.page + 1}`" + (f" `search:{page.search}`" if page.search else ""))
    return "\n".join(lines)[:2000]


async def setup(bot: SupportBot) -> None:
    await bot.add_cog(Teaching(bot))
