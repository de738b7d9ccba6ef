"""Handoffs: a question support can't answer reaches staff, their answer reaches the customer and becomes an example."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import timedelta

import pytest
import pytest_asyncio
from discord_fakes import CUSTOMER, GENERAL_CHANNEL, GUILD_ID, OTHER_CUSTOMER, STAFF, SUPPORT_CHANNEL

from bot.handoffs import asks_for_staff
from bot.services import open_services
from cogs.handoffs import HANDED_OVER, JOINED, remind
from bot.support import FOLLOW_UP
from conftest import both_engines, logged_in, open_storage, query

pytestmark = both_engines

STAFF_CHANNEL = GENERAL_CHANNEL
NOBODY_TAUGHT = "선물 포장 되나요? 친구 생일이라서요"
PARAPHRASE = "선물포장 가능한가요?"
STAFF_ANSWER = "네, 선물 포장은 2,000원이고 주문서 요청사항에 '선물 포장'이라고 적어 주시면 돼요."


@pytest_asyncio.fixture
async def shop(settings, validation_executor):
    """The bot offline (no API key) with a staff channel, logged in to a fake Discord."""
    offline = replace(settings, openai_api_key=None, staff_channel=STAFF_CHANNEL)
    async with open_services(offline, executor=validation_executor) as services:
        async with logged_in(services) as fake:  # closing unloads the cogs: their tasks stop before the database closes
            yield fake


@pytest_asyncio.fixture
async def korean_shop(settings, validation_executor):
    """The same shop with BOT_LANGUAGE=ko: its staff channel is in a Korean server."""
    korean = replace(settings, openai_api_key=None, staff_channel=STAFF_CHANNEL, bot_language="ko")
    async with open_services(korean, executor=validation_executor) as services:
        async with logged_in(services) as fake:
            yield fake


def staff_posts(shop) -> list[dict]:
    return [p for p in shop.sent_messages(STAFF_CHANNEL) if "Handoff #" in p.get("content", "")]


def replies_to(shop, message: dict) -> list[str]:
    return [
        p["content"] for p in shop.sent_messages(SUPPORT_CHANNEL)
        if str((p.get("message_reference") or {}).get("message_id")) == message["id"]
    ]


@pytest.mark.parametrize(
    ("question", "asks"),
    [
        ("상담원 연결해 주세요", True),
        ("Is this treat safe for human consumption?", False),
        ("Can a person order more than 3 boxes?", False),
        ("사람과 강아지가 같이 먹어도 되나요?", False),
        ("사람이랑 강아지 둘 다 먹어도 돼요?", False),
        ("사람이랑 얘기하고 싶어요ㅠㅠ", True),
        ("직원 분이랑 통화 가능할까요", True),
        ("can i talk to a human pls", True),
        ("i want to speak with your staff", True),
        ("배송 언제 와요?", False),
        ("사람 많으면 배송 늦어지나요?", False),
        ("is this for humans or pets", False),
    ],
)
def test_a_customer_asking_for_a_person_is_recognised(question, asks):
    assert asks_for_staff(question) is asks


async def test_an_unanswerable_question_reaches_staff_and_their_answer_reaches_the_customer_and_is_taught(shop):
    """Offline and untaught: handed over; staff answer in a form; the customer gets it; the next customer is answered."""
    asked = await shop.send_message(NOBODY_TAUGHT)
    assert replies_to(shop, asked) == [HANDED_OVER]
    [post] = staff_posts(shop)
    assert "Handoff #1" in post["content"] and f"<@{CUSTOMER.id}>" in post["content"] and NOBODY_TAUGHT in post["content"]
    assert post["allowed_mentions"]["parse"] == []  # staff see who asked; nobody is pinged
    assert [c.path for c in shop.calls if c.path.endswith("/threads")]  # a thread per handoff

    clicked = await shop.click("Answer & teach", user=STAFF, channel_id=STAFF_CHANNEL)
    await shop.submit_modal(clicked, ["선물 포장 되나요?", STAFF_ANSWER], user=STAFF, channel_id=STAFF_CHANNEL)

    [delivered] = replies_to(shop, asked)[1:]
    assert STAFF_ANSWER in delivered and delivered.startswith(f"<@{CUSTOMER.id}> **Our staff answered**")
    assert any("✅ Answered by" in e.payload.get("content", "") for e in shop.edits(STAFF_CHANNEL))

    next_customer = await shop.send_message(PARAPHRASE, author=OTHER_CUSTOMER)
    assert replies_to(shop, next_customer) == [STAFF_ANSWER]


async def test_repeated_questions_join_one_handoff(shop):
    """A customer's second unanswerable question joins their open handoff: one post, updated."""
    await shop.send_message(NOBODY_TAUGHT)
    again = await shop.send_message("그리고 쇼핑백도 따로 주시나요?")
    assert replies_to(shop, again) == [JOINED]
    [post] = staff_posts(shop)
    [edit] = [e for e in shop.edits(STAFF_CHANNEL) if "쇼핑백" in e.payload.get("content", "")]
    assert NOBODY_TAUGHT in edit.payload["content"]
    waiting, total = await shop.bot.handoffs.open_ones()
    assert (len(waiting), total) == (1, 1)


