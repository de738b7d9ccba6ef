"""Handoffs: questions support can't answer, posted in STAFF_CHANNEL with Answer buttons; staff answers go back to the customer."""

from __future__ import annotations

import asyncio
import contextlib
import logging

import discord
from discord import app_commands
from discord.ext import commands
from discord.utils import format_dt

from bot.access import is_staff, staff_only
from bot.client import SupportBot
from bot.handoffs import FROM_BUTTON, HandoffService
from bot.i18n import ENGLISH, N_, Lines, Text, _, language_of, localize, translate
from bot.records import Handoff
from bot.replies import send_ephemeral, user_message
from bot.teaching import MAX_ANSWER_CHARS, MAX_QUESTION_CHARS
from bot.text import first_line, shorten, split_message
from cogs.teaching import offer_replacement

log = logging.getLogger(__name__)

HANDED_OVER = N_("I've passed this to our staff; you'll get the answer here.")
JOINED = N_("I've added this to what you already asked our staff; you'll get the answer here.")
STAFF_ANSWERED = N_("**Our staff answered** “{question}”:")
ONLY_THE_ASKER = N_("Only the customer who asked can pass this to staff; ask your own question and you'll get the button too.")
NO_STAFF = N_("Staff can't be reached from here right now, sorry.")
ONLY_STAFF = N_("Only staff (a STAFF_ROLES role) and admins can answer customers.")
ANSWER_AND_TEACH = N_("Answer & teach")
ANSWER_ONLY = N_("Answer only")
TALK_TO_STAFF = N_("Talk to staff")
REMINDER_CHECK_SECONDS = 60.0
NO_PINGS = discord.AllowedMentions.none()


class Handoffs(commands.Cog):
    def __init__(self, bot: SupportBot) -> None:
        self.bot = bot
        self.handoffs: HandoffService = bot.handoffs
        self._reminding: asyncio.Task[None] | None = None

    async def cog_load(self) -> None:
        self.bot.add_dynamic_items(AnswerButton, TalkToStaffButton)  # the buttons keep working after a restart
        if self.bot.settings.staff_channel is not None:
            self._reminding = asyncio.create_task(self._remind(), name="handoff-reminders")

    async def cog_unload(self) -> None:
        self.bot.remove_dynamic_items(AnswerButton, TalkToStaffButton)
        if self._reminding is not None:
            self._reminding.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reminding

    async def _remind(self) -> None:
        await self.bot.wait_until_ready()
        while True:
            await asyncio.sleep(REMINDER_CHECK_SECONDS)
            try:
                await remind(self.bot)
            except Exception:
                log.exception("re-announcing waiting handoffs failed; trying again in %ss", REMINDER_CHECK_SECONDS)

    @app_commands.command(name="handoffs")
    @app_commands.guild_only()
    @app_commands.default_permissions(manage_messages=True)
    @staff_only()
    async def list_handoffs(self, interaction: discord.Interaction[SupportBot]) -> None:
        """The customers' questions still waiting for a staff answer, oldest first."""
        await interaction.response.defer(ephemeral=True, thinking=True)
        language = language_of(interaction.locale)
        waiting, total = await self.handoffs.open_ones()
        if not waiting:
            await send_ephemeral(interaction, _("No customer is waiting for staff."))
            return
        heading = (
            _("{total} waiting, the {shown} oldest first:", total=total, shown=len(waiting))
            if total > len(waiting)
            else _("{total} waiting, oldest first:", total=total)
        )
        lines = [localize(heading, language)]
        for handoff in waiting:
            link = f" · {self._post_url(handoff)}" if handoff.staff_message_id else ""
            question = shorten(first_line(handoff.question), 80)
            lines.append(f"- **#{handoff.id}** <@{handoff.customer_id}> {format_dt(handoff.created_at, 'R')}: {question}{link}")
        for chunk in split_message("\n".join(lines)):
            await interaction.followup.send(chunk, ephemeral=True)

    def _post_url(self, handoff: Handoff) -> str:
        channel = self.bot.get_channel(self.bot.settings.staff_channel or 0)
        guild_id = channel.guild.id if isinstance(channel, discord.abc.GuildChannel) else "@me"
        return f"https://discord.com/channels/{guild_id}/{self.bot.settings.staff_channel}/{handoff.staff_message_id}"


# -- opening a handoff -------------------------------------------------------------------


