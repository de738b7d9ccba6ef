"""Feedback: every support answer is kept with its source; the asker's 👍 / 👎; 👎 goes to staff; /usage shows it all."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timezone

import pytest
import pytest_asyncio
from discord_fakes import ADMIN, CUSTOMER, GENERAL_CHANNEL, OTHER_CUSTOMER, STAFF, SUPPORT_CHANNEL

from sqlalchemy import update

from bot.errors import UserError
from bot.services import open_services
from bot.storage.schema import support_answers
from cogs.feedback import SORRY, THANKS
from conftest import both_engines, logged_in, query

pytestmark = both_engines

STAFF_CHANNEL = GENERAL_CHANNEL
TAUGHT = "구독 안내 부탁드려요."


@pytest_asyncio.fixture
async def shop(settings, validation_executor):
    """The bot with a model and a staff channel, logged in to a fake Discord."""
    async with open_services(replace(settings, staff_channel=STAFF_CHANNEL), executor=validation_executor) as services:
        async with logged_in(services) as fake:
            yield fake


async def stored_answers(shop) -> list[tuple]:
    storage = shop.bot.services.storage
    await storage.answers.flush()
    return await query(storage, "SELECT key, customer_id, question, source, example_id, rating FROM support_answers ORDER BY at")


async def test_every_answer_is_kept_with_where_it_came_from(shop, fake_openai):
    """A taught answer (with its example), model answers and a handoff are each stored under the customer's message."""
    taught = await shop.send_message(TAUGHT)
    modelled = await shop.send_message("오늘 영업해요?")
    person = await shop.send_message("사람이랑 얘기하고 싶어요")
    handed = await shop.send_message("제가 산 상품 재입고 언제 돼요?")
    rows = await stored_answers(shop)
    assert [(str(key), customer, question, source) for key, customer, question, source, _, _ in rows] == [
        (taught["id"], CUSTOMER.id, TAUGHT, "taught"),
        (modelled["id"], CUSTOMER.id, "오늘 영업해요?", "model"),
        (person["id"], CUSTOMER.id, "사람이랑 얘기하고 싶어요", "handoff"),
        (handed["id"], CUSTOMER.id, "제가 산 상품 재입고 언제 돼요?", "model"),
    ]
    assert rows[0][4] is not None and rows[1][4] is None


async def test_the_asker_rates_once_and_nobody_else_can(shop):
    """👍 from another customer is refused; the asker's is stored and thanked, and the buttons go."""
    asked = await shop.send_message(TAUGHT)
    refused = await shop.click("👍", user=OTHER_CUSTOMER, channel_id=SUPPORT_CHANNEL)
    assert shop.ephemeral_texts(refused) == ["Only the customer who asked can rate this answer."]

    rated = await shop.click("👍", user=CUSTOMER, channel_id=SUPPORT_CHANNEL)
    assert shop.ephemeral_texts(rated) == [THANKS]
    assert [(str(key), rating) for key, _, _, _, _, rating in await stored_answers(shop)] == [(asked["id"], 1)]
    assert shop.edits(SUPPORT_CHANNEL)[-1].payload["components"] == []


async def test_thumbs_down_puts_the_answer_before_staff_whose_fix_reaches_the_customer(shop):
    """👎 opens a review in the staff channel with the question and the bot's answer; staff's answer comes back."""
    asked = await shop.send_message("오늘 영업해요?")
    rated = await shop.click("👎", user=CUSTOMER, channel_id=SUPPORT_CHANNEL)
    assert shop.ephemeral_texts(rated) == [SORRY]
    [post] = [p for p in shop.sent_messages(STAFF_CHANNEL) if "Handoff #" in p.get("content", "")]
    assert "rated 👎" in post["content"] and "오늘 영업해요?" in post["content"] and "**The bot answered:** echo: 오늘 영업해요?" in post["content"]

    clicked = await shop.click("Answer & teach", user=STAFF, channel_id=STAFF_CHANNEL)
    await shop.submit_modal(clicked, ["오늘 영업해요?", "평일 10시부터 6시까지 영업해요."], user=STAFF, channel_id=STAFF_CHANNEL)
    delivered = [
        p["content"] for p in shop.sent_messages(SUPPORT_CHANNEL)
        if str((p.get("message_reference") or {}).get("message_id")) == asked["id"] and "Our staff answered" in p["content"]
    ]
    assert delivered and "평일 10시부터 6시까지 영업해요." in delivered[0]


