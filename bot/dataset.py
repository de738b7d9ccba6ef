"""Parse and validate JSONL chat fine-tuning datasets; count tokens and estimate the billed total."""

from __future__ import annotations

import io
import json
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

from bot.i18n import Lines, Text, _, _n
from bot.text import normalise_question
from bot.tokens import encoder, encoding_for, example_token_limit

MIN_EXAMPLES = 10  # the provider's minimum
RECOMMENDED_EXAMPLES = 50
MAX_ERRORS_SHOWN = 20
CONFUSABLE_CHECK_LIMIT = 5_000  # all-pairs matching beyond this would dominate validation time

TOP_LEVEL_KEYS = frozenset({"messages", "tools", "functions", "parallel_tool_calls"})
MESSAGE_KEYS = frozenset({"role", "content", "name", "weight", "tool_calls", "function_call", "tool_call_id", "refusal"})
ROLES = frozenset({"system", "developer", "user", "assistant", "tool", "function"})

PREFERENCE_KEYS = frozenset({"input", "preferred_output", "non_preferred_output"})
# The problems are lines for the catalog (bot/i18n.py): a person reads them in their language, `str()` is English.
# JSON shapes go in as values, so the templates hold no literal braces.
PREFERENCE_FORMAT = _(
    "a preference (DPO) example: only supervised chat fine-tuning is supported, one {shape} conversation per line",
    shape='{"messages": [...]}',
)
JSON_ARRAY = _("the file is one JSON array; JSONL has one JSON object per line, with no [ ] around them and no commas between")
TOO_DEEP = _("JSON nested too deeply to read (hundreds of levels of {brackets} or {braces})", brackets="[ ]", braces="{ }")
# The tokenizer refuses such texts (bpe_openai's own limits); both are far beyond any base model's example limit.
TOO_LONG_TO_COUNT = _("a text in it has 1,000,000 characters or 200,000 tokens or more")

# The cookbook's default-epoch rule: aim for about 3 passes, bounded by example count.
TARGET_EPOCHS = 3
MIN_TARGET_EXAMPLES = 100
MAX_TARGET_EXAMPLES = 25_000
MIN_DEFAULT_EPOCHS = 1
MAX_DEFAULT_EPOCHS = 25


@dataclass(frozen=True)
class Problem:
    line: int | None  # None for a problem with the whole file
    message: Text

    @property
    def text(self) -> Text:
        """The problem as a person reads it, with its line number (localized when it is sent)."""
        return _("line {line}: {problem}", line=self.line, problem=self.message) if self.line is not None else self.message

    def __str__(self) -> str:
        return str(self.text)  # English: the command-line report and logs


@dataclass
class DatasetReport:
    examples: int = 0
    errors: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)
    tokens: int = 0  # all examples, as counted
    billed_tokens_per_epoch: int = 0  # each example capped at the token limit
    epochs: int = 0
    token_limit: int = 0

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def estimated_billed_tokens(self) -> int:
        return self.epochs * self.billed_tokens_per_epoch

    def summary(self) -> Text:
        return _n(
            "{examples:,} examples, {tokens:,} tokens; {count} epoch ≈ {billed:,} billed training tokens",
            "{examples:,} examples, {tokens:,} tokens; {count} epochs ≈ {billed:,} billed training tokens",
            self.epochs,
            examples=self.examples,
            tokens=self.tokens,
            billed=self.estimated_billed_tokens,
        )

    def render(self, name: str = "dataset") -> Text:
        """The report as shown to a person: verdict, summary, errors (the first 20) and warnings; `str()` is English."""
        lines: list[Text] = [
            _("{name} is ready to train: {summary}.", name=name, summary=self.summary())
            if self.ok
            else _("{name} can't be used for training.", name=name)
        ]
        if self.errors:
            lines.append(_("Errors ({number:,}):", number=len(self.errors)))
            lines.append(render_problems(self.errors))
        if self.warnings:
            lines.append(_("Warnings ({number:,}):", number=len(self.warnings)))
            lines.append(render_problems(self.warnings))
        return Lines(lines)


def render_problems(problems: list[Problem]) -> Text:
    """The first 20 problems as a list, then how many more there are."""
    lines: list[Text] = [Lines(["- ", p.text], separator="") for p in problems[:MAX_ERRORS_SHOWN]]
    if len(problems) > MAX_ERRORS_SHOWN:
        lines.append(_("… and {number:,} more.", number=len(problems) - MAX_ERRORS_SHOWN))
    return Lines(lines)


