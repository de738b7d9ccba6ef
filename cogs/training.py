"""Training: /train, /status, /cancel, /model, and posting job updates where /train ran."""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
from typing import Optional

import discord
from discord import app_commands
from discord.ext import commands
from discord.utils import format_dt

from bot.access import NOT_SERVED, admin_only, is_admin
from bot.attachments import read_attachment
from bot.client import SupportBot
from bot.evaluation import model_name, render_report
from bot.i18n import ENGLISH, N_, Lines, Text, _, _n, language_of, localize, stored
from bot.replies import send_ephemeral, user_message
from bot.text import clip, split_message
from bot.training import JobProgress, JobStatus, JobUpdate, LiveModel, TrainingRequest, duration, elapsed, status_name

log = logging.getLogger(__name__)

DECIDE_BELOW = N_("An admin can decide below.")

CHART_FILENAME = "loss.png"
# Discord's embed limits (characters).
EMBED_TITLE = 256
EMBED_DESCRIPTION = 4096
EMBED_FIELD = 1024
EMBED_TOTAL = 6000
BAR_WIDTH = 20
STATUS_COLOURS = {"succeeded": 0x2ECC71, "failed": 0xE74C3C, "cancelled": 0x95A5A6}


class Training(commands.Cog):
    def __init__(self, bot: SupportBot) -> None:
        self.bot = bot
        self.training = bot.training
        self._follower: asyncio.Task[None] | None = None

    async def cog_load(self) -> None:
        self.bot.add_dynamic_items(PromotionButton)  # its buttons keep working after a restart
        self._follower = asyncio.create_task(self._follow(), name="training-follower")

    async def cog_unload(self) -> None:
        self.bot.remove_dynamic_items(PromotionButton)
        if self._follower is not None:
            self._follower.cancel()
            # Let it finish leaving (a query it was in rolls back) before the database closes.
            with contextlib.suppress(asyncio.CancelledError):
                await self._follower

    async def _follow(self) -> None:
        await self.bot.wait_until_ready()
        await self.training.follow(self.post_update)

    # -- commands ----------------------------------------------------------------------

    @app_commands.command()
    @app_commands.default_permissions(manage_guild=True)
    @app_commands.guild_only()
    @app_commands.describe(
        dataset="A JSONL chat dataset; without one, the shop's sample and taught examples are used",
        base_model="The model to fine-tune (default: FINETUNE_BASE_MODEL)",
        epochs="Passes over the data, 1-50 (default: the provider chooses)",
        suffix="Up to 64 characters added to the fine-tuned model's name",
    )
    @admin_only()
    async def train(
        self,
        interaction: discord.Interaction[SupportBot],
        dataset: Optional[discord.Attachment] = None,
        base_model: Optional[str] = None,
        epochs: Optional[app_commands.Range[int, 1, 50]] = None,
        suffix: Optional[app_commands.Range[str, 1, 64]] = None,
    ) -> None:
        """Fine-tune the support model on a dataset or on the shop's examples."""
        await interaction.response.defer(thinking=True)
        raw = await read_attachment(dataset, self.bot.settings.max_dataset_mb) if dataset else None
        request = TrainingRequest(
            base_model=(base_model or self.bot.settings.finetune_base_model).strip(),
            started_by=interaction.user.id,
            channel_id=interaction.channel_id,
            epochs=epochs,
            suffix=suffix,
        )

        async def progress(text: Text) -> None:
            await send_chunks(interaction, text)

        job = await self.training.train(raw, dataset.filename if dataset else None, request, progress)
        started = _(
            "Started fine-tuning job `{job}` on `{model}`. I'll post here as it moves along; `/status` shows the details.",
            job=job.id,
            model=request.base_model,
        )
        await send_chunks(interaction, started)

    @app_commands.command()
    @app_commands.default_permissions(manage_guild=True)
    @app_commands.guild_only()
    @app_commands.describe(job_id="A job ID (default: the latest job)")
    @admin_only()
    async def status(self, interaction: discord.Interaction[SupportBot], job_id: Optional[str] = None) -> None:
        """Show a fine-tuning job's progress and which model answers support."""
        await interaction.response.defer(thinking=True)
        status = await self.training.status(job_id.strip() if job_id else None)
        embed = render_status(status, language_of(interaction.locale))
        if status.progress.chart is None:
            await interaction.followup.send(embed=embed)
        else:
            chart = discord.File(io.BytesIO(status.progress.chart), filename=CHART_FILENAME)
            await interaction.followup.send(embed=embed, file=chart)

    @app_commands.command()
    @app_commands.default_permissions(manage_guild=True)
    @app_commands.guild_only()
    @app_commands.describe(job_id="The job to cancel")
    @admin_only()
    async def cancel(self, interaction: discord.Interaction[SupportBot], job_id: str) -> None:
        """Cancel a running fine-tuning job."""
        await interaction.response.defer(thinking=True)
        job = await self.training.cancel(job_id.strip())
        cancelled = _("Job `{job}` is now {status}.", job=job.id, status=status_name(job.status))
        await send_chunks(interaction, cancelled)

    @app_commands.command()
    @app_commands.default_permissions(manage_guild=True)
    @app_commands.guild_only()
    @app_commands.describe(
        model='A model ID the endpoint serves (default: the live one), or "taught" for the taught answers alone',
    )
    @admin_only()
    async def evaluate(self, interaction: discord.Interaction[SupportBot], model: Optional[str] = None) -> None:
        """Ask a model the held-out and test questions and grade its answers against the taught ones."""
        await interaction.response.defer(thinking=True)
        plan = await self.training.plan_evaluation(model)
        cost = _(", about ${cost:.4f}", cost=plan.estimated_cost) if plan.estimated_cost else ""
        asking = _n(
            "Asking `{model}` {count} question{cost}…",
            "Asking `{model}` {count} questions{cost}…",
            len(plan.questions),
            model=model_name(plan.name),
            cost=cost,
        )
        await send_chunks(interaction, asking)
        report = await self.training.evaluate(plan, by=interaction.user.id)
        await send_chunks(interaction, Lines([_("**Evaluation #{id}**", id=report.id), render_report(report)]))

    model = app_commands.Group(
        name="model",
        description="The model that answers support questions",
        default_permissions=discord.Permissions(manage_guild=True),
        guild_only=True,
    )

    @model.command(name="show")
    @admin_only()
    async def model_show(self, interaction: discord.Interaction[SupportBot]) -> None:
        """Show the live support model and the models live before it."""
        await interaction.response.defer(thinking=True)
        await send_chunks(interaction, render_live_model(await self.training.live_model()))

    @model.command(name="use")
    @app_commands.describe(
        model_id="A model ID the model endpoint serves (a checkpoint's too)",
        evaluate_first="Switch only if it does at least as well as the live model on the evaluation questions",
    )
    @admin_only()
    async def model_use(self, interaction: discord.Interaction[SupportBot], model_id: str, evaluate_first: bool = False) -> None:
        """Make a model live for support answers, after checking that it exists (and, if asked, evaluating it)."""
        await interaction.response.defer(thinking=True)
        live, comparison = await self.training.use_model(model_id, by=str(interaction.user.id), evaluate_first=evaluate_first)
        switched = Lines([_("Support now answers with `{model}`.", model=live.model), comparison.render() if comparison else ""])
        await send_chunks(interaction, Lines([switched, render_live_model(live)], separator="\n\n"))

    @model.command(name="rollback")
    @admin_only()
    async def model_rollback(self, interaction: discord.Interaction[SupportBot]) -> None:
        """Go back to the model that was live before the current one."""
        await interaction.response.defer(thinking=True)
        live = await self.training.rollback(by=str(interaction.user.id))
        rolled = Lines([_("Rolled back: support now answers with `{model}`.", model=live.model), render_live_model(live)], separator="\n\n")
        await send_chunks(interaction, rolled)

    # -- job updates -------------------------------------------------------------------

    async def post_update(self, update: JobUpdate) -> None:
        """Post a status change in the channel where /train ran, in the server's language, pinging only the admin who ran it."""
        job = update.job
        if job.channel_id is None:
            return
        try:
            channel = self.bot.get_channel(job.channel_id) or await self.bot.fetch_channel(job.channel_id)
            language = await self.bot.language_in(getattr(channel, "guild", None))
            view = promotion_view(job.id, language) if update.awaiting else discord.utils.MISSING
            await channel.send(  # type: ignore[union-attr]
                f"<@{job.started_by}> {localize(render_update(update), language)}"[:2000],
                allowed_mentions=discord.AllowedMentions(users=[discord.Object(job.started_by)]),
                view=view,
            )
        except (discord.NotFound, discord.Forbidden) as exc:
            # The channel is gone or closed to the bot: retrying would not help. Other errors are retried.
            log.warning("cannot post job %s's status in channel %s: %s", job.id, job.channel_id, exc)


