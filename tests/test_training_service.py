"""TrainingService against the fake provider and a real database: start once, follow, promote, survive restarts."""

from __future__ import annotations

import asyncio
import json
import os
import pickle
import signal
import tempfile
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import replace

import pytest

from bot.errors import DatasetError, TrainingError, UserError
from bot.i18n import Text, localize, stored
from bot.llm import FineTuningAPI
from bot.retrieval import Matcher
from bot.support import SupportService
from bot.teaching import TeachingService
from bot.training import JobUpdate, TrainingRequest, TrainingService
from conftest import API_KEY, READ_ONLY, ROOT, SUPPORT_PROMPT, both_engines, on_every_connection, open_storage

pytestmark = both_engines  # every test here runs on SQLite and on PostgreSQL

SAMPLE = (ROOT / "data" / "sample_dataset.jsonl").read_bytes()
EXECUTOR = ThreadPoolExecutor(max_workers=1)
REQUEST = TrainingRequest(base_model="gpt-4.1-mini-2025-04-14", started_by=42, channel_id=7)


class Announcements:
    """Collects what the service asks to be posted."""

    def __init__(self) -> None:
        self.updates: list[JobUpdate] = []

    async def __call__(self, update: JobUpdate) -> None:
        self.updates.append(update)

    @property
    def statuses(self) -> list[str]:
        return [u.job.status for u in self.updates]


async def no_progress(text: Text) -> None:
    pass


async def follow_to_end(training: TrainingService, notify: Announcements, rounds: int = 10) -> None:
    for _ in range(rounds):
        await training.check_jobs(notify)


def service_with(settings, storage, llm, finetune) -> TrainingService:
    matcher = Matcher()
    support = SupportService(storage.jobs, llm, matcher, default_model=settings.support_model, system_prompt=SUPPORT_PROMPT)
    teaching = TeachingService(storage.examples, matcher, system_prompt=SUPPORT_PROMPT)
    return TrainingService(
        storage.jobs, storage.usage, finetune, llm, support, teaching, executor=EXECUTOR,
        token_limit=settings.finetune_max_tokens,
        max_dataset_bytes=10_000_000,
        poll_interval=0.01,
    )


async def test_valid_dataset_is_uploaded_and_job_created_once(training, fake_openai):
    """The file goes up as fine-tune data and one job starts on the requested base model with a run ID."""
    progress: list[str] = []

    async def record(text: Text) -> None:
        progress.append(str(text))

    job = await training.train(SAMPLE, "sample.jsonl", REQUEST, record)

    training_file, validation_file = fake_openai.files.values()
    assert training_file["purpose"] == validation_file["purpose"] == "fine-tune"
    assert sorted(training_file["bytes"].splitlines() + validation_file["bytes"].splitlines()) == sorted(SAMPLE.splitlines())
    assert validation_file["bytes"].count(b"\n") == 2  # about 10% of 24 lines is held out
    assert list(fake_openai.jobs) == [job.id]
    created = fake_openai.jobs[job.id]
    assert created["model"] == "gpt-4.1-mini-2025-04-14" and created["metadata"]["run_id"]
    assert created["training_file"] == training_file["id"] and created["validation_file"] == validation_file["id"]
    assert "ready to train" in progress[0] and "24 examples" in progress[0]
    assert "Held out for evaluation: 2 of 24 examples" in progress[0]


async def test_job_is_followed_to_success_and_promoted(training, support, fake_openai):
    """Each status is announced once; on success the fine-tuned model answers support."""
    notify = Announcements()
    job = await training.train(SAMPLE, "sample.jsonl", REQUEST, no_progress)
    await follow_to_end(training, notify)

    assert notify.statuses == ["queued", "running", "succeeded"]
    final = notify.updates[-1]
    assert final.promoted_model == fake_openai.jobs[job.id]["fine_tuned_model"]
    assert final.previous_model == "gpt-5-mini"
    await support.answer("Can I pay with a gift card?")
    assert fake_openai.chat_requests()[-1]["model"] == final.promoted_model


