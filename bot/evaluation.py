"""Evaluation: how a model answers questions it was not trained on, graded by which taught answer each reply is nearest to.

A run keeps part of its data out of training (`split_dataset`); staff may add test-only questions. Each
question is asked as support would ask it (same system prompt, guidance from the other taught examples),
and the reply is graded offline and deterministically (`Grader`): right, confused with another intent,
or off. `Comparison` decides whether a candidate model is at least as good as the live one.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace

from bot.errors import ModelError, UserError
from bot.i18n import Lines, Text, _, _n
from bot.llm import LLM, Caller
from bot.matching import answer_key
from bot.records import EvalQuestion
from bot.retrieval import Entry, Matcher
from bot.storage import EvaluationStore, ExampleStore
from bot.storage.evaluations import StoredEvaluation
from bot.support import SupportService
from bot.teaching import question_and_answer
from bot.text import clean, normalise_question, shorten
from bot.tokens import estimate_tokens

log = logging.getLogger(__name__)

HELD_OUT_SHARE = 0.1
SPLIT_SEED = 20_261_204  # the split is the same every time for the same data
MIN_TRAINING_LINES = 10  # the provider's minimum; nothing is held out below it
# A reply this close (lexical cosine, 0-1) to a taught answer is taken as that answer. Replies that restate
# an answer in other words score 0.3-0.6 against it and under 0.15 against unrelated answers (tests/test_evaluation.py).
GRADE_FLOOR = 0.25
CONCURRENT_QUESTIONS = 4
COMPLETION_TOKENS_GUESS = 200  # per reply, for the cost shown before the replies are in
TAUGHT_ONLY = "taught answers only"  # evaluating the matcher alone, without any model (stored as its model name)

RIGHT, CONFUSED, OFF = "right", "confused", "off"


# -- the split ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Split:
    training: bytes  # the lines to train on
    validation: bytes  # the held-out lines, as they were: the provider's validation file
    held_out: list[EvalQuestion]
    lines: int
    tests_left_out: int = 0  # lines asking one of staff's test questions: in neither file

    def render(self) -> Text:
        tests = (
            _n(
                "Left out of both files: {count} example asking a test question (`/examples add-test`).",
                "Left out of both files: {count} examples asking a test question (`/examples add-test`).",
                self.tests_left_out,
            )
            if self.tests_left_out else ""
        )
        return Lines([self._held(), tests])

    def _held(self) -> Text:
        if not self.held_out:
            return _(
                "Held out for evaluation: none (no answer has two or more phrasings to spare). "
                "Add test questions with `/examples add-test` to evaluate the new model."
            )
        return _(
            "Held out for evaluation: {held} of {lines} examples (never trained on; sent as the validation file).",
            held=len(self.held_out),
            lines=self.lines,
        )


def split_dataset(
    lines: bytes, *, share: float = HELD_OUT_SHARE, seed: int = SPLIT_SEED, never_train: Iterable[str] = ()
) -> Split:
    """Keep about `share` of the examples out of training, reproducibly.

    At least one phrasing of every answer that has three or more is held out, and never an answer's only
    remaining phrasing. A phrasing is a question up to spacing and case: its repeats go wherever it goes.
    Examples that are not one question and one answer (multi-turn, tools) always train. Lines asking one of
    `never_train` (staff's test questions) are left out of both files.
    """
    raw_lines = [line for line in lines.split(b"\n") if line.strip()]
    excluded = {normalise_question(q) for q in never_train}
    phrasing_of: dict[int, str] = {}  # line -> its question, normalised
    pairs: dict[str, tuple[str, str]] = {}  # normalised question -> (question, answer) as first written
    groups: dict[str, list[str]] = {}  # answer -> its distinct phrasings, in order
    dropped: set[int] = set()
    for number, line in enumerate(raw_lines):
        pair = _single_exchange(line)
        if pair is None:
            continue
        key = normalise_question(pair[0])
        if key in excluded:
            dropped.add(number)
            continue
        phrasing_of[number] = key
        if key not in pairs:
            pairs[key] = pair
            groups.setdefault(answer_key(pair[1]), []).append(key)
    rng = random.Random(seed)
    kept = len(raw_lines) - len(dropped)
    room = kept - MIN_TRAINING_LINES  # lines that may leave training
    lines_of = Counter(phrasing_of.values())
    held: set[str] = set()
    held_count = 0
    remaining = {answer: len(members) for answer, members in groups.items()}  # phrasings still training

    def hold(key: str) -> bool:
        nonlocal held_count
        answer = answer_key(pairs[key][1])
        if key in held or remaining[answer] < 2 or held_count + lines_of[key] > room:
            return False
        held.add(key)
        held_count += lines_of[key]
        remaining[answer] -= 1
        return True

    for members in groups.values():
        if len(members) >= 3:
            hold(rng.choice(members))
    target = max(round(kept * share), len(held))
    spare = [key for members in groups.values() if len(members) >= 2 for key in members if key not in held]
    rng.shuffle(spare)
    for key in spare:
        if len(held) >= target:
            break
        hold(key)
    return Split(
        training=b"".join(line + b"\n" for n, line in enumerate(raw_lines) if n not in dropped and phrasing_of.get(n) not in held),
        validation=b"".join(raw_lines[n] + b"\n" for n, key in phrasing_of.items() if key in held),
        held_out=[EvalQuestion(*pairs[key]) for key in pairs if key in held],  # in the order first written
        lines=len(raw_lines),
        tests_left_out=len(dropped),
    )


def _single_exchange(line: bytes) -> tuple[str, str] | None:
    """(question, answer) of an example that is one user message and one assistant answer (a system prompt aside)."""
    try:
        item = json.loads(line)
        roles = [m.get("role") for m in item.get("messages", [])]
        if [r for r in roles if r != "system"] != ["user", "assistant"]:
            return None
        return question_and_answer(item)
    except (ValueError, UserError, AttributeError, TypeError):
        return None


# -- grading -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Grade:
    verdict: str  # RIGHT, CONFUSED or OFF
    nearest: str | None  # the taught answer the reply is nearest to (close enough), if any
    score: float


class Grader:
    """Which taught answer a reply is nearest to, on the matcher's lemmas: deterministic and offline."""

    def __init__(self, answers: Iterable[str]) -> None:
        distinct = list(dict.fromkeys(answer_key(a) for a in answers))
        self._matcher = Matcher()
        self._matcher.load_now(Entry(n, answer, answer) for n, answer in enumerate(distinct))

    def grade(self, reply: str | None, expected: str) -> Grade:
        if not reply:
            return Grade(OFF, None, 0.0)
        if answer_key(reply) == answer_key(expected):
            return Grade(RIGHT, answer_key(expected), 1.0)
        best = self._matcher.search_now(reply, k=1).best
        if best is None or best.score < GRADE_FLOOR:
            return Grade(OFF, None, best.score if best else 0.0)
        verdict = RIGHT if best.entry.answer == answer_key(expected) else CONFUSED
        return Grade(verdict, best.entry.answer, best.score)


# -- reports -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Graded:
    question: str
    intent: str  # the expected answer's intent, named by one of its questions
    verdict: str
    confused_with: str | None = None  # the intent the reply was nearest to, when confused
    replied: bool = True  # False: no reply at all (taught answers only, and none was sure: handed to staff)


@dataclass(frozen=True)
class Report:
    model: str
    graded: list[Graded]
    prompt_tokens: int = 0
    completion_tokens: int = 0
    estimated_cost: float | None = None
    id: int | None = None

    @property
    def asked(self) -> int:
        return len(self.graded)

    def count(self, verdict: str) -> int:
        return sum(1 for g in self.graded if g.verdict == verdict)

    def by_intent(self) -> dict[str, tuple[int, int]]:
        """Per intent: (right, asked)."""
        scores: dict[str, tuple[int, int]] = {}
        for g in self.graded:
            right, asked = scores.get(g.intent, (0, 0))
            scores[g.intent] = (right + (g.verdict == RIGHT), asked + 1)
        return scores

    def confused_pairs(self) -> list[tuple[str, str]]:
        return sorted({(g.intent, g.confused_with) for g in self.graded if g.verdict == CONFUSED and g.confused_with})

    def summary(self) -> Text:
        """One line for admins; `str()` of it is English (logs, and the reason stored with a promotion)."""
        model = model_name(self.model)
        if not self.asked:
            return _("`{model}`: no questions to evaluate on", model=model)
        values = {"model": model, "right": self.count(RIGHT), "asked": self.asked, "confused": self.count(CONFUSED), "off": self.count(OFF)}
        if self.estimated_cost:
            return _("`{model}`: {right}/{asked} right, {confused} confused, {off} off, ~${cost:.4f}", cost=self.estimated_cost, **values)
        return _("`{model}`: {right}/{asked} right, {confused} confused, {off} off", **values)

    @classmethod
    def from_stored(cls, stored: StoredEvaluation) -> Report:
        graded = [Graded(**row) for row in stored.detail]
        return cls(stored.model, graded, estimated_cost=stored.estimated_cost, id=stored.id)


@dataclass(frozen=True)
class Comparison:
    candidate: Report
    live: Report

    @property
    def at_least_as_good(self) -> bool:
        """No fewer right answers and no more confusions than the live model, on the same questions."""
        if not self.candidate.asked:
            return False  # nothing measured: not known to be as good
        return (
            self.candidate.count(RIGHT) >= self.live.count(RIGHT)
            and self.candidate.count(CONFUSED) <= self.live.count(CONFUSED)
        )

    def worse_intents(self) -> list[str]:
        """Intents the candidate answers right less often than the live model."""
        live = self.live.by_intent()
        return [
            intent for intent, (right, _) in self.candidate.by_intent().items()
            if right < live.get(intent, (0, 0))[0]
        ]

    def render(self) -> Text:
        lines: list[Text] = [_("Candidate {summary}", summary=self.candidate.summary()), _("Live {summary}", summary=self.live.summary())]
        worse = self.worse_intents()
        if worse:
            intents = ", ".join(f"“{_short(i)}”" for i in worse[:5])
            more = _(" and {number} more", number=len(worse) - 5) if len(worse) > 5 else ""
            lines.append(_("Worse than live on: {intents}{more}", intents=intents, more=more))
        pairs = self.candidate.confused_pairs()
        if pairs:
            confused = Lines([_("“{intent}” answered as “{other}”", intent=_short(a), other=_short(b)) for a, b in pairs[:5]], separator="; ")
            more = _("; and {number} more", number=len(pairs) - 5) if len(pairs) > 5 else ""
            lines.append(_("Confused: {pairs}{more}", pairs=confused, more=more))
        return Lines(lines)


def model_name(model: str) -> Text:
    """A model as admins read its name: the taught answers alone are named in their language."""
    return _("taught answers only") if model == TAUGHT_ONLY else model


def render_report(report: Report, *, most: int = 15) -> Text:
    lines = [report.summary()]
    misses = [g for g in report.graded if g.verdict != RIGHT]
    for g in misses[:most]:
        if g.verdict == CONFUSED:
            got = _("answered as “{other}”", other=_short(g.confused_with))
        else:
            got = _("no taught answer in the reply") if g.replied else _("no sure taught answer: handed to staff")
        lines.append(_("- “{question}” ({intent}): {result}", question=_short(g.question), intent=_short(g.intent), result=got))
    if len(misses) > most:
        lines.append(_("…and {number} more", number=len(misses) - most))
    return Lines(lines)


def _short(text: str | None) -> str:
    return shorten(text or "", 40)


# -- running an evaluation ---------------------------------------------------------------


Cost = Callable[[str, int, int], "float | None"]


@dataclass(frozen=True)
class _Setup:
    """What grading a set of questions needs, whichever model answers them."""

    guidance: Matcher
    grader: Grader
    names: dict[str, str]


@dataclass
class Evaluator:
    """Asks a model (or only the taught answers) the evaluation questions and grades the replies."""

    llm: LLM
    support: SupportService
    examples: ExampleStore
    store: EvaluationStore
    cost: Cost
    max_questions: int = 50
    # The guidance matcher's fixed floor and margin (MATCH_FLOOR / MATCH_MARGIN), as support's; words only:
    # provider embeddings would make every evaluation pay for them again.
    match_floor: float | None = None
    match_margin: float | None = None

    async def questions(self, run_id: str | None) -> list[EvalQuestion]:
        """Staff's test questions and a run's held-out questions, at most `max_questions` (a seeded sample)."""
        held = await self.store.held_out(run_id) if run_id else []
        return self.bounded(await self.store.test_questions() + held)

    def bounded(self, questions: list[EvalQuestion]) -> list[EvalQuestion]:
        questions = list(dict.fromkeys(questions))
        if len(questions) > self.max_questions:
            questions = random.Random(SPLIT_SEED).sample(questions, self.max_questions)
        return questions

    async def evaluate(
        self, model: str | None, questions: list[EvalQuestion], *, job_id: str | None = None, role: str = "on demand",
        requested_by: int | None = None,
    ) -> Report:
        """Ask every question as support would, grade the replies, and store the report.

        The first failed call stops the evaluation (the questions not yet asked are not asked): UserError.
        """
        setup = await self._prepare(questions)
        return await self._run(setup, model, questions, job_id=job_id, role=role, requested_by=requested_by)

    async def compare(
        self, candidate: str, live: str, questions: list[EvalQuestion], *, job_id: str | None = None,
        requested_by: int | None = None,
    ) -> Comparison:
        """The candidate and the live model on the same questions, with one guidance index and one grader for both."""
        setup = await self._prepare(questions)
        asked = {"job_id": job_id, "requested_by": requested_by}
        return Comparison(
            await self._run(setup, candidate, questions, role="candidate", **asked),
            await self._run(setup, live, questions, role="live", **asked),
        )

    async def _prepare(self, questions: list[EvalQuestion]) -> _Setup:
        """The taught examples without the questions asked (guidance), a grader on every answer, the intents' names."""
        taught = await self.examples.all()
        asked = {normalise_question(q.question) for q in questions}
        guidance = Matcher(floor=self.match_floor, margin=self.match_margin)
        await guidance.load(Entry(e.id, e.question, e.answer) for e in taught if normalise_question(e.question) not in asked)
        grader = await asyncio.to_thread(Grader, [e.answer for e in taught] + [q.answer for q in questions])
        names = _intent_names([(e.question, e.answer) for e in taught] + [(q.question, q.answer) for q in questions])
        return _Setup(guidance, grader, names)

    async def _run(
        self, setup: _Setup, model: str | None, questions: list[EvalQuestion], *, job_id: str | None, role: str,
        requested_by: int | None,
    ) -> Report:
        guidance, grader, names = setup.guidance, setup.grader, setup.names
        slots = asyncio.Semaphore(CONCURRENT_QUESTIONS)
        usage = Counter[str]()

        async def ask(question: EvalQuestion) -> Graded:
            decision = guidance.search_now(clean(question.question), k=max(3, self.support.guidance_examples))
            if model is None:
                reply = decision.best.entry.answer if decision.sure and decision.best else None
            else:
                async with slots:
                    try:
                        answer = await self.llm.chat(
                            self.support.prompt(clean(question.question), decision, guidance.calibration.floor),
                            model=model, caller=Caller("evaluation"),
                        )
                    except ModelError as exc:
                        raise UserError(_("Evaluating `{model}` stopped: {reason}", model=model, reason=exc.message)) from None
                usage["prompt"] += answer.prompt_tokens
                usage["completion"] += answer.completion_tokens
                reply = answer.text
            grade = grader.grade(reply, question.answer)
            confused = names.get(grade.nearest) if grade.verdict == CONFUSED else None
            return Graded(question.question, names[answer_key(question.answer)], grade.verdict, confused, reply is not None)

        try:
            async with asyncio.TaskGroup() as group:  # one failure cancels the questions still being asked
                tasks = [group.create_task(ask(q)) for q in questions]
        except* UserError as failed:
            raise failed.exceptions[0] from None
        graded = [task.result() for task in tasks]
        name = model or TAUGHT_ONLY
        cost = self.cost(model, usage["prompt"], usage["completion"]) if model else 0.0
        report = Report(name, graded, usage["prompt"], usage["completion"], cost)
        report_id = await self.store.save(
            job_id=job_id, model=name, role=role, requested_by=requested_by, asked=report.asked,
            right=report.count(RIGHT), confused=report.count(CONFUSED), off=report.count(OFF), estimated_cost=cost,
            detail=[g.__dict__ for g in graded],
        )
        log.info("evaluated %s on %s questions: %s", name, report.asked, report.summary())
        return replace(report, id=report_id)

    def estimate(self, model: str, questions: list[EvalQuestion]) -> float | None:
        """The cost of asking `model` these questions, before asking: prompt estimated, replies guessed."""
        prompt = estimate_tokens(self.support.system_prompt) + 600  # guidance: a few examples
        total = sum(prompt + estimate_tokens(q.question) for q in questions)
        return self.cost(model, total, COMPLETION_TOKENS_GUESS * len(questions))

    async def latest(self, job_id: str | None = None) -> list[Report]:
        return [Report.from_stored(s) for s in await self.store.latest(job_id=job_id)]


def _intent_names(pairs: list[tuple[str, str]]) -> dict[str, str]:
    """Each answer's intent, named by its first question (taught ones first, then the evaluation's)."""
    names: dict[str, str] = {}
    for question, answer in pairs:
        names.setdefault(answer_key(answer), question)
    return names