async def send_chunks(interaction: discord.Interaction, text: Text) -> None:
    """A reply to a command, in the member's language, split to Discord's message length."""
    for chunk in split_message(localize(text, language_of(interaction.locale))):
        await interaction.followup.send(chunk)


class PromotionButton(discord.ui.DynamicItem[discord.ui.Button], template=r"promotion:(?P<choice>promote|keep):(?P<job>[\w-]+)"):
    """*Promote anyway* / *Keep current* under a candidate that was not promoted automatically; admins only."""

    def __init__(self, job_id: str, promote: bool, language: str = ENGLISH) -> None:
        super().__init__(
            discord.ui.Button(
                label=localize(_("Promote anyway") if promote else _("Keep current"), language),
                style=discord.ButtonStyle.danger if promote else discord.ButtonStyle.secondary,
                custom_id=f"promotion:{'promote' if promote else 'keep'}:{job_id}",
            )
        )
        self.job_id = job_id
        self.promote = promote

    @classmethod
    async def from_custom_id(cls, interaction: discord.Interaction, item: discord.ui.Button, match) -> PromotionButton:
        return cls(match["job"], match["choice"] == "promote")

    async def callback(self, interaction: discord.Interaction[SupportBot]) -> None:
        # Checked here, in the server where the button is clicked: anyone who can see the post can click.
        bot = interaction.client
        if interaction.guild is None or not bot.served.serves(interaction.guild_id):
            await send_ephemeral(interaction, NOT_SERVED)
            return
        if not is_admin(interaction.user, bot.settings):
            await send_ephemeral(interaction, _("Only admins (Manage Server or an ADMIN_ROLES role) can decide this."))
            return
        await interaction.response.defer()
        try:
            job = await bot.training.decide(
                self.job_id, promote=self.promote, by=interaction.user.id, channel_id=interaction.channel_id
            )
        except Exception as error:
            await send_ephemeral(interaction, user_message(error, context="promotion button"))
            return
        # The post is the channel's: it stays in the server's language, whoever clicks.
        language = bot.language(interaction.guild)
        admin, model = f"<@{interaction.user.id}>", job.fine_tuned_model
        if self.promote:
            outcome = _("{admin} promoted `{model}`: it now answers support (`/model rollback` goes back).", admin=admin, model=model)
        else:
            outcome = _("{admin} kept the current model; `{model}` stays out (`/model use` can still make it live).", admin=admin, model=model)
        before = interaction.message.content if interaction.message else ""
        for decide in (localize(DECIDE_BELOW, language), DECIDE_BELOW):
            before = before.removesuffix(f"\n{decide}")
        content = f"{localize(outcome, language)}\n\n{before}"  # the decision first: a long comparison may be cut, never it
        await interaction.edit_original_response(content=content[:2000], view=None, allowed_mentions=discord.AllowedMentions.none())


