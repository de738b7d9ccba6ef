"""/train, /status, /cancel and /model through Discord, with the follower posting job updates."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest
from discord_fakes import ADMIN, CUSTOMER, GENERAL_CHANNEL, MANAGER, STAFF, FakeFile

from bot.services import open_services
from conftest import API_KEY, ROOT, both_engines, logged_in

pytestmark = both_engines  # every test here runs on SQLite and on PostgreSQL

SAMPLE = (ROOT / "data" / "sample_dataset.jsonl").read_bytes()
ADMIN_COMMANDS = [("train", {}), ("status", {}), ("cancel", {"job_id": "ftjob-1"}), ("model show", {}), ("model use", {"model_id": "gpt-4.1-2025-04-14"}), ("model rollback", {})]


async def wait_until(condition, timeout: float = 5.0) -> None:
    """Let the background follower run until `condition()` holds."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "timed out waiting"
        await asyncio.sleep(0.01)


def posts(discord_bot, channel_id=GENERAL_CHANNEL) -> list[dict]:
    return discord_bot.sent_messages(channel_id)


async def test_train_with_attachment_is_followed_to_promotion(discord_bot, fake_openai):
    """An admin's dataset becomes a job; its progress is posted once per status and support switches models."""
    interaction = await discord_bot.slash("train", user=ADMIN, dataset=FakeFile("shop.jsonl", SAMPLE))

    texts = discord_bot.interaction_texts(interaction)
    [job_id] = fake_openai.jobs
    assert "shop.jsonl is ready to train: 24 examples" in texts[0]
    assert texts[-1].startswith(f"Started fine-tuning job `{job_id}` on `gpt-4.1-mini-2025-04-14`")

    await wait_until(lambda: any("succeeded" in p["content"] for p in posts(discord_bot)))
    contents = [p["content"] for p in posts(discord_bot)]
    model = fake_openai.jobs[job_id]["fine_tuned_model"]
    assert contents == [
        f"<@{ADMIN.id}> Fine-tuning job `{job_id}` is now **queued**.",
        f"<@{ADMIN.id}> Fine-tuning job `{job_id}` is now **running**.",
        f"<@{ADMIN.id}> Fine-tuning job `{job_id}` succeeded: `{model}` now answers support "
        "(before: `gpt-5-mini`; `/model rollback` goes back).\n"
        f"Candidate `{model}`: 0/2 right, 0 confused, 2 off, ~$0.0004\n"
        "Live `gpt-5-mini`: 0/2 right, 0 confused, 2 off, ~$0.0001",
    ]
    assert all(p["allowed_mentions"] == {"parse": [], "users": [ADMIN.id]} for p in posts(discord_bot))

    await discord_bot.send_message("Can I pay with a gift card?")
    assert fake_openai.chat_requests()[-1]["model"] == model


async def test_train_without_attachment_uses_the_shops_examples(discord_bot, fake_openai, storage):
    """/train alone trains on the sample dataset plus what staff taught."""
    await storage.examples.add("선물 포장 되나요?", "네, 2,000원에 됩니다.", author_id=STAFF.id)
    await discord_bot.slash("train", user=MANAGER)

    uploaded, held_out = fake_openai.files.values()
    assert (uploaded["filename"], held_out["filename"]) == ("shop-examples.jsonl", "held-out-shop-examples.jsonl")
    everything = (uploaded["bytes"] + held_out["bytes"]).decode()
    assert everything.count("\n") == 25 and "선물 포장 되나요?" in everything


async def test_invalid_dataset_gets_a_report_and_nothing_is_uploaded(discord_bot, fake_openai):
    """Bad lines are listed by number; no file is uploaded and no job is started."""
    bad = SAMPLE + b'{"messages": "oops"}\nnot json\n'
    interaction = await discord_bot.slash("train", user=ADMIN, dataset=FakeFile("bad.jsonl", bad))

    text = "\n".join(discord_bot.interaction_texts(interaction))
    assert "bad.jsonl can't be used for training." in text
    assert "line 25: 'messages' is not a list" in text and "line 26: not valid JSON" in text
    assert fake_openai.requests == []


