"""TrainingService: dataset -> validation -> upload -> job -> following it -> promotion of the new model."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import io
import logging
import multiprocessing
import tempfile
import uuid
from concurrent.futures import BrokenExecutor, Executor, ProcessPoolExecutor
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from bot.config import Settings
from bot.dataset import DatasetReport, validate_dataset
from bot.evaluation import TAUGHT_ONLY, Comparison, Evaluator, Report, split_dataset
from bot.tokens import encoding_for
from bot.errors import DatasetError, UserError
from bot.i18n import N_, Lines, Text, _, dump
from bot.llm import LLM, Checkpoint, FineTuningAPI, JobEvent, JobMayExist, RemoteJob
from bot.metrics import parse_metrics_csv, render_loss_chart, rows_from_events
from bot.records import EvalQuestion, SupportModelChange, TrainingJob, Usage, utcnow
from bot.storage import JobStore, UsageStore
from bot.storage.jobs import AWAITING, KEPT, PENDING, PROMOTED, STARTING
from bot.support import SupportService
from bot.teaching import TeachingService
from bot.usage import DEFAULT_PRICES, estimate_cost, parse_prices

log = logging.getLogger(__name__)

# Kept in the database as written, and looked up in the reader's language when shown.
NEVER_STARTED = N_("The provider never started this run")  # shown inside a sentence: no full stop
SET_BY_ADMIN = N_("set with /model use")

Progress = Callable[[Text], Awaitable[None]]  # a step of /train, localized where it is shown
MAX_POST_ATTEMPTS = 5  # a status post that keeps failing (channel gone) is given up on
# A stored run with no job at the provider this long after it started was never created (another process
# may still be creating it before that).
START_GRACE_SECONDS = 600.0
EVALUATION_ATTEMPTS = 3  # a candidate that cannot be evaluated this many times is left for an admin to decide
# Events read for /status: enough to hold the newest status messages among a run's per-step metrics events.
STATUS_EVENTS = 100
SHOWN_EVENTS = 5


# A job's status as admins read it; a status the provider adds later is shown as it comes.
STATUS_NAMES: dict[str, Text] = {
    STARTING: _("starting"),
    "validating_files": _("validating files"),
    "queued": _("queued"),
    "running": _("running"),
    "paused": _("paused"),
    "succeeded": _("succeeded"),
    "failed": _("failed"),
    "cancelled": _("cancelled"),
}


def status_name(status: str) -> Text:
    return STATUS_NAMES.get(status) or status.replace("_", " ")


@dataclass(frozen=True)
class TrainingRequest:
    base_model: str
    started_by: int
    channel_id: int | None
    epochs: int | None = None
    suffix: str | None = None


@dataclass(frozen=True)
class JobUpdate:
    """A status change to announce where the job was started."""

    job: TrainingJob
    promoted_model: str | None = None
    previous_model: str | None = None
    comparison: Comparison | None = None  # the candidate against the live model, on the held-out questions
    awaiting: bool = False  # the new model is not live: an admin decides (Promote anyway / Keep current)


@dataclass(frozen=True)
class JobProgress:
    """How far a job has come, from the provider's metrics; every part is None when it does not say."""

    step: int | None = None
    total_steps: int | None = None
    remaining: timedelta | None = None
    train_loss: float | None = None  # at the newest step that has one
    valid_loss: float | None = None
    metrics: str = "none"  # "none" (not reported yet), "ok", or "unreadable" (a result file that does not parse)
    chart: bytes | None = None  # PNG of the loss by step, when there are metrics and it could be drawn

    @property
    def fraction(self) -> float | None:
        if self.step is None or not self.total_steps:
            return None
        return min(max(self.step / self.total_steps, 0.0), 1.0)


@dataclass(frozen=True)
class JobStatus:
    job: TrainingJob
    events: list[JobEvent]
    live_model: str
    live_model_shutdown: str | None
    progress: JobProgress = field(default_factory=JobProgress)
    checkpoints: list[Checkpoint] = field(default_factory=list)
    cost: float | None = None  # USD for the trained tokens, at PRICES
    evaluation: Report | None = None  # the latest evaluation report of any model


