"""Dataset validation: every check reported with its line number, token counts and the estimate."""

from __future__ import annotations

import json
import subprocess
import sys

import bpe_openai
import pytest

from bot.dataset import count_example_tokens, default_epochs, validate_dataset
from bot.errors import DatasetError
from bot.i18n import localize
from bot.tokens import encoding_for
from conftest import ROOT

LIMIT = 65_536


def example(question: str = "배송은 얼마나 걸리나요?", answer: str = "1~2일 걸립니다.", system: str | None = "상담원입니다.") -> dict:
    messages = [{"role": "system", "content": system}] if system else []
    return {"messages": [*messages, {"role": "user", "content": question}, {"role": "assistant", "content": answer}]}


def jsonl(*rows: object) -> bytes:
    return "\n".join(r if isinstance(r, str) else json.dumps(r, ensure_ascii=False) for r in rows).encode()


def valid_rows(n: int) -> list[dict]:
    return [example(f"질문 {i}", f"답변 {i}") for i in range(n)]


def errors_of(raw: bytes, **options) -> list[str]:
    return [str(p) for p in validate_dataset(raw, token_limit=options.pop("token_limit", LIMIT), **options).errors]


def test_sample_dataset_is_trainable():
    """The shipped sample validates cleanly, with tokens, epochs and the billed estimate."""
    report = validate_dataset((ROOT / "data" / "sample_dataset.jsonl").read_bytes(), token_limit=LIMIT)
    assert report.ok and report.examples == 24
    assert report.epochs == 4  # the cookbook: 100 // 24
    assert report.estimated_billed_tokens == 4 * report.tokens > 0


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ('{"messages": [', "line 11: not valid JSON"),
        ("[1, 2]", "line 11: not a JSON object"),
        ({**example(), "prompt": "x"}, "line 11: unknown key 'prompt'"),
        ({}, "line 11: 'messages' is missing"),
        ({"messages": "hi"}, "line 11: 'messages' is not a list"),
        ({"messages": [{"content": "hi"}, {"role": "assistant", "content": "a"}]}, "line 11: message 1 has no 'role'"),
        ({"messages": [{"role": "user"}, {"role": "assistant", "content": "a"}]}, "line 11: message 1 (user) has no 'content'"),
        ({"messages": [{"role": "user", "content": "q", "mood": "x"}, {"role": "assistant", "content": "a"}]}, "line 11: message 1 has unknown key 'mood'"),
        ({"messages": [{"role": "customer", "content": "q"}, {"role": "assistant", "content": "a"}]}, "line 11: message 1 has unknown role 'customer'"),
        ({"messages": [{"role": "user", "content": 5}, {"role": "assistant", "content": "a"}]}, "line 11: message 1 (user) has content that is not a string"),
        ({"messages": [{"role": "user", "content": "q"}, {"role": "assistant"}]}, "line 11: message 2 (assistant) has no 'content'"),
        ({"messages": [{"role": "system", "content": "s"}, {"role": "user", "content": "q"}]}, "line 11: no assistant message"),
        ({"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a", "weight": 2}]}, "line 11: message 2 has weight 2; only 0 or 1 is allowed"),
    ],
)
def test_bad_example_is_reported_with_its_line(row, message):
    """Each cookbook check names the line and what is wrong with it."""
    errors = errors_of(jsonl(*valid_rows(10), row))
    assert len(errors) == 1 and errors[0].startswith(message), errors