async def test_too_few_examples_are_refused(discord_bot, fake_openai):
    """Fewer than 10 examples is reported before anything is uploaded."""
    few = b"\n".join(SAMPLE.splitlines()[:5])
    interaction = await discord_bot.slash("train", user=ADMIN, dataset=FakeFile("few.jsonl", few))

    assert "only 5 examples; fine-tuning needs at least 10" in "\n".join(discord_bot.interaction_texts(interaction))
    assert fake_openai.files == {}


async def test_non_utf8_dataset_is_refused_with_the_byte_offset(discord_bot, fake_openai):
    """A file saved in another encoding is refused, saying where."""
    raw = SAMPLE.decode().encode("cp949", errors="replace")
    interaction = await discord_bot.slash("train", user=ADMIN, dataset=FakeFile("ansi.jsonl", raw))

    text = "\n".join(discord_bot.interaction_texts(interaction))
    assert "line 1: not UTF-8" in text and "byte offset" in text
    assert fake_openai.files == {}


@pytest.mark.parametrize(("name", "options"), ADMIN_COMMANDS)
@pytest.mark.parametrize("user", [CUSTOMER, STAFF], ids=["customer", "staff"])
async def test_non_admins_are_refused_every_admin_command(discord_bot, fake_openai, storage, name, options, user):
    """Even if a server owner shows them the command, non-admins are refused privately and nothing changes."""
    interaction = await discord_bot.slash(name, user=user, **options)

    assert discord_bot.ephemeral_texts(interaction) == ["Only admins (Manage Server or an ADMIN_ROLES role) can use this command."]
    assert fake_openai.requests == []
    assert await storage.jobs.live_model() is None


async def test_admin_commands_are_hidden_by_default_and_not_in_dms(discord_bot):
    """The registered commands ask Discord to show them to Manage Server only, and never in DMs."""
    [sync] = discord_bot.command_syncs()
    registered = {c["name"]: c for c in sync.payload}
    for name in ("train", "status", "cancel", "model"):
        assert int(registered[name]["default_member_permissions"]) == 1 << 5  # Manage Server
        assert registered[name]["dm_permission"] is False


async def test_admin_command_in_a_dm_is_refused(discord_bot, fake_openai):
    """Training commands never run in a DM."""
    interaction = await discord_bot.slash("status", user=ADMIN, channel_id=None)

    [text] = discord_bot.ephemeral_texts(interaction)
    assert "server" in text


async def test_second_train_is_refused_with_the_running_jobs_id(discord_bot, fake_openai):
    """While a job runs, /train names it instead of starting another."""
    fake_openai.job_script = ["queued", "running", "running", "running", "running"] * 50
    await discord_bot.slash("train", user=ADMIN, dataset=FakeFile("shop.jsonl", SAMPLE))
    [job_id] = fake_openai.jobs
    interaction = await discord_bot.slash("train", user=ADMIN, dataset=FakeFile("shop.jsonl", SAMPLE))

    assert any(job_id in t and "still" in t for t in discord_bot.interaction_texts(interaction))
    assert len(fake_openai.jobs) == 1


async def test_failed_job_posts_the_providers_error(discord_bot, fake_openai):
    """A failed job is announced with the provider's message."""
    fake_openai.fail_job_next("The job failed due to an invalid training file.")
    await discord_bot.slash("train", user=ADMIN, dataset=FakeFile("shop.jsonl", SAMPLE))

    await wait_until(lambda: any("failed" in p["content"] for p in posts(discord_bot)))
    assert posts(discord_bot)[-1]["content"].endswith("failed: The job failed due to an invalid training file.")


async def test_cancel_cancels_a_running_job_and_announces_it_once(discord_bot, fake_openai):
    """/cancel stops the job; the channel hears about it once."""
    fake_openai.job_script = ["queued"] * 1000
    await discord_bot.slash("train", user=ADMIN, dataset=FakeFile("shop.jsonl", SAMPLE))
    [job_id] = fake_openai.jobs
    interaction = await discord_bot.slash("cancel", user=ADMIN, job_id=job_id)

    assert discord_bot.interaction_texts(interaction) == [f"Job `{job_id}` is now cancelled."]
    await wait_until(lambda: any("cancelled" in p["content"] for p in posts(discord_bot)))
    await asyncio.sleep(0.1)
    assert sum("cancelled" in p["content"] for p in posts(discord_bot)) == 1


