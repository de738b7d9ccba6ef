"""The matcher: Korean lemmas, intents, the margin rule, calibration on the shop's examples, the chooser and the library check."""

from __future__ import annotations

import json
import sys
import tracemalloc
from dataclasses import replace

import numpy as np
import pytest
from discord_fakes import CUSTOMER, STAFF

from bot.matching import Calibration, Intents, LexicalIndex, analyzer, decide, terms
from bot.retrieval import Entry, Matcher, check_library
from bot.services import open_services
from conftest import ROOT, both_engines, query
from test_main import run_bot_cli

SAMPLE = {
    json.loads(line)["messages"][1]["content"]: json.loads(line)["messages"][2]["content"]
    for line in (ROOT / "data" / "sample_dataset.jsonl").read_text(encoding="utf-8").splitlines()
}
INFO = "월 29,000원에 원두 두 종류와 드립백 5개가 와요."
HOW = "홈페이지 상단의 구독 탭에서 시작 월을 고르고 결제하세요."
CAFE = [
    Entry(1, "구독 안내 부탁드려요", INFO),
    Entry(2, "구독하면 매달 뭐가 오나요?", INFO),
    Entry(3, "구독 방법 알려주세요", HOW),
    Entry(4, "구독 신청은 어디서 하나요?", HOW),
    Entry(5, "환불은 언제 들어오나요?", "카드 결제는 취소 후 3~5영업일 안에 환불돼요."),
    Entry(6, "영업시간이 어떻게 되나요?", "평일 10시부터 6시까지 상담해요."),
]


def test_korean_is_compared_by_lemmas_whatever_the_endings_and_spacing():
    """Particles and endings go, verbs become stems, a spacing slip reads the same, and "방법" asks how like "어떻게"."""
    words = analyzer()
    assert words.lemmas("환불어떻게해요") == words.lemmas("환불 어떻게 해요?") == ["환불", "?how"]
    assert words.lemmas("구독하는 방법 알려주세요") == ["구독", "?how"]
    assert words.lemmas("배송은 언제 와요") == words.lemmas("배송 언제 오나요") == ["배송", "?when", "~오"]
    assert words.lemmas("Do you take AMEX cards?") == ["take", "amex", "card"]


def test_index_scores_are_the_tf_idf_cosine_with_every_phrasing():
    """The inverted index gives each phrasing the cosine of the two TF-IDF vectors, as a dense computation does."""
    documents = [terms(analyzer().lemmas(entry.question)) for entry in CAFE]
    question = terms(analyzer().lemmas("구독 신청 방법이 궁금해요"))
    vocabulary = sorted({gram for grams in documents for gram in grams} | set(question))
    frequency = {g: sum(g in grams for grams in documents) for g in vocabulary}
    idf = {g: np.log((len(documents) + 1) / (frequency[g] + 1)) + 1 for g in vocabulary}

    def unit(grams):
        vector = np.array([grams.get(g, 0.0) * idf[g] for g in vocabulary])
        return vector / np.linalg.norm(vector)

    expected = [float(unit(grams) @ unit(question)) for grams in documents]
    assert LexicalIndex(documents).scores(question) == pytest.approx(expected)
    assert max(expected) > 0 and min(expected) == 0  # the case is not trivial


def test_phrasings_share_one_float_object_per_weight():
    """A weight (0.5, 1.0…) is one object for every phrasing: 10,000 examples would otherwise hold 100,000 floats."""
    first, second = terms(["배송", "~오"]), terms(["환불", "~하"])
    assert first["배송"] is second["환불"] and first["배송 ~오"] is second["환불 ~하"]
    assert first == {"배송": 1.0, "~오": 0.5, "배송 ~오": 0.5}


