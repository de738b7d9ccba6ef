"""TeachingService: the library of taught examples (teach, replace, remove, list, import, export) and its index."""

from __future__ import annotations

import asyncio
import json
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path

from bot.dataset import MAX_ERRORS_SHOWN, TOO_DEEP, problems_of
from bot.errors import DatasetError, UserError
from bot.i18n import Line, Lines, Text, _
from bot.moderation import Moderator
from bot.records import Example
from bot.matching import answer_key
from bot.retrieval import Entry, LibraryCheck, Matcher
from bot.storage import EvaluationStore, ExampleStore
from bot.text import clean, normalise_question

log = logging.getLogger(__name__)

MAX_QUESTION_CHARS = 1000
MAX_ANSWER_CHARS = 4000
PAGE_SIZE = 10
# Several processes on one database: how soon one matches examples another taught.
CHANGES_CHECK_SECONDS = 5.0


class AlreadyTaught(UserError):
    """The question is taught already; the user may replace its answer."""

    def __init__(self, existing: Example, new_answer: str) -> None:
        super().__init__(_("“{question}” is already taught (#{example}).", question=existing.question, example=existing.id))
        self.existing = existing
        self.new_answer = new_answer

    @property
    def same_answer(self) -> bool:
        """The new answer is the taught one (spacing aside): there is nothing to replace."""
        return answer_key(self.existing.answer) == answer_key(self.new_answer)


@dataclass(frozen=True)
class ExamplePage:
    examples: list[Example]
    page: int
    pages: int
    total: int
    search: str | None


@dataclass(frozen=True)
class ImportResult:
    added: int
    replaced: int
    confusions: list[tuple[str, str, float]] = field(default_factory=list)  # see TeachingService.confusions


