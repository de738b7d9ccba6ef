"""Teaching through Discord: /teach (direct and form), duplicates, "Teach as answer", /examples."""

from __future__ import annotations

import asyncio
import json

import pytest
from discord_fakes import ADMIN, CUSTOMER, MANAGER, STAFF, SUPPORT_CHANNEL, FakeFile

from bot.dataset import validate_dataset
from bot.services import open_services
from conftest import SUPPORT_PROMPT, both_engines

pytestmark = both_engines  # every test here runs on SQLite and on PostgreSQL

SAMPLE_COUNT = 24


async def test_teach_with_options_saves_and_confirms_what_was_saved(discord_bot, storage):
    """/teach question answer stores the example with its author before confirming it."""
    interaction = await discord_bot.slash("teach", user=STAFF, question="선물 포장 되나요?", answer="네, 2,000원에 포장해 드려요.")

    [example] = [e for e in await storage.examples.all() if e.question == "선물 포장 되나요?"]
    assert example.answer == "네, 2,000원에 포장해 드려요." and example.author_id == STAFF.id
    assert discord_bot.ephemeral_texts(interaction) == [
        f"Saved as #{example.id}.\n\n**Q:** 선물 포장 되나요?\n**A:** 네, 2,000원에 포장해 드려요."
    ]


async def test_another_process_on_the_same_database_answers_what_was_taught(discord_bot, settings, validation_executor):
    """Two bot processes (shards) on one database: what staff teach in one is answered word for word by the other."""
    async with open_services(settings, executor=validation_executor) as other:
        catching_up = asyncio.create_task(other.teaching.follow_changes(interval=0.02))
        try:
            question = "주차 되나요?"
            assert await other.support.answer(question) == f"echo: {question}"  # not taught yet: the model answers
            await discord_bot.slash("teach", user=STAFF, question=question, answer="건물 뒤 공영주차장을 이용해 주세요.")
            async with asyncio.timeout(5):
                while await other.support.answer(question) != "건물 뒤 공영주차장을 이용해 주세요.":
                    await asyncio.sleep(0.02)
        finally:
            catching_up.cancel()
            await asyncio.gather(catching_up, return_exceptions=True)
    assert not await discord_bot.bot.teaching.catch_up()  # its own change is indexed already


async def test_teach_without_options_opens_a_form_that_saves(discord_bot, storage):
    """/teach alone opens a form with a question and a multi-line answer field."""
    opened = await discord_bot.slash("teach", user=STAFF)
    modal = discord_bot.modal_of(opened)
    fields = [row["components"][0] for row in modal["components"]]
    assert [(f["label"], f["style"], f["max_length"]) for f in fields] == [("Customer question", 1, 1000), ("Answer", 2, 4000)]

    submitted = await discord_bot.submit_modal(opened, ["영수증 발급 되나요?", "마이페이지에서\n바로 출력할 수 있어요."], user=STAFF)

    assert any(e.question == "영수증 발급 되나요?" and e.answer == "마이페이지에서\n바로 출력할 수 있어요." for e in await storage.examples.all())
    assert discord_bot.ephemeral_texts(submitted)[0].startswith("Saved as #")


async def test_blank_form_fields_are_refused_and_nothing_is_saved(discord_bot, storage):
    """Whitespace-only answers get a clear error."""
    opened = await discord_bot.slash("teach", user=STAFF)
    submitted = await discord_bot.submit_modal(opened, ["영수증 발급 되나요?", "   "], user=STAFF)

    assert discord_bot.ephemeral_texts(submitted) == ["The answer is empty; write the answer customers should get."]
    assert len(await storage.examples.all()) == SAMPLE_COUNT


@pytest.mark.parametrize(
    ("question", "answer", "error"),
    [
        ("q" * 1001, "a", "The question is 1,001 characters; keep it under 1,000."),
        ("q", "a" * 4001, "The answer is 4,001 characters; keep it under 4,000."),
    ],
)
async def test_overlong_fields_are_refused(discord_bot, storage, question, answer, error):
    """A question over 1,000 or an answer over 4,000 characters is refused."""
    interaction = await discord_bot.slash("teach", user=STAFF, question=question, answer=answer)

    assert discord_bot.ephemeral_texts(interaction) == [error]
    assert len(await storage.examples.all()) == SAMPLE_COUNT


