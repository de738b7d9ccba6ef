"""Property-based: arbitrary bytes and JSON lines never break validation or import, and nothing invalid is accepted."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.dataset import MESSAGE_KEYS, ROLES, TOP_LEVEL_KEYS, validate_dataset
from bot.errors import DatasetError
from bot.teaching import MAX_ANSWER_CHARS, MAX_QUESTION_CHARS, parse_examples
from bot.text import clean

EXAMPLES = 200  # per property; the note reports the total
PROPERTY = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])

texts = st.text(max_size=40)
values = st.one_of(texts, st.integers(), st.none(), st.booleans(), st.lists(st.integers(), max_size=2))
roles = st.sampled_from(["system", "user", "assistant", "tool", "customer", "", "ASSISTANT"])
message_keys = st.sampled_from(["role", "content", "name", "weight", "mood", "tool_calls"])


@st.composite
def messages(draw):
    message = {}
    if draw(st.booleans()) or True:
        message["role"] = draw(st.one_of(roles, values))
    if draw(st.integers(0, 9)):  # mostly with content
        message["content"] = draw(st.one_of(texts, texts, values))
    for key in draw(st.lists(message_keys, max_size=2)):
        message[key] = draw(st.one_of(st.sampled_from([0, 1, 2]), values))
    return message


@st.composite
def example_lines(draw):
    """A line that is often a valid chat example and often subtly not."""
    kind = draw(st.integers(0, 9))
    if kind == 0:
        return draw(st.text(max_size=30))  # not JSON, or JSON of any kind
    if kind == 1:
        return json.dumps(draw(values))
    example = {"messages": draw(st.lists(messages(), min_size=0, max_size=4))}
    if kind == 2:
        example["extra"] = draw(values)
    if kind == 3:
        example["messages"] = draw(values)
    return json.dumps(example, ensure_ascii=draw(st.booleans()))


def valid_example(line: str) -> bool:
    """An independent statement of what the provider accepts, to check the validator against."""
    try:
        example = json.loads(line)
    except ValueError:
        return False
    if not isinstance(example, dict) or set(example) - TOP_LEVEL_KEYS:
        return False
    chat = example.get("messages")
    if not isinstance(chat, list) or not chat:
        return False
    for message in chat:
        role = message.get("role") if isinstance(message, dict) else None
        if not isinstance(message, dict) or set(message) - MESSAGE_KEYS or not isinstance(role, str) or role not in ROLES:
            return False
        content = message.get("content")
        tool_call = message.get("role") == "assistant" and (message.get("tool_calls") or message.get("function_call"))
        if not isinstance(content, str) and not (content is None and tool_call):
            return False
        if "weight" in message and (isinstance(message["weight"], bool) or message["weight"] not in (0, 1)):
            return False
    return any(m.get("role") == "assistant" for m in chat)


@PROPERTY
@given(st.binary(max_size=3000))
def test_arbitrary_bytes_never_break_the_validator(raw):
    """Any bytes at all give a report, never an exception; a file that passes has only valid lines."""
    report = validate_dataset(raw, token_limit=65_536)
    if report.ok:
        lines = [line for line in raw.decode("utf-8-sig").splitlines() if line.strip()]
        assert len(lines) >= 10 and all(valid_example(line) for line in lines)


@PROPERTY
@given(st.lists(example_lines(), min_size=10, max_size=14), st.booleans())
def test_validator_accepts_exactly_the_valid_datasets(lines, blank_lines):
    """On JSON lines near the format, the validator says ok exactly when every line is a valid example."""
    raw = ("\n\n" if blank_lines else "\n").join(lines).encode()
    report = validate_dataset(raw, token_limit=65_536)
    nonblank = [line for line in lines if line.strip()]
    expected = len(nonblank) >= 10 and all(valid_example(line) for line in nonblank)
    assert report.ok == expected, (report.render(), lines)


@st.composite
def import_lines(draw):
    kind = draw(st.integers(0, 4))
    if kind == 0:
        return draw(st.text(max_size=30))
    if kind == 1:
        return draw(example_lines())
    item = {"question": draw(st.one_of(texts, values)), "answer": draw(st.one_of(texts, values))}
    if draw(st.booleans()):
        item.pop(draw(st.sampled_from(["question", "answer"])))
    return json.dumps(item, ensure_ascii=False)


@PROPERTY
@given(st.one_of(st.binary(max_size=2000), st.lists(import_lines(), max_size=8).map(lambda ls: "\n".join(ls).encode())))
def test_import_raises_only_dataset_errors_and_keeps_only_valid_examples(raw):
    """/examples import either refuses with a dataset error or returns examples that are all valid."""
    try:
        pairs = parse_examples(raw, source="upload.jsonl")
    except DatasetError as exc:
        assert str(exc).startswith(("upload.jsonl", "upload.jsonl can't"))
        return
    assert pairs
    for question, answer in pairs:
        assert question == clean(question) and answer == clean(answer)
        assert 0 < len(question) <= MAX_QUESTION_CHARS and 0 < len(answer) <= MAX_ANSWER_CHARS
