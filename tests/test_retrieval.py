"""Answers that follow the taught examples: verbatim matches, guidance, offline answers, embeddings."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from bot.storage import Storage
from bot.llm import LLM, Caller
from bot.retrieval import Entry, Matcher, ProviderEmbeddings
from bot.text import normalise_question
from bot.support import FOLLOW_UP, GUIDANCE_HEADER, SupportService
from bot.teaching import TeachingService
from conftest import ROOT, SUPPORT_PROMPT

SAMPLE = {
    json.loads(line)["messages"][1]["content"]: json.loads(line)["messages"][2]["content"]
    for line in (ROOT / "data" / "sample_dataset.jsonl").read_text(encoding="utf-8").splitlines()
}
SUBSCRIPTION_INFO = SAMPLE["구독 안내 부탁드려요."]
SUBSCRIPTION_HOW = SAMPLE["구독 방법 알려주세요."]


async def test_paraphrase_of_taught_korean_question_gets_the_taught_answer_without_a_model_call(support, teaching, fake_openai):
    """A question staff taught, asked in other words, is answered verbatim and costs no model call."""
    await teaching.teach("회원 탈퇴는 어떻게 하나요?", "마이페이지 > 회원정보 > 탈퇴하기에서 바로 탈퇴할 수 있어요.", author_id=1)

    answer = await support.answer("회원 탈퇴 어떻게 해요")

    assert answer == "마이페이지 > 회원정보 > 탈퇴하기에서 바로 탈퇴할 수 있어요."
    assert fake_openai.chat_requests() == []


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("구독 안내 부탁해요", SUBSCRIPTION_INFO),
        ("구독 안내 좀 부탁드립니다!", SUBSCRIPTION_INFO),
        ("구독 방법 좀 알려 주세요", SUBSCRIPTION_HOW),
        ("구독 방법??", SUBSCRIPTION_HOW),
    ],
)
async def test_the_two_subscription_intents_are_told_apart(support, fake_openai, question, expected):
    """'구독 안내' (what it includes) and '구독 방법' (how to subscribe) share a word but get their own answers."""
    assert await support.answer(question) == expected
    assert fake_openai.chat_requests() == []


async def test_a_more_specific_question_gets_the_more_specific_answer(support, fake_openai):
    """'구독 해지 방법' is not '구독 방법': it gets the taught answer about cancelling the subscription."""
    assert await support.answer("구독 해지 방법 알려주세요") == SAMPLE["구독 해지는 어떻게 해요?"]
    assert fake_openai.chat_requests() == []


async def test_near_examples_guide_the_model(support, fake_openai):
    """A question without a verbatim match reaches the model with the nearest taught answers in the prompt."""
    await support.answer("환불 받으려면 보통 얼마나 걸리나요? 카드로 결제했어요")

    [request] = fake_openai.chat_requests()
    system = request["messages"][0]["content"]
    assert system.startswith(SUPPORT_PROMPT) and GUIDANCE_HEADER in system
    assert f"A: {SAMPLE['환불은 언제 들어오나요?']}" in system


async def test_unrelated_question_gets_no_guidance(support, fake_openai):
    """Nothing taught is near: the model gets the plain system prompt."""
    await support.answer("What's the weather like?")

    assert fake_openai.chat_requests()[0]["messages"][0]["content"] == SUPPORT_PROMPT


async def test_without_a_model_the_best_match_answers_and_the_rest_go_to_staff(storage, teaching, matcher):
    """With no model endpoint, a close match is answered and anything else gets the follow-up line."""
    from bot.config import Settings

    offline = LLM.from_settings(Settings(), record_usage=storage.usage.record)
    support = SupportService(storage.jobs, offline, matcher, default_model="x", system_prompt=SUPPORT_PROMPT)

    assert await support.answer("고객센터 몇 시까지 하나요?") == SAMPLE["고객센터 운영 시간이 어떻게 되나요?"]
    assert await support.answer("오늘 날씨 어때요?") == FOLLOW_UP


def test_question_normalisation_ignores_case_spaces_and_punctuation():
    """Two spellings of one question normalise the same."""
    assert normalise_question("  배송은  얼마나 걸리나요?? ") == normalise_question("배송은 얼마나 걸리나요")
    assert normalise_question("How LONG does shipping take?") == "how long does shipping take"


def test_matcher_ranks_the_closest_question_first():
    """The matcher needs no network and ranks by resemblance."""
    matcher = Matcher()
    matcher.load_now([Entry(1, "배송 조회는 어디서 하나요?", "a"), Entry(2, "환불은 언제 되나요?", "b")])
    decision = matcher.search_now("환불 언제 돼요", k=2)
    assert decision.best.entry.id == 2 and all(c.score < decision.best.score for c in decision.candidates[1:])


def test_empty_library_finds_nothing():
    """An empty library matches nothing, without errors."""
    matcher = Matcher()
    matcher.load_now([])
    assert matcher.search_now("anything").candidates == []


async def embedding_matcher(settings, storage, llm) -> Matcher:
    async def embed(texts, caller=None):
        return await llm.embed(texts, model="text-embedding-3-small", caller=caller or Caller("embeddings"))

    return Matcher(semantic=ProviderEmbeddings(embed, storage.examples, model="text-embedding-3-small"))


def embedding_requests(fake_openai) -> list[list[str]]:
    return [r.json["input"] for r in fake_openai.requests if r.path == "/v1/embeddings"]


async def test_embeddings_are_computed_once_and_cached_in_the_database(settings, storage, llm, fake_openai):
    """A second start embeds nothing; a changed answer re-embeds only that example."""
    library = TeachingService(storage.examples, await embedding_matcher(settings, storage, llm), system_prompt=SUPPORT_PROMPT)
    await library.start(settings.sample_dataset_file)
    assert sum(len(batch) for batch in embedding_requests(fake_openai)) == 24

    fake_openai.requests.clear()
    restarted = TeachingService(storage.examples, await embedding_matcher(settings, storage, llm), system_prompt=SUPPORT_PROMPT)
    await restarted.start(settings.sample_dataset_file)
    assert embedding_requests(fake_openai) == []

    await restarted.replace(1, "새 답변", author_id=1)  # and the other phrasing of that question: its answer changed too
    assert embedding_requests(fake_openai) == [["배송은 얼마나 걸리나요?", "주문하면 언제 도착해요?"]]


async def test_embedding_matcher_answers_a_taught_question_verbatim(settings, storage, llm, fake_openai):
    """With EMBEDDING_MODEL the provider's vectors pick the taught answer."""
    matcher = await embedding_matcher(settings, storage, llm)
    await TeachingService(storage.examples, matcher, system_prompt=SUPPORT_PROMPT).start(settings.sample_dataset_file)
    support = SupportService(storage.jobs, llm, matcher, default_model="gpt-5-mini", system_prompt=SUPPORT_PROMPT)

    assert await support.answer("구독 방법 알려주세요.") == SUBSCRIPTION_HOW
    assert fake_openai.chat_requests() == []