async def test_a_long_taught_answer_still_leaves_the_question_to_replace_it_in_one_message(discord_bot, storage):
    """A 4,000-character taught answer is cut in the quote, so the message fits Discord and still asks."""
    long_answer = "배송 안내입니다. " * 400
    await discord_bot.slash("teach", user=STAFF, question="선물 포장 되나요?", answer=long_answer[:4000])
    asked = await discord_bot.slash("teach", user=STAFF, question="선물 포장 되나요?", answer="네, 2,000원이에요.")
    [offer] = discord_bot.ephemeral_texts(asked)
    assert len(offer) <= 2000 and offer.endswith("Replace it with your new answer?") and "…" in offer
    await discord_bot.click("Replace the answer", user=STAFF)
    assert [e.answer for e in await storage.examples.all() if e.question == "선물 포장 되나요?"] == ["네, 2,000원이에요."]


async def test_taught_question_asks_before_replacing_and_replace_updates_the_answer(discord_bot, storage):
    """The same question (other case, spacing, punctuation) asks first; Replace changes the answer, no duplicate."""
    interaction = await discord_bot.slash("teach", user=STAFF, question="배송은  얼마나 걸리나요", answer="이틀이면 도착해요.")

    [asked] = discord_bot.ephemeral_texts(interaction)
    assert asked.startswith("“배송은 얼마나 걸리나요?” is already taught (#1) with this answer:")
    assert len(await storage.examples.all()) == SAMPLE_COUNT

    replaced = await discord_bot.click("Replace the answer", user=STAFF)
    assert (await storage.examples.get(1)).answer == "이틀이면 도착해요."
    assert len(await storage.examples.all()) == SAMPLE_COUNT
    # "주문하면 언제 도착해요?" shared the old answer: the same question in other words, replaced too, and said so.
    sibling = next(e for e in await storage.examples.all() if e.question == "주문하면 언제 도착해요?")
    assert sibling.answer == "이틀이면 도착해요."
    [confirmation] = [c.payload["content"] for c in discord_bot.interaction_calls(replaced) if c.payload and "content" in c.payload]
    assert confirmation.startswith(f"Replaced the answer of #1 and of its other phrasing (#{sibling.id}).")


async def test_keeping_the_current_answer_changes_nothing(discord_bot, storage):
    """Keep leaves the taught answer as it was."""
    before = (await storage.examples.get(1)).answer
    await discord_bot.slash("teach", user=STAFF, question="배송은 얼마나 걸리나요?", answer="다른 답")
    await discord_bot.click("Keep the current answer", user=STAFF)

    assert (await storage.examples.get(1)).answer == before


async def test_only_the_teacher_can_answer_the_replace_question(discord_bot, storage):
    """Another member clicking Replace changes nothing."""
    before = (await storage.examples.get(1)).answer
    await discord_bot.slash("teach", user=STAFF, question="배송은 얼마나 걸리나요?", answer="다른 답")
    await discord_bot.click("Replace the answer", user=CUSTOMER)

    assert (await storage.examples.get(1)).answer == before


@pytest.mark.parametrize(("name", "options"), [("teach", {"question": "q", "answer": "a"}), ("examples list", {}), ("examples remove", {"example_id": 1}), ("examples export", {})])
async def test_non_staff_are_refused(discord_bot, storage, name, options):
    """Customers can't teach or manage examples, whatever Discord shows them."""
    interaction = await discord_bot.slash(name, user=CUSTOMER, **options)

    assert discord_bot.ephemeral_texts(interaction) == ["Only staff (a STAFF_ROLES role) and admins can use this command."]
    assert len(await storage.examples.all()) == SAMPLE_COUNT


@pytest.mark.parametrize("member", [STAFF, ADMIN, MANAGER], ids=["staff role by id", "admin role by name", "manage server"])
async def test_staff_and_admins_can_teach(discord_bot, storage, member):
    """Staff (STAFF_ROLES by ID) and admins (ADMIN_ROLES by name, or Manage Server) may teach."""
    await discord_bot.slash("teach", user=member, question="쿠폰은 어디서 받나요?", answer="이벤트 페이지에서 받으세요.")

    assert any(e.question == "쿠폰은 어디서 받나요?" for e in await storage.examples.all())


async def test_teach_as_answer_prefills_the_form_from_a_staff_reply(discord_bot):
    """Right-click "Teach as answer" on a staff reply opens the form with the customer's question and that reply."""
    question = discord_bot.message_payload("세트 상품도 따로 살 수 있나요?", author=CUSTOMER, channel_id=SUPPORT_CHANNEL)
    reply = discord_bot.message_payload("네, 상품 페이지에서 낱개 옵션을 고르시면 됩니다.", author=STAFF, channel_id=SUPPORT_CHANNEL, reply_to=question)
    opened = await discord_bot.message_command("Teach as answer", reply, user=STAFF)

    fields = [row["components"][0] for row in discord_bot.modal_of(opened)["components"]]
    assert [f.get("value") for f in fields] == ["세트 상품도 따로 살 수 있나요?", "네, 상품 페이지에서 낱개 옵션을 고르시면 됩니다."]


