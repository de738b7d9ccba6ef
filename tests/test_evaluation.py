"""Evaluation before promotion: the held-out split, grading, PROMOTE, the admins' buttons, /evaluate and restarts."""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace

import pytest
from discord_fakes import ADMIN, CUSTOMER, GENERAL_CHANNEL, STAFF, FakeFile

from bot.errors import UserError
from bot.evaluation import CONFUSED, OFF, RIGHT, Grader, split_dataset
from bot.services import open_services
from bot.teaching import question_and_answer, training_jsonl
from bot.training import JobUpdate, TrainingRequest
from conftest import ROOT, both_engines, logged_in
from fake_openai import echo_last_user_message

pytestmark = both_engines

SAMPLE = (ROOT / "data" / "sample_dataset.jsonl").read_bytes()
PAIRS = [question_and_answer(json.loads(line)) for line in SAMPLE.splitlines()]
ANSWER = dict(PAIRS)
SUBSCRIPTION_INFO = ANSWER["구독 안내 부탁드려요."]  # what the subscription includes
SUBSCRIBE_HOW = ANSWER["구독 방법 알려주세요."]  # how to subscribe: the near intent
HELD_OUT = ["반품 보냈는데 환불이 아직 안 됐어요.", "구독하면 매달 뭐가 오나요?"]  # the seeded split of the sample
REQUEST = TrainingRequest(base_model="gpt-4.1-mini-2025-04-14", started_by=ADMIN.id, channel_id=GENERAL_CHANNEL)


def customer_question(body: dict) -> str:
    return echo_last_user_message(body).removeprefix("echo: ")


def models(candidate, live=None):
    """Script the fake's replies per model: fine-tunes answer with `candidate`, the others with `live` (echo)."""

    def reply(body: dict) -> str:
        question = customer_question(body)
        answer = candidate if body["model"].startswith("ft:") else live
        return answer(question) if answer else f"echo: {question}"

    return reply


def right(question: str) -> str:
    """A model that answers every sample question with its taught answer, in its own words where held out."""
    if question == "구독하면 매달 뭐가 오나요?":
        return "매달 칵테일 2종을 만들 수 있는 리큐르 미니어처, 시럽, 가니시, 레시피 카드가 와요. 월 29,000원이고 배송비는 무료예요."
    if question == "반품 보냈는데 환불이 아직 안 됐어요.":
        return "반품 상품이 물류센터에 도착해서 검수가 끝나면 영업일 1~3일 안에 환불돼요. 카드사에 따라 3~5일 더 걸릴 수 있어요."
    return ANSWER.get(question, "잘 모르겠어요.")


def confuses_subscription(question: str) -> str:
    """Right on everything but "what the subscription includes", which it answers with how to subscribe."""
    return SUBSCRIBE_HOW if question == "구독하면 매달 뭐가 오나요?" else right(question)


class Announcements:
    def __init__(self) -> None:
        self.updates: list[JobUpdate] = []

    async def __call__(self, update: JobUpdate) -> None:
        self.updates.append(update)


async def no_progress(text: str) -> None:
    pass


async def train_to_the_end(training, notify, rounds: int = 10):
    job = await training.train(SAMPLE, "sample.jsonl", REQUEST, no_progress)
    for _ in range(rounds):
        await training.check_jobs(notify)
    return job


# -- the split ---------------------------------------------------------------------------


def intents_dataset(phrasings: dict[str, int]) -> bytes:
    pairs = [(f"{name} 질문 {n}번 어떻게 되나요?", f"{name}에 대한 답변입니다.") for name, count in phrasings.items() for n in range(count)]
    return training_jsonl(pairs, "You are a shop's support assistant.")


def test_split_is_seeded_holds_one_of_every_answer_with_three_and_never_an_only_phrasing():
    """Same data, same split; ≥ 1 phrasing of each answer with 3+, never an answer's last phrasing, about 10%."""
    data = intents_dataset({"배송": 5, "환불": 3, "교환": 3, "구독": 2, "해지": 2, "적립금": 1, "영수증": 1, "포장": 1, "쿠폰": 1, "결제": 1})
    first, second = split_dataset(data), split_dataset(data)
    assert first == second
    held = {q.answer for q in first.held_out}
    assert {"배송에 대한 답변입니다.", "환불에 대한 답변입니다.", "교환에 대한 답변입니다."} <= held
    trained = [question_and_answer(json.loads(line))[1] for line in first.training.splitlines()]
    assert set(trained) == {f"{name}에 대한 답변입니다." for name in ("배송", "환불", "교환", "구독", "해지", "적립금", "영수증", "포장", "쿠폰", "결제")}
    assert len(first.held_out) == 3 == round(0.1 * 20) + 1  # three mandatory ones; 10% of 20 is already met
    assert sorted(first.training.splitlines() + first.validation.splitlines()) == sorted(data.splitlines())