async def test_status_shows_the_job_and_the_live_model(discord_bot, fake_openai):
    """/status gives status, base model, who started it, events and the live model with its shutdown date."""
    fake_openai.model_extras["gpt-5-mini"] = {"shutdown_date": "2027-01-14"}
    fake_openai.job_script = ["queued", "running"] + ["running"] * 1000
    await discord_bot.slash("train", user=ADMIN, dataset=FakeFile("shop.jsonl", SAMPLE))
    [job_id] = fake_openai.jobs
    interaction = await discord_bot.slash("status", user=ADMIN)

    [embed] = next(c.payload["embeds"] for c in discord_bot.interaction_calls(interaction) if (c.payload or {}).get("embeds"))
    fields = {f["name"]: f["value"] for f in embed["fields"]}
    assert embed["title"] == f"Fine-tuning job {job_id}" and embed["description"].startswith("**Running**")
    assert fields["Base model"] == "`gpt-4.1-mini-2025-04-14`" and fields["Started"].startswith(f"by <@{ADMIN.id}>")
    assert "Latest events" in fields
    assert fields["Live support model"] == "`gpt-5-mini` (the provider shuts it down on 2027-01-14)"


async def test_status_of_unknown_job_says_so(discord_bot):
    """Asking for a job that was never started gives a clear line."""
    interaction = await discord_bot.slash("status", user=ADMIN, job_id="ftjob-nope")

    assert discord_bot.interaction_texts(interaction) == ["No fine-tuning job `ftjob-nope` was started from here."]


async def test_model_use_and_rollback(discord_bot, fake_openai):
    """/model use switches support to a served model; /model rollback goes back."""
    used = await discord_bot.slash("model use", user=ADMIN, model_id="gpt-4.1-2025-04-14")
    assert discord_bot.interaction_texts(used)[0].startswith("Support now answers with `gpt-4.1-2025-04-14`.")
    await discord_bot.send_message("hello?")
    assert fake_openai.chat_requests()[-1]["model"] == "gpt-4.1-2025-04-14"

    rolled = await discord_bot.slash("model rollback", user=ADMIN)
    assert discord_bot.interaction_texts(rolled)[0].startswith("Rolled back: support now answers with `gpt-5-mini`.")


async def test_model_use_refuses_an_unknown_model(discord_bot, storage):
    """A model the endpoint does not serve is refused and nothing changes."""
    interaction = await discord_bot.slash("model use", user=ADMIN, model_id="gpt-3.5-turbo")

    assert discord_bot.interaction_texts(interaction) == ["The model endpoint has no model `gpt-3.5-turbo`; nothing was changed."]
    assert await storage.jobs.live_model() is None


async def test_model_show_lists_the_history(discord_bot):
    """/model show gives the live model and the earlier ones."""
    await discord_bot.slash("model use", user=ADMIN, model_id="gpt-4.1-2025-04-14")
    interaction = await discord_bot.slash("model show", user=ADMIN)

    text = discord_bot.interaction_texts(interaction)[0]
    assert text.startswith("Live support model: `gpt-4.1-2025-04-14`") and "set with /model use" in text


async def test_train_warns_about_confusable_questions(discord_bot, fake_openai):
    """/train's report lists questions the matcher could confuse."""
    extra = '{"messages": [{"role": "user", "content": "구독 안내 좀 해주세요"}, {"role": "assistant", "content": "홈페이지에서 신청하세요."}]}\n'
    interaction = await discord_bot.slash("train", user=ADMIN, dataset=FakeFile("shop.jsonl", SAMPLE + extra.encode()))

    assert "confusable with line 25: “구독 안내 부탁드려요.” and “구독 안내 좀 해주세요”" in discord_bot.interaction_texts(interaction)[0]