def test_assistant_tool_call_without_content_is_valid():
    """An assistant message may carry tool calls instead of content."""
    call = {"role": "assistant", "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]}
    row = {"messages": [{"role": "user", "content": "q"}, call, {"role": "tool", "tool_call_id": "c1", "content": "ok"}, {"role": "assistant", "content": "done"}]}
    assert errors_of(jsonl(*valid_rows(10), row)) == []


def test_example_over_the_token_limit_is_an_error():
    """An example longer than the base model's limit is named with its token count."""
    errors = errors_of(jsonl(*valid_rows(10), example(answer="아주 긴 답변 " * 50)), token_limit=100)
    assert len(errors) == 1 and errors[0].startswith("line 11:") and "over the base model's limit of 100" in errors[0]


def test_every_bad_line_is_reported_and_the_report_shows_the_first_twenty():
    """Many bad lines: all counted, twenty shown, the rest summarised."""
    report = validate_dataset(jsonl(*["not json"] * 35, *valid_rows(10)), token_limit=LIMIT)
    assert len(report.errors) == 35
    text = str(report.render("data.jsonl"))
    assert "line 20: not valid JSON" in text and "line 21:" not in text and "… and 15 more." in text


def test_empty_file_is_an_error():
    """An empty (or blank) file says so."""
    assert errors_of(b"") == ["the file is empty"]
    assert errors_of(b"\n \n") == ["the file is empty"]


def test_non_utf8_file_names_the_line_and_byte_offset():
    """A file in another encoding is refused with where the bad byte is."""
    raw = jsonl(*valid_rows(2)) + b"\n" + json.dumps(example("배송?")).encode("utf-8").replace(b"\\", b"") + "\n{\"q\": \"배송\"}".encode("cp949")
    [error] = errors_of(raw)
    assert error.startswith("line 4: not UTF-8") and "byte offset" in error


def test_fewer_than_ten_examples_is_an_error():
    """The provider's minimum of 10 examples is enforced before upload."""
    assert errors_of(jsonl(*valid_rows(9))) == ["only 9 examples; fine-tuning needs at least 10"]


def test_fewer_than_fifty_examples_is_a_warning():
    """Between 10 and 49 examples trains, with a warning."""
    report = validate_dataset(jsonl(*valid_rows(12)), token_limit=LIMIT)
    assert report.ok and any("50 or more" in str(w) for w in report.warnings)


def test_blank_lines_are_allowed_and_line_numbers_count_them():
    """Blank lines are skipped but still count for line numbers."""
    raw = jsonl(*valid_rows(10)) + b"\n\n\n" + b"oops"
    assert errors_of(raw) == ["line 13: not valid JSON (Expecting value at column 1)"]


def test_missing_system_message_duplicates_and_conflicting_answers_are_warnings():
    """No system message, exact duplicates, and one question with two answers are warned about."""
    rows = [*valid_rows(10), example("환불은 언제 되나요?", "3일 안에 됩니다.", system=None), example("환불은 언제 되나요?", "3일 안에 됩니다.", system=None), example("환불은 언제 되나요", "일주일 걸려요.")]
    report = validate_dataset(jsonl(*rows), token_limit=LIMIT)
    warnings = [str(w) for w in report.warnings]
    assert report.ok
    assert "2 examples have no system message" in warnings
    assert "line 12: repeats line 11 exactly" in warnings
    assert "line 11: the same question has different answers on lines 11, 13" in warnings


def test_token_count_follows_the_cookbook():
    """3 per message, the encoded values, 1 per name, 3 to prime the reply; with the real tokenizer."""
    encoder = bpe_openai.get_encoding("o200k_base")
    messages = [{"role": "user", "content": "구독 안내", "name": "kim"}, {"role": "assistant", "content": "월 29,000원입니다."}]
    expected = 3 + sum(3 + sum(len(encoder.encode(v)) for v in m.values()) for m in messages) + 1
    assert count_example_tokens(messages, encoder.encode, {}) == expected


def test_epochs_follow_the_cookbook_defaults():
    """About three passes, more for tiny sets, fewer for huge ones; a given value wins."""
    assert (default_epochs(10), default_epochs(24), default_epochs(1000), default_epochs(20000)) == (10, 4, 3, 1)
    assert validate_dataset(jsonl(*valid_rows(10)), token_limit=LIMIT, epochs=2).epochs == 2


def test_tokenizer_follows_the_model_family():
    """gpt-4 and gpt-3.5 count with cl100k, newer models with o200k."""
    assert encoding_for("gpt-4-0613") == "cl100k_base"
    assert encoding_for("gpt-4.1-mini-2025-04-14") == encoding_for("ft:gpt-4o-mini:x::y") == "o200k_base"


@pytest.mark.parametrize(("content", "code"), [("sample", 0), ("bad", 1)])
def test_validate_cli_exit_code_says_whether_the_file_trains(tmp_path, content, code):
    """`python -m bot validate FILE` prints the report and exits 0 when trainable, 1 when not."""
    path = ROOT / "data" / "sample_dataset.jsonl" if content == "sample" else tmp_path / "bad.jsonl"
    if content == "bad":
        path.write_bytes(jsonl(*valid_rows(10), "{oops"))
    result = subprocess.run([sys.executable, "-m", "bot", "validate", str(path)], cwd=tmp_path, capture_output=True, text=True, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}, timeout=60)
    assert result.returncode == code, result.stderr
    assert ("ready to train" in result.stdout) == (code == 0)
    if code:
        assert "line 11: not valid JSON" in result.stdout