async def test_failed_embedding_call_falls_back_to_words(settings, storage, llm, fake_openai):
    """If the embeddings endpoint fails, matching goes on with words alone: taught questions still get their answer."""
    matcher = await embedding_matcher(settings, storage, llm)
    await TeachingService(storage.examples, matcher, system_prompt=SUPPORT_PROMPT).start(settings.sample_dataset_file)
    support = SupportService(storage.jobs, llm, matcher, default_model="gpt-5-mini", system_prompt=SUPPORT_PROMPT)
    fake_openai.fail_next(500, times=4, retry_after_ms=1, path="/v1/embeddings")

    assert await support.answer("구독 방법 알려주세요.") == SUBSCRIPTION_HOW
    assert await support.answer("What's the weather like?") == "echo: What's the weather like?"


async def test_sample_is_seeded_once(settings, storage, matcher):
    """A new database gets the sample examples once; removing one does not bring it back at restart."""
    library = TeachingService(storage.examples, matcher, system_prompt=SUPPORT_PROMPT)
    await library.start(settings.sample_dataset_file)
    await library.remove(1, actor_id=1)
    await TeachingService(storage.examples, matcher, system_prompt=SUPPORT_PROMPT).start(settings.sample_dataset_file)

    assert len(await storage.examples.all()) == 23


async def test_examples_survive_a_restart(settings, tmp_path, matcher):
    """Taught examples are in the database: a reopened library answers with them."""
    path = tmp_path / "restart.db"
    storage = await Storage.open(None, path)
    await TeachingService(storage.examples, matcher, system_prompt=SUPPORT_PROMPT).start(None)
    await TeachingService(storage.examples, matcher, system_prompt=SUPPORT_PROMPT).teach("쿠폰은 어디서 받나요?", "이벤트 페이지에서요.", author_id=1)
    await storage.close()

    storage = await Storage.open(None, path)
    try:
        fresh = Matcher()
        await TeachingService(storage.examples, fresh, system_prompt=SUPPORT_PROMPT).start(None)
        decision = await fresh.search("쿠폰 어디서 받아요?", k=1)
        assert decision.best.entry.answer == "이벤트 페이지에서요."
    finally:
        await storage.close()