async def test_train_accepts_up_to_50_epochs_as_the_api_does(discord_bot, fake_openai):
    """/train offers 1-50 epochs (the API's range) and sends a chosen number as is."""
    option = next(o for o in discord_bot.bot.tree.get_command("train").to_dict(discord_bot.bot.tree)["options"] if o["name"] == "epochs")
    assert (option["min_value"], option["max_value"]) == (1, 50)

    interaction = await discord_bot.slash("train", user=ADMIN, dataset=FakeFile("shop.jsonl", SAMPLE), epochs=40)

    [job] = fake_openai.jobs.values()
    assert job["hyperparameters"]["n_epochs"] == 40
    assert discord_bot.interaction_texts(interaction)[-1].startswith(f"Started fine-tuning job `{job['id']}`")


async def test_provider_error_echoing_the_key_is_shown_redacted(discord_bot, fake_openai):
    """A provider message that echoes the Authorization header or another key reaches the admin without them."""
    fake_openai.fail_next(
        400,
        message=f"Unrecognized request header Authorization: Bearer {API_KEY} (project key sk-proj-Zx81abcdef)",
        path="/v1/fine_tuning/jobs",
        method="POST",
    )
    interaction = await discord_bot.slash("train", user=ADMIN, dataset=FakeFile("shop.jsonl", SAMPLE))

    last = discord_bot.interaction_texts(interaction)[-1]
    assert last == (
        "The provider refused to start the fine-tuning job: Unrecognized request header Authorization: "
        "Bearer [redacted] (project key [redacted])"
    )


# -- the admin's language ----------------------------------------------------------------


async def test_a_korean_admin_gets_the_dataset_report_in_korean_with_the_line_numbers(discord_bot, fake_openai):
    """An admin whose Discord is Korean reads why the file was refused, line by line; nothing is uploaded."""
    bad = SAMPLE + b'{"messages": "oops"}\nnot json\n'
    interaction = await discord_bot.slash("train", user=ADMIN, locale="ko", dataset=FakeFile("bad.jsonl", bad))

    text = "\n".join(discord_bot.interaction_texts(interaction))
    assert text.startswith("bad.jsonl 파일은 학습에 쓸 수 없어요.\n오류 (2개):\n")
    assert "- 25번째 줄: 'messages'가 목록이 아니에요" in text
    assert "- 26번째 줄: 올바른 JSON이 아니에요 (1번째 칸: Expecting value)" in text
    assert "line 25" not in text and "can't be used" not in text
    assert fake_openai.requests == []


async def test_a_korean_admin_follows_train_and_cancel_in_korean(discord_bot, fake_openai):
    """/train's report, its start line and /cancel's answer follow the admin's Korean Discord."""
    fake_openai.job_script = ["queued"] * 1000
    interaction = await discord_bot.slash("train", user=ADMIN, locale="ko", dataset=FakeFile("shop.jsonl", SAMPLE))
    [job_id] = fake_openai.jobs

    texts = discord_bot.interaction_texts(interaction)
    assert texts[0].startswith("shop.jsonl 파일로 학습할 수 있어요: 예시 24개, 토큰 ")
    assert "평가용으로 떼어 둔 예시: 24개 중 2개 (학습에는 쓰지 않고 검증 파일로 보내요)." in texts[0]
    assert texts[0].endswith("\n업로드하는 중…")
    assert texts[-1].startswith(f"`gpt-4.1-mini-2025-04-14`로 파인튜닝 작업 `{job_id}`을(를) 시작했어요.")

    cancelled = await discord_bot.slash("cancel", user=ADMIN, locale="ko", job_id=job_id)
    assert discord_bot.interaction_texts(cancelled) == [f"작업 `{job_id}`은(는) 이제 취소됨 상태예요."]
    again = await discord_bot.slash("cancel", user=ADMIN, locale="ko", job_id=job_id)
    assert discord_bot.interaction_texts(again) == [f"작업 `{job_id}`은(는) 이미 취소됨 상태예요."]