def test_confusable_questions_with_different_answers_are_warned_about():
    """Two questions the matcher would mix up, with different answers, are listed with both questions."""
    rows = [*valid_rows(10), example("구독 안내 부탁드려요.", "월 29,000원입니다."), example("구독 안내 좀 해주세요", "홈페이지에서 신청하세요.")]
    report = validate_dataset(jsonl(*rows), token_limit=LIMIT, check_confusable=True)

    assert report.ok
    assert any(str(w).startswith("line 11: confusable with line 12: “구독 안내 부탁드려요.” and “구독 안내 좀 해주세요”") for w in report.warnings)


def test_sample_dataset_has_no_confusable_pairs():
    """The shipped sample keeps its two subscription intents apart."""
    report = validate_dataset((ROOT / "data" / "sample_dataset.jsonl").read_bytes(), token_limit=LIMIT, check_confusable=True)
    assert not any("confusable" in str(w) for w in report.warnings)


def test_byte_offset_counts_a_byte_order_mark():
    """With a UTF-8 BOM, the reported offset is where the bad byte really is in the file."""
    raw = b"\xef\xbb\xbf" + jsonl(*valid_rows(1)) + b"\n\xff"
    [error] = errors_of(raw)
    bad_byte_at = raw.index(b"\xff")
    assert f"byte offset {bad_byte_at:,}" in error


def test_warnings_are_capped_in_the_report():
    """Thousands of duplicate lines give a short report, not thousands of lines."""
    report = validate_dataset(jsonl(*[example()] * 500), token_limit=LIMIT)
    text = str(report.render("dup.jsonl"))
    assert len(report.warnings) > 400 and "… and" in text and text.count("\n") < 30


SEPARATORS = "\u2028\u2029\u0085\x0b\x0c\x1c"


def test_export_with_unicode_line_separators_reimports_and_validates_alike():
    """An answer holding U+2028, U+0085 and other separators survives export, import and validate, with the same line numbers."""
    from bot.teaching import parse_examples, training_jsonl

    pairs = [(f"질문 {i}", f"답변{SEPARATORS}{i}") for i in range(10)]
    exported = training_jsonl(pairs, "상담원입니다.")

    assert parse_examples(exported, source="export.jsonl") == pairs
    assert validate_dataset(exported, token_limit=LIMIT).ok
    broken = exported + b"{oops\n"
    with pytest.raises(DatasetError) as imported:
        parse_examples(broken, source="export.jsonl")
    assert "line 11: not valid JSON" in str(imported.value)
    assert errors_of(broken)[0].startswith("line 11: not valid JSON")


def test_crlf_line_endings_import_and_validate():
    """A file saved with Windows line endings imports and validates like one with "\\n"."""
    from bot.teaching import parse_examples

    raw = jsonl(*valid_rows(10)).replace(b"\n", b"\r\n") + b"\r\n"
    assert len(parse_examples(raw, source="win.jsonl")) == 10
    assert validate_dataset(raw, token_limit=LIMIT).ok


DEEP = "[" * 100_000 + "]" * 100_000


@pytest.mark.parametrize(
    ("row", "message"),
    [
        (DEEP, "line 11: JSON nested too deeply to read"),
        (example(answer="a" * 1_000_000), "line 11: too long to count"),
        (example(answer="가" * 300_000), "line 11: too long to count"),  # under 1M characters, over the tokenizer's 200,000 tokens
    ],
)
def test_input_the_parser_or_tokenizer_cannot_take_is_a_line_error(row, message):
    """Deep nesting, a million characters, or more tokens than the tokenizer takes: a numbered error, not a crash."""
    errors = errors_of(jsonl(*valid_rows(10), row, *valid_rows(2)))
    assert len(errors) == 1 and errors[0].startswith(message), errors


def test_import_of_deeply_nested_json_is_a_line_error():
    """/examples import names the deeply nested line instead of failing with "Something went wrong"."""
    from bot.teaching import parse_examples

    with pytest.raises(DatasetError) as refused:
        parse_examples(jsonl(*valid_rows(10), DEEP), source="deep.jsonl")
    assert "line 11: JSON nested too deeply to read" in str(refused.value)