async def hand_over(
    bot: SupportBot, *, customer_id: int, guild_id: int | None, channel_id: int, message_id: int | None, question: str,
    bot_answer: str | None, reason: str,
) -> str | None:
    """Open (or join) the customer's handoff and show it to staff; the customer's line, or None when none was opened."""
    staff_channel = bot.settings.staff_channel
    if staff_channel is None:
        return None
    handoff, joined = await bot.handoffs.open(
        customer_id=customer_id, guild_id=guild_id, channel_id=channel_id, message_id=message_id, question=question,
        bot_answer=bot_answer, reason=reason,
    )
    try:
        await show_to_staff(bot, handoff, joined=joined)
    except Exception as exc:
        # Kept open in the database: the reminder posts it once the channel works again.
        log.warning("could not post handoff #%s in the staff channel %s: %r", handoff.id, staff_channel, exc)
    return JOINED if joined else HANDED_OVER


async def show_to_staff(bot: SupportBot, handoff: Handoff, *, joined: bool, reminder: bool = False) -> None:
    channel = bot.get_channel(bot.settings.staff_channel) or await bot.fetch_channel(bot.settings.staff_channel)
    if not isinstance(channel, discord.TextChannel | discord.Thread):
        raise TypeError(f"STAFF_CHANNEL {bot.settings.staff_channel} is not a text channel or thread")
    language = await bot.language_in(channel.guild)  # the staff's server's
    content = render_handoff(handoff, reminder=reminder, language=language)
    if joined and handoff.staff_message_id:
        await channel.get_partial_message(handoff.staff_message_id).edit(content=content, allowed_mentions=NO_PINGS)
        if handoff.staff_thread_id:
            thread = bot.get_channel(handoff.staff_thread_id) or await bot.fetch_channel(handoff.staff_thread_id)
            newest = handoff.question.splitlines()[-1] if handoff.question.strip() else ""
            added = _("New from the customer: {question}", question=shorten(newest, 1800))
            await thread.send(localize(added, language), allowed_mentions=NO_PINGS)
        return
    post = await channel.send(content, view=answer_view(handoff.id, language), allowed_mentions=NO_PINGS)
    thread_id = None
    if isinstance(channel, discord.TextChannel):
        try:
            thread = await post.create_thread(name=shorten(f"#{handoff.id} {first_line(handoff.question)}", 100))
            thread_id = thread.id
        except discord.HTTPException as exc:
            log.info("no thread for handoff #%s (%s); staff answer from the post", handoff.id, exc)
    await bot.handoffs.posted(handoff.id, message_id=post.id, thread_id=thread_id)


async def remind(bot: SupportBot) -> None:
    """Post each handoff still open after HANDOFF_REMIND_MINUTES once more, with its buttons."""
    for handoff in await bot.handoffs.due_reminders():
        try:
            await show_to_staff(bot, handoff, joined=False, reminder=True)
        except Exception as exc:  # tried again at the next check; the others still go out
            log.warning("could not re-announce handoff #%s: %r", handoff.id, exc)
            continue
        await bot.handoffs.reminded(handoff.id)


def render_handoff(handoff: Handoff, *, reminder: bool = False, language: str = ENGLISH) -> str:
    """The post staff see: who asked, where, why it came to them; the customer's words and the bot's answer as they are."""
    where: Text = _("a DM") if handoff.guild_id is None else f"<#{handoff.channel_id}>"
    if handoff.guild_id is not None and handoff.message_id:
        url = f"https://discord.com/channels/{handoff.guild_id}/{handoff.channel_id}/{handoff.message_id}"
        where = _("{channel} ([message]({url}))", channel=where, url=url)
    heading = (
        _("⏰ **Still waiting since {since}: handoff #{handoff}**", since=format_dt(handoff.created_at, "R"), handoff=handoff.id)
        if reminder
        else _("**Handoff #{handoff}**", handoff=handoff.id)
    )
    questions = handoff.question.splitlines()
    lines: list[Text] = [
        Lines([heading, translate(handoff.reason, language)], separator=" · "),
        _("From {customer} in {where}", customer=f"<@{handoff.customer_id}>", where=where),
    ]
    lines += [_("**Question:** {question}", question=shorten(q, 900)) for q in questions[:5]]
    if len(questions) > 5:
        lines.append(_("…and {more} more", more=len(questions) - 5))
    if handoff.bot_answer:
        lines.append(_("**The bot answered:** {answer}", answer=shorten(handoff.bot_answer, 500)))
    return localize(Lines(lines), language)[:2000]


# -- staff answering ---------------------------------------------------------------------