async def test_failed_job_reports_the_providers_error_and_promotes_nothing(training, support, fake_openai):
    """A failed job's announcement carries the provider's message; the live model stays."""
    fake_openai.fail_job_next("Training file has 3 examples with invalid roles.")
    notify = Announcements()
    await training.train(SAMPLE, "sample.jsonl", REQUEST, no_progress)
    await follow_to_end(training, notify)

    assert notify.statuses[-1] == "failed"
    assert notify.updates[-1].job.error == "Training file has 3 examples with invalid roles."
    assert await support.live_model() == "gpt-5-mini"


async def test_unknown_status_is_reported_as_it_is(training, fake_openai):
    """A status the bot does not know (paused) is shown, not treated as failure."""
    fake_openai.job_script = ["queued", "paused"]
    notify = Announcements()
    await training.train(SAMPLE, "sample.jsonl", REQUEST, no_progress)
    await follow_to_end(training, notify)

    assert notify.statuses == ["paused"]
    assert (await training.running_job()).status == "paused"


async def test_invalid_dataset_uploads_nothing(training, fake_openai):
    """A dataset with errors raises the report and never reaches the provider."""
    with pytest.raises(DatasetError) as caught:
        await training.train(SAMPLE + b"{broken\n", "bad.jsonl", REQUEST, no_progress)
    assert "line 25: not valid JSON" in str(caught.value.message)
    assert fake_openai.requests == []


async def test_second_run_is_refused_while_a_job_is_running(training, fake_openai):
    """Only one job at a time; the refusal names the running job."""
    job = await training.train(SAMPLE, "sample.jsonl", REQUEST, no_progress)
    with pytest.raises(UserError, match=job.id):
        await training.train(SAMPLE, "sample.jsonl", REQUEST, no_progress)
    assert len(fake_openai.jobs) == 1


async def test_timeout_on_create_does_not_make_two_jobs(settings, storage, llm, fake_openai):
    """When creating the job times out after the provider made it, the job is found by its run ID."""
    finetune = FineTuningAPI.from_settings(replace(settings, model_timeout=0.3))
    training = service_with(settings, storage, llm, finetune)
    fake_openai.stall_after_handling_next(2, path="/v1/fine_tuning/jobs", method="POST")
    try:
        job = await training.train(SAMPLE, "sample.jsonl", REQUEST, no_progress)
    finally:
        await finetune.close()

    assert list(fake_openai.jobs) == [job.id]
    creates = [r for r in fake_openai.requests if r.method == "POST" and r.path == "/v1/fine_tuning/jobs"]
    assert len(creates) == 1


async def test_server_error_on_create_is_retried_once_created(settings, storage, llm, finetune, training, fake_openai):
    """A 500 before the job exists is retried and makes exactly one job."""
    fake_openai.fail_next(500, path="/v1/fine_tuning/jobs", method="POST")
    job = await training.train(SAMPLE, "sample.jsonl", REQUEST, no_progress)
    assert list(fake_openai.jobs) == [job.id]


async def test_two_processes_following_one_database_announce_each_status_once(engine, settings, llm, finetune, fake_openai):
    """Two bot processes on one PostgreSQL follow the same job: each status is posted once, the model promoted once."""
    if engine == "sqlite":
        pytest.skip("a SQLite file serves one process; several processes need PostgreSQL")
    first, second = await open_storage(settings), await open_storage(settings)
    posted = Announcements()
    followers = []
    try:
        services = [service_with(settings, storage, llm, finetune) for storage in (first, second)]
        await services[0].train(SAMPLE, "sample.jsonl", REQUEST, no_progress)
        followers = [asyncio.create_task(service.follow(posted)) for service in services]
        async with asyncio.timeout(10):
            while "succeeded" not in posted.statuses:
                await asyncio.sleep(0.01)
        await asyncio.sleep(0.2)  # time for a second post, were there one
        assert posted.statuses == ["queued", "running", "succeeded"]
        assert [str(stored(c.reason)) for c in await second.jobs.model_history()] == [
            f"fine-tuning job {posted.updates[-1].job.id} succeeded"
        ]
    finally:
        for task in followers:
            task.cancel()
        await asyncio.gather(*followers, return_exceptions=True)
        await first.close()
        await second.close()