def test_small_or_multi_turn_data_keeps_everything_for_training():
    """Below the provider's 10-example minimum nothing is held out; multi-turn lines always train."""
    small = intents_dataset({"배송": 4, "환불": 3, "교환": 3})
    assert split_dataset(small).held_out == []
    turns = [
        json.dumps({"messages": [
            {"role": "user", "content": f"질문 {n}"}, {"role": "assistant", "content": "답"},
            {"role": "user", "content": "또 질문"}, {"role": "assistant", "content": "같은 답변"},
        ]}, ensure_ascii=False).encode()
        for n in range(20)
    ]
    assert split_dataset(b"\n".join(turns) + b"\n").held_out == []


# -- grading -----------------------------------------------------------------------------


def test_grading_tells_right_confused_and_off_apart():
    """A reply in other words is right; how-to-subscribe for what-it-includes is confused; no answer is off."""
    grader = Grader(answer for _, answer in PAIRS)
    paraphrase = "구독하시면 매달 칵테일 2종 만들 수 있는 리큐르 미니어처랑 시럽, 가니시, 레시피 카드를 보내드려요. 월 29,000원이에요!"
    assert grader.grade(paraphrase, SUBSCRIPTION_INFO).verdict == RIGHT
    assert grader.grade(SUBSCRIPTION_INFO, SUBSCRIPTION_INFO).score == 1.0
    confused = grader.grade("홈페이지 위쪽 메뉴에서 구독 탭 누르시고 신청하시면 돼요.", SUBSCRIPTION_INFO)
    assert (confused.verdict, confused.nearest) == (CONFUSED, " ".join(SUBSCRIBE_HOW.split()))
    assert grader.grade("죄송해요, 그 부분은 잘 모르겠어요. 다른 궁금한 점 있으신가요?", SUBSCRIPTION_INFO).verdict == OFF
    assert grader.grade("구독하면 매달 뭐가 오나요?", SUBSCRIPTION_INFO).verdict == OFF  # repeating the question
    assert grader.grade(None, SUBSCRIPTION_INFO).verdict == OFF


# -- promotion ---------------------------------------------------------------------------


async def test_better_candidate_is_promoted_with_both_scores_in_the_post(training, support, fake_openai):
    """PROMOTE=if-better: a candidate that answers the held-out questions right replaces an echoing live model."""
    fake_openai.reply = models(candidate=right)
    notify = Announcements()
    job = await train_to_the_end(training, notify)

    final = notify.updates[-1]
    model = fake_openai.jobs[job.id]["fine_tuned_model"]
    assert (final.job.status, final.promoted_model, final.awaiting) == ("succeeded", model, False)
    assert str(final.comparison.candidate.summary()).startswith(f"`{model}`: 2/2 right, 0 confused, 0 off")
    assert str(final.comparison.live.summary()).startswith("`gpt-5-mini`: 0/2 right, 0 confused, 2 off")
    assert await support.live_model() == model
    asked = [customer_question(r) for r in fake_openai.chat_requests()]
    assert sorted(asked) == sorted(HELD_OUT * 2)  # each held-out question, to each model, once


async def test_candidate_confusing_a_near_pair_is_not_promoted_and_the_post_names_the_pair(training, support, fake_openai):
    """A candidate that answers "what's in the subscription" with "how to subscribe" stays out; the live model stays."""
    fake_openai.reply = models(candidate=confuses_subscription, live=right)
    notify = Announcements()
    await train_to_the_end(training, notify)

    final = notify.updates[-1]
    assert (final.job.status, final.promoted_model, final.awaiting) == ("succeeded", None, True)
    assert await support.live_model() == "gpt-5-mini"
    shown = str(final.comparison.render())
    assert "1/2 right, 1 confused" in shown and "Live `gpt-5-mini`: 2/2 right" in shown
    assert "Worse than live on: “구독 안내 부탁드려요.”" in shown
    assert "Confused: “구독 안내 부탁드려요.” answered as “구독 방법 알려주세요.”" in shown