class AnswerButton(discord.ui.DynamicItem[discord.ui.Button], template=r"handoff:(?P<teach>teach|only):(?P<id>\d+)"):
    """*Answer & teach* / *Answer only* under a handoff: staff only, checked in the server where it is clicked."""

    def __init__(self, handoff_id: int, teach: bool, language: str = ENGLISH) -> None:
        super().__init__(
            discord.ui.Button(
                label=translate(ANSWER_AND_TEACH if teach else ANSWER_ONLY, language),
                style=discord.ButtonStyle.primary if teach else discord.ButtonStyle.secondary,
                custom_id=f"handoff:{'teach' if teach else 'only'}:{handoff_id}",
            )
        )
        self.handoff_id = handoff_id
        self.teach = teach

    @classmethod
    async def from_custom_id(cls, interaction: discord.Interaction, item: discord.ui.Button, match) -> AnswerButton:
        return cls(int(match["id"]), match["teach"] == "teach")

    async def callback(self, interaction: discord.Interaction[SupportBot]) -> None:
        bot = interaction.client
        staff_channel = bot.get_channel(bot.settings.staff_channel or 0)
        in_staff_server = isinstance(staff_channel, discord.abc.GuildChannel) and interaction.guild_id == staff_channel.guild.id
        if not in_staff_server or not is_staff(interaction.user, bot.settings):
            await send_ephemeral(interaction, ONLY_STAFF)
            return
        try:
            handoff = await bot.handoffs.get(self.handoff_id)
        except Exception as error:
            await send_ephemeral(interaction, user_message(error, context="handoff button"))
            return
        if not handoff.open:
            already = _("Handoff #{handoff} was already answered by {staff}.", handoff=handoff.id, staff=f"<@{handoff.answered_by}>")
            await send_ephemeral(interaction, already)
            return
        modal = AnswerModal(handoff, teach=self.teach, post=interaction.message, language=language_of(interaction.locale))
        await interaction.response.send_modal(modal)


def answer_view(handoff_id: int, language: str = ENGLISH) -> discord.ui.View:
    """*Answer & teach* and *Answer only*, labelled in the staff's server's language."""
    view = discord.ui.View(timeout=None)
    view.add_item(AnswerButton(handoff_id, teach=True, language=language))
    view.add_item(AnswerButton(handoff_id, teach=False, language=language))
    return view


class AnswerModal(discord.ui.Modal):
    """The staff member's form, in their own Discord's language."""

    def __init__(self, handoff: Handoff, *, teach: bool, post: discord.Message | None, language: str = ENGLISH) -> None:
        super().__init__(title=localize(_("Answer the customer"), language))
        self.handoff = handoff
        self.post = post
        self.question: discord.ui.TextInput | None = None
        if teach:
            self.question = discord.ui.TextInput(
                label=localize(_("Question to teach (edit to the general case)"), language), max_length=MAX_QUESTION_CHARS,
                default=first_line(handoff.question)[:MAX_QUESTION_CHARS] or None,
            )
            self.add_item(self.question)
        self.answer = discord.ui.TextInput(
            label=localize(_("Answer"), language), style=discord.TextStyle.paragraph, max_length=MAX_ANSWER_CHARS
        )
        self.add_item(self.answer)

    async def on_submit(self, interaction: discord.Interaction[SupportBot]) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        bot = interaction.client
        handoff = await bot.handoffs.claim(self.handoff.id, self.answer.value, by=interaction.user.id, seen=self.handoff.updated_at)
        customer = f"<@{handoff.customer_id}>"
        try:
            await deliver(bot, handoff)
        except Exception as exc:
            log.warning("could not deliver handoff #%s to customer %s: %r", handoff.id, handoff.customer_id, exc)
            still = (
                _("The handoff is open again.")
                if await bot.handoffs.reopen(handoff.id)
                else _("They have asked again since: see the newer handoff.")
            )
            failed = Lines([_("Couldn't send it to {customer}.", customer=customer), still], separator=" ")
            await send_ephemeral(interaction, failed)
            return
        outcome: list[Text] = [_("Sent to {customer}.", customer=customer)]
        duplicate = None
        if self.question is not None:
            taught = await bot.handoffs.teach(self.question.value, handoff.answer or "", by=interaction.user.id)
            duplicate = taught.already_taught
            if taught.example is not None:
                outcome.append(_("Taught as #{example}: the next customer asking this gets it at once.", example=taught.example.id))
            elif duplicate is not None and duplicate.same_answer:
                outcome.append(
                    _(
                        "“{question}” was taught already (#{example}); its answer was kept.",
                        question=duplicate.existing.question,
                        example=duplicate.existing.id,
                    )
                )
                duplicate = None
        if self.post is not None:  # marked answered first: whatever happens to the reply below, the answer was delivered
            answered = _("✅ Answered by {staff}: {answer}", staff=f"<@{interaction.user.id}>", answer=shorten(handoff.answer or "", 500))
            done = f"{self.post.content}\n\n{localize(answered, bot.language(interaction.guild))}"
            with contextlib.suppress(discord.HTTPException):
                await self.post.edit(content=done[:2000], view=None, allowed_mentions=NO_PINGS)
        if duplicate is not None:  # a taught answer staff just answered differently (a 👎 on it, say): replace it?
            await offer_replacement(interaction, bot.teaching, duplicate, before=Lines(outcome, separator=" "))
        else:
            await send_ephemeral(interaction, Lines(outcome, separator=" "))

    async def on_error(self, interaction: discord.Interaction[SupportBot], error: Exception) -> None:
        await send_ephemeral(interaction, user_message(error, context="handoff answer form"))