async def test_only_staff_can_answer_and_only_once(shop):
    """A customer clicking Answer gets a refusal and no form; a second answer after the first is refused."""
    await shop.send_message(NOBODY_TAUGHT)
    refused = await shop.click("Answer only", user=CUSTOMER, channel_id=STAFF_CHANNEL)
    assert shop.ephemeral_texts(refused) == ["Only staff (a STAFF_ROLES role) and admins can answer customers."]
    assert not [c for c in shop.interaction_calls(refused) if (c.payload or {}).get("type") == 9]

    first = await shop.click("Answer only", user=STAFF, channel_id=STAFF_CHANNEL)
    second = await shop.click("Answer only", user=STAFF, channel_id=STAFF_CHANNEL)  # opened before the first is sent
    await shop.submit_modal(first, [STAFF_ANSWER], user=STAFF, channel_id=STAFF_CHANNEL)
    late = await shop.submit_modal(second, ["다른 답변"], user=STAFF, channel_id=STAFF_CHANNEL)
    assert shop.ephemeral_texts(late) == [f"Handoff #1 was already answered by <@{STAFF.id}>; nothing was sent."]
    assert sum(STAFF_ANSWER in text for text in shop.shown_messages(SUPPORT_CHANNEL)) == 1
    assert not any("다른 답변" in text for text in shop.shown_messages(SUPPORT_CHANNEL))


async def test_answer_only_does_not_teach(shop):
    await shop.send_message(NOBODY_TAUGHT)
    clicked = await shop.click("Answer only", user=STAFF, channel_id=STAFF_CHANNEL)
    await shop.submit_modal(clicked, [STAFF_ANSWER], user=STAFF, channel_id=STAFF_CHANNEL)
    later = await shop.send_message(NOBODY_TAUGHT, author=OTHER_CUSTOMER)
    assert replies_to(shop, later) == [HANDED_OVER]


async def test_asking_for_a_person_hands_over_unless_a_taught_answer_covers_it(shop):
    """The sample teaches what to say to "상담원과 통화하고 싶어요"; a wish to talk to a person it doesn't cover is handed over."""
    taught = await shop.send_message("상담원 연결해주세요")
    assert replies_to(shop, taught)[0].startswith("고객센터 전화 1588-0000")
    asked = await shop.send_message("사람이랑 얘기하고 싶어요")
    assert replies_to(shop, asked) == [HANDED_OVER]
    [post] = staff_posts(shop)
    assert "asked for staff" in post["content"]


async def test_talk_to_staff_under_an_answer_is_the_askers_alone(shop):
    """A taught answer carries Talk to staff; another customer can't use it; the asker's click hands over with the answer."""
    asked = await shop.send_message("구독 안내 부탁드려요.")
    [answer] = replies_to(shop, asked)
    refused = await shop.click("Talk to staff", user=OTHER_CUSTOMER, channel_id=SUPPORT_CHANNEL)
    assert "Only the customer who asked" in shop.ephemeral_texts(refused)[0]
    assert staff_posts(shop) == []

    clicked = await shop.click("Talk to staff", user=CUSTOMER, channel_id=SUPPORT_CHANNEL)
    assert shop.ephemeral_texts(clicked) == [HANDED_OVER]
    [post] = staff_posts(shop)
    assert "구독 안내 부탁드려요." in post["content"] and "**The bot answered:** 하루바 칵테일 박스 구독은" in post["content"]