class TeachingService:
    def __init__(
        self, examples: ExampleStore, matcher: Matcher, *, system_prompt: str, moderator: Moderator | None = None,
        evaluations: EvaluationStore | None = None,
    ) -> None:
        self._examples = examples
        self._evaluations = evaluations
        self._moderator = moderator
        self.matcher = matcher
        self._system_prompt = system_prompt
        self._by_question: dict[str, Example] = {}
        self._changing = asyncio.Lock()  # a duplicate check and its insert must not interleave
        self._indexed_change = -1  # the newest audit entry the index includes

    async def start(self, sample_dataset: Path | None) -> None:
        """On a new database, seed the shipped sample examples once; then index every example."""
        if sample_dataset is not None and not await self._examples.seeded():
            raw = await asyncio.to_thread(_read_if_exists, sample_dataset)
            pairs = parse_examples(raw, source=sample_dataset.name) if raw else []
            if await self._examples.seed(pairs, source=sample_dataset.name):
                log.info("seeded %s sample examples from %s", len(pairs), sample_dataset)
        await self._reindex()

    async def _reindex(self) -> None:
        change = await self._examples.last_change()  # read first: a change made meanwhile is caught next time
        examples = await self._examples.all()
        self._by_question = {normalise_question(e.question): e for e in examples}
        await self.matcher.load(Entry(e.id, e.question, e.answer) for e in examples)
        self._indexed_change = change

    async def catch_up(self) -> bool:
        """Reindex if another process (a second shard on the same database) changed the examples; True if it did."""
        if await self._examples.last_change() == self._indexed_change:
            return False
        async with self._changing:
            await self._reindex()
        return True

    async def follow_changes(self, interval: float = CHANGES_CHECK_SECONDS) -> None:
        """Catch up with other processes' changes every `interval` seconds, until cancelled."""
        while True:
            await asyncio.sleep(interval)
            try:
                await self.catch_up()
            except Exception:
                log.warning("could not check for changed examples; trying again in %ss", interval, exc_info=True)

    async def teach(self, question: str, answer: str, *, author_id: int) -> Example:
        question, answer = check_example(question, answer)
        await self._refuse_flagged([(question, answer)])
        async with self._changing:
            existing = self._by_question.get(normalise_question(question))
            if existing is not None:
                raise AlreadyTaught(existing, answer)
            example = await self._examples.add(question, answer, author_id=author_id)
            await self._reindex()
        return example

    async def replace(self, example_id: int, answer: str, *, author_id: int) -> Example:
        _, answer = check_example("-", answer)
        await self._refuse_flagged([("-", answer)])
        async with self._changing:
            # Phrasings that share the old answer are one question asked in other words: they get the new answer too.
            old = next((e for e in self._by_question.values() if e.id == example_id), None)
            siblings = [e.id for e in self.other_phrasings(old)] if old is not None else []
            example = await self._examples.replace_answer(example_id, answer, author_id=author_id, also=siblings)
            if example is None:
                raise UserError(_("Example #{example} no longer exists; nothing was changed.", example=example_id))
            await self._reindex()
        return example

    def other_phrasings(self, example: Example) -> list[Example]:
        """The other taught questions with the same answer: one question asked in other words."""
        return sorted(
            (e for e in self._by_question.values() if e.id != example.id and answer_key(e.answer) == answer_key(example.answer)),
            key=lambda e: e.id,
        )

    async def remove(self, example_id: int, *, actor_id: int) -> Example:
        async with self._changing:
            example = await self._examples.remove(example_id, actor_id=actor_id)
            if example is None:
                raise UserError(_("There is no example #{example}.", example=example_id))
            await self._reindex()
        return example

    async def page(self, search: str | None = None, page: int = 1) -> ExamplePage:
        search = (search or "").strip() or None
        examples, total = await self._examples.find(search, offset=(page - 1) * PAGE_SIZE, limit=PAGE_SIZE)
        return ExamplePage(examples, page, max(1, math.ceil(total / PAGE_SIZE)), total, search)

    async def export(self) -> bytes:
        """Every example in the training format, with the live system prompt: ready for /train or validate."""
        examples = await self._examples.all()
        return await asyncio.to_thread(training_jsonl, [(e.question, e.answer) for e in examples], self._system_prompt)

    async def import_file(self, raw: bytes, filename: str, *, actor_id: int) -> ImportResult:
        """Add every line of a JSONL file, or none when any line is invalid; a taught question gets the new answer."""
        pairs = await asyncio.to_thread(parse_examples, raw, source=filename)
        await self._refuse_flagged(pairs, source=filename)
        async with self._changing:
            new: dict[str, tuple[str, str]] = {}
            replaced: dict[int, str] = {}
            for question, answer in pairs:
                existing = self._by_question.get(normalise_question(question))
                if existing is not None:
                    if existing.answer != answer:
                        replaced[existing.id] = answer
                else:
                    new[normalise_question(question)] = (question, answer)  # a later line wins
            await self._examples.import_many(list(new.values()), list(replaced.items()), actor_id=actor_id, source=filename)
            await self._reindex()
        changed = [self._by_question[key].id for key in new if key in self._by_question] + list(replaced)
        return ImportResult(len(new), len(replaced), await self.confusions(changed))

    async def add_test_question(self, question: str, example_id: int, *, author_id: int) -> tuple[int, Example]:
        """A question to evaluate models with, expecting example #`example_id`'s answer; never trained on or matched."""
        if self._evaluations is None:
            raise UserError(_("Test questions are not set up here."))
        question = clean(question)
        if not question:
            raise UserError(_("The question is empty; write it as a customer would."))
        if len(question) > MAX_QUESTION_CHARS:
            raise UserError(too_long(question, MAX_QUESTION_CHARS))
        example = await self._examples.get(example_id)
        if example is None:
            raise UserError(_("There is no example #{example}; `/examples list` shows their numbers.", example=example_id))
        if normalise_question(question) in self._by_question:
            raise UserError(_("“{question}” is taught already, so it would test nothing; write it in other words.", question=question))
        return await self._evaluations.add_test_question(question, example_id, author_id=author_id), example

    async def remove_test_question(self, test_id: int) -> None:
        if self._evaluations is None or not await self._evaluations.remove_test_question(test_id):
            raise UserError(_("There is no test question {test}.", test=test_id))

    async def check(self) -> LibraryCheck:
        """How safely each intent is told apart from the others (`/examples check`)."""
        return await self.matcher.check()

    async def confusions(self, example_ids: list[int]) -> list[tuple[str, str, float]]:
        """Taught questions that these examples leave open to another intent's answer: shown after teaching."""
        return await self.matcher.confusions(example_ids)


    async def _refuse_flagged(self, pairs: list[tuple[str, str]], *, source: str | None = None) -> None:
        """With moderation on, flagged examples are refused now rather than by fine-tuning later."""
        if self._moderator is None or not self._moderator.enabled:
            return
        verdicts = await self._moderator.flagged([f"{q}\n{a}" for q, a in pairs])
        flagged = [(n, categories) for n, categories in enumerate(verdicts, start=1) if categories]
        if not flagged:
            return
        if source is None:
            raise UserError(_(
                "Moderation flagged this example ({categories}); fine-tuning would reject it, so it was not saved.",
                categories=", ".join(flagged[0][1]),
            ))
        problems: list[Text] = [
            _("example {number}: flagged by moderation ({categories})", number=n, categories=", ".join(c)) for n, c in flagged
        ]
        raise DatasetError(Lines([
            _("{source} can't be imported; nothing was saved. Fix these examples:", source=source), problem_list(problems),
        ]))