def test_a_build_shares_each_word_without_python_s_intern_table():
    """Phrasings of one build share a word's copy through their own table; Python's interned strings are left alone."""
    shared: dict[str, str] = {}
    first, second = terms(["".join(["배", "송"]), "~오"], shared), terms(["".join(["배", "송"]), "~하"], shared)
    word = next(iter(first))
    assert word is next(iter(second))
    assert sys.intern("".join(["배", "송"])) is not word


def test_building_the_index_holds_no_python_number_per_posting():
    """The postings are gathered in flat arrays: building the index peaks below 80 bytes per posting (lists took 91)."""
    documents = [terms([f"w{(n * 7 + k) % 3000}" for k in range(6)]) for n in range(5000)]
    postings = sum(len(grams) for grams in documents)
    tracemalloc.start()
    try:
        LexicalIndex(documents)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak / postings < 80


def test_the_margin_rule_answers_only_a_clear_lead_above_the_floor():
    intents = Intents([Entry(1, "a", "A"), Entry(2, "b", "B"), Entry(3, "c", "C")])
    rule = Calibration(floor=0.3, margin=0.15)

    assert decide(intents, np.array([0.6, 0.3, 0.0]), rule, 3).sure  # leads by 0.3
    assert not decide(intents, np.array([0.6, 0.5, 0.0]), rule, 3).sure  # too close to another intent
    assert not decide(intents, np.array([0.25, 0.0, 0.0]), rule, 3).sure  # alone, but below the floor
    close = decide(intents, np.array([0.6, 0.5, 0.1]), rule, 3)
    assert [c.entry.id for c in close.candidates] == [1, 2, 3] and close.margin == pytest.approx(0.1)


def test_phrasings_that_share_an_answer_are_one_intent():
    """Two phrasings of one question don't compete with each other: the lead is over the next *answer*."""
    intents = Intents(CAFE)
    assert intents.count == 4
    decision = decide(intents, np.array([0.7, 0.65, 0.2, 0.0, 0.0, 0.0]), Calibration(0.3, 0.2), 3)
    assert decision.sure and decision.best.entry.id == 1
    assert [c.entry.answer for c in decision.candidates] == [INFO, HOW]


def test_near_intents_get_their_own_answers_and_unrelated_questions_none():
    matcher = Matcher()
    matcher.load_now(CAFE)
    for question, expected in [
        ("구독 안내 좀 해주세요", INFO),
        ("구독 방법 좀 알려 주세요", HOW),
        ("구독하려면 어떻게 해야돼요?", HOW),
        ("환불 언제 들어와요", "카드 결제는 취소 후 3~5영업일 안에 환불돼요."),
    ]:
        decision = matcher.search_now(question)
        assert decision.sure and decision.best.entry.answer == expected, question
    assert not matcher.search_now("사장님 mbti 뭐예요?").sure


def test_calibration_comes_from_the_examples_and_settings_can_fix_it():
    """Intents that overlap ask for a larger lead than intents that don't; MATCH_FLOOR/MATCH_MARGIN override."""
    apart = Matcher()
    apart.load_now([Entry(1, "환불 언제 돼요", "a"), Entry(2, "환불 며칠 걸려요", "a"), Entry(3, "영업시간 알려주세요", "b"), Entry(4, "몇 시까지 해요", "b")])
    overlapping = Matcher()
    overlapping.load_now(
        [Entry(1, "구독 안내", "a"), Entry(2, "구독 방법 안내", "a"), Entry(3, "구독 방법", "b"), Entry(4, "구독 안내 방법", "b")]
    )
    assert overlapping.calibration.margin > apart.calibration.margin

    fixed = Matcher(floor=0.5, margin=0.2)
    fixed.load_now(CAFE)
    assert fixed.calibration == Calibration(0.5, 0.2)


def test_only_new_questions_are_analysed_when_the_library_changes(monkeypatch):
    matcher = Matcher()
    matcher.load_now(CAFE)
    seen = []
    original = type(analyzer()).lemmas
    monkeypatch.setattr(type(analyzer()), "lemmas", lambda self, text: seen.append(text) or original(self, text))
    matcher.load_now([*CAFE, Entry(7, "적립금 어떻게 써요?", "결제 화면에서 쓰세요.")])
    assert seen == ["적립금 어떻게 써요?"]