def promotion_view(job_id: str, language: str = ENGLISH) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    view.add_item(PromotionButton(job_id, promote=True, language=language))
    view.add_item(PromotionButton(job_id, promote=False, language=language))
    return view


def render_update(update: JobUpdate) -> Text:
    job = update.job
    if job.status == "succeeded":
        evaluation = update.comparison.render() if update.comparison else ""
        if update.promoted_model:
            promoted = _(
                "Fine-tuning job `{job}` succeeded: `{model}` now answers support (before: `{previous}`; `/model rollback` goes back).",
                job=job.id,
                model=update.promoted_model,
                previous=update.previous_model,
            )
            return Lines([promoted, evaluation])
        if update.awaiting:
            if update.comparison is None or not update.comparison.candidate.asked:
                why = _("it could not be measured (no held-out or test questions, or the evaluation failed)")
            elif update.comparison.at_least_as_good:
                why = _("PROMOTE is set to never, so an admin decides")
            else:
                why = _("it did not do at least as well as the live model on the held-out questions")
            waiting = _(
                "Fine-tuning job `{job}` succeeded, but `{model}` is **not live yet**: {why}.", job=job.id, model=job.fine_tuned_model, why=why
            )
            return Lines([waiting, evaluation, DECIDE_BELOW])
        if not job.fine_tuned_model:
            return _("Fine-tuning job `{job}` succeeded, but the provider named no model; nothing changed.", job=job.id)
        return Lines([_("Fine-tuning job `{job}` succeeded: `{model}` was kept out.", job=job.id, model=job.fine_tuned_model), evaluation])
    if job.status == "failed":
        reason = stored(job.error.rstrip(".")) if job.error else _("the provider gave no reason")
        return _("Fine-tuning job `{job}` failed: {reason}.", job=job.id, reason=reason)
    if job.status == "cancelled":
        return _("Fine-tuning job `{job}` was cancelled.", job=job.id)
    return _("Fine-tuning job `{job}` is now **{status}**.", job=job.id, status=status_name(job.status))