async def test_restart_mid_job_resumes_and_announces_success_once(settings, llm, finetune, fake_openai):
    """Closing and reopening the database mid-job loses nothing and posts each status once."""
    storage = await open_storage(settings)
    training = service_with(settings, storage, llm, finetune)
    before = Announcements()
    await training.train(SAMPLE, "sample.jsonl", REQUEST, no_progress)
    await training.check_jobs(before)
    await storage.close()

    storage = await open_storage(settings)
    try:
        after = Announcements()
        await follow_to_end(service_with(settings, storage, llm, finetune), after)
        assert before.statuses == ["queued"]
        assert after.statuses == ["running", "succeeded"]
        assert await storage.jobs.live_model() == after.updates[-1].promoted_model
    finally:
        await storage.close()


async def test_dataset_from_examples_uses_sample_and_taught_examples_with_live_prompt(training, teaching, storage):
    """Without an attachment, the sample and every taught example become training lines."""
    await storage.examples.add("선물 포장 되나요?", "네, 주문서에서 선물 포장(2,000원)을 고르시면 됩니다.", author_id=5)
    lines = [json.loads(line) for line in (await teaching.export()).decode().splitlines()]

    assert len(lines) == 25
    assert all(line["messages"][0] == {"role": "system", "content": SUPPORT_PROMPT} for line in lines)
    assert lines[-1]["messages"][1:] == [
        {"role": "user", "content": "선물 포장 되나요?"},
        {"role": "assistant", "content": "네, 주문서에서 선물 포장(2,000원)을 고르시면 됩니다."},
    ]


async def test_daily_limit_is_a_plain_sentence(training, fake_openai):
    """The provider's daily_rate_limit_exceeded becomes a sentence, not a code."""
    fake_openai.fail_next(429, code="daily_rate_limit_exceeded", message="Daily rate limit exceeded.", path="/v1/fine_tuning/jobs", method="POST")
    with pytest.raises(TrainingError) as caught:
        await training.train(SAMPLE, "sample.jsonl", REQUEST, no_progress)
    assert str(caught.value.message) == "The provider's daily limit for fine-tuning jobs is reached. Try again tomorrow."


async def test_model_not_available_for_fine_tuning_is_a_plain_sentence(training, fake_openai):
    """A base model the provider cannot fine-tune is explained with the provider's words."""
    with pytest.raises(TrainingError) as caught:
        await training.train(SAMPLE, "sample.jsonl", replace(REQUEST, base_model="gpt-5-mini"), no_progress)
    assert "not available for fine-tuning" in str(caught.value.message) and "_" not in str(caught.value.message).split(":")[0]


async def test_cancel_marks_the_job_cancelled(training, fake_openai):
    """Cancelling a running job records it as cancelled and frees the way for a new run."""
    job = await training.train(SAMPLE, "sample.jsonl", REQUEST, no_progress)
    cancelled = await training.cancel(job.id)
    assert cancelled.status == "cancelled" and fake_openai.jobs[job.id]["status"] == "cancelled"
    assert await training.running_job() is None


async def test_use_model_checks_the_model_exists(training, support, fake_openai):
    """An unknown model is refused and nothing changes; a served one becomes live."""
    with pytest.raises(UserError, match="no model `nope`"):
        await training.use_model("nope", by="1")
    assert await support.live_model() == "gpt-5-mini"
    live, _ = await training.use_model("gpt-4.1-2025-04-14", by="1")
    assert live.model == "gpt-4.1-2025-04-14" == await support.live_model()


async def test_rollback_returns_to_the_previous_model(training, support):
    """Rollback goes back one step; past the first change, to the configured default."""
    await training.use_model("gpt-4.1-2025-04-14", by="1")
    await training.use_model("gpt-4o-mini-2024-07-18", by="1")
    assert (await training.rollback(by="1")).model == "gpt-4.1-2025-04-14"