async def test_a_waiting_handoff_is_announced_once_more(shop):
    await shop.send_message(NOBODY_TAUGHT)
    shop.bot.handoffs.remind_after = timedelta(0)
    await remind(shop.bot)
    await remind(shop.bot)
    reminders = [p for p in shop.sent_messages(STAFF_CHANNEL) if p.get("content", "").startswith("⏰ **Still waiting")]
    assert len(reminders) == 1 and NOBODY_TAUGHT in reminders[0]["content"]
    assert reminders[0]["components"]  # answerable from the reminder too


async def test_open_handoffs_survive_a_restart_and_staff_list_them(settings, shop):
    await shop.send_message(NOBODY_TAUGHT)
    storage = await open_storage(settings)
    try:
        [waiting] = await storage.handoffs.open_ones()
        assert (waiting.customer_id, waiting.question, waiting.reason) == (CUSTOMER.id, NOBODY_TAUGHT, "no answer")
        assert waiting.staff_message_id is not None
    finally:
        await storage.close()
    listed = await shop.slash("handoffs", user=STAFF)
    assert f"**#1** <@{CUSTOMER.id}>" in shop.ephemeral_texts(listed)[0]
    refused = await shop.slash("handoffs", user=CUSTOMER)
    assert "Only staff" in shop.interaction_texts(refused)[-1]


async def test_ask_with_no_answer_hands_over_and_the_answer_comes_back_in_that_channel(shop):
    """/ask offline: handed over; staff's answer is posted in the channel where /ask ran."""
    asked = await shop.slash("ask", user=CUSTOMER, channel_id=SUPPORT_CHANNEL, question=NOBODY_TAUGHT)
    assert shop.interaction_texts(asked)[-1] == HANDED_OVER
    clicked = await shop.click("Answer only", user=STAFF, channel_id=STAFF_CHANNEL)
    await shop.submit_modal(clicked, [STAFF_ANSWER], user=STAFF, channel_id=STAFF_CHANNEL)
    assert any(STAFF_ANSWER in text for text in shop.shown_messages(SUPPORT_CHANNEL))


async def test_a_model_that_does_not_know_hands_over_and_its_marker_is_never_shown(settings, validation_executor, fake_openai):
    """The model replies HANDOFF (as the support prompt asks when nothing taught fits): staff get it, the customer never sees it."""
    fake_openai.reply = "HANDOFF"
    async with open_services(replace(settings, staff_channel=STAFF_CHANNEL), executor=validation_executor) as services:
        async with logged_in(services) as fake:
            asked = await fake.send_message("강아지 간식도 파나요?")
            assert replies_to(fake, asked) == [HANDED_OVER]
            [post] = staff_posts(fake)
            assert "the model did not know" in post["content"]
            assert not any("HANDOFF" in text for text in fake.shown_messages(SUPPORT_CHANNEL))
    assert "reply with exactly HANDOFF" in fake_openai.chat_requests()[-1]["messages"][0]["content"]


async def test_a_question_added_while_staff_write_is_not_answered_unseen(shop):
    """Staff open the form; the customer adds a question; the answer is refused until staff look again."""
    await shop.send_message(NOBODY_TAUGHT)
    opened = await shop.click("Answer only", user=STAFF, channel_id=STAFF_CHANNEL)
    await shop.send_message("그리고 쇼핑백도 따로 주시나요?")
    sent = await shop.submit_modal(opened, [STAFF_ANSWER], user=STAFF, channel_id=STAFF_CHANNEL)
    assert "added a question" in shop.ephemeral_texts(sent)[0]
    assert not any(STAFF_ANSWER in text for text in shop.shown_messages(SUPPORT_CHANNEL))


async def test_an_answer_that_cannot_be_delivered_leaves_the_handoff_open(shop):
    """Discord refusing the delivery: staff are told, and the handoff is open again for another try."""
    await shop.send_message(NOBODY_TAUGHT)
    opened = await shop.click("Answer only", user=STAFF, channel_id=STAFF_CHANNEL)
    shop.fail_next("POST", rf"/channels/{SUPPORT_CHANNEL}/messages", 403)
    sent = await shop.submit_modal(opened, [STAFF_ANSWER], user=STAFF, channel_id=STAFF_CHANNEL)
    assert shop.ephemeral_texts(sent) == [f"Couldn't send it to <@{CUSTOMER.id}>. The handoff is open again."]
    waiting, _ = await shop.bot.handoffs.open_ones()
    assert [h.id for h in waiting] == [1]