@dataclass(frozen=True)
class EvaluationPlan:
    model: str | None  # None: the taught answers alone
    questions: list[EvalQuestion]
    estimated_cost: float | None

    @property
    def name(self) -> str:
        return self.model or TAUGHT_ONLY


@dataclass(frozen=True)
class LiveModel:
    model: str
    shutdown_date: str | None
    history: list[SupportModelChange]


Notify = Callable[[JobUpdate], Awaitable[None]]


class TrainingService:
    def __init__(
        self,
        jobs: JobStore,
        usage: UsageStore,
        finetune: FineTuningAPI,
        llm: LLM,
        support: SupportService,
        teaching: TeachingService,
        *,
        token_limit: int | None,
        max_dataset_bytes: int,
        poll_interval: float,
        executor: Executor | None = None,
        evaluator: Evaluator | None = None,
        promote: str = "if-better",
        prices: dict[str, tuple[float, float]] | None = None,
    ) -> None:
        self._jobs = jobs
        self._evaluator = evaluator
        self._promote = promote
        self._usage = usage
        self._finetune = finetune
        self._llm = llm
        self._support = support
        self._teaching = teaching
        self._token_limit = token_limit
        self._max_dataset_bytes = max_dataset_bytes
        self.poll_interval = poll_interval
        self._executor = executor
        self._own_executor: Executor | None = None
        self._starting = asyncio.Lock()
        self._failed_posts: dict[tuple[str, str], int] = {}
        self._posted: set[tuple[str, str]] = set()
        self._prices = prices if prices is not None else dict(DEFAULT_PRICES)

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        jobs: JobStore,
        usage: UsageStore,
        finetune: FineTuningAPI,
        llm: LLM,
        support: SupportService,
        teaching: TeachingService,
        *,
        executor: Executor | None = None,
        evaluator: Evaluator | None = None,
    ) -> TrainingService:
        return cls(
            jobs,
            usage,
            finetune,
            llm,
            support,
            teaching,
            token_limit=settings.finetune_max_tokens,
            max_dataset_bytes=int(settings.max_dataset_mb * 1_000_000),
            poll_interval=settings.job_poll_seconds,
            executor=executor,
            evaluator=evaluator,
            promote=settings.promote,
            prices=parse_prices(settings.prices),
        )

    # -- starting a run ----------------------------------------------------------------

    async def train(self, dataset: bytes | None, filename: str | None, request: TrainingRequest, progress: Progress) -> RemoteJob:
        """Validate, upload and start one job, telling `progress` each step; the shop's examples when no file."""
        if self._starting.locked():
            raise UserError(_("Another `/train` is being started right now. Wait for it, then check `/status`."))
        async with self._starting:  # two /train at once must not both pass the running-job check
            running = await self.running_job()
            if running is not None:
                raise UserError(
                    _("Job `{job}` is still {status}. Wait for it to finish or `/cancel` it first.", job=running.id, status=status_name(running.status))
                )
            if dataset is None:
                # The examples library: the seeded sample and what staff taught, with the live system prompt.
                dataset, filename = await self._teaching.export(), "shop-examples.jsonl"
            filename = filename or "dataset.jsonl"
            if len(dataset) > self._max_dataset_bytes:
                raise DatasetError(
                    _("{file} is {size:.1f} MB; the limit is {limit:.0f} MB.", file=filename, size=len(dataset) / 1e6, limit=self._max_dataset_bytes / 1e6)
                )
            report = await self.validate(dataset, base_model=request.base_model, epochs=request.epochs)
            if not report.ok:
                raise DatasetError(report.render(filename))
            tests = await self._evaluator.store.test_questions() if self._evaluator is not None else []
            lines = await asyncio.to_thread(validated_lines, dataset)
            split = await asyncio.to_thread(split_dataset, lines, never_train=[q.question for q in tests])
            await progress(Lines([report.render(filename), split.render(), _("Uploading…")]))
            file_id = await self._finetune.upload(split.training, filename)
            validation_id = await self._finetune.upload(split.validation, f"held-out-{filename}") if split.held_out else None
            run_id = uuid.uuid4().hex
            # The run is stored before the job exists: if the database refuses, nothing is started (nor billed),
            # and a job the provider starts can always be found again by this run ID (see _reconcile).
            await self._jobs.add_pending(
                run_id=run_id,
                base_model=request.base_model,
                training_file=file_id,
                validation_file=validation_id,
                started_by=request.started_by,
                channel_id=request.channel_id,
            )
            try:
                if self._evaluator is not None:
                    await self._evaluator.store.save_held_out(run_id, split.held_out)
                job = await self._finetune.create_job(
                    base_model=request.base_model,
                    training_file=file_id,
                    validation_file=validation_id,
                    run_id=run_id,
                    epochs=request.epochs,  # none chosen: the provider picks ("auto")
                    suffix=request.suffix,
                )
            except UserError as exc:
                if not isinstance(exc, JobMayExist):
                    with contextlib.suppress(UserError):  # left behind, it is given up on by _reconcile
                        await self._jobs.discard_pending(run_id)
                raise
            try:
                await self._jobs.attach(run_id, job_id=job.id, status=job.status)
            except UserError:
                # The job runs and is billed: it is found by its run ID at the next check and followed from there.
                log.warning("job %s started but not yet recorded; it will be matched to run %s at the next check", job.id, run_id)
            log.info("started fine-tuning job %s on %s (%s examples)", job.id, request.base_model, report.examples)
            return job

    async def validate(self, dataset: bytes, *, base_model: str, epochs: int | None = None) -> DatasetReport:
        """Validation is CPU-heavy and needs the tokenizer's tables: it runs in a worker process.

        The dataset goes to the worker as a file: passed as bytes, it would be pickled in one call that holds
        the GIL (about 30 ms for 60 MB, much longer on a busy host), stalling the event loop all that time.
        """
        path = await asyncio.to_thread(_spill, dataset)
        try:
            return await self._validate_file(path, base_model=base_model, epochs=epochs)
        finally:
            await asyncio.to_thread(path.unlink, missing_ok=True)

    async def _validate_file(self, path: Path, *, base_model: str, epochs: int | None) -> DatasetReport:
        check = functools.partial(
            _validate_in_worker,
            path,
            token_limit=self._token_limit,
            base_model=base_model,
            encoding=encoding_for(base_model),
            epochs=epochs,
            check_confusable=True,
        )
        if self._executor is None:
            # One worker, started on first use and kept: the tables load once, outside the bot's memory.
            self._executor = self._own_executor = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"))
        executor = self._executor
        try:
            return await asyncio.get_running_loop().run_in_executor(executor, check)
        except ValidatorCrashed as exc:
            log.error("the dataset validator failed: %s", exc)
            raise DatasetError(
                _(
                    "The dataset could not be checked: the validator stopped on it. Nothing was uploaded. "
                    "A very long message is the usual cause; shorten or split it and try again."
                )
            ) from None
        except BrokenExecutor:
            # The worker died (killed, out of memory): start a new one next time instead of failing for good.
            log.exception("the dataset validation worker stopped; a new one starts with the next dataset")
            self._replace_broken(executor)
            raise DatasetError(
                _(
                    "The dataset could not be checked: the validation worker stopped. Nothing was uploaded. "
                    "Try again; if it happens again with this file, shorten its longest messages."
                )
            ) from None

    def _replace_broken(self, broken: Executor) -> None:
        broken.shutdown(wait=False, cancel_futures=True)
        if self._executor is broken:
            self._executor = None  # the next validation starts a worker of its own
        if self._own_executor is broken:
            self._own_executor = None

    def close(self) -> None:
        """Stop the worker this service started; an executor it was given belongs to the caller."""
        if self._own_executor is not None:
            self._own_executor.shutdown(wait=False, cancel_futures=True)

    async def running_job(self) -> TrainingJob | None:
        latest = await self._jobs.get()
        return latest if latest is not None and not latest.finished else None

    # -- following jobs ----------------------------------------------------------------

    async def follow(self, notify: Notify) -> None:
        """Follow every unfinished job until cancelled; survives restarts because the jobs are in the database.

        With several processes on one database, one at a time checks, so each change is announced once.
        """
        while True:
            try:
                async with self._jobs.following() as leading:
                    if leading:
                        await self.check_jobs(notify)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("checking fine-tuning jobs failed; trying again in %ss", self.poll_interval)
            await asyncio.sleep(self.poll_interval)

    async def check_jobs(self, notify: Notify) -> None:
        """One pass: fetch each followed job, record and announce any change, promote on success."""
        for job in await self._jobs.to_follow():
            if job.status == STARTING:
                found = await self._reconcile(job)
                if found is None:
                    continue
                job = found
            if not job.finished:
                try:
                    remote = await self._finetune.retrieve(job.id)
                except UserError as exc:
                    log.warning("could not check job %s: %s", job.id, exc.message)
                    continue
                job = await self._record(job, remote)
            if job.status == "succeeded" and job.promotion == PENDING:
                job = await self._settle(job)
                if job.promotion == PENDING:
                    continue  # evaluation failed this time: announced once it is decided
            if job.reported_status != job.status:
                await self._announce(job, notify)

    async def _reconcile(self, job: TrainingJob) -> TrainingJob | None:
        """A run stored without its job (the job's write failed, or the process stopped): find the job by run ID.

        Found, it is followed from now on; not found well after it was started, the run is given up on.
        """
        if self._starting.locked():
            return None  # this process is starting a run now: it records its own job
        try:
            remote = await self._finetune.find_by_run_id(job.run_id)
        except UserError as exc:
            log.warning("could not look for the job of run %s: %s", job.run_id, exc.message)
            return None
        if remote is not None:
            if await self._jobs.attach(job.run_id, job_id=remote.id, status=remote.status):
                log.warning("job %s of run %s was started but not recorded; following it now", remote.id, job.run_id)
            attached = await self._jobs.get(remote.id)
            # Found finished (it ran while unrecorded): its model and result are recorded now, as a check would.
            return await self._record(attached, remote) if attached is not None else None
        if (utcnow() - job.created_at).total_seconds() > START_GRACE_SECONDS:
            log.warning("run %s has no job at the provider; giving it up", job.run_id)
            await self._jobs.give_up_pending(job.run_id, error=NEVER_STARTED)
        return None

    async def _record(self, job: TrainingJob, remote: RemoteJob) -> TrainingJob:
        if (remote.status, remote.fine_tuned_model, remote.error) == (job.status, job.fine_tuned_model, job.error):
            return job
        changed = await self._jobs.update(
            job.id,
            was=job.status,
            status=remote.status,
            fine_tuned_model=remote.fine_tuned_model,
            error=remote.error,
            trained_tokens=remote.trained_tokens,
            finished_at=remote.finished_at,
        )
        if changed and remote.status == "succeeded":
            log.info("job %s succeeded with %s; evaluating it before it answers support", job.id, remote.fine_tuned_model)
        if changed and remote.status == "succeeded" and remote.trained_tokens:
            await self._usage.record(
                Usage(job.base_model, "training", remote.trained_tokens, 0, user_id=job.started_by)
            )
        return await self._jobs.get(job.id) or job

    async def _settle(self, job: TrainingJob) -> TrainingJob:
        """Evaluate a succeeded job's model against the live one and promote it, or leave it for an admin.

        After a restart mid-evaluation, the job is still "pending" and is evaluated again; the promotion itself
        is one compare-and-set, so the model is made live at most once.
        """
        outcome, reason = PROMOTED, _("fine-tuning job {job} succeeded", job=job.id)
        if self._evaluator is not None and self._promote != "always":
            comparison = await self._evaluate_candidate(job)
            if comparison is None:
                return job
            if self._promote == "never" or not comparison.at_least_as_good:
                outcome = AWAITING
            else:
                reason = Lines([reason, evaluated(comparison)], separator="; ")
        elif self._evaluator is not None:
            await self._evaluate_candidate(job)  # PROMOTE=always: measured for the post, promoted either way
        if await self._jobs.settle(job.id, outcome, was=(PENDING,), by=str(job.started_by), reason=dump(reason)):
            log.info("job %s: %s %s", job.id, job.fine_tuned_model, "is now live" if outcome == PROMOTED else "awaits an admin")
        return await self._jobs.get(job.id) or job

    async def _evaluate_candidate(self, job: TrainingJob) -> Comparison | None:
        """The candidate and the live model on the same questions; None to try again at the next check.

        Attempts are counted in the database before they start, so a failing evaluation (or one the process
        keeps dying in) is paid for at most EVALUATION_ATTEMPTS times; then an admin decides, unmeasured.
        """
        assert self._evaluator is not None and job.fine_tuned_model
        evaluator = self._evaluator
        attempt = await self._jobs.begin_evaluation(job.id)
        if attempt <= EVALUATION_ATTEMPTS:
            try:
                questions = await evaluator.questions(job.run_id)
                live = await self._support.live_model()
                return await evaluator.compare(job.fine_tuned_model, live, questions, job_id=job.id)
            except UserError as exc:
                log.warning("could not evaluate job %s's model (attempt %s of %s): %s", job.id, attempt, EVALUATION_ATTEMPTS, exc.message)
            except Exception:
                log.exception("evaluating job %s's model failed (attempt %s of %s)", job.id, attempt, EVALUATION_ATTEMPTS)
            if attempt < EVALUATION_ATTEMPTS:
                return None
        log.warning("job %s's model could not be evaluated; an admin decides", job.id)
        return Comparison(Report(job.fine_tuned_model, []), Report(await self._support.live_model(), []))

    async def _comparison(self, job: TrainingJob) -> Comparison | None:
        if self._evaluator is None:
            return None
        reports = {r.model: r for r in await self._evaluator.latest(job.id)}
        candidate = reports.pop(job.fine_tuned_model or "", None)
        if candidate is None or not reports:
            return None
        return Comparison(candidate, next(iter(reports.values())))

    async def decide(self, job_id: str, *, promote: bool, by: int, channel_id: int | None = None) -> TrainingJob:
        """An admin's answer to a candidate that was not promoted automatically, given where its post is."""
        job = await self._jobs.get(job_id)
        if job is None or job.promotion not in (AWAITING, PROMOTED, KEPT) or (channel_id and channel_id != job.channel_id):
            raise UserError(_("Job `{job}` has no model waiting for a decision here.", job=job_id))
        if promote and job.promotion == AWAITING:
            newest = await self._jobs.model_history(1)
            if newest and newest[0].activated_at > job.updated_at:
                raise UserError(
                    _(
                        "`{live}` went live after this evaluation; nothing changed. "
                        "`/evaluate model:{model}` measures it again, and `/model use` makes it live.",
                        live=newest[0].model,
                        model=job.fine_tuned_model,
                    )
                )
        outcome = PROMOTED if promote else KEPT
        reason = dump(_("promoted anyway from job {job}", job=job_id)) if promote else ""
        if not await self._jobs.settle(job_id, outcome, was=(AWAITING,), by=str(by), reason=reason):
            current = await self._jobs.get(job_id) or job
            if current.promotion == PROMOTED:
                raise UserError(_("`{model}` was already made live; nothing changed.", model=job.fine_tuned_model))
            raise UserError(_("`{model}` was already kept out; nothing changed.", model=job.fine_tuned_model))
        return await self._jobs.get(job_id) or job

    async def plan_evaluation(self, model: str | None) -> EvaluationPlan:
        """`/evaluate`'s questions and estimated cost: the latest run's held-out questions (without a run, some of
        the taught examples, left out of the guidance while they are asked) and staff's test questions.

        `model` None is the live model; "taught" is the taught answers alone, without a model.
        """
        if self._evaluator is None:
            raise UserError(_("Evaluation is not set up here."))
        chosen: str | None = (model or await self._support.live_model()).strip()
        if chosen.casefold() in ("taught", TAUGHT_ONLY):
            chosen = None
        elif not self._llm.available:
            raise UserError(_("Evaluating a model needs an API key; `/evaluate model:taught` measures the taught answers alone."))
        elif await self._llm.model_info(chosen) is None:
            raise UserError(_("The model endpoint has no model `{model}`.", model=chosen))
        latest = await self._jobs.get()
        held = await self._evaluator.store.held_out(latest.run_id) if latest else []
        tests = await self._evaluator.store.test_questions()
        if not held:
            library = await self._teaching.export()
            held = (await asyncio.to_thread(split_dataset, library, never_train=[q.question for q in tests])).held_out
        questions = self._evaluator.bounded(tests + held)
        if not questions:
            raise UserError(
                _(
                    "There is nothing to evaluate on yet: teach two or more phrasings of an answer, or add test "
                    "questions with `/examples add-test`."
                )
            )
        cost = self._evaluator.estimate(chosen, questions) if chosen else 0.0
        return EvaluationPlan(chosen, questions, cost)

    async def evaluate(self, plan: EvaluationPlan, *, by: int) -> Report:
        assert self._evaluator is not None
        return await self._evaluator.evaluate(plan.model, plan.questions, requested_by=by)

    async def _announce(self, job: TrainingJob, notify: Notify) -> None:
        if (job.id, job.status) in self._posted:
            await self._mark_reported(job)  # posted before, but the record of it failed: don't post twice
            return
        update = JobUpdate(job)
        if job.status == "succeeded":
            comparison = await self._comparison(job)
            if job.promotion == PROMOTED:
                previous = self._previous_model(await self._jobs.model_history(2))
                update = JobUpdate(job, promoted_model=job.fine_tuned_model, previous_model=previous, comparison=comparison)
            else:
                update = JobUpdate(job, comparison=comparison, awaiting=job.promotion == AWAITING)
        try:
            await notify(update)
        except Exception:
            failures = self._failed_posts[(job.id, job.status)] = self._failed_posts.get((job.id, job.status), 0) + 1
            if failures < MAX_POST_ATTEMPTS:
                log.warning("could not announce job %s status %s (attempt %s); will retry", job.id, job.status, failures)
                return
            log.exception("giving up announcing job %s status %s", job.id, job.status)
        self._posted.add((job.id, job.status))
        await self._mark_reported(job)

    async def _mark_reported(self, job: TrainingJob) -> None:
        try:
            await self._jobs.mark_reported(job.id, job.status)
        except UserError:
            pass  # storage unavailable (already logged); the in-memory record stops a second post

    def _previous_model(self, newest_first: list[SupportModelChange]) -> str:
        """The model live before the newest change: the one before it, or the configured default."""
        return newest_first[1].model if len(newest_first) > 1 else self._support.default_model

    # -- status, cancel, the live model ------------------------------------------------

    async def status(self, job_id: str | None = None) -> JobStatus:
        job = await self._jobs.get(job_id)
        if job is None:
            raise UserError(
                _("No fine-tuning job `{job}` was started from here.", job=job_id) if job_id else _("No fine-tuning job was started yet. Use `/train`.")
            )
        if job.status == STARTING:
            job = await self._reconcile(job) or job
        events: list[JobEvent] = []
        if job.status == STARTING:
            live = await self.live_model()
            return JobStatus(job, events, live.model, live.shutdown_date)
        remote = None
        try:
            remote = await self._finetune.retrieve(job.id)  # a finished job too: its result files are on it
            if not job.finished:
                job = await self._record(job, remote)
            events = await self._finetune.events(job.id, limit=STATUS_EVENTS)
        except UserError as exc:
            log.warning("status of job %s is from the database only: %s", job.id, exc.message)
        progress = await self._progress(job, remote, events)
        checkpoints = await self._checkpoints(job) if remote is not None else []
        cost = estimate_cost(self._prices, job.base_model, "training", job.trained_tokens, 0) if job.trained_tokens else None
        live = await self.live_model()
        latest = await self._evaluator.latest() if self._evaluator is not None else []
        return JobStatus(
            job, _shown_events(events), live.model, live.shutdown_date, progress, checkpoints, cost, latest[0] if latest else None
        )

    async def _progress(self, job: TrainingJob, remote: RemoteJob | None, events: list[JobEvent]) -> JobProgress:
        """Step, remaining time, latest losses and the loss chart, from the result file or else the metrics events."""
        metric_events = sorted(
            (e for e in events if e.type == "metrics" and _whole(e.data.get("step")) is not None), key=lambda e: _whole(e.data["step"])
        )
        rows = rows_from_events(e.data for e in metric_events)
        state = "ok" if rows else "none"
        if remote is not None and remote.result_files:
            try:
                raw = await self._finetune.result_file(remote.result_files[0])
                from_file = await asyncio.to_thread(parse_metrics_csv, raw)  # a long run's file is megabytes
            except UserError as exc:
                log.warning("could not read job %s's result file: %s", job.id, exc.message)
                from_file = []
            if from_file:
                rows, state = from_file, "ok"  # the whole run, where the events page holds only the newest steps
            elif not rows:
                state = "unreadable"
                log.warning("job %s's result file %s has no metrics that can be read", job.id, remote.result_files[0])
        step = rows[-1].step if rows else None
        total = None
        if metric_events:
            newest = metric_events[-1].data
            total = _whole(newest.get("total_steps")) or None
            step = max(step or 0, _whole(newest["step"]))
        if job.status == "succeeded" and total is None and step is not None:
            total = step
        chart = None
        if rows:
            try:
                # The chart's words stay English whatever the reader's language: matplotlib's fonts have no Hangul.
                chart = await asyncio.to_thread(render_loss_chart, rows, f"Loss, job {job.id}")
            except Exception:
                log.exception("could not draw the loss chart of job %s", job.id)
        return JobProgress(
            step=step,
            total_steps=total,
            remaining=_remaining(job, remote, metric_events, step, total),
            train_loss=next((r.train_loss for r in reversed(rows) if r.train_loss is not None), None),
            valid_loss=next((r.valid_loss for r in reversed(rows) if r.valid_loss is not None), None),
            metrics=state,
            chart=chart,
        )

    async def _checkpoints(self, job: TrainingJob) -> list[Checkpoint]:
        try:
            return await self._finetune.checkpoints(job.id)
        except UserError as exc:
            log.warning("could not list job %s's checkpoints: %s", job.id, exc.message)
            return []

    async def cancel(self, job_id: str) -> TrainingJob:
        job = await self._jobs.get(job_id)
        if job is None:
            raise UserError(_("No fine-tuning job `{job}` was started from here.", job=job_id))
        if job.finished:
            raise UserError(_("Job `{job}` has already {status}.", job=job_id, status=status_name(job.status)))
        if job.status == STARTING:
            raise UserError(
                _("`{job}` is a run the provider hasn't confirmed yet; once its job appears in /status, cancel that job ID.", job=job_id)
            )
        remote = await self._finetune.cancel(job_id)
        return await self._record(job, remote)

    async def live_model(self) -> LiveModel:
        model = await self._support.live_model()
        shutdown = None
        if self._llm.available:
            try:
                info = await self._llm.model_info(model)
                shutdown = info.shutdown_date if info else None
            except UserError:
                pass  # the date is a courtesy; the answer stands without it
        return LiveModel(model, shutdown, await self._jobs.model_history())

    async def use_model(self, model: str, *, by: str, evaluate_first: bool = False) -> tuple[LiveModel, Comparison | None]:
        """Make any model the endpoint serves (a checkpoint's too) live for support.

        With `evaluate_first`, only when it does at least as well as the live model on `/evaluate`'s questions;
        otherwise nothing changes and the UserError carries the comparison.
        """
        model = model.strip()
        if await self._llm.model_info(model) is None:
            raise UserError(_("The model endpoint has no model `{model}`; nothing was changed.", model=model))
        comparison = None
        reason: Text = SET_BY_ADMIN
        if evaluate_first:
            assert self._evaluator is not None
            plan = await self.plan_evaluation(model)
            live = await self._support.live_model()
            comparison = await self._evaluator.compare(model, live, plan.questions, requested_by=_user(by))
            if not comparison.at_least_as_good:
                refused = _("`{model}` did not do at least as well as `{live}`, so nothing was changed.", model=model, live=live)
                raise UserError(Lines([refused, comparison.render()]))
            reason = Lines([reason, evaluated(comparison)], separator="; ")
        await self._jobs.set_live_model(model, by=by, reason=dump(reason))
        return await self.live_model(), comparison

    async def rollback(self, *, by: str) -> LiveModel:
        """Return to the model that was live before the current one (the configured default at the start)."""
        history = await self._jobs.model_history(2)
        if not history:
            raise UserError(_("`{model}` has been live all along; there is nothing to roll back to.", model=self._support.default_model))
        previous = self._previous_model(history)
        await self._jobs.set_live_model(previous, by=by, reason=dump(_("rollback from {model}", model=history[0].model)))
        return await self.live_model()