async def test_rollback_from_the_first_model_returns_to_the_default(training, support):
    """With one change made, rollback returns to SUPPORT_MODEL."""
    await training.use_model("gpt-4.1-2025-04-14", by="1")
    assert (await training.rollback(by="1")).model == "gpt-5-mini" == await support.live_model()


async def test_rollback_with_no_history_changes_nothing(training, support):
    """Nothing was ever changed: rollback says so."""
    with pytest.raises(UserError, match="nothing to roll back"):
        await training.rollback(by="1")


async def test_provider_reported_shutdown_date_is_shown(training, fake_openai):
    """When the endpoint reports a shutdown date for the live model, it is part of the status."""
    fake_openai.model_extras["gpt-5-mini"] = {"shutdown_date": "2027-01-14"}
    assert (await training.live_model()).shutdown_date == "2027-01-14"


async def test_status_racing_the_follower_promotes_once(training, storage, fake_openai):
    """/status and the follower seeing success at the same moment make one promotion, announced once."""
    fake_openai.job_script = ["queued", "succeeded"]
    notify = Announcements()
    job = await training.train(SAMPLE, "sample.jsonl", REQUEST, no_progress)
    await asyncio.gather(training.check_jobs(notify), training.status(job.id))
    await follow_to_end(training, notify)

    history = await storage.jobs.model_history()
    assert [c.model for c in history] == [fake_openai.jobs[job.id]["fine_tuned_model"]]
    assert notify.statuses == ["succeeded"]


async def test_failed_lookup_after_a_timeout_does_not_create_a_second_job(settings, storage, llm, fake_openai):
    """If the provider can't say whether the timed-out job exists, the bot does not create another."""
    finetune = FineTuningAPI.from_settings(replace(settings, model_timeout=0.3))
    training = service_with(settings, storage, llm, finetune)
    fake_openai.stall_after_handling_next(2, path="/v1/fine_tuning/jobs", method="POST")
    fake_openai.fail_next(500, times=3, path="/v1/fine_tuning/jobs", method="GET")
    try:
        with pytest.raises(TrainingError, match="can't tell whether it started"):
            await training.train(SAMPLE, "sample.jsonl", REQUEST, no_progress)
    finally:
        await finetune.close()
    assert len(fake_openai.jobs) == 1


async def test_file_the_provider_cannot_process_starts_nothing(training, fake_openai):
    """A training file that ends in error is reported with the provider's reason; no job is created."""
    fake_openai.file_error_next("Invalid file format: line 3 is not a chat example")
    with pytest.raises(TrainingError, match="Invalid file format"):
        await training.train(SAMPLE, "sample.jsonl", REQUEST, no_progress)
    assert fake_openai.jobs == {}


async def test_second_train_while_one_is_starting_is_refused_at_once(training, fake_openai):
    """A /train that arrives while another is uploading is told so instead of waiting."""
    fake_openai.slow_next(0.3, path="/v1/files", method="POST")
    first = asyncio.create_task(training.train(SAMPLE, "sample.jsonl", REQUEST, no_progress))
    await asyncio.sleep(0.05)
    with pytest.raises(UserError, match="being started right now"):
        await training.train(SAMPLE, "sample.jsonl", REQUEST, no_progress)
    await first
    assert len(fake_openai.jobs) == 1


async def test_post_that_keeps_failing_is_retried_then_given_up(training, fake_openai):
    """A status post that fails is retried on the next passes, then given up so the follower moves on."""
    fake_openai.job_script = ["queued", "running"] + ["running"] * 50

    calls = []

    async def broken(update):
        calls.append(update.job.status)
        raise RuntimeError("Discord is down")

    await training.train(SAMPLE, "sample.jsonl", REQUEST, no_progress)
    for _ in range(8):
        await training.check_jobs(broken)
    assert calls.count("running") == 5