async def test_thumbs_down_on_a_taught_answer_lets_staff_replace_it_for_everyone(shop):
    """A 👎 on a taught answer: staff answer the same question differently and may replace the taught answer; only they choose."""
    NEW = "구독은 월 32,000원으로 바뀌었고, 매달 칵테일 3종 재료가 와요."
    await shop.send_message(TAUGHT)
    old = shop.sent_messages(SUPPORT_CHANNEL)[-1]["content"]
    await shop.click("👎", user=CUSTOMER, channel_id=SUPPORT_CHANNEL)
    clicked = await shop.click("Answer & teach", user=STAFF, channel_id=STAFF_CHANNEL)
    answered = await shop.submit_modal(clicked, [TAUGHT, NEW], user=STAFF, channel_id=STAFF_CHANNEL)
    [offer] = shop.ephemeral_texts(answered)
    assert offer.startswith(f"Sent to <@{CUSTOMER.id}>. “{TAUGHT}” is already taught (#")
    assert old in offer and offer.endswith("Replace it with your new answer?")

    refused = await shop.click("Replace the answer", user=OTHER_CUSTOMER, channel_id=STAFF_CHANNEL)
    assert shop.ephemeral_texts(refused) == ["Only the person teaching can choose here."]
    await shop.send_message(TAUGHT, author=OTHER_CUSTOMER)
    assert shop.sent_messages(SUPPORT_CHANNEL)[-1]["content"] == old  # nothing changed yet

    replaced = await shop.click("Replace the answer", user=STAFF, channel_id=STAFF_CHANNEL)
    assert any("Replaced the answer of #" in text for text in shop.interaction_texts(replaced))
    await shop.send_message("구독 안내 부탁해요", author=OTHER_CUSTOMER)
    assert shop.sent_messages(SUPPORT_CHANNEL)[-1]["content"] == NEW


async def test_staff_answering_a_taught_question_with_its_own_answer_are_not_asked_to_replace_it(shop):
    """The same answer (spacing aside) is kept quietly: no Replace / Keep buttons."""
    await shop.send_message(TAUGHT)
    old = shop.sent_messages(SUPPORT_CHANNEL)[-1]["content"]
    await shop.click("👎", user=CUSTOMER, channel_id=SUPPORT_CHANNEL)
    clicked = await shop.click("Answer & teach", user=STAFF, channel_id=STAFF_CHANNEL)
    answered = await shop.submit_modal(clicked, [TAUGHT, old.replace(" ", "  ")], user=STAFF, channel_id=STAFF_CHANNEL)
    [said] = shop.ephemeral_texts(answered)
    assert said.startswith(f"Sent to <@{CUSTOMER.id}>. “{TAUGHT}” was taught already (#") and said.endswith("its answer was kept.")
    assert not [c for c in shop.interaction_calls(answered) if (c.payload or {}).get("components")]


async def test_an_old_answer_is_not_rated(shop):
    """Past RATING_DAYS a click says so quietly and changes nothing."""
    await shop.send_message(TAUGHT)
    storage = shop.bot.services.storage
    await storage.answers.flush()
    async with storage.database.write() as conn:
        await conn.execute(update(support_answers).values(at=datetime(2026, 1, 1, tzinfo=timezone.utc)))
    clicked = await shop.click("👎", user=CUSTOMER, channel_id=SUPPORT_CHANNEL)
    assert shop.ephemeral_texts(clicked) == ["This answer was rated already, or is too old to rate; ask again and rate the new one."]
    assert [rating for *_, rating in await stored_answers(shop)] == [None]
    assert [p for p in shop.sent_messages(STAFF_CHANNEL) if "Handoff #" in p.get("content", "")] == []


async def test_usage_shows_where_answers_came_from_and_how_they_were_rated(shop):
    """/usage ends with the answers' sources and the customers' ratings."""
    await shop.send_message("오늘 영업해요?", author=OTHER_CUSTOMER)
    await shop.send_message(TAUGHT)
    await shop.click("👍", user=CUSTOMER, channel_id=SUPPORT_CHANNEL)
    shown = shop.ephemeral_texts(await shop.slash("usage", user=ADMIN))
    assert shown[-1].endswith("Support answers, last 7 days: 2 (taught answers 1, the model 1); 👍 1 · 👎 0 (100% 👍)")
    korean = shop.ephemeral_texts(await shop.slash("usage", user=ADMIN, locale="ko"))
    assert korean[-1].endswith("최근 7일 상담 답변: 2건 (가르친 답변 1, 모델 1); 👍 1 · 👎 0 (100% 👍)")