def check_example(question: str, answer: str) -> tuple[str, str]:
    question, answer = clean(question), clean(answer)
    if not question:
        raise UserError(_("The question is empty; write the customer's question."))
    if not answer:
        raise UserError(_("The answer is empty; write the answer customers should get."))
    if len(question) > MAX_QUESTION_CHARS:
        raise UserError(too_long(question, MAX_QUESTION_CHARS))
    if len(answer) > MAX_ANSWER_CHARS:
        raise UserError(_("The answer is {length:,} characters; keep it under {limit:,}.", length=len(answer), limit=MAX_ANSWER_CHARS))
    return question, answer


def too_long(question: str, limit: int) -> Line:
    return _("The question is {length:,} characters; keep it under {limit:,}.", length=len(question), limit=limit)


def problem_list(problems: list[Text]) -> Lines:
    """The first problems as a list, then how many more there are (as bot.dataset.render_problems, in the reader's language)."""
    shown: list[Text] = [Lines(["-", problem], separator=" ") for problem in problems[:MAX_ERRORS_SHOWN]]
    if len(problems) > MAX_ERRORS_SHOWN:
        shown.append(_("… and {number:,} more.", number=len(problems) - MAX_ERRORS_SHOWN))
    return Lines(shown)


def parse_examples(raw: bytes, *, source: str) -> list[tuple[str, str]]:
    """Question/answer pairs from JSONL in the training format or as {"question", "answer"} lines.

    Raises DatasetError listing every bad line (the first 20) when any line is invalid.
    """
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise DatasetError(
            _("{source} can't be imported: line {line}: not UTF-8 (byte offset {offset:,}).", source=source, line=line, offset=exc.start)
        ) from None
    pairs: list[tuple[str, str]] = []
    problems: list[Text] = []
    # Only "\n" ends a line, as in `validate`: str.splitlines would also split at U+2028, U+0085 and other
    # separators that JSON allows inside a string. A "\r" before it is whitespace to the JSON parser.
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except RecursionError:
            problems.append(on_line(number, TOO_DEEP))
            continue
        except ValueError:
            problems.append(on_line(number, _("not valid JSON")))
            continue
        try:
            pairs.append(check_example(*question_and_answer(item)))
        except (UserError, DatasetError) as exc:
            problems.append(on_line(number, exc.message))
    if problems:
        raise DatasetError(Lines([
            _("{source} can't be imported; nothing was saved. Fix these lines:", source=source), problem_list(problems),
        ]))
    if not pairs:
        raise DatasetError(_("{source} has no examples.", source=source))
    return pairs


def on_line(number: int, problem: Text) -> Line:
    return _("line {line}: {problem}", line=number, problem=problem)


def question_and_answer(item: object) -> tuple[str, str]:
    if isinstance(item, dict) and "messages" not in item and ("question" in item or "answer" in item):
        question, answer = item.get("question"), item.get("answer")
        if not isinstance(question, str) or not isinstance(answer, str):
            raise DatasetError(_("'question' and 'answer' must both be text"))
        return question, answer
    problems = problems_of(item)
    if problems:
        raise DatasetError(Lines(problems, separator="; "))
    messages = item["messages"]  # type: ignore[index]
    users = [i for i, m in enumerate(messages) if m.get("role") == "user"]
    if not users:
        raise DatasetError(_("no user message"))
    if not isinstance(messages[users[-1]]["content"], str):
        raise DatasetError(_("the last user message is not plain text; only text questions can be taught"))
    answers = [m for m in messages[users[-1] + 1 :] if m.get("role") == "assistant" and isinstance(m.get("content"), str)]
    if not answers:
        raise DatasetError(_("no assistant answer after the last user message"))
    return messages[users[-1]]["content"], answers[0]["content"]


def training_jsonl(pairs: list[tuple[str, str]], system_prompt: str) -> bytes:
    lines = (
        json.dumps(
            {"messages": [
                {"role": "system", "content": system_prompt},
                {"role": "user", "content": question},
                {"role": "assistant", "content": answer},
            ]},
            ensure_ascii=False,
        )
        for question, answer in pairs
    )
    return "".join(line + "\n" for line in lines).encode("utf-8")


def _read_if_exists(path: Path) -> bytes | None:
    return path.read_bytes() if path.exists() else None