async def test_a_staff_channel_that_refuses_posts_loses_nothing(shop):
    """The post fails: the customer is still told, the handoff stays open, and the reminder posts it once it can."""
    shop.fail_next("POST", rf"/channels/{STAFF_CHANNEL}/messages", 403)
    asked = await shop.send_message(NOBODY_TAUGHT)
    assert replies_to(shop, asked) == [HANDED_OVER]
    assert shop.shown_messages(STAFF_CHANNEL) == []  # refused
    shop.bot.handoffs.remind_after = timedelta(0)
    shop.fail_next("POST", rf"/channels/{STAFF_CHANNEL}/messages", 403)
    await remind(shop.bot)  # refused again: tried again next time
    await remind(shop.bot)
    await remind(shop.bot)  # posted once: not again
    [shown] = shop.shown_messages(STAFF_CHANNEL)
    assert shown.startswith("⏰ **Still waiting") and NOBODY_TAUGHT in shown


async def test_without_a_staff_channel_nothing_is_promised_and_the_answer_is_kept_as_unanswered(settings, validation_executor):
    """No STAFF_CHANNEL: the customer is not told staff will answer, and the question is kept as one with no answer."""
    offline = replace(settings, openai_api_key=None)
    async with open_services(offline, executor=validation_executor) as services:
        async with logged_in(services) as fake:
            asked = await fake.send_message(NOBODY_TAUGHT)
            assert replies_to(fake, asked) == [FOLLOW_UP]
            await services.storage.answers.flush()
            [(source,)] = await query(services.storage, "SELECT source FROM support_answers")
            assert source == "none"


# -- the customer's language -------------------------------------------------------------


async def test_a_korean_server_gets_the_bots_lines_in_korean_and_staff_answers_under_a_korean_heading(settings, validation_executor):
    """BOT_LANGUAGE=ko: the handoff line and the delivered answer's heading are Korean; the staff answer itself is as written."""
    korean = replace(settings, openai_api_key=None, staff_channel=STAFF_CHANNEL, bot_language="ko")
    async with open_services(korean, executor=validation_executor) as services:
        async with logged_in(services) as fake:
            asked = await fake.send_message(NOBODY_TAUGHT)
            assert replies_to(fake, asked) == ["담당 직원에게 전달했어요. 답변은 여기로 보내 드릴게요."]
            clicked = await fake.click("답변만 하기", user=STAFF, channel_id=STAFF_CHANNEL)  # the staff post is Korean too
            await fake.submit_modal(clicked, [STAFF_ANSWER], user=STAFF, channel_id=STAFF_CHANNEL)
            delivered = replies_to(fake, asked)[1]
            assert delivered.startswith(f"<@{CUSTOMER.id}> **직원 답변** “선물 포장 되나요? 친구 생일이라서요”:") and STAFF_ANSWER in delivered
            taught = await fake.send_message("구독 안내 부탁드려요.", author=OTHER_CUSTOMER)
            [answer] = [p for p in fake.sent_messages(SUPPORT_CHANNEL) if str(p["message_reference"]["message_id"]) == taught["id"]]
            assert buttons(answer) == [None, None, "직원과 이야기하기"]  # 👍 / 👎 are emoji alone


async def test_without_a_setting_each_server_and_each_member_gets_their_own_language(shop):
    """An English server gets English; a member whose Discord is Korean gets Korean on the buttons they click."""
    asked = await shop.send_message(NOBODY_TAUGHT)
    assert replies_to(shop, asked) == [HANDED_OVER]
    await shop.send_message("구독 안내 부탁드려요.", author=OTHER_CUSTOMER)
    refused = await shop.click("Talk to staff", user=CUSTOMER, channel_id=SUPPORT_CHANNEL, locale="ko")
    assert shop.ephemeral_texts(refused) == ["질문하신 고객님만 직원 연결을 요청할 수 있어요. 직접 질문하시면 같은 버튼이 보여요."]


def buttons(post: dict) -> list[str]:
    return [button.get("label") for row in post["components"] for button in row["components"]]


def form(shop, clicked: int) -> tuple[str, list[str]]:
    """The title and field labels of the form a click opened."""
    modal = shop.modal_of(clicked)
    return modal["title"], [row["components"][0]["label"] for row in modal["components"]]


