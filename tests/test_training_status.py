"""TrainingService.status against the fake provider: progress, remaining time, cost, the loss chart, checkpoints."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest

from bot.training import TrainingRequest
from conftest import ROOT, both_engines
from test_metrics import png_size

pytestmark = both_engines  # every test here runs on SQLite and on PostgreSQL

SAMPLE = (ROOT / "data" / "sample_dataset.jsonl").read_bytes()
REQUEST = TrainingRequest(base_model="gpt-4.1-mini-2025-04-14", started_by=42, channel_id=7)
RUNNING = ["queued", "running"] + ["running"] * 1000
LOSSES = [{"step": step, "train_loss": 3.0 / step, "valid_loss": 3.3 / step if step % 5 == 0 else None} for step in range(1, 11)]


async def no_progress(text: str) -> None:
    pass


async def notify(update) -> None:
    pass


async def start(training, fake_openai, script=RUNNING) -> str:
    fake_openai.job_script = list(script)
    job = await training.train(SAMPLE, "sample.jsonl", REQUEST, no_progress)
    return job.id


async def test_running_job_shows_step_of_total_and_remaining_time_from_the_pace(training, fake_openai):
    """Metrics events give step 10 of 100; 6 s a step so far leaves 90 steps, about 9 minutes."""
    job_id = await start(training, fake_openai)
    fake_openai.set_job_metrics(job_id, LOSSES, total_steps=100, seconds_per_step=6, result_file=False)

    progress = (await training.status(job_id)).progress

    assert (progress.step, progress.total_steps, progress.fraction) == (10, 100, 0.1)
    assert progress.remaining == timedelta(minutes=9)
    assert progress.metrics == "ok"
    assert (progress.train_loss, progress.valid_loss) == (pytest.approx(0.3), pytest.approx(0.33))
    assert png_size(progress.chart) == (800, 400)


async def test_providers_own_estimate_of_the_finish_wins(training, fake_openai):
    """When the job carries estimated_finish, the remaining time is until then."""
    job_id = await start(training, fake_openai)
    fake_openai.set_job_metrics(job_id, LOSSES, total_steps=100, seconds_per_step=6, result_file=False)
    fake_openai.jobs[job_id]["estimated_finish"] = int(time.time()) + 1200

    remaining = (await training.status(job_id)).progress.remaining

    assert timedelta(seconds=1190) < remaining <= timedelta(seconds=1200)


async def test_metrics_events_are_not_shown_as_the_latest_events(training, fake_openai):
    """Per-step metrics events feed the progress; the events listed are the status messages."""
    job_id = await start(training, fake_openai)
    fake_openai.set_job_metrics(job_id, LOSSES, total_steps=100, result_file=False)

    status = await training.status(job_id)

    assert [e.message for e in status.events] == ["Fine-tuning job queued", "Fine-tuning job started"]


async def test_succeeded_job_has_cost_full_progress_chart_from_the_result_file_and_checkpoints(training, fake_openai):
    """A finished job: trained tokens priced at PRICES, 100%, the chart from its result CSV, its checkpoints."""
    job_id = await start(training, fake_openai, script=["running", "succeeded"])
    await training.check_jobs(notify)
    fake_openai.set_job_metrics(job_id, LOSSES, events=False)
    checkpoint = fake_openai.add_checkpoint(job_id, 5, train_loss=0.6, valid_loss=0.66)

    status = await training.status(job_id)

    tokens = fake_openai.jobs[job_id]["trained_tokens"]
    assert status.job.trained_tokens == tokens
    assert status.cost == pytest.approx(tokens * 5.00 / 1_000_000)  # training:gpt-4.1-mini
    assert (status.progress.step, status.progress.fraction, status.progress.remaining) == (10, 1.0, None)
    assert png_size(status.progress.chart) == (800, 400)
    [listed] = status.checkpoints
    assert (listed.model, listed.step, listed.valid_loss) == (checkpoint, 5, 0.66)


async def test_no_metrics_yet_means_no_chart(training, fake_openai):
    """A queued job has no metrics: no chart, no step, and it says so."""
    job_id = await start(training, fake_openai, script=["queued"])

    progress = (await training.status(job_id)).progress

    assert (progress.metrics, progress.chart, progress.step, progress.remaining) == ("none", None, None, None)


async def test_malformed_result_file_gives_no_chart_and_the_status_stands(training, fake_openai):
    """A result file that is not metrics CSV: no chart, marked unreadable, everything else still reported."""
    job_id = await start(training, fake_openai, script=["running", "succeeded"])
    await training.check_jobs(notify)
    fake_openai.set_job_result_file(job_id, b"\x00\xffnot,a\ncsv at all")

    status = await training.status(job_id)

    assert (status.progress.metrics, status.progress.chart) == ("unreadable", None)
    assert status.job.status == "succeeded" and status.cost is not None


async def test_result_file_that_fails_to_download_is_reported_not_raised(training, fake_openai):
    """The provider failing on the result file costs the chart only."""
    job_id = await start(training, fake_openai, script=["running", "succeeded"])
    await training.check_jobs(notify)
    file_id = fake_openai.set_job_result_file(job_id, b"step,train_loss\n1,2.0\n")
    fake_openai.fail_next(400, path=f"/v1/files/{file_id}/content")

    status = await training.status(job_id)

    assert (status.progress.metrics, status.progress.chart, status.job.status) == ("unreadable", None, "succeeded")


async def test_provider_without_checkpoints_gives_an_empty_list(training, fake_openai):
    """An endpoint that has no checkpoints route (404) is not an error."""
    job_id = await start(training, fake_openai)
    fake_openai.fail_next(404, path=f"/v1/fine_tuning/jobs/{job_id}/checkpoints")

    status = await training.status(job_id)

    assert status.checkpoints == [] and status.job.status == "running"


async def test_checkpoint_model_can_be_made_live(training, support, fake_openai):
    """A checkpoint's model ID passes use_model's check, and support answers with it."""
    job_id = await start(training, fake_openai)
    checkpoint = fake_openai.add_checkpoint(job_id, 10)

    live, _ = await training.use_model(checkpoint, by="42")
    await support.answer("Can I pay with a gift card?")

    assert live.model == checkpoint
    assert fake_openai.chat_requests()[-1]["model"] == checkpoint


async def test_steps_reported_as_whole_floats_still_count(training, fake_openai):
    """Event data with "step": 10.0 and "total_steps": 100.0 (JSON numbers either way) gives step 10 of 100."""
    job_id = await start(training, fake_openai)
    rows = [{**row, "step": float(row["step"])} for row in LOSSES]
    fake_openai.set_job_metrics(job_id, rows, total_steps=100.0, seconds_per_step=6, result_file=False)

    progress = (await training.status(job_id)).progress

    assert (progress.step, progress.total_steps, progress.remaining) == (10, 100, timedelta(minutes=9))