async def test_a_report_from_the_worker_process_keeps_its_lines_for_the_readers_language(settings, storage, llm, finetune, support, teaching):
    """The real worker's report comes back as lines, not English text: a Korean admin reads it in Korean, line numbers kept."""
    training = TrainingService(storage.jobs, storage.usage, finetune, llm, support, teaching, token_limit=65_536, max_dataset_bytes=10**7, poll_interval=0.01)
    try:
        with pytest.raises(DatasetError) as caught:
            await training.train(SAMPLE + b'{"messages": "oops"}\n', "bad.jsonl", REQUEST, no_progress)
    finally:
        training.close()
    assert isinstance(training._executor, ProcessPoolExecutor)
    assert localize(caught.value.message, "ko").splitlines()[:3] == ["bad.jsonl 파일은 학습에 쓸 수 없어요.", "오류 (1개):", "- 25번째 줄: 'messages'가 목록이 아니에요"]
    assert str(caught.value.message).splitlines()[2] == "- line 25: 'messages' is not a list"


async def test_validation_runs_in_a_worker_process_by_default(settings, storage, llm, finetune, support, teaching):
    """Without an executor given, datasets are validated in a separate process (the tokenizer stays out of the bot)."""
    training = TrainingService(storage.jobs, storage.usage, finetune, llm, support, teaching, token_limit=65_536, max_dataset_bytes=10**7, poll_interval=0.01)
    try:
        report = await training.validate(SAMPLE, base_model="gpt-4.1-mini-2025-04-14")
    finally:
        training.close()
    assert report.ok and report.examples == 24
    assert isinstance(training._executor, ProcessPoolExecutor)


class RecordingExecutor(ThreadPoolExecutor):
    """Runs calls in a thread, and keeps the size of each call as it would be pickled to a worker process."""

    def __init__(self) -> None:
        super().__init__(max_workers=1)
        self.pickled_sizes: list[int] = []

    def submit(self, fn, /, *args, **kwargs):
        self.pickled_sizes.append(len(pickle.dumps((fn, args, kwargs))))
        return super().submit(fn, *args, **kwargs)


async def test_dataset_reaches_the_worker_as_a_file_that_is_removed_after(storage, llm, finetune, support, teaching, tmp_path, monkeypatch):
    """A large dataset is not pickled to the validation worker (that holds the GIL), and its temporary file is deleted."""
    spills = tmp_path / "spills"
    spills.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(spills))
    executor = RecordingExecutor()
    training = TrainingService(
        storage.jobs, storage.usage, finetune, llm, support, teaching,
        token_limit=65_536, max_dataset_bytes=10**8, poll_interval=0.01, executor=executor,
    )
    large = SAMPLE * 200  # about 1 MB
    try:
        report = await training.validate(large, base_model="gpt-4.1-mini-2025-04-14")
        refused = await training.validate(b"\xff\xfe not a dataset", base_model="gpt-4.1-mini-2025-04-14")
    finally:
        executor.shutdown()
    assert report.examples == 24 * 200 and not refused.ok
    assert max(executor.pickled_sizes) < 10_000
    assert list(spills.iterdir()) == []


async def test_dataset_that_breaks_the_tokenizer_does_not_break_the_next_train(settings, storage, llm, finetune, support, teaching, fake_openai):
    """In the real worker process, a message the tokenizer refuses is a plain refusal, and the next /train works."""
    training = TrainingService(storage.jobs, storage.usage, finetune, llm, support, teaching, token_limit=65_536, max_dataset_bytes=10**7, poll_interval=0.01)
    # About 233,000 tokens in one message: over the tokenizer's own chunk limit, under any size limit.
    huge = json.dumps({"messages": [{"role": "user", "content": "1" * 700_000}, {"role": "assistant", "content": "ok"}]})
    try:
        with pytest.raises(DatasetError) as caught:
            await training.train(SAMPLE + huge.encode() + b"\n", "huge.jsonl", REQUEST, no_progress)
        assert fake_openai.requests == []
        job = await training.train(SAMPLE, "sample.jsonl", REQUEST, no_progress)
    finally:
        training.close()
    assert "Traceback" not in str(caught.value.message) and "TokenLimitError" not in str(caught.value.message)
    assert list(fake_openai.jobs) == [job.id]