async def test_teach_as_answer_is_refused_to_customers(discord_bot):
    """Customers can't use the message command either."""
    message = discord_bot.message_payload("hello", author=CUSTOMER, channel_id=SUPPORT_CHANNEL)
    interaction = await discord_bot.message_command("Teach as answer", message, user=CUSTOMER)

    assert discord_bot.ephemeral_texts(interaction) == ["Only staff (a STAFF_ROLES role) and admins can use this command."]


async def test_examples_list_is_paged_and_searchable(discord_bot):
    """/examples list shows IDs ten to a page; search narrows it."""
    first = await discord_bot.slash("examples list", user=STAFF)
    text = discord_bot.ephemeral_texts(first)[0]
    assert text.startswith("24 examples · page 1 of 3") and "`#1` 배송은 얼마나 걸리나요?" in text and "`#11`" not in text

    third = await discord_bot.slash("examples list", user=STAFF, page=3)
    assert "`#21`" in discord_bot.ephemeral_texts(third)[0]

    found = await discord_bot.slash("examples list", user=STAFF, search="구독")
    assert discord_bot.ephemeral_texts(found)[0].startswith("8 examples matching “구독” · page 1 of 1")


async def test_examples_remove_deletes_and_is_audited(discord_bot, storage):
    """Removing an example deletes it and records who did it."""
    interaction = await discord_bot.slash("examples remove", user=STAFF, example_id=3)

    assert discord_bot.ephemeral_texts(interaction) == ["Removed #3: “택배 송장번호는 어디서 확인하나요?”."]
    assert await storage.examples.get(3) is None
    latest = (await storage.examples.audit_log(1))[0]
    assert (latest.action, latest.actor_id, latest.example_id) == ("remove", STAFF.id, 3)


async def test_removing_a_missing_example_says_so(discord_bot):
    """An unknown ID gets a clear line."""
    interaction = await discord_bot.slash("examples remove", user=STAFF, example_id=999)

    assert discord_bot.ephemeral_texts(interaction) == ["There is no example #999."]


async def test_export_validates_and_imports_into_an_empty_library_unchanged(discord_bot, storage, tmp_path, matcher):
    """Export gives a training-format file that validates cleanly; importing it elsewhere gives the same examples."""
    from bot.storage import Storage
    from bot.teaching import TeachingService

    await discord_bot.slash("teach", user=STAFF, question="선물 포장 되나요?", answer="네.\n2,000원입니다.")
    interaction = await discord_bot.slash("examples export", user=STAFF)
    [call] = [c for c in discord_bot.interaction_calls(interaction) if c.files]
    exported = call.files[0].fp.read()

    report = validate_dataset(exported, token_limit=65_536)
    assert report.ok and report.examples == 25
    assert json.loads(exported.splitlines()[0])["messages"][0] == {"role": "system", "content": SUPPORT_PROMPT}

    other = await Storage.open(None, tmp_path / "other.db")
    try:
        library = TeachingService(other.examples, matcher, system_prompt=SUPPORT_PROMPT)
        await library.start(None)
        result = await library.import_file(exported, "examples.jsonl", actor_id=ADMIN.id)
        assert (result.added, result.replaced) == (25, 0)
        assert [(e.question, e.answer) for e in await other.examples.all()] == [(e.question, e.answer) for e in await storage.examples.all()]
    finally:
        await other.close()


async def test_import_adds_question_answer_lines_and_replaces_taught_answers(discord_bot, storage):
    """{"question","answer"} lines are added; a taught question gets the imported answer."""
    lines = [{"question": "쿠폰은 어디서 받나요?", "answer": "이벤트 페이지에서요."}, {"question": "배송은 얼마나 걸리나요", "answer": "하루면 와요."}]
    raw = "\n".join(json.dumps(line, ensure_ascii=False) for line in lines).encode()
    interaction = await discord_bot.slash("examples import", user=STAFF, file=FakeFile("new.jsonl", raw))

    [text] = discord_bot.ephemeral_texts(interaction)
    assert text.splitlines()[0] == "Imported new.jsonl: 1 example added, 1 answer replaced."
    assert (await storage.examples.get(1)).answer == "하루면 와요."
    assert (await storage.examples.audit_log(1))[0].detail == "new.jsonl: 1 added, 1 replaced"