def test_library_check_names_questions_that_would_get_another_answer():
    """Two wordings of one question with different answers: each would get the other's answer."""
    matcher = Matcher()
    matcher.load_now([*CAFE, Entry(7, "구독 안내 좀 해주세요", HOW)])
    check = check_library(matcher)
    assert ("구독 안내 좀 해주세요", "구독 안내 부탁드려요", pytest.approx(1.0)) in check.confused
    assert check.intents[0].confused  # the least safe come first
    assert matcher.confusions_now({7}) and not matcher.confusions_now({6})


@both_engines
async def test_replaced_sample_answer_keeps_near_intents_apart(teaching, support, fake_openai):
    """Staff replace the sample's 구독 안내 answer: every phrasing of it gets the new answer, and 구독 방법 is still 구독 방법."""
    example = next(e for e in teaching.matcher.entries if e.question == "구독 안내 부탁드려요.")
    await teaching.replace(example.id, "이번 달 구독은 원두 2종과 셰이커 클리너가 들어가요.", author_id=1)

    assert await support.answer("구독하는 방법 알려주세요") == SAMPLE["구독 방법 알려주세요."]
    assert await support.answer("구독하면 매달 뭐가 와요?") == "이번 달 구독은 원두 2종과 셰이커 클리너가 들어가요."
    assert fake_openai.chat_requests() == []


async def test_chooser_picks_an_intent_the_matcher_was_unsure_about(settings, validation_executor, fake_openai):
    """MATCH_CHOOSER=model: unsure between intents, the model names one and its answer is sent verbatim (counted as matching)."""
    chooser = replace(settings, match_chooser=True)
    async with open_services(chooser, executor=validation_executor) as services:
        decision = await services.teaching.matcher.search("구독 해지 말고 잠깐 쉬는 거 돼요?")
        assert not decision.sure and len(decision.candidates) >= 2
        fake_openai.reply = "2"
        answer = await services.support.answer("구독 해지 말고 잠깐 쉬는 거 돼요?")
        assert answer == decision.candidates[1].entry.answer
        [choice] = fake_openai.chat_requests()
        assert "1. " + decision.candidates[0].entry.question in choice["messages"][1]["content"]

        fake_openai.reply = "0"  # none of them: the model answers as usual
        assert await services.support.answer("구독 해지 말고 잠깐 쉬는 거 돼요?") == "0"
        assert len(fake_openai.chat_requests()) == 3
        await services.storage.usage.flush()
        rows = await query(services.storage, "SELECT purpose FROM usage")
    assert ("matching",) in rows  # /usage shows what choosing cost


async def test_chooser_is_off_by_default(support, fake_openai):
    fake_openai.reply = "2"
    await support.answer("구독 해지 말고 잠깐 쉬는 거 돼요?")
    assert len(fake_openai.chat_requests()) == 1


async def test_examples_check_shows_the_rule_and_what_to_strengthen(discord_bot):
    interaction = await discord_bot.slash("examples check", user=STAFF)
    text = "\n".join(discord_bot.ephemeral_texts(interaction))
    assert "24 taught questions in 15 intents" in text
    assert "leads the next intent by" in text
    assert "need more phrasings" in text

    refused = await discord_bot.slash("examples check", user=CUSTOMER)
    assert discord_bot.ephemeral_texts(refused) == ["Only staff (a STAFF_ROLES role) and admins can use this command."]


async def test_teaching_a_confusable_question_warns_after_saving(discord_bot):
    interaction = await discord_bot.slash("teach", user=STAFF, question="구독 안내 좀 해줘요", answer="홈페이지에서 신청하세요.")
    [text] = discord_bot.ephemeral_texts(interaction)
    assert text.startswith("Saved as #")
    assert "could get the answer of “구독 안내 부탁드려요.”" in text