def render_status(status: JobStatus, language: str = ENGLISH) -> discord.Embed:
    """The job as an embed in `language`: status and progress on top, then the numbers, checkpoints, events and the live model."""
    job, progress = status.job, status.progress

    def text(line: Text) -> str:
        return localize(line, language)

    embed = discord.Embed(
        title=clip(text(_("Fine-tuning job {job}", job=job.id)), EMBED_TITLE),
        description=clip(_progress_text(job.status, progress, language), EMBED_DESCRIPTION),
        colour=STATUS_COLOURS.get(job.status, 0x5865F2),
    )
    embed.add_field(name=text(_("Base model")), value=clip(f"`{job.base_model}`", EMBED_FIELD), inline=True)
    started = _("by {user} {when}", user=f"<@{job.started_by}>", when=format_dt(job.created_at, "R"))
    embed.add_field(name=text(_("Started")), value=text(started), inline=True)
    embed.add_field(name=text(_("Elapsed")), value=text(elapsed(job.created_at, job.finished_at)), inline=True)
    if not job.finished:
        remaining = (
            _("about {duration}", duration=duration(progress.remaining.total_seconds()))
            if progress.remaining is not None
            else _("not known yet")
        )
        embed.add_field(name=text(_("Remaining")), value=text(remaining), inline=True)
    tokens = f"{job.trained_tokens:,}" if job.trained_tokens else text(_("reported when the job ends"))
    embed.add_field(name=text(_("Trained tokens")), value=tokens, inline=True)
    if job.trained_tokens:
        cost = _usd(status.cost) if status.cost is not None else text(_("no price for this model (see PRICES)"))
        embed.add_field(name=text(_("Estimated cost")), value=cost, inline=True)
    embed.add_field(name=text(_("Loss")), value=text(_loss_text(progress)), inline=False)
    if job.fine_tuned_model:
        embed.add_field(name=text(_("Fine-tuned model")), value=clip(f"`{job.fine_tuned_model}`", EMBED_FIELD), inline=False)
    if job.error:
        embed.add_field(name=text(_("Error")), value=clip(text(stored(job.error)), EMBED_FIELD), inline=False)
    if status.checkpoints:
        lines = [
            text(
                _("`{model}` · step {step} · validation loss {loss:.3f}", model=c.model, step=c.step, loss=c.valid_loss)
                if c.valid_loss is not None
                else _("`{model}` · step {step}", model=c.model, step=c.step)
            )
            for c in status.checkpoints
        ]
        embed.add_field(name=text(_("Checkpoints (`/model use` takes any)")), value=_lines(lines, language), inline=False)
    if status.events:
        lines = [f"{format_dt(e.created_at, 'T')} {clip(e.message, 200)}" for e in status.events]
        embed.add_field(name=text(_("Latest events")), value=_lines(lines, language), inline=False)
    if status.evaluation is not None:
        report = status.evaluation
        embed.add_field(
            name=text(_("Latest evaluation (#{id}, `/evaluate` runs another)", id=report.id)),
            value=clip(text(report.summary()), EMBED_FIELD),
            inline=False,
        )
    live = _live_value(status.live_model, status.live_model_shutdown)
    embed.add_field(name=text(_("Live support model")), value=clip(text(live), EMBED_FIELD), inline=False)
    if progress.chart is not None:
        embed.set_image(url=f"attachment://{CHART_FILENAME}")
    return _fit(embed)