async def test_a_handoff_in_a_korean_staff_server_is_posted_in_korean_and_a_korean_staff_member_answers_in_korean(korean_shop):
    """BOT_LANGUAGE=ko: the post and its buttons are Korean; the form and the confirmation follow the staff member's Korean Discord."""
    asked = await korean_shop.send_message(NOBODY_TAUGHT)
    [post] = korean_shop.sent_messages(STAFF_CHANNEL)
    link = f"https://discord.com/channels/{GUILD_ID}/{SUPPORT_CHANNEL}/{asked['id']}"
    assert post["content"] == (
        "**직원 연결 #1** · 답변 없음\n"
        f"<#{SUPPORT_CHANNEL}> ([메시지]({link}))에서 <@{CUSTOMER.id}>님이 문의\n"
        f"**질문:** {NOBODY_TAUGHT}"
    )
    assert buttons(post) == ["답변하고 가르치기", "답변만 하기"]

    clicked = await korean_shop.click("답변하고 가르치기", user=STAFF, channel_id=STAFF_CHANNEL, locale="ko")
    assert form(korean_shop, clicked) == ("고객에게 답변하기", ["가르칠 질문 (일반적인 질문으로 고쳐 주세요)", "답변"])
    sent = await korean_shop.submit_modal(clicked, ["선물 포장 되나요?", STAFF_ANSWER], user=STAFF, channel_id=STAFF_CHANNEL, locale="ko")
    [confirmed] = korean_shop.ephemeral_texts(sent)
    assert re.fullmatch(
        rf"<@{CUSTOMER.id}>님에게 보냈어요\. #\d+ 예시로 가르쳤어요\. 다음에 같은 질문을 하는 고객은 바로 이 답변을 받아요\.", confirmed
    )
    [done] = [e.payload["content"] for e in korean_shop.edits(STAFF_CHANNEL) if "✅" in e.payload.get("content", "")]
    assert done.endswith(f"\n\n✅ <@{STAFF.id}>님의 답변: {STAFF_ANSWER}")


async def test_an_english_staff_member_sees_the_form_and_the_confirmation_in_english(shop):
    """The English post, form and confirmation are as they were."""
    await shop.send_message(NOBODY_TAUGHT)
    [post] = staff_posts(shop)
    assert post["content"].startswith("**Handoff #1** · no answer\n") and f"in <#{SUPPORT_CHANNEL}> ([message](" in post["content"]
    assert buttons(post) == ["Answer & teach", "Answer only"]
    clicked = await shop.click("Answer & teach", user=STAFF, channel_id=STAFF_CHANNEL)
    assert form(shop, clicked) == ("Answer the customer", ["Question to teach (edit to the general case)", "Answer"])
    sent = await shop.submit_modal(clicked, ["선물 포장 되나요?", STAFF_ANSWER], user=STAFF, channel_id=STAFF_CHANNEL)
    [confirmed] = shop.ephemeral_texts(sent)
    assert re.fullmatch(rf"Sent to <@{CUSTOMER.id}>\. Taught as #\d+: the next customer asking this gets it at once\.", confirmed)


async def test_a_korean_staff_member_in_an_english_server_gets_the_form_in_korean_while_the_post_stays_english(shop):
    """The post follows the server; the form and the confirmation follow the member who clicks."""
    await shop.send_message(NOBODY_TAUGHT)
    clicked = await shop.click("Answer only", user=STAFF, channel_id=STAFF_CHANNEL, locale="ko")
    assert form(shop, clicked) == ("고객에게 답변하기", ["답변"])
    sent = await shop.submit_modal(clicked, [STAFF_ANSWER], user=STAFF, channel_id=STAFF_CHANNEL, locale="ko")
    assert shop.ephemeral_texts(sent) == [f"<@{CUSTOMER.id}>님에게 보냈어요."]
    [done] = [e.payload["content"] for e in shop.edits(STAFF_CHANNEL) if "✅" in e.payload.get("content", "")]
    assert done.endswith(f"\n\n✅ Answered by <@{STAFF.id}>: {STAFF_ANSWER}")