async def test_suggest_groups_the_untaught_questions_most_asked_first_and_teaches_from_a_button(shop, fake_openai):
    """Three wordings of one untaught question (two customers) are one suggestion, ahead of a single one; Teach opens the form."""
    for number, question in enumerate(["선물 포장 되나요?", "선물포장 가능한가요?", "주차 되나요?", "선물 포장 해주세요"]):
        await shop.send_message(question, author=(CUSTOMER, OTHER_CUSTOMER)[number % 2])
    await shop.send_message(TAUGHT)  # answered from the examples: never suggested
    shown = shop.ephemeral_texts(await shop.slash("examples suggest", user=STAFF))
    lines = shown[0].splitlines()
    assert lines[1:4] == ["1. “선물 포장 해주세요” · 2 customers", "   also: “선물포장 가능한가요?”; “선물 포장 되나요?”", "2. “주차 되나요?” · 1 customer"]
    assert TAUGHT not in shown[0]

    refused = await shop.click("Teach 1", user=CUSTOMER, channel_id=SUPPORT_CHANNEL)
    assert "Only staff" in shop.ephemeral_texts(refused)[0]
    opened = await shop.click("Teach 1", user=STAFF, channel_id=SUPPORT_CHANNEL)
    form = shop.modal_of(opened)
    assert form["components"][0]["components"][0]["value"].startswith("선물")
    await shop.submit_modal(opened, ["선물 포장 되나요?", "네, 2,000원에 포장해 드려요."], user=STAFF, channel_id=SUPPORT_CHANNEL)
    again = shop.ephemeral_texts(await shop.slash("examples suggest", user=STAFF))
    assert again[0].splitlines()[1] == "1. “주차 되나요?” · 1 customer"  # taught now: no longer suggested


async def test_a_second_rating_is_refused_and_a_duplicate_answer_row_does_not_jam_the_batch(shop):
    """The asker rates once; a row another process wrote already is skipped, and later answers are still kept."""
    asked = await shop.send_message(TAUGHT)
    await shop.click("👍", user=CUSTOMER, channel_id=SUPPORT_CHANNEL)
    with pytest.raises(UserError, match="rated already"):
        await shop.bot.feedback.rate(int(asked["id"]), customer_id=CUSTOMER.id, up=False)
    storage = shop.bot.services.storage
    storage.answers.record(  # the same key again, as a second process answering the same message would
        key=int(asked["id"]), customer_id=CUSTOMER.id, guild_id=None, channel_id=None, replied_to=None,
        question=TAUGHT, answer="dup", source="taught", example_id=None, latency_ms=1,
    )
    later = await shop.send_message("오늘 영업해요?")
    rows = await stored_answers(shop)
    assert [str(key) for key, *_ in rows] == [asked["id"], later["id"]] and rows[0][5] == 1


async def test_suggest_speaks_korean_to_a_korean_staff_member_and_its_teach_button_opens_a_korean_form(shop, fake_openai):
    """/examples suggest from a Korean Discord: the empty reply, the list, its Teach buttons and their form are in Korean."""
    empty = shop.ephemeral_texts(await shop.slash("examples suggest", user=STAFF, locale="ko"))
    assert empty == ["최근 14일 동안의 질문은 모두 가르친 답변을 받았어요."]
    assert shop.ephemeral_texts(await shop.slash("examples suggest", user=STAFF, days=1)) == ["Every question of the last day got a taught answer."]

    for number, question in enumerate(["선물 포장 되나요?", "선물포장 가능한가요?", "주차 되나요?"]):
        await shop.send_message(question, author=(CUSTOMER, OTHER_CUSTOMER)[number % 2])
    shown = shop.ephemeral_texts(await shop.slash("examples suggest", user=STAFF, locale="ko"))
    assert shown[0].splitlines() == [
        "최근 14일 동안 가르친 답변 없이 가장 많이 물은 질문이에요 (하나를 가르치면 묶인 질문에 모두 답해요):",
        "1. “선물포장 가능한가요?” · 고객 2명",
        "   비슷한 질문: “선물 포장 되나요?”",
        "2. “주차 되나요?” · 고객 1명",
    ]
    opened = await shop.click("가르치기 1", user=STAFF, channel_id=SUPPORT_CHANNEL, locale="ko")
    form = shop.modal_of(opened)
    assert (form["title"], form["components"][0]["components"][0]["value"]) == ("봇에게 답변 가르치기", "선물포장 가능한가요?")


async def test_a_korean_customer_is_thanked_and_refused_in_korean(shop):
    """The rating buttons' replies follow the clicking member's language, a second rating's refusal too."""
    await shop.send_message(TAUGHT)
    refused = await shop.click("👍", user=OTHER_CUSTOMER, channel_id=SUPPORT_CHANNEL, locale="ko")
    assert shop.ephemeral_texts(refused) == ["질문하신 고객님만 이 답변을 평가할 수 있어요."]
    rated = await shop.click("👍", user=CUSTOMER, channel_id=SUPPORT_CHANNEL, locale="ko")
    assert shop.ephemeral_texts(rated) == ["알려 주셔서 감사합니다!"]
    again = await shop.click("👎", user=CUSTOMER, channel_id=SUPPORT_CHANNEL, locale="ko")
    assert shop.ephemeral_texts(again) == ["이미 평가했거나 평가 기간이 지난 답변이에요. 다시 질문하신 뒤 새 답변을 평가해 주세요."]