def _progress_text(job_status: str, progress: JobProgress, language: str) -> str:
    text = f"**{localize(status_name(job_status), language).capitalize()}**"
    fraction = progress.fraction
    if progress.step is not None:
        step = (
            _("step {step:,} of {total:,}", step=progress.step, total=progress.total_steps)
            if progress.total_steps
            else _("step {step:,}", step=progress.step)
        )
        text += f" · {localize(step, language)}"
    if fraction is not None:
        filled = round(fraction * BAR_WIDTH)
        text += f"\n`{'█' * filled}{'░' * (BAR_WIDTH - filled)}` {fraction:.0%}"
    return text


def _loss_text(progress: JobProgress) -> Text:
    if progress.metrics == "unreadable":
        return _("The provider's metrics file could not be read, so there is no loss chart.")
    if progress.metrics == "none":
        return _("No training metrics yet, so no loss chart.")
    parts: list[Text] = []
    if progress.train_loss is not None:
        parts.append(_("training {loss:.3f}", loss=progress.train_loss))
    if progress.valid_loss is not None:
        parts.append(_("validation {loss:.3f}", loss=progress.valid_loss))
    losses = Lines(parts, separator=", ")
    if progress.chart is not None:
        return _("Latest: {losses}", losses=losses)
    return _("Latest: {losses} (the chart could not be drawn)", losses=losses)


def _usd(cost: float) -> str:
    return f"≈ ${cost:,.2f}" if cost >= 1 else f"≈ ${cost:.4f}"


def _lines(lines: list[str], language: str, limit: int = EMBED_FIELD) -> str:
    """Whole lines that fit in a field, newest last, saying how many were left out."""
    kept = list(lines)
    while kept and len("\n".join(kept)) > limit - 20:
        kept.pop(0)
    if not kept:
        return clip(lines[-1], limit)
    left_out = len(lines) - len(kept)
    return (localize(_("… {number} earlier", number=left_out), language) + "\n" if left_out else "") + "\n".join(kept)


def _fit(embed: discord.Embed) -> discord.Embed:
    """Within Discord's 6,000 characters for the whole embed: the longest field is cut until it fits."""
    while len(embed) > EMBED_TOTAL:
        index, longest = max(enumerate(embed.fields), key=lambda item: len(item[1].value or ""))
        excess = len(embed) - EMBED_TOTAL
        value = longest.value or ""
        if len(value) <= 20:
            break  # nothing left worth cutting (cannot happen with the fields above)
        embed.set_field_at(index, name=longest.name, value=clip(value, max(len(value) - excess, 20)), inline=longest.inline)
    return embed


def render_live_model(live: LiveModel) -> Text:
    lines: list[Text] = [_("Live support model: {model}", model=_live_value(live.model, live.shutdown_date))]
    if live.history:
        lines.append(_("History (newest first):"))
        lines += [
            # The reason is stored as it was written: the bot's own fixed reason is shown in the reader's language.
            _(
                "- `{model}` {when}{by}: {reason}",
                model=c.model,
                when=format_dt(c.activated_at, "R"),
                by=_(" by {user}", user=f"<@{c.activated_by}>") if c.activated_by and c.activated_by.isdigit() else "",
                reason=stored(c.reason),
            )
            for c in live.history
        ]
    return Lines(lines)


def _live_value(model: str, shutdown: str | None) -> Text:
    if shutdown:
        return _("`{model}` (the provider shuts it down on {date})", model=model, date=shutdown)
    return f"`{model}`"


async def setup(bot: SupportBot) -> None:
    await bot.add_cog(Training(bot))