class ValidatorCrashed(Exception):
    """The validator raised: its message only, as a plain string, so it always travels back from the worker."""


def _spill(dataset: bytes) -> Path:
    """The dataset in a temporary file, for the worker to read (the caller deletes it)."""
    with tempfile.NamedTemporaryFile(prefix="dataset-", suffix=".jsonl", delete=False) as file:
        file.write(dataset)
    return Path(file.name)


def _validate_in_worker(path: Path, **options) -> DatasetReport:
    # An exception from a library (the tokenizer's) may not unpickle in the bot's process, which
    # would mark the whole pool broken; only a plain exception leaves the worker.
    try:
        return validate_dataset(path.read_bytes(), **options)
    except Exception as exc:
        raise ValidatorCrashed(f"{type(exc).__module__}.{type(exc).__qualname__}: {exc}") from None


def validated_lines(dataset: bytes) -> bytes:
    """The lines the validator read, as it read them: no byte-order mark, no blank lines, one example per line."""
    body = dataset.removeprefix(b"\xef\xbb\xbf")
    lines = (raw.decode("utf-8") for raw in io.BytesIO(body))  # split as validate_dataset splits
    return b"".join(line.strip(" \t\r\n").encode("utf-8") + b"\n" for line in lines if line.strip())


def _shown_events(events: list[JobEvent]) -> list[JobEvent]:
    """The newest status messages; per-step metrics events only when there is nothing else."""
    messages = [e for e in events if e.type != "metrics"]
    return (messages or events)[-SHOWN_EVENTS:]