async def test_check_examples_cli_reads_a_file_and_exits_1_on_confusion(tmp_path):
    path = tmp_path / "faq.jsonl"
    path.write_text(
        "\n".join(json.dumps({"question": q, "answer": a}, ensure_ascii=False) for q, a in [
            ("구독 안내 부탁드려요", INFO), ("구독 안내 좀 해주세요", HOW), ("구독 방법 알려주세요", HOW),
        ]),
        encoding="utf-8",
    )
    code, out, err = await run_bot_cli(["check-examples", str(path)], env={}, cwd=tmp_path)
    assert code == 1, err
    assert "3 taught questions in 2 intents" in out and "would get another intent's answer" in out

    path.write_text('{"question": "x"}\n', encoding="utf-8")
    code, out, err = await run_bot_cli(["check-examples", str(path)], env={}, cwd=tmp_path)
    assert code == 2 and "line 1" in err and "Traceback" not in err


def test_the_analyser_gives_the_same_lemmas_when_used_from_two_threads_at_once():
    """Questions on the event loop and examples in the indexing thread share one analyser."""
    from concurrent.futures import ThreadPoolExecutor

    texts = [q for q in SAMPLE] * 40 + ["Do you take AMEX cards?", "tracking my shipments please"] * 200
    expected = [analyzer().lemmas(t) for t in texts]
    with ThreadPoolExecutor(max_workers=4) as pool:
        for _ in range(3):
            assert list(pool.map(analyzer().lemmas, texts)) == expected


async def test_the_warning_after_teaching_and_the_check_are_in_korean_for_a_korean_staff_member(discord_bot):
    """A Korean staff member sees the confusion warning after /teach, and /examples check, in Korean; no English is left."""
    taught = await discord_bot.slash("teach", user=STAFF, locale="ko", question="구독 안내 좀 해줘요", answer="홈페이지에서 신청하세요.")
    [text] = discord_bot.ephemeral_texts(taught)
    assert text.startswith("저장했어요 (#")
    assert "\n\n⚠️ 다른 말로 물으면 다음 질문이 다른 주제의 답변을 받을 수 있어요:\n" in text
    assert "• “구독 안내 좀 해줘요” → “구독 안내 부탁드려요.”의 답변을 받을 수 있어요 (유사도 " in text
    assert text.endswith("\n질문마다 다른 표현을 몇 개 더 가르쳐 주세요. `/예시 점검`에서 전체 예시를 점검할 수 있어요.")

    checked = "\n".join(discord_bot.ephemeral_texts(await discord_bot.slash("examples check", user=STAFF, locale="ko")))
    assert checked.startswith("가르친 질문 25개가 주제 16개로 묶여 있어요 (답변이 같은 질문은 한 주제로 봐요).\n주제 점수가 ")
    assert "\n\n⚠️ 고객이 다른 말로 물으면 가르친 질문 " in checked
    assert "\n• “구독 안내 좀 해줘요” (표현 1개); 가장 가까운 질문: “구독 안내 부탁드려요.” (유사도 " in checked
    assert "\n• … 외 6개\n\n주제 16개 중 0개가 잘 구분돼요 (표현 3개 이상, 잘못 답하는 질문 없음)." in checked
    assert not any(word in checked for word in ("taught", "intent", "alike", "phrasing"))


async def test_examples_check_in_english_counts_what_it_leaves_out(discord_bot):
    """An English staff member's check ends with the intents it did not list and the count of well separated ones."""
    checked = "\n".join(discord_bot.ephemeral_texts(await discord_bot.slash("examples check", user=STAFF)))
    assert checked.endswith("\n• … and 5 more\n\n0 of 15 intents are well separated (3+ phrasings, none answered wrongly).")
