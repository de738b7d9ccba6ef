"""Answers that follow the taught examples: verbatim matches, guidance, offline answers, embeddings."""

from __future__ import annotations

import json

import pytest

from bot.storage import Storage
from bot.llm import LLM, Caller
from bot.retrieval import EmbeddingRetriever, Entry, LocalIndex, LocalRetriever
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


async def test_a_more_specific_question_is_not_answered_verbatim(support, fake_openai):
    """'구독 해지 방법' is not '구독 방법': the word the taught question lacks sends it to the model."""
    await support.answer("구독 해지 방법 알려주세요")

    [request] = fake_openai.chat_requests()
    assert GUIDANCE_HEADER in request["messages"][0]["content"]


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


async def test_without_a_model_the_best_match_answers_and_the_rest_go_to_staff(storage, teaching, retriever):
    """With no model endpoint, a close match is answered and anything else gets the follow-up line."""
    from bot.config import Settings

    offline = LLM.from_settings(Settings(), record_usage=storage.usage.record)
    support = SupportService(storage.jobs, offline, retriever, default_model="x", system_prompt=SUPPORT_PROMPT)

    assert await support.answer("고객센터 몇 시까지 하나요?") == SAMPLE["고객센터 운영 시간이 어떻게 되나요?"]
    assert await support.answer("오늘 날씨 어때요?") == FOLLOW_UP


def test_question_normalisation_ignores_case_spaces_and_punctuation():
    """Two spellings of one question normalise the same."""
    assert normalise_question("  배송은  얼마나 걸리나요?? ") == normalise_question("배송은 얼마나 걸리나요")
    assert normalise_question("How LONG does shipping take?") == "how long does shipping take"


def test_local_index_ranks_the_closest_question_first():
    """The local matcher needs no network and ranks by resemblance."""
    index = LocalIndex([Entry(1, "배송 조회는 어디서 하나요?", "a"), Entry(2, "환불은 언제 되나요?", "b")])
    matches = index.search("환불 언제 돼요", k=2)
    assert matches[0].entry.id == 2 and all(m.score < matches[0].score for m in matches[1:])


def test_empty_index_finds_nothing():
    """An empty library matches nothing, without errors."""
    assert LocalIndex([]).search("anything") == []


async def embedding_retriever(settings, storage, llm) -> EmbeddingRetriever:
    async def embed(texts, caller=None):
        return await llm.embed(texts, model="text-embedding-3-small", caller=caller or Caller("embeddings"))

    return EmbeddingRetriever(embed, storage.examples, model="text-embedding-3-small")


def embedding_requests(fake_openai) -> list[list[str]]:
    return [r.json["input"] for r in fake_openai.requests if r.path == "/v1/embeddings"]


async def test_embeddings_are_computed_once_and_cached_in_the_database(settings, storage, llm, fake_openai):
    """A second start embeds nothing; a changed answer re-embeds only that example."""
    library = TeachingService(storage.examples, await embedding_retriever(settings, storage, llm), system_prompt=SUPPORT_PROMPT)
    await library.start(settings.sample_dataset_file)
    assert sum(len(batch) for batch in embedding_requests(fake_openai)) == 24

    fake_openai.requests.clear()
    restarted = TeachingService(storage.examples, await embedding_retriever(settings, storage, llm), system_prompt=SUPPORT_PROMPT)
    await restarted.start(settings.sample_dataset_file)
    assert embedding_requests(fake_openai) == []

    await restarted.replace(1, "새 답변", author_id=1)
    assert embedding_requests(fake_openai) == [["배송은 얼마나 걸리나요?"]]


async def test_embedding_matcher_answers_a_taught_question_verbatim(settings, storage, llm, fake_openai):
    """With EMBEDDING_MODEL the provider's vectors pick the taught answer."""
    retriever = await embedding_retriever(settings, storage, llm)
    await TeachingService(storage.examples, retriever, system_prompt=SUPPORT_PROMPT).start(settings.sample_dataset_file)
    support = SupportService(storage.jobs, llm, retriever, default_model="gpt-5-mini", system_prompt=SUPPORT_PROMPT)

    assert await support.answer("구독 방법 알려주세요.") == SUBSCRIPTION_HOW
    assert fake_openai.chat_requests() == []


async def test_failed_embedding_call_still_gets_a_model_answer(settings, storage, llm, fake_openai):
    """If the embeddings endpoint fails, the model answers without guidance."""
    retriever = await embedding_retriever(settings, storage, llm)
    await TeachingService(storage.examples, retriever, system_prompt=SUPPORT_PROMPT).start(settings.sample_dataset_file)
    support = SupportService(storage.jobs, llm, retriever, default_model="gpt-5-mini", system_prompt=SUPPORT_PROMPT)
    fake_openai.fail_next(500, times=2, retry_after_ms=1, path="/v1/embeddings")

    assert await support.answer("구독 방법 알려주세요.") == "echo: 구독 방법 알려주세요."


async def test_sample_is_seeded_once(settings, storage, retriever):
    """A new database gets the sample examples once; removing one does not bring it back at restart."""
    library = TeachingService(storage.examples, retriever, system_prompt=SUPPORT_PROMPT)
    await library.start(settings.sample_dataset_file)
    await library.remove(1, actor_id=1)
    await TeachingService(storage.examples, retriever, system_prompt=SUPPORT_PROMPT).start(settings.sample_dataset_file)

    assert len(await storage.examples.all()) == 23


async def test_examples_survive_a_restart(settings, tmp_path, retriever):
    """Taught examples are in the database: a reopened library answers with them."""
    path = tmp_path / "restart.db"
    storage = await Storage.open(None, path)
    await TeachingService(storage.examples, retriever, system_prompt=SUPPORT_PROMPT).start(None)
    await TeachingService(storage.examples, retriever, system_prompt=SUPPORT_PROMPT).teach("쿠폰은 어디서 받나요?", "이벤트 페이지에서요.", author_id=1)
    await storage.close()

    storage = await Storage.open(None, path)
    try:
        fresh = LocalRetriever()
        await TeachingService(storage.examples, fresh, system_prompt=SUPPORT_PROMPT).start(None)
        [best] = await fresh.search("쿠폰 어디서 받아요?", k=1)
        assert best.entry.answer == "이벤트 페이지에서요."
    finally:
        await storage.close()


async def test_teaching_works_while_the_embeddings_endpoint_is_down(settings, storage, llm, fake_openai):
    """A failing embeddings call does not lose the taught example or show an error; it is matched once embeddings work."""
    retriever = await embedding_retriever(settings, storage, llm)
    library = TeachingService(storage.examples, retriever, system_prompt=SUPPORT_PROMPT)
    await library.start(settings.sample_dataset_file)
    fake_openai.fail_next(500, times=2, retry_after_ms=1, path="/v1/embeddings")

    example = await library.teach("쿠폰은 어디서 받나요?", "이벤트 페이지에서요.", author_id=1)
    assert await storage.examples.get(example.id) is not None

    await library.teach("선물 포장 되나요?", "네.", author_id=1)  # embeddings work again: both get vectors
    assert (await retriever.search("쿠폰은 어디서 받나요?", k=1))[0].entry.answer == "이벤트 페이지에서요."