async def test_refusals_on_the_answer_buttons_follow_the_members_language(shop):
    """A Korean customer clicking Answer, and a Korean staff member answering late, are told in Korean."""
    await shop.send_message(NOBODY_TAUGHT)
    refused = await shop.click("Answer only", user=CUSTOMER, channel_id=STAFF_CHANNEL, locale="ko")
    assert shop.ephemeral_texts(refused) == ["직원(STAFF_ROLES 역할)과 관리자만 고객에게 답변할 수 있어요."]

    first = await shop.click("Answer only", user=STAFF, channel_id=STAFF_CHANNEL, locale="ko")
    second = await shop.click("Answer only", user=STAFF, channel_id=STAFF_CHANNEL, locale="ko")
    await shop.submit_modal(first, [STAFF_ANSWER], user=STAFF, channel_id=STAFF_CHANNEL, locale="ko")
    late = await shop.submit_modal(second, ["다른 답변"], user=STAFF, channel_id=STAFF_CHANNEL, locale="ko")
    assert shop.ephemeral_texts(late) == [f"직원 연결 #1에는 이미 <@{STAFF.id}>님이 답변해서 아무것도 보내지 않았어요."]
    again = await shop.click("Answer only", user=STAFF, channel_id=STAFF_CHANNEL, locale="ko")
    assert shop.ephemeral_texts(again) == [f"직원 연결 #1에는 이미 <@{STAFF.id}>님이 답변했어요."]


async def test_a_korean_staff_server_gets_reminders_in_korean_and_each_member_lists_handoffs_in_their_language(korean_shop):
    """The Korean staff server's reminders are Korean; /handoffs answers each member in their own Discord's language."""
    nobody = await korean_shop.slash("handoffs", user=STAFF, locale="ko")
    assert korean_shop.ephemeral_texts(nobody) == ["직원 답변을 기다리는 고객이 없어요."]
    await korean_shop.send_message(NOBODY_TAUGHT)
    korean_shop.bot.handoffs.remind_after = timedelta(0)
    await remind(korean_shop.bot)
    [reminder] = [p for p in korean_shop.sent_messages(STAFF_CHANNEL) if p["content"].startswith("⏰")]
    assert re.match(r"⏰ \*\*<t:\d+:R>부터 기다리는 중: 직원 연결 #1\*\* · 답변 없음\n", reminder["content"])
    assert buttons(reminder) == ["답변하고 가르치기", "답변만 하기"]

    korean = korean_shop.ephemeral_texts(await korean_shop.slash("handoffs", user=STAFF, locale="ko"))
    english = korean_shop.ephemeral_texts(await korean_shop.slash("handoffs", user=STAFF))
    assert korean[0].startswith(f"1건 대기 중, 오래된 순서:\n- **#1** <@{CUSTOMER.id}>")
    assert english[0].startswith(f"1 waiting, oldest first:\n- **#1** <@{CUSTOMER.id}>")


async def test_every_command_and_option_is_synced_with_its_korean_name_and_description(discord_bot):
    """A Korean Discord client shows every command, option and description in Korean (/ask is /질문)."""
    [sync] = discord_bot.command_syncs()
    missing = []

    def check(item: dict, where: str) -> None:
        if not (item.get("name_localizations") or {}).get("ko"):
            missing.append(f"{where}{item['name']} (name)")
        if item.get("description") and not (item.get("description_localizations") or {}).get("ko"):
            missing.append(f"{where}{item['name']} (description)")
        for option in item.get("options") or []:
            check(option, f"{where}{item['name']} ")

    for command in sync.payload:
        check(command, "/")
    assert missing == []
    [ask] = [c for c in sync.payload if c["name"] == "ask"]
    assert (ask["name_localizations"]["ko"], ask["options"][0]["name_localizations"]["ko"]) == ("질문", "질문내용")


async def test_a_staff_server_held_by_another_shard_gets_its_posts_in_its_own_language(shop):
    """Sharded, without BOT_LANGUAGE: this process does not hold the staff's server, so its language is asked of Discord, once."""
    shop.guild_locale = "ko"
    shop.state._remove_guild(shop.bot.get_guild(GUILD_ID))  # another process's shard holds it
    await shop.send_message(NOBODY_TAUGHT, channel_id=None)  # a DM reaches this process
    await shop.send_message("주차 되나요?", author=OTHER_CUSTOMER, channel_id=None)
    posts = [p for p in shop.sent_messages(STAFF_CHANNEL) if "직원 연결 #" in p.get("content", "")]
    assert [p["content"].splitlines()[0] for p in posts] == ["**직원 연결 #1** · 답변 없음", "**직원 연결 #2** · 답변 없음"]
    assert buttons(posts[0]) == ["답변하고 가르치기", "답변만 하기"]
    assert [c.path for c in shop.calls if c.method == "GET" and c.path.startswith("/guilds/")] == [f"/guilds/{GUILD_ID}"]