def test_validate_cli_reports_input_it_cannot_parse_without_a_traceback(tmp_path):
    """The CLI shows numbered errors for deep nesting and over-long content, never a traceback."""
    path = tmp_path / "hostile.jsonl"
    path.write_bytes(jsonl(*valid_rows(10), DEEP, example(answer="a" * 1_000_000)))
    result = subprocess.run([sys.executable, "-m", "bot", "validate", str(path)], cwd=tmp_path, capture_output=True, text=True, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}, timeout=60)
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    assert "line 11: JSON nested too deeply" in result.stdout and "line 12: too long to count" in result.stdout


@pytest.mark.parametrize(("role", "number"), [("user", 1), ("assistant", 2)])
def test_empty_content_is_missing_content(role, number):
    """An empty (or blank) question or answer is an error, not "ready to train"."""
    row = example(question="" if role == "user" else "질문", answer=" " if role == "assistant" else "답변", system=None)
    report = validate_dataset(jsonl(*valid_rows(10), row), token_limit=LIMIT)
    assert [str(e) for e in report.errors] == [f"line 11: message {number} ({role}) has empty content"]
    assert "can't be used for training" in str(report.render())


CALL = {"id": "c1", "type": "function", "function": {"name": "track", "arguments": "{\"order\": 7}"}}
TOOL = {"type": "function", "function": {"name": "track", "description": "Track an order", "parameters": {"type": "object", "properties": {"order": {"type": "integer"}}}}}