@pytest.mark.parametrize(("mode", "candidate", "promoted"), [("always", confuses_subscription, True), ("never", right, False)])
async def test_promote_always_and_never(settings, validation_executor, fake_openai, mode, candidate, promoted):
    """PROMOTE=always makes even a worse model live (and still reports it); never leaves even a better one to an admin."""
    fake_openai.reply = models(candidate=candidate, live=right)
    async with open_services(replace(settings, promote=mode), executor=validation_executor) as services:
        notify = Announcements()
        job = await train_to_the_end(services.training, notify)
        model = fake_openai.jobs[job.id]["fine_tuned_model"]
        final = notify.updates[-1]
        assert final.comparison is not None and final.comparison.candidate.asked == 2
        assert (await services.support.live_model() == model) is promoted
        assert final.awaiting is not promoted


async def test_test_only_questions_are_never_uploaded_and_are_evaluated(training, teaching, storage, fake_openai):
    """Staff's test question is asked in the evaluation and appears in no uploaded file."""
    [info] = [e for e in await storage.examples.all() if e.question == "구독 안내 부탁드려요."]
    await teaching.add_test_question("구독 박스 구성품 알려주세여", info.id, author_id=ADMIN.id)
    fake_openai.reply = models(candidate=lambda q: SUBSCRIPTION_INFO if "구독" in q else right(q))
    notify = Announcements()
    await train_to_the_end(training, notify)

    assert all("구독 박스 구성품".encode() not in f["bytes"] for f in fake_openai.files.values())
    assert "구독 박스 구성품 알려주세여" in [customer_question(r) for r in fake_openai.chat_requests()]
    assert notify.updates[-1].comparison.candidate.asked == 3


async def test_restart_during_evaluation_evaluates_again_and_promotes_once(settings, validation_executor, fake_openai):
    """Stopped while the candidate is being asked, the next process evaluates again; the model goes live once."""
    fake_openai.reply = models(candidate=right)
    async with open_services(settings, executor=validation_executor) as first:
        await first.training.train(SAMPLE, "sample.jsonl", REQUEST, no_progress)
        for _ in range(2):
            await first.training.check_jobs(Announcements())  # queued, running
        fake_openai.latency = 5.0
        checking = asyncio.create_task(first.training.check_jobs(Announcements()))
        while not fake_openai.chat_requests():
            await asyncio.sleep(0.01)
        checking.cancel()  # the process stops mid-evaluation
        await asyncio.gather(checking, return_exceptions=True)
        assert await first.support.live_model() == "gpt-5-mini"
    fake_openai.latency = 0.0
    async with open_services(settings, executor=validation_executor) as second:
        notify = Announcements()
        for _ in range(3):
            await second.training.check_jobs(notify)
        [final] = notify.updates
        assert final.promoted_model and await second.support.live_model() == final.promoted_model
        history = await second.storage.jobs.model_history()
        assert [c.model for c in history] == [final.promoted_model]


# -- through Discord ---------------------------------------------------------------------


async def wait_for_post(discord_bot, text: str, timeout: float = 10.0) -> str:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        found = [p["content"] for p in discord_bot.sent_messages(GENERAL_CHANNEL) if text in p.get("content", "")]
        if found:
            return found[-1]
        assert asyncio.get_running_loop().time() < deadline, f"no post containing {text!r}"
        await asyncio.sleep(0.02)


async def test_admins_decide_a_held_back_model_with_buttons_others_cannot(discord_bot, fake_openai, support):
    """The post names the confused pair; a customer's click changes nothing; an admin's promotes, once."""
    fake_openai.reply = models(candidate=confuses_subscription, live=right)
    await discord_bot.slash("train", user=ADMIN, dataset=FakeFile("shop.jsonl", SAMPLE))
    post = await wait_for_post(discord_bot, "not live yet")
    assert "answered as “구독 방법 알려주세요.”" in post
    [job_id] = fake_openai.jobs
    model = fake_openai.jobs[job_id]["fine_tuned_model"]

    refused = await discord_bot.click("Promote anyway", user=CUSTOMER)
    assert discord_bot.ephemeral_texts(refused) == ["Only admins (Manage Server or an ADMIN_ROLES role) can decide this."]
    assert await support.live_model() == "gpt-5-mini"

    clicked = await discord_bot.click("Promote anyway", user=ADMIN)
    assert await support.live_model() == model
    [edited] = [c.payload for c in discord_bot.interaction_calls(clicked) if c.method == "PATCH"]
    assert edited["content"].startswith(f"<@{ADMIN.id}> promoted `{model}`: it now answers support")
    assert edited["content"].endswith(post.removesuffix("\nAn admin can decide below."))
    assert edited["components"] == []  # the buttons are gone

    again = await discord_bot.click("Keep current", user=ADMIN)
    assert discord_bot.ephemeral_texts(again) == [f"`{model}` was already made live; nothing changed."]
    assert await support.live_model() == model

    status = await discord_bot.slash("status", user=ADMIN)
    [call] = [c for c in discord_bot.interaction_calls(status) if (c.payload or {}).get("embeds")]
    fields = {f["name"]: f["value"] for f in call.payload["embeds"][0]["fields"]}
    [latest] = [value for name, value in fields.items() if name.startswith("Latest evaluation (#2")]
    assert latest.startswith("`gpt-5-mini`: 2/2 right")  # the live model was evaluated last, beside the candidate