def count_example_tokens(
    messages: list[dict], encode: Callable[[str], list[int]], repeated: dict[str, int], tools: list | None = None
) -> int:
    """The cookbook's count: 3 per message, the encoded values, 1 more per name, 3 to prime the reply; and the tools.

    Roles, names, system prompts and tool definitions repeat in nearly every example: they are counted
    once and remembered in `repeated`; the rest is counted as it comes, so memory stays flat.
    """
    total = 3 + (_repeated_count(json.dumps(tools, ensure_ascii=False), encode, repeated) if tools else 0)
    return total + sum(message_tokens(message, encode, repeated) for message in messages)


# A picture costs at least this (OpenAI's low-detail price); its real count depends on its size, unknown here.
IMAGE_TOKENS = 85


def message_tokens(message: dict, encode: Callable[[str], list[int]], repeated: dict[str, int]) -> int:
    total = 3
    for key, value in message.items():
        if key == "weight":
            continue
        if key == "content" and isinstance(value, list):
            for part in value:
                total += len(encode(part["text"])) if part.get("type") == "text" else IMAGE_TOKENS
            continue
        text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        if key == "content" and message.get("role") not in ("system", "developer"):
            total += len(encode(text))
        else:
            total += _repeated_count(text, encode, repeated)
        if key == "name":
            total += 1
    return total


def _repeated_count(text: str, encode: Callable[[str], list[int]], repeated: dict[str, int]) -> int:
    count = repeated.get(text)
    if count is None:
        count = repeated[text] = len(encode(text))
    return count