async def test_import_with_a_bad_line_saves_nothing_and_names_the_lines(discord_bot, storage):
    """One invalid line keeps the whole file out, and every bad line is named."""
    raw = '{"question": "좋은 질문", "answer": "좋은 답"}\nnot json\n{"question": "  ", "answer": "x"}\n'.encode()
    interaction = await discord_bot.slash("examples import", user=STAFF, file=FakeFile("bad.jsonl", raw))

    [text] = discord_bot.ephemeral_texts(interaction)
    assert text.startswith("bad.jsonl can't be imported; nothing was saved.")
    assert "- line 2: not valid JSON" in text and "- line 3: The question is empty" in text
    assert len(await storage.examples.all()) == SAMPLE_COUNT


async def test_someone_else_clicking_replace_is_told_and_the_teacher_still_can(discord_bot, storage):
    """Another member's click is refused politely; the teacher's own click still works."""
    await discord_bot.slash("teach", user=STAFF, question="배송은 얼마나 걸리나요?", answer="다른 답")
    refused = await discord_bot.click("Replace the answer", user=CUSTOMER)
    assert discord_bot.ephemeral_texts(refused) == ["Only the person teaching can choose here."]
    assert (await storage.examples.get(1)).answer != "다른 답"

    await discord_bot.click("Replace the answer", user=STAFF)
    assert (await storage.examples.get(1)).answer == "다른 답"


async def test_import_is_refused_to_customers(discord_bot, storage):
    """Customers can't import examples."""
    raw = b'{"question": "q", "answer": "a"}\n'
    interaction = await discord_bot.slash("examples import", user=CUSTOMER, file=FakeFile("x.jsonl", raw))

    assert discord_bot.ephemeral_texts(interaction) == ["Only staff (a STAFF_ROLES role) and admins can use this command."]
    assert len(await storage.examples.all()) == SAMPLE_COUNT


async def test_page_past_the_end_says_how_many_pages_there_are(discord_bot):
    """Asking for page 99 of 3 names the last page instead of saying nothing is taught."""
    interaction = await discord_bot.slash("examples list", user=STAFF, page=99)

    assert discord_bot.ephemeral_texts(interaction) == ["There are only 3 pages of examples; try `page:3`."]


async def test_teach_and_examples_are_hidden_from_members_without_manage_messages(discord_bot):
    """Discord shows the teaching commands to Manage Messages by default, never in DMs."""
    [sync] = discord_bot.command_syncs()
    registered = {c["name"]: c for c in sync.payload}
    for name in ("teach", "examples", "Teach as answer"):
        assert int(registered[name]["default_member_permissions"]) == 1 << 13
        assert registered[name]["dm_permission"] is False


async def test_a_korean_staff_member_is_answered_in_korean_and_an_english_one_in_english(discord_bot, storage):
    """/teach from a Korean Discord confirms in Korean; the same command from an English Discord is unchanged."""
    korean = await discord_bot.slash("teach", user=STAFF, locale="ko", question="선물 포장 되나요?", answer="네, 2,000원에 포장해 드려요.")
    english = await discord_bot.slash("teach", user=STAFF, question="영수증 발급 되나요?", answer="마이페이지에서 출력할 수 있어요.")

    ids = {e.question: e.id for e in await storage.examples.all()}
    assert discord_bot.ephemeral_texts(korean) == [
        f"저장했어요 (#{ids['선물 포장 되나요?']}).\n\n**질문:** 선물 포장 되나요?\n**답변:** 네, 2,000원에 포장해 드려요."
    ]
    assert discord_bot.ephemeral_texts(english) == [
        f"Saved as #{ids['영수증 발급 되나요?']}.\n\n**Q:** 영수증 발급 되나요?\n**A:** 마이페이지에서 출력할 수 있어요."
    ]


async def test_the_teaching_form_and_its_errors_follow_the_members_language(discord_bot, storage):
    """/teach alone opens the form titled and labelled in Korean for a Korean member; a refused field is told in Korean."""
    korean = discord_bot.modal_of(await discord_bot.slash("teach", user=STAFF, locale="ko"))
    english = discord_bot.modal_of(await discord_bot.slash("teach", user=STAFF))

    assert (korean["title"], [row["components"][0]["label"] for row in korean["components"]]) == ("봇에게 답변 가르치기", ["고객 질문", "답변"])
    assert (english["title"], [row["components"][0]["label"] for row in english["components"]]) == ("Teach the bot an answer", ["Customer question", "Answer"])
    too_long = await discord_bot.slash("teach", user=STAFF, locale="ko", question="q" * 1001, answer="a")
    assert discord_bot.ephemeral_texts(too_long) == ["질문이 1,001자예요. 1,000자 이내로 줄여 주세요."]
    assert len(await storage.examples.all()) == SAMPLE_COUNT