def _remaining(
    job: TrainingJob, remote: RemoteJob | None, metric_events: list[JobEvent], step: int | None, total: int | None
) -> timedelta | None:
    """The provider's own estimate when it gives one, else the pace of the steps so far carried to the last step."""
    if job.finished:
        return None
    if remote is not None and remote.estimated_finish is not None:
        return max(remote.estimated_finish - utcnow(), timedelta(0))
    if step is None or total is None or len(metric_events) < 2:
        return None
    first, last = metric_events[0], metric_events[-1]
    steps = _whole(last.data["step"]) - _whole(first.data["step"])
    seconds = (last.created_at - first.created_at).total_seconds()
    if steps <= 0 or seconds <= 0:
        return None
    return timedelta(seconds=seconds / steps * max(total - step, 0))


def _whole(value: object) -> int | None:
    """A step count from event data: an int, or a float with nothing after the point (never a bool)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or value != value or value in (float("inf"), float("-inf")):
        return None
    return int(value) if value == int(value) else None


def _user(by: str) -> int | None:
    return int(by) if by.isdigit() else None


def elapsed(since: datetime, until: datetime | None = None) -> Text:
    return duration(((until or utcnow()) - since).total_seconds())


def duration(seconds: float) -> Text:
    seconds = int(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes = rest // 60
    if hours:
        return _("{hours}h {minutes:02d}m", hours=hours, minutes=minutes)
    return _("{minutes}m {seconds:02d}s", minutes=minutes, seconds=seconds % 60)


def evaluated(comparison: Comparison) -> Text:
    """What a promotion's evaluation found, kept with the model's history."""
    return _("evaluated {candidate} against {live}", candidate=comparison.candidate.summary(), live=comparison.live.summary())
