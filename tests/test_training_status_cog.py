"""/status as admins see it in Discord: the embed, the loss chart attached, checkpoints, and /model use on one."""

from __future__ import annotations

import asyncio

from discord_fakes import ADMIN, FakeFile

from conftest import ROOT, both_engines
from test_metrics import png_size

pytestmark = both_engines  # every test here runs on SQLite and on PostgreSQL

SAMPLE = (ROOT / "data" / "sample_dataset.jsonl").read_bytes()
RUNNING = ["queued", "running"] + ["running"] * 1000
FORTY_STEPS = [{"step": step, "train_loss": 3.0 / step, "valid_loss": 3.2 / step if step % 10 == 0 else None} for step in range(1, 41)]


async def wait_until(condition, timeout: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "timed out waiting"
        await asyncio.sleep(0.01)


async def train(discord_bot, fake_openai, script: list[str] | None = None) -> str:
    if script is not None:
        fake_openai.job_script = script
    await discord_bot.slash("train", user=ADMIN, dataset=FakeFile("shop.jsonl", SAMPLE))
    [job_id] = fake_openai.jobs
    return job_id


async def train_to_success(discord_bot, fake_openai) -> str:
    job_id = await train(discord_bot, fake_openai)
    await wait_until(lambda: any("succeeded" in p["content"] for p in discord_bot.sent_messages()))
    return job_id


def status_reply(discord_bot, interaction: int) -> tuple[dict, dict[str, str], list[tuple[str, bytes]]]:
    """The /status reply's embed, its fields by name, and the files attached to it."""
    [call] = [c for c in discord_bot.interaction_calls(interaction) if (c.payload or {}).get("embeds")]
    [embed] = call.payload["embeds"]
    fields = {f["name"]: f["value"] for f in embed.get("fields", [])}
    return embed, fields, [(f.filename, f.fp.getvalue()) for f in call.files]


async def test_running_job_embed_shows_progress_remaining_time_tokens_and_events(discord_bot, fake_openai):
    """Step 40 of 100 as a bar, about 6 minutes left at 6 s a step, tokens pending, the status events and the live model."""
    job_id = await train(discord_bot, fake_openai, RUNNING)
    fake_openai.set_job_metrics(job_id, FORTY_STEPS, total_steps=100, seconds_per_step=6, result_file=False)

    interaction = await discord_bot.slash("status", user=ADMIN)

    embed, fields, _ = status_reply(discord_bot, interaction)
    assert embed["title"] == f"Fine-tuning job {job_id}"
    assert embed["description"] == "**Running** · step 40 of 100\n`████████░░░░░░░░░░░░` 40%"
    assert fields["Base model"] == "`gpt-4.1-mini-2025-04-14`"
    assert fields["Started"].startswith(f"by <@{ADMIN.id}> <t:")
    assert fields["Remaining"] == "about 6m 00s"
    assert fields["Trained tokens"] == "reported when the job ends"
    assert "Estimated cost" not in fields
    assert fields["Loss"] == "Latest: training 0.075, validation 0.080"
    events = fields["Latest events"].splitlines()
    assert events[-1].endswith(" Fine-tuning job started") and events[-1].startswith("<t:")
    assert not any("Step " in line for line in events)
    assert fields["Live support model"] == "`gpt-5-mini`"


async def test_status_attaches_the_loss_chart_as_a_real_png(discord_bot, fake_openai):
    """With metrics, the reply carries loss.png (an 800x400 PNG) and the embed shows it."""
    job_id = await train(discord_bot, fake_openai, RUNNING)
    fake_openai.set_job_metrics(job_id, FORTY_STEPS, total_steps=100)

    interaction = await discord_bot.slash("status", user=ADMIN)

    embed, _, files = status_reply(discord_bot, interaction)
    [(name, png)] = files
    assert name == "loss.png"
    assert png_size(png) == (800, 400)
    assert 5_000 < len(png) < 200_000
    assert embed["image"]["url"] == "attachment://loss.png"


async def test_no_metrics_yet_means_no_attachment_and_a_plain_line(discord_bot, fake_openai):
    """A queued job: no file, no image, and the Loss field says why."""
    await train(discord_bot, fake_openai, ["queued"] * 1000)

    interaction = await discord_bot.slash("status", user=ADMIN)

    embed, fields, files = status_reply(discord_bot, interaction)
    assert files == [] and "image" not in embed
    assert fields["Loss"] == "No training metrics yet, so no loss chart."
    assert embed["description"] == "**Queued**"
    assert fields["Remaining"] == "not known yet"


async def test_malformed_metrics_file_gives_no_chart_and_the_status_is_still_shown(discord_bot, fake_openai):
    """A result file that is not CSV: no chart and a line saying so; the rest of the status is there."""
    job_id = await train_to_success(discord_bot, fake_openai)
    fake_openai.set_job_result_file(job_id, b'{"error": "not a csv"}\n\x00\xff')

    interaction = await discord_bot.slash("status", user=ADMIN)

    embed, fields, files = status_reply(discord_bot, interaction)
    assert files == []
    assert fields["Loss"] == "The provider's metrics file could not be read, so there is no loss chart."
    assert embed["description"].startswith("**Succeeded**")
    assert fields["Fine-tuned model"] == f"`{fake_openai.jobs[job_id]['fine_tuned_model']}`"


async def test_succeeded_job_shows_tokens_cost_full_bar_and_checkpoints(discord_bot, fake_openai):
    """A finished job: trained tokens and their cost at the training price, 100%, and its checkpoints by step."""
    job_id = await train_to_success(discord_bot, fake_openai)
    fake_openai.set_job_metrics(job_id, FORTY_STEPS, events=False)
    early = fake_openai.add_checkpoint(job_id, 20, train_loss=0.15, valid_loss=0.165)
    late = fake_openai.add_checkpoint(job_id, 30, train_loss=0.1)

    interaction = await discord_bot.slash("status", user=ADMIN, job_id=job_id)

    embed, fields, files = status_reply(discord_bot, interaction)
    tokens = fake_openai.jobs[job_id]["trained_tokens"]
    assert embed["description"] == "**Succeeded** · step 40 of 40\n`████████████████████` 100%"
    assert fields["Trained tokens"] == f"{tokens:,}"
    assert fields["Estimated cost"] == f"≈ ${tokens * 5.00 / 1_000_000:.4f}"  # training:gpt-4.1-mini, USD per 1M
    assert "Remaining" not in fields
    assert fields["Checkpoints (`/model use` takes any)"] == f"`{early}` · step 20 · validation loss 0.165\n`{late}` · step 30"
    assert [name for name, _ in files] == ["loss.png"]


async def test_model_use_accepts_a_checkpoint(discord_bot, fake_openai):
    """/model use with a checkpoint's model makes it live, and support answers with it."""
    job_id = await train_to_success(discord_bot, fake_openai)
    checkpoint = fake_openai.add_checkpoint(job_id, 20)

    used = await discord_bot.slash("model use", user=ADMIN, model_id=checkpoint)
    await discord_bot.send_message("Can I pay with a gift card?")

    assert discord_bot.interaction_texts(used)[0].startswith(f"Support now answers with `{checkpoint}`.")
    assert fake_openai.chat_requests()[-1]["model"] == checkpoint


async def test_embed_stays_within_discords_limits(discord_bot, fake_openai):
    """A huge provider error, many checkpoints and long events are cut to fit: field 1024, total 6000."""
    fake_openai.fail_job_next("x" * 5000)
    job_id = await train(discord_bot, fake_openai, ["running", "succeeded"])
    await wait_until(lambda: any("failed" in p["content"] for p in discord_bot.sent_messages()))
    for step in range(1, 41):
        fake_openai.add_checkpoint(job_id, step, valid_loss=1.0 / step)
    for _ in range(6):
        fake_openai.job_events[job_id].append({**fake_openai.job_events[job_id][-1], "id": f"ftevent-{_}", "message": "y" * 900})

    interaction = await discord_bot.slash("status", user=ADMIN)

    embed, fields, _ = status_reply(discord_bot, interaction)
    assert len(embed["title"]) <= 256 and len(embed["description"]) <= 4096
    assert all(len(value) <= 1024 for value in fields.values())
    total = len(embed["title"]) + len(embed["description"]) + sum(len(f["name"]) + len(f["value"]) for f in embed["fields"])
    assert total <= 6000
    assert fields["Error"].endswith("…")
    assert fields["Checkpoints (`/model use` takes any)"].startswith("… ") and ":ckpt-step-40` · step 40" in fields["Checkpoints (`/model use` takes any)"]


async def test_a_korean_admin_reads_the_status_embed_in_korean_and_an_english_one_in_english(discord_bot, fake_openai):
    """The same running job: title, field names and values follow each admin's Discord; the provider's events stay as they came."""
    job_id = await train(discord_bot, fake_openai, RUNNING)
    fake_openai.set_job_metrics(job_id, FORTY_STEPS, total_steps=100, seconds_per_step=6, result_file=False)

    korean = await discord_bot.slash("status", user=ADMIN, locale="ko")
    english = await discord_bot.slash("status", user=ADMIN)

    embed, fields, _ = status_reply(discord_bot, korean)
    assert embed["title"] == f"파인튜닝 작업 {job_id}"
    assert embed["description"] == "**진행 중** · 100단계 중 40단계\n`████████░░░░░░░░░░░░` 40%"
    assert list(fields) == ["기본 모델", "시작", "경과 시간", "남은 시간", "학습한 토큰", "손실", "최근 이벤트", "현재 상담 모델"]
    assert fields["시작"].startswith(f"<@{ADMIN.id}>님, <t:")
    assert fields["남은 시간"] == "약 6분 00초"
    assert fields["학습한 토큰"] == "작업이 끝나면 표시돼요"
    assert fields["손실"] == "최근: 학습 0.075, 검증 0.080"
    assert fields["최근 이벤트"].splitlines()[-1].endswith(" Fine-tuning job started")
    assert fields["현재 상담 모델"] == "`gpt-5-mini`"

    embed, fields, _ = status_reply(discord_bot, english)
    assert embed["title"] == f"Fine-tuning job {job_id}" and embed["description"].startswith("**Running** · step 40 of 100")
    assert list(fields) == ["Base model", "Started", "Elapsed", "Remaining", "Trained tokens", "Loss", "Latest events", "Live support model"]
    assert fields["Remaining"] == "about 6m 00s"


async def test_a_korean_admin_sees_a_finished_jobs_checkpoints_cost_and_evaluation_in_korean(discord_bot, fake_openai):
    """A succeeded job: checkpoints by step, the cost line and the latest evaluation's summary are Korean."""
    job_id = await train_to_success(discord_bot, fake_openai)
    fake_openai.set_job_metrics(job_id, FORTY_STEPS, events=False)
    early = fake_openai.add_checkpoint(job_id, 20, train_loss=0.15, valid_loss=0.165)
    model = fake_openai.jobs[job_id]["fine_tuned_model"]

    interaction = await discord_bot.slash("status", user=ADMIN, job_id=job_id, locale="ko")

    embed, fields, _ = status_reply(discord_bot, interaction)
    assert embed["description"] == "**완료** · 40단계 중 40단계\n`████████████████████` 100%"
    assert fields["체크포인트 (`/모델 사용`으로 어느 것이든 쓸 수 있어요)"] == f"`{early}` · 20단계 · 검증 손실 0.165"
    assert fields["예상 비용"].startswith("≈ $") and fields["파인튜닝된 모델"] == f"`{model}`"
    [(name, summary)] = [(name, value) for name, value in fields.items() if name.startswith("최근 평가 (#")]
    assert name.endswith(", `/평가`로 다시 평가해요)") and summary.startswith("`gpt-5-mini`: 2개 중 0개 정답")
    assert "남은 시간" not in fields