async def test_job_posts_in_a_korean_server_are_korean_and_the_admins_own_replies_follow_their_discord(settings, validation_executor, fake_openai):
    """BOT_LANGUAGE=ko: the channel hears each status and the promotion in Korean; the admin (English Discord) gets English replies."""
    async with open_services(replace(settings, bot_language="ko"), executor=validation_executor) as services:
        async with logged_in(services) as fake:
            interaction = await fake.slash("train", user=ADMIN, dataset=FakeFile("shop.jsonl", SAMPLE))
            assert "shop.jsonl is ready to train: 24 examples" in fake.interaction_texts(interaction)[0]
            [job_id] = fake_openai.jobs
            await wait_until(lambda: any("완료" in p["content"] for p in posts(fake)))

            model = fake_openai.jobs[job_id]["fine_tuned_model"]
            assert [p["content"] for p in posts(fake)] == [
                f"<@{ADMIN.id}> 파인튜닝 작업 `{job_id}`은(는) 이제 **대기 중** 상태예요.",
                f"<@{ADMIN.id}> 파인튜닝 작업 `{job_id}`은(는) 이제 **진행 중** 상태예요.",
                f"<@{ADMIN.id}> 파인튜닝 작업 `{job_id}`이(가) 완료됐어요. 이제 `{model}`이(가) 상담 질문에 답해요 "
                "(이전: `gpt-5-mini`, `/모델 되돌리기`로 되돌릴 수 있어요).\n"
                f"후보 `{model}`: 2개 중 0개 정답, 혼동 0개, 빗나감 2개, ~$0.0004\n"
                "현재 `gpt-5-mini`: 2개 중 0개 정답, 혼동 0개, 빗나감 2개, ~$0.0001",
            ]


async def test_a_failed_job_is_posted_in_korean_with_the_providers_own_reason(settings, validation_executor, fake_openai):
    """The provider's error is shown as it came; the line around it is in the server's language."""
    fake_openai.fail_job_next("The job failed due to an invalid training file.")
    async with open_services(replace(settings, bot_language="ko"), executor=validation_executor) as services:
        async with logged_in(services) as fake:
            await fake.slash("train", user=ADMIN, dataset=FakeFile("shop.jsonl", SAMPLE))
            [job_id] = fake_openai.jobs
            await wait_until(lambda: any("실패" in p["content"] for p in posts(fake)))
            assert posts(fake)[-1]["content"] == (
                f"<@{ADMIN.id}> 파인튜닝 작업 `{job_id}`이(가) 실패했어요: The job failed due to an invalid training file."
            )


async def test_a_korean_admin_uses_and_rolls_back_models_in_korean(discord_bot, fake_openai):
    """/model use, /model show and /model rollback answer in Korean; an unknown model is refused in Korean."""
    used = await discord_bot.slash("model use", user=ADMIN, locale="ko", model_id="gpt-4.1-2025-04-14")
    [shown] = discord_bot.interaction_texts(used)
    assert shown.startswith(
        "이제 `gpt-4.1-2025-04-14`이(가) 상담 질문에 답해요.\n\n현재 상담 모델: `gpt-4.1-2025-04-14`\n기록 (최신순):\n- `gpt-4.1-2025-04-14` <t:"
    )
    assert shown.splitlines()[4].endswith(f"(<@{ADMIN.id}>): /모델 사용으로 지정")  # the reason kept in the database, in Korean
    rolled = await discord_bot.slash("model rollback", user=ADMIN, locale="ko")
    [shown] = discord_bot.interaction_texts(rolled)
    assert shown.startswith("되돌렸어요. 이제 `gpt-5-mini`이(가) 상담 질문에 답해요.")
    assert shown.splitlines()[4].endswith(f"(<@{ADMIN.id}>): gpt-4.1-2025-04-14에서 되돌림")  # kept with its values, shown in Korean
    english = discord_bot.interaction_texts(await discord_bot.slash("model show", user=ADMIN))[0]
    assert english.splitlines()[2].endswith(f" by <@{ADMIN.id}>: rollback from gpt-4.1-2025-04-14")
    unknown = await discord_bot.slash("model use", user=ADMIN, locale="ko", model_id="gpt-3.5-turbo")
    assert discord_bot.interaction_texts(unknown) == ["모델 엔드포인트에 `gpt-3.5-turbo` 모델이 없어요. 아무것도 바꾸지 않았어요."]