async def test_teaching_works_while_the_embeddings_endpoint_is_down(settings, storage, llm, fake_openai):
    """A failing embeddings call does not lose the taught example or show an error; it is matched once embeddings work."""
    matcher = await embedding_matcher(settings, storage, llm)
    library = TeachingService(storage.examples, matcher, system_prompt=SUPPORT_PROMPT)
    await library.start(settings.sample_dataset_file)
    fake_openai.fail_next(500, times=2, retry_after_ms=1, path="/v1/embeddings")

    example = await library.teach("쿠폰은 어디서 받나요?", "이벤트 페이지에서요.", author_id=1)
    assert await storage.examples.get(example.id) is not None

    await library.teach("선물 포장 되나요?", "네.", author_id=1)  # embeddings work again: both get vectors
    assert (await matcher.search("쿠폰은 어디서 받나요?", k=1)).best.entry.answer == "이벤트 페이지에서요."


async def test_embeddings_answer_with_fewer_vectors_than_texts_falls_back_to_words(settings, storage, llm, fake_openai, caplog):
    """A provider answering fewer vectors than examples does not stop start-up: those examples are matched on words."""
    matcher = await embedding_matcher(settings, storage, llm)
    fake_openai.short_embeddings_next(missing=1)
    await TeachingService(storage.examples, matcher, system_prompt=SUPPORT_PROMPT).start(settings.sample_dataset_file)
    support = SupportService(storage.jobs, llm, matcher, default_model="gpt-5-mini", system_prompt=SUPPORT_PROMPT)

    assert await support.answer("구독 방법 알려주세요.") == SUBSCRIPTION_HOW
    assert any("bad_response" in r.getMessage() for r in caplog.records if r.name.startswith("bot."))


async def test_question_embedding_without_a_vector_falls_back_to_words(settings, storage, llm, fake_openai):
    """A provider answering no vector for a customer's question: matching goes on with words alone."""
    matcher = await embedding_matcher(settings, storage, llm)
    await TeachingService(storage.examples, matcher, system_prompt=SUPPORT_PROMPT).start(settings.sample_dataset_file)
    support = SupportService(storage.jobs, llm, matcher, default_model="gpt-5-mini", system_prompt=SUPPORT_PROMPT)
    fake_openai.short_embeddings_next(missing=1)

    assert await support.answer("구독 방법 알려주세요.") == SUBSCRIPTION_HOW


async def test_example_taught_while_embeddings_fail_is_matched_on_its_words(settings, storage, llm, fake_openai):
    """An example without a vector keeps its full word score: it is not pushed behind examples that have one."""
    matcher = await embedding_matcher(settings, storage, llm)
    library = TeachingService(storage.examples, matcher, system_prompt=SUPPORT_PROMPT)
    await library.start(settings.sample_dataset_file)
    fake_openai.fail_next(500, times=2, retry_after_ms=1, path="/v1/embeddings")
    await library.teach("선물 포장 되나요?", "네, 2,000원에 포장해 드려요.", author_id=1)

    decision = await matcher.search("선물 포장 돼요?")
    words_only = Matcher()
    words_only.load_now(matcher.entries)
    assert decision.best.entry.answer == "네, 2,000원에 포장해 드려요."
    assert decision.best.score == pytest.approx(words_only.search_now("선물 포장 돼요?").best.score)


async def test_a_local_embeddings_server_blends_in_without_a_model_key_and_counts_against_nobody(settings, validation_executor, fake_openai):
    """EMBEDDING_BASE_URL with no key (a server the shop runs): vectors come from it with no OPENAI_API_KEY, customers'
    questions are embedded there, and nothing is billed or counted against their limits."""
    from bot.services import open_services

    local = replace(
        settings,
        openai_api_key=None,
        embedding_model="text-embedding-3-small",
        embedding_base_url=fake_openai.base_url,
        rate_limit_per_minute=1,
    )
    fake_openai.api_key = "not-needed"  # what the bot sends a keyless endpoint; a local server checks none
    async with open_services(local, executor=validation_executor) as services:
        assert sum(len(batch) for batch in embedding_requests(fake_openai)) == 24  # the sample's questions, at start
        for _ in range(3):  # over the customer's rate limit, were embeddings counted
            answer = await services.support.respond("구독 방법 알려주세요.", user_id=42, guild_id=7)
            assert answer.text == SUBSCRIPTION_HOW
        assert embedding_requests(fake_openai)[-1] == ["구독 방법 알려주세요."]
        assert await services.usage.report(1) == []
    assert all(r.headers.get("authorization") == "Bearer not-needed" for r in fake_openai.requests if r.path == "/v1/embeddings")