async def test_evaluate_a_model_and_the_taught_answers_alone(discord_bot, fake_openai):
    """/evaluate grades the live model (cost shown first) and, with model:taught, the matcher alone without a call."""
    fake_openai.reply = models(candidate=None, live=right)
    shown = discord_bot.interaction_texts(await discord_bot.slash("evaluate", user=ADMIN))
    assert shown[0] == "Asking `gpt-5-mini` 2 questions, about $0.0012…"
    assert "`gpt-5-mini`: 2/2 right, 0 confused, 0 off" in shown[-1]

    calls = len(fake_openai.chat_requests())
    shown = discord_bot.interaction_texts(await discord_bot.slash("evaluate", user=ADMIN, model="taught"))
    assert "`taught answers only`: 0/2 right, 0 confused, 2 off" in shown[-1]
    assert "- “구독하면 매달 뭐가 오나요?” (구독 안내 부탁드려요.): no sure taught answer: handed to staff" in shown[-1]
    assert len(fake_openai.chat_requests()) == calls


async def test_a_korean_server_gets_the_promotion_post_and_its_buttons_in_korean(settings, validation_executor, fake_openai):
    """BOT_LANGUAGE=ko: the held-back post, its buttons and the decision are Korean; a click answers in the clicker's language."""
    fake_openai.reply = models(candidate=confuses_subscription, live=right)
    async with open_services(replace(settings, bot_language="ko"), executor=validation_executor) as services:
        async with logged_in(services) as fake:
            await fake.slash("train", user=ADMIN, dataset=FakeFile("shop.jsonl", SAMPLE))
            post = await wait_for_post(fake, "아직 적용되지 않았어요")
            [job_id] = fake_openai.jobs
            model = fake_openai.jobs[job_id]["fine_tuned_model"]
            assert post.startswith(
                f"<@{ADMIN.id}> 파인튜닝 작업 `{job_id}`이(가) 완료됐지만 `{model}`은(는) **아직 적용되지 않았어요**: "
                "떼어 둔 질문에서 현재 모델만큼 잘하지 못했어요.\n"
                f"후보 `{model}`: 2개 중 1개 정답, 혼동 1개, 빗나감 0개"
            )
            assert "혼동: “구독 안내 부탁드려요.”에 “구독 방법 알려주세요.”의 답변" in post
            assert post.endswith("\n관리자가 아래에서 결정할 수 있어요.")
            [sent] = [p for p in fake.sent_messages(GENERAL_CHANNEL) if p["content"] == post]
            assert [b["label"] for row in sent["components"] for b in row["components"]] == ["그래도 적용", "현재 모델 유지"]

            refused = await fake.click("그래도 적용", user=CUSTOMER, locale="ko")
            assert fake.ephemeral_texts(refused) == ["관리자(서버 관리 권한 또는 ADMIN_ROLES 역할)만 결정할 수 있어요."]

            clicked = await fake.click("그래도 적용", user=ADMIN)  # an admin whose Discord is in English
            [edited] = [c.payload for c in fake.interaction_calls(clicked) if c.method == "PATCH"]
            assert edited["content"].startswith(f"<@{ADMIN.id}>님이 `{model}`을(를) 적용했어요.")
            assert edited["content"].endswith(post.removesuffix("\n관리자가 아래에서 결정할 수 있어요."))
            assert await services.support.live_model() == model

            again = await fake.click("현재 모델 유지", user=ADMIN)
            assert fake.ephemeral_texts(again) == [f"`{model}` was already made live; nothing changed."]