async def test_a_korean_teacher_is_asked_in_korean_before_replacing_and_clicks_korean_buttons(discord_bot, storage):
    """The duplicate question, its buttons, a stranger's refusal and the confirmation are all in Korean."""
    asked = await discord_bot.slash("teach", user=STAFF, locale="ko", question="배송은 얼마나 걸리나요", answer="이틀이면 도착해요.")
    [text] = discord_bot.ephemeral_texts(asked)
    assert text.startswith("“배송은 얼마나 걸리나요?” 질문은 이미 이 답변으로 가르쳤어요 (#1):\n>>> ")
    assert text.endswith("\n\n새 답변으로 바꿀까요?")

    refused = await discord_bot.click("답변 바꾸기", user=CUSTOMER, locale="ko")
    assert discord_bot.ephemeral_texts(refused) == ["가르치는 사람만 여기서 고를 수 있어요."]
    replaced = await discord_bot.click("답변 바꾸기", user=STAFF, locale="ko")
    sibling = next(e for e in await storage.examples.all() if e.question == "주문하면 언제 도착해요?")
    [confirmation] = [c.payload["content"] for c in discord_bot.interaction_calls(replaced) if c.payload and "content" in c.payload]
    assert confirmation == (
        f"#1 예시와 그 다른 표현(#{sibling.id})의 답변을 바꿨어요.\n\n**질문:** 배송은 얼마나 걸리나요?\n**답변:** 이틀이면 도착해요."
    )


async def test_a_korean_import_with_a_bad_line_names_the_lines_in_korean(discord_bot, storage):
    """Every bad line of a refused import is named in Korean, with its number and what is wrong with it."""
    raw = '{"question": "좋은 질문", "answer": "좋은 답"}\nnot json\n{"question": "  ", "answer": "x"}\n'.encode()
    interaction = await discord_bot.slash("examples import", user=STAFF, locale="ko", file=FakeFile("bad.jsonl", raw))

    assert discord_bot.ephemeral_texts(interaction) == [
        "bad.jsonl 파일을 가져올 수 없어서 아무것도 저장하지 않았어요. 다음 줄을 고쳐 주세요:\n"
        "- 2번째 줄: 올바른 JSON이 아니에요\n"
        "- 3번째 줄: 질문이 비어 있어요. 고객의 질문을 적어 주세요."
    ]
    assert len(await storage.examples.all()) == SAMPLE_COUNT


async def test_a_korean_import_reports_what_it_added_in_korean(discord_bot, storage):
    """A good import is counted in Korean."""
    lines = [{"question": "쿠폰은 어디서 받나요?", "answer": "이벤트 페이지에서요."}, {"question": "배송은 얼마나 걸리나요", "answer": "하루면 와요."}]
    raw = "\n".join(json.dumps(line, ensure_ascii=False) for line in lines).encode()
    interaction = await discord_bot.slash("examples import", user=STAFF, locale="ko", file=FakeFile("new.jsonl", raw))

    assert discord_bot.ephemeral_texts(interaction)[0].splitlines()[0] == "new.jsonl 파일을 가져왔어요: 예시 1개 추가, 답변 1개 교체."


async def test_examples_list_remove_and_export_reply_in_korean(discord_bot):
    """The list's heading and next page, a removal, a missing example and the export are in Korean."""
    listed = discord_bot.ephemeral_texts(await discord_bot.slash("examples list", user=STAFF, locale="ko", search="구독"))[0]
    assert listed.startswith("“구독”에 맞는 예시 8개 · 1페이지 중 1페이지\n`#9` 구독 안내 부탁드려요.")
    first = discord_bot.ephemeral_texts(await discord_bot.slash("examples list", user=STAFF, locale="ko"))[0]
    assert first.startswith("예시 24개 · 3페이지 중 1페이지") and first.endswith("\n다음: `/examples list page:2`")

    removed = await discord_bot.slash("examples remove", user=STAFF, locale="ko", example_id=3)
    assert discord_bot.ephemeral_texts(removed) == ["#3 예시를 삭제했어요: “택배 송장번호는 어디서 확인하나요?”."]
    missing = await discord_bot.slash("examples remove", user=STAFF, locale="ko", example_id=999)
    assert discord_bot.ephemeral_texts(missing) == ["#999 예시가 없어요."]
    exported = await discord_bot.slash("examples export", user=STAFF, locale="ko")
    assert discord_bot.ephemeral_texts(exported) == ["학습 형식의 예시 23개예요. 이 파일을 그대로 `/학습 데이터셋:`에 쓸 수 있어요."]