def default_epochs(examples: int) -> int:
    if examples <= 0:
        return TARGET_EPOCHS
    if examples * TARGET_EPOCHS < MIN_TARGET_EXAMPLES:
        return min(MAX_DEFAULT_EPOCHS, MIN_TARGET_EXAMPLES // examples)
    if examples * TARGET_EPOCHS > MAX_TARGET_EXAMPLES:
        return max(MIN_DEFAULT_EPOCHS, MAX_TARGET_EXAMPLES // examples)
    return TARGET_EPOCHS


def problems_of(example: object) -> list[Text]:
    """What is wrong with one parsed example, in the order a reader would fix it."""
    if not isinstance(example, dict):
        return [_("not a JSON object")]
    if "messages" not in example and PREFERENCE_KEYS & example.keys():
        return [PREFERENCE_FORMAT]
    problems: list[Text] = [_("unknown key '{key}'", key=key) for key in example if key not in TOP_LEVEL_KEYS]
    problems += _tools_problems(example)
    messages = example.get("messages")
    if messages is None:
        return [*problems, _("'messages' is missing")]
    if not isinstance(messages, list):
        return [*problems, _("'messages' is not a list")]
    if not messages:
        return [*problems, _("'messages' is empty")]
    has_assistant = False
    for number, message in enumerate(messages, start=1):
        if not isinstance(message, dict):
            problems.append(_("message {number} is not an object", number=number))
            continue
        problems += [_("message {number} has unknown key '{key}'", number=number, key=key) for key in message if key not in MESSAGE_KEYS]
        role = message.get("role")
        if role is None:
            problems.append(_("message {number} has no 'role'", number=number))
        elif not isinstance(role, str) or role not in ROLES:
            problems.append(_("message {number} has unknown role {role}", number=number, role=repr(role)))
        has_assistant = has_assistant or role == "assistant"
        label = role if isinstance(role, str) else _("no role")
        problems += [
            _("message {number} ({role}) {problem}", number=number, role=label, problem=p) for p in _message_problems(message, role)
        ]
        if "weight" in message and (message["weight"] not in (0, 1) or isinstance(message["weight"], bool)):
            problems.append(_("message {number} has weight {weight}; only 0 or 1 is allowed", number=number, weight=repr(message["weight"])))
    if not has_assistant:
        problems.append(_("no assistant message"))
    return problems


ASSISTANT_ONLY = ("tool_calls", "function_call", "refusal")
TOOL_CALL_SHAPE = '{"id": "…", "type": "function", "function": {"name": "…", "arguments": "<JSON text>"}}'
FUNCTION_CALL_SHAPE = '{"name": "…", "arguments": "<JSON text>"}'
IMAGE_PART_SHAPE = '{"type": "image_url", "image_url": {"url": "…"}}'
TOOLS_SHAPE = '{"type": "function", "function": {"name": …}}'
TOOL_SHAPE = '{"type": "function", "function": {"name": "…", "parameters": {…}}}'
FUNCTIONS_SHAPE = '{"name": "…", "parameters": {…}}'


def _message_problems(message: dict, role: object) -> list[Text]:
    """Content, refusal and tool calls as OpenAI's chat fine-tuning format takes them."""
    problems: list[Text] = [
        _("has '{key}', which only assistant messages may have", key=key) for key in ASSISTANT_ONLY if key in message and role != "assistant"
    ]
    calls = message.get("tool_calls")
    if calls is not None and (not isinstance(calls, list) or not calls):
        problems.append(_("has 'tool_calls' that is not a list of tool calls"))
    elif calls is not None:
        problems += [
            _("tool call {number} must be {shape}", number=n, shape=TOOL_CALL_SHAPE)
            for n, call in enumerate(calls, start=1)
            if not _is_tool_call(call)
        ]
    if "function_call" in message and not _is_call(message["function_call"]):
        problems.append(_("has a 'function_call' that is not {shape}", shape=FUNCTION_CALL_SHAPE))
    refusal = message.get("refusal")
    if refusal is not None and not (isinstance(refusal, str) and refusal.strip()):
        problems.append(_("has a 'refusal' that is not text"))
    if role == "tool" and not (isinstance(message.get("tool_call_id"), str) and message["tool_call_id"]):
        problems.append(_("has no 'tool_call_id' naming the call it answers"))
    content = message.get("content")
    answered = role == "assistant" and bool(calls or message.get("function_call") or refusal)
    if content is None:
        return problems if answered else [*problems, _("has no 'content'")]
    if isinstance(content, str):
        # The cookbook counts empty content as missing: the provider trains on nothing there.
        return problems if content.strip() or answered else [*problems, _("has empty content")]
    if not isinstance(content, list):
        return [*problems, _("has content that is not a string or a list of parts")]
    if not content:
        return [*problems, _("has empty content")]
    for n, part in enumerate(content, start=1):
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text":
            if not (isinstance(part.get("text"), str) and part["text"].strip()):
                problems.append(_("content part {number} has no text", number=n))
        elif kind == "image_url" and role == "user":
            image = part.get("image_url")
            if not (isinstance(image, dict) and isinstance(image.get("url"), str) and image["url"]):
                problems.append(_("content part {number} must be {shape}", number=n, shape=IMAGE_PART_SHAPE))
        elif role == "user":
            problems.append(_("content part {number} has type {kind}; user messages take text or image_url parts", number=n, kind=repr(kind)))
        else:
            problems.append(_("content part {number} has type {kind}; {role} messages take text parts", number=n, kind=repr(kind), role=role))
    return problems


def _tools_problems(example: dict) -> list[Text]:
    problems: list[Text] = []
    tools = example.get("tools")
    if tools is not None:
        if not isinstance(tools, list) or not tools:
            problems.append(_("'tools' is not a list of tools ({shape})", shape=TOOLS_SHAPE))
        else:
            problems += [
                _("tool {number} must be {shape}", number=n, shape=TOOL_SHAPE)
                for n, tool in enumerate(tools, start=1)
                if not (isinstance(tool, dict) and tool.get("type") == "function" and _is_function(tool.get("function")))
            ]
    functions = example.get("functions")
    if functions is not None and not (isinstance(functions, list) and functions and all(map(_is_function, functions))):
        problems.append(_("'functions' is not a list of functions ({shape})", shape=FUNCTIONS_SHAPE))
    if "parallel_tool_calls" in example and not isinstance(example["parallel_tool_calls"], bool):
        problems.append(_("'parallel_tool_calls' is not true or false"))
    return problems


def _is_function(function: object) -> bool:
    return (
        isinstance(function, dict)
        and isinstance(function.get("name"), str)
        and bool(function["name"])
        and isinstance(function.get("parameters", {}), dict)
        and isinstance(function.get("description", ""), str)
    )


def _is_call(call: object) -> bool:
    return isinstance(call, dict) and isinstance(call.get("name"), str) and bool(call["name"]) and isinstance(call.get("arguments"), str)


def _is_tool_call(call: object) -> bool:
    return isinstance(call, dict) and isinstance(call.get("id"), str) and call.get("type") == "function" and _is_call(call.get("function"))


def validate_dataset(
    raw: bytes,
    *,
    token_limit: int | None = None,
    base_model: str | None = None,
    encoding: str | None = None,
    epochs: int | None = None,
    check_confusable: bool = False,
) -> DatasetReport:
    """Check a JSONL chat dataset line by line; CPU-bound, so call it off the event loop.

    The example limit is `token_limit` when given (FINETUNE_MAX_TOKENS), else `base_model`'s family's;
    the tokenizer is `encoding` when given, else the base model's.
    """
    token_limit = example_token_limit(base_model or "", token_limit)
    encoding = encoding or (encoding_for(base_model) if base_model else "o200k_base")
    report = DatasetReport(token_limit=token_limit)
    if not raw.strip():
        report.errors.append(Problem(None, _("the file is empty")))
        return report

    if _is_json_array(raw.removeprefix(b"\xef\xbb\xbf")):
        report.errors.append(Problem(1, JSON_ARRAY))
        return report
    encode = encoder(encoding)
    repeated: dict[str, int] = {}
    # Hashes, not the lines themselves: duplicates are found without a second copy of the file.
    first_line_of: dict[int, int] = {}
    duplicates: list[tuple[int, int]] = []
    answers_by_question: dict[str, dict[int, int]] = defaultdict(dict)
    without_system = 0
    exchanges: list[tuple[int, str, str]] | None = [] if check_confusable else None
    body = raw.removeprefix(b"\xef\xbb\xbf")
    offset = len(raw) - len(body)  # byte offsets count the byte-order mark, as an editor shows them
    for number, raw_line in enumerate(io.BytesIO(body), start=1):
        line_offset, offset = offset, offset + len(raw_line)
        try:
            line = raw_line.decode("utf-8")
        except UnicodeDecodeError as exc:
            at = line_offset + exc.start
            report.errors.append(
                Problem(number, _("not UTF-8 (byte {byte:#04x} at byte offset {offset:,}); save the file as UTF-8", byte=raw_line[exc.start], offset=at))
            )
            return report
        if not line.strip():
            continue
        report.examples += 1
        try:
            example = json.loads(line)
        except RecursionError:
            report.errors.append(Problem(number, TOO_DEEP))
            continue
        except ValueError as exc:
            # The parser's own reason is English; the line around it is not.
            invalid = (
                _("not valid JSON ({reason} at column {column})", reason=exc.msg, column=exc.colno)
                if isinstance(exc, json.JSONDecodeError)
                else _("not valid JSON ({reason})", reason=str(exc))
            )
            report.errors.append(Problem(number, invalid))
            continue
        problems = problems_of(example)
        if problems:
            report.errors += [Problem(number, p) for p in problems]
            continue
        messages = example["messages"]
        try:
            tokens = count_example_tokens(messages, encode, repeated, example.get("tools") or example.get("functions"))
        except (ValueError, RecursionError):
            report.errors.append(
                Problem(number, _("too long to count: {reason}, far over the limit of {limit:,} tokens", reason=TOO_LONG_TO_COUNT, limit=token_limit))
            )
            continue
        if tokens > token_limit:
            over = (
                _("{tokens:,} tokens, over {model}'s limit of {limit:,} per example", tokens=tokens, model=base_model, limit=token_limit)
                if base_model
                else _("{tokens:,} tokens, over the base model's limit of {limit:,} per example", tokens=tokens, limit=token_limit)
            )
            cut_at = _truncated_after_an_answer(example, encode, repeated, token_limit)
            if cut_at is None:
                report.errors.append(
                    Problem(number, _("{over}: cut there, no answer in it would be complete, so nothing would be trained; shorten it", over=over))
                )
                continue
            report.warnings.append(
                Problem(number, _("{over}: the provider truncates it, so message {message} onward is not trained", over=over, message=cut_at))
            )
        report.tokens += tokens
        report.billed_tokens_per_epoch += min(tokens, token_limit)
        if not any(m.get("role") == "system" for m in messages):
            without_system += 1
        line_hash = hash(line.strip())
        if line_hash in first_line_of:
            duplicates.append((first_line_of[line_hash], number))
        else:
            first_line_of[line_hash] = number
        question, answer = _last_exchange(messages)
        if question is not None and answer is not None:
            answers_by_question[normalise_question(question)].setdefault(hash(answer), number)
            if exchanges is not None:
                exchanges.append((number, question, answer))
                if len(exchanges) > CONFUSABLE_CHECK_LIMIT:
                    exchanges = None
                    report.warnings.append(
                        Problem(None, _("over {limit:,} examples: confusable questions were not checked", limit=CONFUSABLE_CHECK_LIMIT))
                    )

    if report.examples == 0:
        report.errors.append(Problem(None, _("the file is empty")))
        return report
    if report.examples < MIN_EXAMPLES:
        report.errors.append(
            Problem(
                None,
                _n(
                    "only {count} example; fine-tuning needs at least {minimum}",
                    "only {count} examples; fine-tuning needs at least {minimum}",
                    report.examples,
                    minimum=MIN_EXAMPLES,
                ),
            )
        )
    elif report.examples < RECOMMENDED_EXAMPLES:
        report.warnings.append(
            Problem(
                None,
                _("{examples} examples; {recommended} or more usually train noticeably better", examples=report.examples, recommended=RECOMMENDED_EXAMPLES),
            )
        )
    if without_system:
        report.warnings.append(
            Problem(None, _n("{count:,} example has no system message", "{count:,} examples have no system message", without_system))
        )
    report.warnings += [Problem(later, _("repeats line {first} exactly", first=first)) for first, later in duplicates]
    for answers in answers_by_question.values():
        if len(answers) > 1:
            lines = sorted(answers.values())
            report.warnings.append(
                Problem(lines[0], _("the same question has different answers on lines {lines}", lines=", ".join(map(str, lines))))
            )
    if exchanges:
        report.warnings += confusable_pairs(exchanges)
    report.epochs = epochs or default_epochs(report.examples)
    return report


# Taught questions at least this alike, with different answers, are reported as confusable.
CONFUSABLE_ALIKE = 0.5


def confusable_pairs(exchanges: list[tuple[int, str, str]]) -> list[Problem]:
    """Questions the matcher would answer with another line's answer: alike, with different answers."""
    from bot.retrieval import Entry, Matcher, check_library

    matcher = Matcher()
    matcher.load_now(Entry(line, question, answer) for line, question, answer in exchanges)
    line_of = {question: line for line, question, _ in reversed(exchanges)}
    found: list[Problem] = []
    reported: set[tuple[int, int]] = set()
    for question, other, alike in check_library(matcher).confused:
        if alike < CONFUSABLE_ALIKE or normalise_question(question) == normalise_question(other):
            continue  # /examples check lists the first as needing more phrasings; the same question twice is reported above
        pair = (min(line_of[question], line_of[other]), max(line_of[question], line_of[other]))
        if pair in reported:
            continue
        reported.add(pair)
        first, second = (question, other) if line_of[question] < line_of[other] else (other, question)
        found.append(
            Problem(
                pair[0],
                _(
                    "confusable with line {other}: “{first}” and “{second}” are {alike:.0%} alike but have different answers",
                    other=pair[1],
                    first=first,
                    second=second,
                    alike=alike,
                ),
            )
        )
    return found


def _is_json_array(body: bytes) -> bool:
    """A file written as one JSON array (pretty-printed or on one line) rather than as JSON lines."""
    stripped = body.strip()
    if not (stripped.startswith(b"[") and stripped.endswith(b"]")):
        return False
    first, _, rest = stripped.partition(b"\n")
    if not rest.strip():
        return True
    try:
        json.loads(first)
    except (ValueError, RecursionError):
        return True
    return False


def _truncated_after_an_answer(example: dict, encode: Callable[[str], list[int]], repeated: dict[str, int], limit: int) -> int | None:
    """The first message the provider's truncation at `limit` cuts into, when a trained answer ends before it; else None."""
    position = count_example_tokens([], encode, repeated, example.get("tools") or example.get("functions"))
    answered = False
    for number, message in enumerate(example["messages"], start=1):
        position += message_tokens(message, encode, repeated)
        if position > limit:
            return number if answered else None
        answered = answered or (message.get("role") == "assistant" and message.get("weight", 1) != 0)
    return None


def _last_exchange(messages: list[dict]) -> tuple[str | None, str | None]:
    """The last user question and the assistant answer after it (text content only)."""
    question = answer = None
    for message in messages:
        content = message.get("content")
        if message.get("role") == "user":
            question, answer = (content if isinstance(content, str) else None), None
        elif message.get("role") == "assistant" and question is not None:
            answer = content if isinstance(content, str) else None
    return question, answer