def tool_example(**changes) -> dict:
    messages = [
        {"role": "user", "content": "주문 7 어디쯤이에요?"},
        {"role": "assistant", "tool_calls": [CALL]},
        {"role": "tool", "tool_call_id": "c1", "content": "배송 중"},
        {"role": "assistant", "content": "배송 중입니다."},
    ]
    return {"messages": messages, "tools": [TOOL], **changes}


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ({**tool_example(), "tools": "x"}, "line 11: 'tools' is not a list of tools"),
        ({**tool_example(), "tools": [{"type": "function"}]}, "line 11: tool 1 must be"),
        ({**tool_example(), "parallel_tool_calls": "yes"}, "line 11: 'parallel_tool_calls' is not true or false"),
        ({"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "tool_calls": "yes please"}]}, "line 11: message 2 (assistant) has 'tool_calls' that is not a list"),
        ({"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "tool_calls": [{"id": "c1", "function": {"name": "f"}}]}]}, "line 11: message 2 (assistant) tool call 1 must be"),
        ({"messages": [{"role": "user", "content": "q", "tool_calls": [CALL]}, {"role": "assistant", "content": "a"}]}, "line 11: message 1 (user) has 'tool_calls', which only assistant messages may have"),
        ({"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "tool_calls": [CALL]}, {"role": "tool", "content": "ok"}, {"role": "assistant", "content": "a"}]}, "line 11: message 3 (tool) has no 'tool_call_id'"),
        ({"messages": [{"role": "user", "content": [{"type": "audio"}]}, {"role": "assistant", "content": "a"}]}, "line 11: message 1 (user) content part 1 has type 'audio'"),
        ({"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": [{"type": "image_url", "image_url": {"url": "https://x/y.png"}}]}]}, "line 11: message 2 (assistant) content part 1 has type 'image_url'; assistant messages take text parts"),
    ],
)
def test_tool_calling_and_content_parts_are_checked_against_the_format(row, message):
    """Tools, tool calls and content parts must have the shape OpenAI's chat fine-tuning format takes."""
    errors = errors_of(jsonl(*valid_rows(10), row))
    assert len(errors) == 1 and errors[0].startswith(message), errors


def test_refusals_content_parts_and_tool_calling_examples_are_accepted():
    """An assistant refusal, text and image parts in a user message, and a full tool-calling example all train."""
    rows = [
        {"messages": [{"role": "user", "content": "비밀번호 알려줘"}, {"role": "assistant", "content": None, "refusal": "알려드릴 수 없어요."}]},
        {"messages": [
            {"role": "user", "content": [{"type": "text", "text": "이 병 뭐예요?"}, {"type": "image_url", "image_url": {"url": "https://example.com/b.png", "detail": "low"}}]},
            {"role": "assistant", "content": [{"type": "text", "text": "진입니다."}]},
        ]},
        tool_example(parallel_tool_calls=False),
    ]
    assert errors_of(jsonl(*valid_rows(10), *rows)) == []


def test_tool_definitions_are_counted_in_tokens():
    """The tools an example offers are billed with it, so they count in its tokens."""
    without = validate_dataset(jsonl(*valid_rows(10), {"messages": tool_example()["messages"]}), token_limit=LIMIT).tokens
    with_tools = validate_dataset(jsonl(*valid_rows(10), tool_example()), token_limit=LIMIT).tokens
    encode = bpe_openai.get_encoding("o200k_base").encode
    assert with_tools - without == len(encode(json.dumps([TOOL], ensure_ascii=False)))


def test_example_limit_follows_the_base_model_family_unless_set():
    """Each known family has its published example limit; FINETUNE_MAX_TOKENS overrides; unknown models get the default."""
    from bot.config import Settings
    from bot.tokens import example_token_limit

    assert example_token_limit("gpt-3.5-turbo-0125") == 16_385
    assert example_token_limit("gpt-3.5-turbo-0613") == 4_096
    assert example_token_limit("ft:gpt-4o-mini-2024-07-18:shop::abc") == example_token_limit("gpt-4.1-2025-04-14") == 65_536
    assert example_token_limit("some-other-model") == 65_536
    assert example_token_limit("gpt-3.5-turbo-0125", 1_000) == 1_000
    assert Settings.from_env({}).finetune_max_tokens is None
    assert Settings.from_env({"FINETUNE_MAX_TOKENS": "8000"}).finetune_max_tokens == 8_000


LONG = "배송 안내 " * 2_000  # about 6,000 tokens: over gpt-3.5-turbo-0613's 4,096, under 65,536


def test_example_the_provider_would_truncate_is_a_warning_naming_the_model():
    """Over the family's limit with an answer before the cut: trains, with a warning that the end is cut."""
    row = {"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}, {"role": "user", "content": LONG}, {"role": "assistant", "content": "b"}]}
    report = validate_dataset(jsonl(*valid_rows(10), row), base_model="gpt-3.5-turbo-0613")
    assert report.ok and report.token_limit == 4_096
    [warning] = [str(w) for w in report.warnings if "truncates" in str(w)]
    assert warning.startswith("line 11:") and "over gpt-3.5-turbo-0613's limit of 4,096 per example" in warning and "message 3 onward is not trained" in warning
    assert not any("truncates" in str(w) for w in validate_dataset(jsonl(*valid_rows(10), row), base_model="gpt-4o-mini-2024-07-18").warnings)


def test_example_cut_before_any_answer_is_refused():
    """Over the family's limit before the first answer ends: nothing would train, so it is an error."""
    report = validate_dataset(jsonl(*valid_rows(10), example(question=LONG)), base_model="gpt-3.5-turbo-0613")
    [error] = [str(e) for e in report.errors]
    assert error.startswith("line 11:") and "over gpt-3.5-turbo-0613's limit of 4,096" in error and "nothing would be trained" in error
    assert validate_dataset(jsonl(*valid_rows(10), example(question=LONG)), base_model="gpt-4o-2024-08-06").ok


def test_json_error_names_the_column():
    """Invalid JSON says where on the line the parser stopped."""
    assert errors_of(jsonl(*valid_rows(10), '{"messages": [}')) == ["line 11: not valid JSON (Expecting value at column 15)"]


@pytest.mark.parametrize("indent", [2, None])
def test_json_array_file_gets_one_hint_about_jsonl(indent):
    """A file written as one JSON array gets one clear error saying JSONL is one object per line."""
    raw = json.dumps(valid_rows(30), ensure_ascii=False, indent=indent).encode()
    assert errors_of(raw) == ["line 1: the file is one JSON array; JSONL has one JSON object per line, with no [ ] around them and no commas between"]


def test_preference_examples_say_only_supervised_chat_is_supported():
    """A DPO file is refused saying that only supervised chat fine-tuning is supported."""
    dpo = {"input": {"messages": [{"role": "user", "content": "q"}]}, "preferred_output": [{"role": "assistant", "content": "a"}], "non_preferred_output": [{"role": "assistant", "content": "b"}]}
    errors = errors_of(jsonl(*[dpo] * 10))
    assert errors[0] == 'line 1: a preference (DPO) example: only supervised chat fine-tuning is supported, one {"messages": [...]} conversation per line'
    assert len(errors) == 10


def test_the_same_question_with_two_answers_is_not_called_confusable_with_itself():
    rows = [*valid_rows(10), example("구독 안내 부탁드려요.", "월 29,000원입니다."), example("구독 안내 부탁드려요.", "홈페이지에서 신청하세요.")]
    report = validate_dataset(jsonl(*rows), token_limit=LIMIT, check_confusable=True)
    assert not any("confusable" in str(w) for w in report.warnings + report.errors)


# -- the reader's language ---------------------------------------------------------------


def test_the_report_reads_in_korean_with_its_line_numbers_and_str_stays_english():
    """An admin whose Discord is Korean reads the report in Korean, line numbers and JSON shapes kept; str() is the CLI's English."""
    bad_call = {"role": "assistant", "tool_calls": [{"id": "c1"}]}
    rows = [*valid_rows(10), "not json", {"messages": [{"role": "user", "content": "질문"}, bad_call]}, example(answer=" ")]
    report = validate_dataset(jsonl(*rows), token_limit=LIMIT)

    assert localize(report.render("data.jsonl"), "ko") == "\n".join([
        "data.jsonl 파일은 학습에 쓸 수 없어요.",
        "오류 (3개):",
        "- 11번째 줄: 올바른 JSON이 아니에요 (1번째 칸: Expecting value)",
        '- 12번째 줄: 2번째 메시지(assistant): 1번째 도구 호출은 {"id": "…", "type": "function", "function": {"name": "…", '
        '"arguments": "<JSON text>"}} 형식이어야 해요',
        "- 13번째 줄: 3번째 메시지(assistant): 내용이 비어 있어요",
        "경고 (1개):",
        "- 예시 13개예요. 보통 50개 이상이면 눈에 띄게 더 잘 학습돼요",
    ])
    assert str(report.render("data.jsonl")).splitlines()[:5] == [
        "data.jsonl can't be used for training.",
        "Errors (3):",
        "- line 11: not valid JSON (Expecting value at column 1)",
        '- line 12: message 2 (assistant) tool call 1 must be {"id": "…", "type": "function", "function": {"name": "…", '
        '"arguments": "<JSON text>"}}',
        "- line 13: message 3 (assistant) has empty content",
    ]


BROKEN_ROWS = [
    "[1, 2]",
    {"input": {}, "preferred_output": []},
    {"messages": "x", "extra": 1, "tools": "x", "functions": [], "parallel_tool_calls": "yes"},
    {"messages": []},
    {"tools": [{"type": "x"}]},
    {"messages": [
        "x",
        {"role": "robot", "colour": "red", "weight": 2},
        {"content": "x"},
        {"role": "user", "content": [{"type": "text", "text": ""}, {"type": "image_url"}, {"type": "audio"}], "refusal": "no"},
        {"role": "tool", "content": None},
        {"role": "system", "content": [{"type": "image_url", "image_url": {"url": "u"}}]},
        {"role": "assistant", "content": 3, "tool_calls": [], "function_call": {}, "refusal": ""},
        {"role": "assistant", "content": []},
    ]},
    "[" * 100_000,
    {"messages": [{"role": "user", "content": "x"}]},
]


def test_every_problem_the_validator_finds_has_its_korean():
    """Each kind of problem (and each part of a composed one) is a line for the catalog: none reaches a Korean admin in English."""
    long_answer = "긴 답변 " * 300
    truncated = {"messages": [*example()["messages"], {"role": "user", "content": "더요"}, {"role": "assistant", "content": long_answer}]}
    confusable = [example("구독 안내 부탁드려요.", "월 29,000원이에요."), example("구독 안내 좀 해주세요", "홈페이지에서 신청하세요.")]
    rows = [*BROKEN_ROWS, *valid_rows(5), valid_rows(1)[0], example("질문 0", "다른 답변"), example(system=None), *confusable]
    checked = validate_dataset(jsonl(*rows, example(answer=long_answer), truncated), token_limit=200, check_confusable=True)
    named = validate_dataset(jsonl(example(answer=long_answer)), token_limit=200, base_model="gpt-4.1-mini-2025-04-14")
    others = [validate_dataset(raw, token_limit=LIMIT) for raw in (b"", b"\xff", b'[{"messages": []},\n{"messages": []}]')]
    problems = [p for report in (checked, named, *others) for p in report.errors + report.warnings]
    assert len(problems) > 40
    assert [str(p) for p in problems if localize(p.text, "ko") == str(p)] == []
    english = (" has ", " is ", " not ", "line ", "message ", "must ", "example")
    assert [localize(p.text, "ko") for p in problems if any(word in localize(p.text, "ko") for word in english)] == []