async def deliver(bot: SupportBot, handoff: Handoff) -> None:
    """The staff answer, where the customer first asked: a reply to their message, a message naming them, or a DM.

    The customer is notified (mentioned or replied to): the answer may come hours later.
    """
    language = await bot.language_in(discord.Object(handoff.guild_id) if handoff.guild_id else None)
    heading = translate(STAFF_ANSWERED, language).format(question=shorten(first_line(handoff.question), 200))
    text = f"<@{handoff.customer_id}> {heading}\n{handoff.answer}"
    if handoff.guild_id is None:
        user = bot.get_user(handoff.customer_id) or await bot.fetch_user(handoff.customer_id)
        for chunk in split_message(text):
            await user.send(chunk)
        return
    channel = bot.get_channel(handoff.channel_id) or await bot.fetch_channel(handoff.channel_id)
    reference = None
    if handoff.message_id:
        reference = discord.MessageReference(message_id=handoff.message_id, channel_id=handoff.channel_id, fail_if_not_exists=False)
    mention = discord.AllowedMentions(users=[discord.Object(handoff.customer_id)], replied_user=True)
    for number, chunk in enumerate(split_message(text)):
        await channel.send(chunk, reference=reference if number == 0 else None, allowed_mentions=mention if number == 0 else NO_PINGS)


# -- a customer asking for staff under an answer -----------------------------------------


class TalkToStaffButton(discord.ui.DynamicItem[discord.ui.Button], template=r"handoff:ask:(?P<customer>\d+):(?P<key>\d+)"):
    """*Talk to staff* under a support answer (`key`: the question it answered); only the customer who asked can use it."""

    def __init__(self, customer_id: int, key: int, language: str = ENGLISH) -> None:
        super().__init__(
            discord.ui.Button(
                label=translate(TALK_TO_STAFF, language), style=discord.ButtonStyle.secondary, custom_id=f"handoff:ask:{customer_id}:{key}"
            )
        )
        self.customer_id = customer_id
        self.key = key

    @classmethod
    async def from_custom_id(cls, interaction: discord.Interaction, item: discord.ui.Button, match) -> TalkToStaffButton:
        return cls(int(match["customer"]), int(match["key"]))

    async def callback(self, interaction: discord.Interaction[SupportBot]) -> None:
        if interaction.user.id != self.customer_id:
            await send_ephemeral(interaction, ONLY_THE_ASKER)
            return
        await interaction.response.defer(ephemeral=True, thinking=True)
        bot = interaction.client
        try:
            asked = await bot.feedback.get(self.key)
            line = await hand_over(
                bot, customer_id=asked.customer_id, guild_id=asked.guild_id, channel_id=asked.channel_id or interaction.channel_id or 0,
                message_id=asked.replied_to, question=asked.question, bot_answer=asked.answer, reason=FROM_BUTTON,
            )
        except Exception as error:
            await send_ephemeral(interaction, user_message(error, context="talk-to-staff button"))
            return
        await send_ephemeral(interaction, line or NO_STAFF)
        if line and interaction.message is not None:
            with contextlib.suppress(discord.HTTPException):
                await interaction.message.edit(view=None)  # asked once is enough


async def setup(bot: SupportBot) -> None:
    await bot.add_cog(Handoffs(bot))