async def test_a_korean_admin_sees_evaluate_in_korean(discord_bot, fake_openai):
    """/evaluate for an admin whose Discord is Korean: the cost line, the summary and the misses are Korean."""
    fake_openai.reply = models(candidate=None, live=right)
    shown = discord_bot.interaction_texts(await discord_bot.slash("evaluate", user=ADMIN, locale="ko"))
    assert shown[0] == "`gpt-5-mini`에 질문 2개를 묻는 중, 예상 비용 약 $0.0012…"
    assert shown[-1].startswith("**평가 #1**\n`gpt-5-mini`: 2개 중 2개 정답, 혼동 0개, 빗나감 0개")

    shown = discord_bot.interaction_texts(await discord_bot.slash("evaluate", user=ADMIN, model="taught", locale="ko"))
    assert shown[0] == "`가르친 답변만`에 질문 2개를 묻는 중…"
    assert "`가르친 답변만`: 2개 중 0개 정답, 혼동 0개, 빗나감 2개" in shown[-1]
    assert "- “구독하면 매달 뭐가 오나요?” (구독 안내 부탁드려요.): 확실한 가르친 답변이 없어 직원에게 넘김" in shown[-1]


async def test_evaluate_is_for_admins_only(discord_bot, fake_openai):
    """A customer's /evaluate is refused before any model is asked."""
    interaction = await discord_bot.slash("evaluate", user=CUSTOMER)
    assert "Only admins" in discord_bot.interaction_texts(interaction)[-1]
    assert fake_openai.chat_requests() == []


# -- what the review asked to be proven --------------------------------------------------


def test_a_held_out_question_is_never_also_trained_on_under_another_spacing():
    """Repeats of a phrasing (spacing, case) go with it: held out together, or trained on together."""
    pairs = [(q, "배송은 1~2일 걸려요.") for q in ("배송 언제 와요?", "배송  언제 와요?", "배송 얼마나 걸려요?", "언제 도착해요?")]
    pairs += [(f"다른 질문 {n}번이요", f"다른 답 {n}") for n in range(10)]
    split = split_dataset(training_jsonl(pairs, "prompt"))
    held = {" ".join(q.question.split()) for q in split.held_out}
    trained = {" ".join(question_and_answer(json.loads(line))[0].split()) for line in split.training.splitlines()}
    assert held and not held & trained


async def test_test_questions_in_an_uploaded_file_are_left_out_of_both_files(training, teaching, storage, fake_openai):
    """A staff test question that also appears in the admin's dataset file is uploaded in neither file."""
    [info] = [e for e in await storage.examples.all() if e.question == "구독 안내 부탁드려요."]
    await teaching.add_test_question("구독 박스 구성품 알려주세여", info.id, author_id=ADMIN.id)
    leaking = SAMPLE + training_jsonl([("구독 박스 구성품 알려주세여", SUBSCRIPTION_INFO)], "You are a shop's support assistant.")
    progress: list[str] = []

    async def record(text) -> None:
        progress.append(str(text))

    await training.train(leaking, "shop.jsonl", REQUEST, record)
    assert all("구독 박스 구성품".encode() not in f["bytes"] for f in fake_openai.files.values())
    assert "Left out of both files: 1 example asking a test question" in progress[0]


class NotServingFineTunes(set):
    """The endpoint's models, with the fine-tunes not (yet) served."""

    def __contains__(self, model) -> bool:
        return not str(model).startswith("ft:") and super().__contains__(model)


async def test_a_model_that_cannot_be_evaluated_is_tried_three_times_in_all_then_left_to_an_admin(
    settings, validation_executor, fake_openai
):
    """Each attempt is counted before it starts and a failure stops it; restarts don't reset the count."""
    fake_openai.reply = models(candidate=right)
    async with open_services(settings, executor=validation_executor) as first:
        await first.training.train(SAMPLE, "sample.jsonl", REQUEST, no_progress)
        for _ in range(2):
            await first.training.check_jobs(Announcements())  # queued, running
        fake_openai.models = NotServingFineTunes(fake_openai.models)  # every question to the candidate fails
        for _ in range(2):
            await first.training.check_jobs(Announcements())
    async with open_services(settings, executor=validation_executor) as second:  # a restart
        notify = Announcements()
        for _ in range(3):
            await second.training.check_jobs(notify)
        [final] = notify.updates
        model = final.job.fine_tuned_model
        assert (final.awaiting, final.job.evaluation_attempts) == (True, 3)
        assert await second.support.live_model() == "gpt-5-mini"
    to_candidate = [r for r in fake_openai.requests if r.path == "/v1/chat/completions" and (r.json or {}).get("model") == model]
    assert 3 <= len(to_candidate) <= 3 * 2  # stopped at the first failure of each attempt (2 questions at most)