async def test_validation_worker_that_died_is_replaced(settings, storage, llm, finetune, support, teaching):
    """A worker process killed mid-life costs one refusal with a plain sentence; the next dataset gets a new worker."""
    training = TrainingService(storage.jobs, storage.usage, finetune, llm, support, teaching, token_limit=65_536, max_dataset_bytes=10**7, poll_interval=0.01)
    try:
        await training.validate(SAMPLE, base_model="gpt-4.1-mini-2025-04-14")
        for pid in list(training._executor._processes):
            os.kill(pid, signal.SIGKILL)
        await asyncio.sleep(0.5)  # the pool notices its worker is gone
        with pytest.raises(DatasetError, match="validation worker stopped"):
            await training.validate(SAMPLE, base_model="gpt-4.1-mini-2025-04-14")
        report = await training.validate(SAMPLE, base_model="gpt-4.1-mini-2025-04-14")
    finally:
        training.close()
    assert report.ok and report.examples == 24


async def test_uploaded_file_holds_exactly_the_validated_lines(training, fake_openai):
    """A byte-order mark, blank lines and CRLF endings the validator skipped are not uploaded."""
    lines = SAMPLE.splitlines()
    messy = b"\xef\xbb\xbf" + b"\r\n".join(lines[:3]) + b"\r\n\r\n   \n" + b"\n\n".join(lines[3:]) + b"\n\n"
    await training.train(messy, "messy.jsonl", REQUEST, no_progress)

    training_file, validation_file = fake_openai.files.values()
    assert sorted((training_file["bytes"] + validation_file["bytes"]).splitlines(keepends=True)) == sorted(
        SAMPLE.splitlines(keepends=True)
    )


async def test_epochs_are_left_to_the_provider_unless_chosen(training, fake_openai):
    """Without a chosen number of epochs none is sent (the provider's "auto"); a chosen one is sent as is."""
    first = await training.train(SAMPLE, "sample.jsonl", REQUEST, no_progress)
    await training.cancel(first.id)
    second = await training.train(SAMPLE, "sample.jsonl", replace(REQUEST, epochs=40), no_progress)

    creates = [r.json for r in fake_openai.requests if r.method == "POST" and r.path == "/v1/fine_tuning/jobs"]
    assert "n_epochs" not in json.dumps(creates[0])
    assert fake_openai.jobs[first.id]["hyperparameters"]["n_epochs"] == "auto"
    assert creates[1]["method"]["supervised"]["hyperparameters"]["n_epochs"] == 40
    assert fake_openai.jobs[second.id]["hyperparameters"]["n_epochs"] == 40


async def test_file_the_provider_is_still_processing_is_waited_for(training, fake_openai):
    """Job creation answering "file not ready" is asked again until the file is processed; the file's status is never polled."""
    fake_openai.file_processing_polls = 3
    job = await training.train(SAMPLE, "sample.jsonl", REQUEST, no_progress)

    assert list(fake_openai.jobs) == [job.id]
    assert not [r for r in fake_openai.requests if r.method == "GET" and r.path.startswith("/v1/files/")]


async def test_file_never_ready_gives_up_within_the_bound_with_a_clear_message(training, fake_openai, monkeypatch):
    """A file the provider never finishes processing ends the wait at FILE_READY_TIMEOUT with a plain sentence; no job."""
    monkeypatch.setattr("bot.llm.FILE_READY_TIMEOUT", 0.3)
    fake_openai.file_processing_polls = 10**9
    started = asyncio.get_running_loop().time()
    with pytest.raises(TrainingError) as caught:
        await training.train(SAMPLE, "sample.jsonl", REQUEST, no_progress)

    assert asyncio.get_running_loop().time() - started < 5
    assert str(caught.value.message) == (
        "The provider had not finished processing the training file after 0.3 seconds, so no job was started. "
        "Try /train again in a few minutes."
    )
    assert fake_openai.jobs == {}


async def test_job_error_and_events_echoing_a_key_are_redacted(training, fake_openai):
    """A failed job's reason and its events are shown without a configured secret or a key-shaped string."""
    fake_openai.fail_job_next(f"Could not read the file with key {API_KEY}; header was Bearer sk-proj-Zx81abcdef.")
    notify = Announcements()
    job = await training.train(SAMPLE, "sample.jsonl", REQUEST, no_progress)
    await follow_to_end(training, notify)
    status = await training.status(job.id)

    assert notify.updates[-1].job.error == "Could not read the file with key [redacted]; header was Bearer [redacted]."
    shown = [status.job.error] + [e.message for e in status.events]
    assert not any(API_KEY in text or "sk-proj" in text for text in shown)
    assert any("[redacted]" in e.message for e in status.events)