async def test_a_job_found_already_succeeded_after_a_lost_write_is_evaluated_and_promoted(training, storage, fake_openai, monkeypatch):
    """The job's record failed while it ran to success: found by its run ID, its model is recorded, evaluated and made live."""
    fake_openai.reply = models(candidate=right)
    fake_openai.job_script = ["succeeded"]
    attach = storage.jobs.attach

    async def lost(*args, **kwargs):
        from bot.storage import StorageError

        raise StorageError()

    monkeypatch.setattr(storage.jobs, "attach", lost)
    job = await training.train(SAMPLE, "sample.jsonl", REQUEST, no_progress)
    monkeypatch.setattr(storage.jobs, "attach", attach)
    notify = Announcements()
    await training.check_jobs(notify)
    [final] = notify.updates
    assert final.promoted_model == fake_openai.jobs[job.id]["fine_tuned_model"]
    assert final.comparison.candidate.count(RIGHT) == 2


async def test_promote_anyway_is_refused_once_another_model_went_live(training, support, fake_openai):
    """A stale post's button can't replace a model made live after its evaluation."""
    fake_openai.reply = models(candidate=confuses_subscription, live=right)
    notify = Announcements()
    job = await train_to_the_end(training, notify)
    assert notify.updates[-1].awaiting
    await training.use_model("gpt-4.1-2025-04-14", by="42")
    with pytest.raises(UserError, match="went live after this evaluation"):
        await training.decide(job.id, promote=True, by=ADMIN.id, channel_id=GENERAL_CHANNEL)
    assert await support.live_model() == "gpt-4.1-2025-04-14"


async def test_staff_add_and_remove_a_test_question(discord_bot, storage):
    """/examples add-test names the example it expects; remove-test takes it out; a taught question is refused."""
    [info] = [e for e in await storage.examples.all() if e.question == "구독 안내 부탁드려요."]
    added = await discord_bot.slash("examples add-test", user=STAFF, question="구독 박스 뭐 들어있어요", example_id=info.id)
    assert discord_bot.ephemeral_texts(added) == [
        f"Test question 1 saved: “구독 박스 뭐 들어있어요” should get the answer of #{info.id} (“구독 안내 부탁드려요.”). `/evaluate` asks it."
    ]
    taught = await discord_bot.slash("examples add-test", user=STAFF, question="구독 안내 부탁드려요.", example_id=info.id)
    assert "is taught already" in discord_bot.ephemeral_texts(taught)[0]
    assert [q.question for q in await storage.evaluations.test_questions()] == ["구독 박스 뭐 들어있어요"]
    removed = await discord_bot.slash("examples remove-test", user=STAFF, test_id=1)
    assert discord_bot.ephemeral_texts(removed) == ["Removed test question 1."]
    assert await storage.evaluations.test_questions() == []
    again = await discord_bot.slash("examples remove-test", user=STAFF, test_id=1)
    assert discord_bot.ephemeral_texts(again) == ["There is no test question 1."]


async def test_model_use_can_evaluate_first_and_switches_only_when_at_least_as_good(training, support, fake_openai):
    """/model use with evaluate_first: a confused checkpoint is refused with the comparison; a good one goes live."""
    fake_openai.reply = models(candidate=confuses_subscription, live=right)
    job = await train_to_the_end(training, Announcements())  # held out and awaiting: the buttons' case
    confused = fake_openai.add_checkpoint(job.id, 10)
    with pytest.raises(UserError, match="did not do at least as well") as refused:
        await training.use_model(confused, by=str(ADMIN.id), evaluate_first=True)
    assert "answered as “구독 방법 알려주세요.”" in str(refused.value.message)
    assert await support.live_model() == "gpt-5-mini"

    fake_openai.reply = models(candidate=right, live=right)
    live, comparison = await training.use_model(confused, by=str(ADMIN.id), evaluate_first=True)
    assert live.model == confused == await support.live_model()
    assert comparison.candidate.count(RIGHT) == 2