async def test_job_started_but_not_recorded_is_followed_after_restart(engine, settings, llm, finetune, fake_openai, monkeypatch):
    """The database failing right after the provider started the job: the admin is told it started, and it is followed."""
    storage = await open_storage(settings)
    create_job = finetune.create_job

    async def create_then_break_the_database(**kwargs):
        job = await create_job(**kwargs)
        await on_every_connection(storage, READ_ONLY[engine])
        return job

    monkeypatch.setattr(finetune, "create_job", create_then_break_the_database)
    try:
        job = await service_with(settings, storage, llm, finetune).train(SAMPLE, "sample.jsonl", REQUEST, no_progress)
    finally:
        await on_every_connection(storage, None)
        await storage.close()

    storage = await open_storage(settings)
    try:
        notify = Announcements()
        await follow_to_end(service_with(settings, storage, llm, finetune), notify)
        assert list(fake_openai.jobs) == [job.id]
        assert [u.job.id for u in notify.updates] == [job.id] * len(notify.updates)
        assert notify.statuses[-1] == "succeeded"
        assert await storage.jobs.live_model() == notify.updates[-1].promoted_model
    finally:
        await storage.close()


async def test_run_that_cannot_be_recorded_starts_no_job(engine, training, storage, fake_openai):
    """With the database refusing writes, /train fails before the provider creates (and bills) a job."""
    await on_every_connection(storage, READ_ONLY[engine])
    try:
        with pytest.raises(UserError):
            await training.train(SAMPLE, "sample.jsonl", REQUEST, no_progress)
    finally:
        await on_every_connection(storage, None)
    assert fake_openai.jobs == {}


async def test_run_the_provider_never_started_is_given_up_quietly(training, storage, fake_openai, monkeypatch):
    """A stored run with no job at the provider, past the grace time, is closed without an announcement and frees /train."""
    await storage.jobs.add_pending(run_id="lost-run", base_model=REQUEST.base_model, training_file="file-x", started_by=42, channel_id=7)
    notify = Announcements()
    await training.check_jobs(notify)
    assert (await training.running_job()).run_id == "lost-run"  # within the grace time another process may be creating it

    monkeypatch.setattr("bot.training.START_GRACE_SECONDS", 0.0)
    await training.check_jobs(notify)
    assert notify.updates == [] and await training.running_job() is None
    job = await training.train(SAMPLE, "sample.jsonl", REQUEST, no_progress)
    assert list(fake_openai.jobs) == [job.id]


async def test_train_checks_examples_against_the_chosen_base_models_limit(training):
    """/train validates with the limit of the model being fine-tuned, not one global number."""
    long_line = json.dumps({"messages": [
        {"role": "user", "content": "word " * 5_000},
        {"role": "assistant", "content": "short answer"},
    ]})
    lines = "\n".join([long_line] + [line for line in SAMPLE.decode().splitlines()[:12]]).encode()
    small = await training.validate(lines, base_model="gpt-3.5-turbo-0613")
    large = await training.validate(lines, base_model="gpt-4.1-mini-2025-04-14")
    assert "4,096" in str(small.render("shop.jsonl"))
    assert "4,096" not in str(large.render("shop.jsonl")) and large.ok


async def test_a_run_the_provider_has_not_confirmed_cannot_be_cancelled_by_its_placeholder(training, storage, fake_openai):
    await storage.jobs.add_pending(
        run_id="run-abc", base_model="gpt-4.1-mini-2025-04-14", training_file="file-1", started_by=42, channel_id=7
    )
    pending = await storage.jobs.get()
    with pytest.raises(UserError, match="hasn't confirmed yet"):
        await training.cancel(pending.id)
    assert [r for r in fake_openai.requests if r.path.endswith("/cancel")] == []
