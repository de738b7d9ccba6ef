"""The matcher support asks first: which taught intent a question means, and whether that is sure enough to answer verbatim.

One `Matcher` serves every configuration: the lexical score on lemmas (bot/matching.py) always,
blended with a semantic score when one is configured (the provider's embeddings with
EMBEDDING_MODEL). The decision is the margin rule, calibrated on the shop's examples each time
they change (`Matcher.calibration`), or fixed by MATCH_FLOOR / MATCH_MARGIN.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import random
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from bot.errors import ModelError
from bot.i18n import Lines, Text, _, _n
from bot.storage import StorageError
from bot.llm import Caller
from bot.matching import Calibration, Candidate, Decision, Entry, Intents, LexicalIndex, analyzer, decide, terms

__all__ = ["Candidate", "Decision", "Entry", "Matcher", "ProviderEmbeddings", "Semantic", "Vectors", "check_library", "render_check"]

log = logging.getLogger(__name__)

# Calibration bounds: whatever the examples say, never answer below MIN_FLOOR or with a lead under
# MIN_MARGIN; a library whose intents overlap a lot asks for a lead of MAX_MARGIN at most.
MIN_FLOOR = 0.15
MIN_MARGIN = 0.08
MAX_MARGIN = 0.3
# Where in the left-out scores the floor and margin sit (chosen on the development sets in bench/matching_sets).
FLOOR_QUANTILE = 0.25
MARGIN_QUANTILE = 0.9
CALIBRATION_SAMPLE = 1500  # phrasings left out one at a time to calibrate; more are sampled (seeded)
SEMANTIC_WEIGHT = 0.7
NEAR_CHECKED = 20  # after a change, the taught questions nearest to it are checked again


@dataclass(frozen=True)
class Vectors:
    """Embeddings of one load's entries: a unit row per entry (zeros where embedding failed), and which rows are real."""

    matrix: np.ndarray
    known: np.ndarray


class Semantic(Protocol):
    """A second opinion on how alike two texts are (embeddings)."""

    costs_a_call: bool  # scoring a question calls the provider (counts against the customer's limits)

    async def vectors(self, entries: Sequence[Entry]) -> Vectors: ...

    async def question_vector(self, question: str, caller: Caller | None) -> np.ndarray | None: ...


@dataclass(frozen=True)
class LeftOut:
    """One taught phrasing asked as if it were not taught."""

    index: int
    own: float | None  # best score of its intent's other phrasings (None: the intent has no other)
    other: tuple[int | None, float]  # the best other intent: (its best entry's index, score)
    runner_up: float  # the next other intent's score


@dataclass
class _Library:
    """What one load of the examples computed: everything a search or a check needs."""

    entries: list[Entry] = field(default_factory=list)
    intents: Intents = field(default_factory=lambda: Intents([]))
    lexical: LexicalIndex = field(default_factory=lambda: LexicalIndex([]))
    features: list = field(default_factory=list)
    vectors: Vectors | None = None  # with a semantic matcher: the same entries' embeddings, swapped in together
    calibration: Calibration = field(default_factory=lambda: Calibration(MIN_FLOOR, MIN_MARGIN))


class Matcher:
    def __init__(
        self,
        *,
        semantic: Semantic | None = None,
        semantic_weight: float = SEMANTIC_WEIGHT,
        floor: float | None = None,
        margin: float | None = None,
    ) -> None:
        self._semantic = semantic
        self._semantic_weight = semantic_weight if semantic is not None else 0.0
        self._fixed = (floor, margin)
        self._library = _Library()
        self._features: dict[tuple[int, str], object] = {}  # (id, question) -> terms: only new questions are analysed

    @property
    def calibration(self) -> Calibration:
        """The margin rule in force: calibrated on (or fixed for) the examples loaded last."""
        return self._library.calibration

    @property
    def costs_a_call(self) -> bool:
        return self._semantic is not None and self._semantic.costs_a_call

    @property
    def entries(self) -> list[Entry]:
        return self._library.entries

    async def load(self, entries: Iterable[Entry]) -> None:
        """Index the examples (analysing only questions not seen before) and calibrate on them, off the event loop."""
        entries = list(entries)
        library = await asyncio.to_thread(self._build, entries)
        if self._semantic is not None:
            library.vectors = await self._semantic.vectors(entries)
        library.calibration = calibration = await asyncio.to_thread(self._calibrate, library)
        self._library = library
        log.info(
            "matching %s examples in %s intents: floor %.2f, margin %.2f",
            len(entries), library.intents.count, calibration.floor, calibration.margin,
        )

    def load_now(self, entries: Iterable[Entry]) -> None:
        """The same without a loop (words only): for dataset checks in a worker process and the CLI."""
        library = self._build(list(entries))
        library.calibration = self._calibrate(library)
        self._library = library

    def search_now(self, question: str, k: int = 3) -> Decision:
        """Words only, synchronously (benchmarks, checks)."""
        library = self._library
        if not library.entries:
            return Decision([], 0.0, False)
        return decide(library.intents, _word_scores(library, question), library.calibration, k)

    def _build(self, entries: list[Entry]) -> _Library:
        words = analyzer()
        known = self._features
        features = []
        shared: dict[str, str] = {}
        for entry in entries:
            key = (entry.id, entry.question)
            if key not in known:
                known[key] = terms(words.lemmas(entry.question), shared)
            features.append(known[key])
        current = {(e.id, e.question) for e in entries}
        for key in [k for k in known if k not in current]:
            del known[key]
        return _Library(entries, Intents(entries), LexicalIndex(features), features)

    async def search(self, question: str, k: int = 3, *, caller: Caller | None = None) -> Decision:
        library = self._library
        if not library.entries:
            return Decision([], 0.0, False)
        scores = _word_scores(library, question)
        if self._semantic is not None and library.vectors is not None and library.vectors.matrix.size:
            query = await self._semantic.question_vector(question, caller)
            if query is not None:
                scores = self._blend(scores, library.vectors.matrix @ query, library.vectors.known)
        return decide(library.intents, scores, library.calibration, k)

    def _blend(self, lexical: np.ndarray, semantic: np.ndarray, known: np.ndarray) -> np.ndarray:
        """Mostly embeddings, some lemmas; an entry without a vector keeps its lemma score alone."""
        blended = (1 - self._semantic_weight) * lexical + self._semantic_weight * semantic
        return np.where(known, blended, lexical)

    # -- calibration and the library check ------------------------------------------------

    def _leave_one_out(self, library: _Library, chosen: Iterable[int] | None = None) -> list[LeftOut]:
        """Each phrasing (a seeded sample of them in a large library, or those `chosen`) asked as if staff had not taught it."""
        count = len(library.entries)
        if chosen is None:
            chosen = range(count)
            if count > CALIBRATION_SAMPLE:
                chosen = sorted(random.Random(7).sample(range(count), CALIBRATION_SAMPLE))
        vectors = library.vectors if library.vectors is not None and library.vectors.matrix.size else None
        intents = library.intents
        results = []
        for i in chosen:
            scores = library.lexical.scores(library.features[i])
            if vectors is not None and vectors.known[i]:
                scores = self._blend(scores, vectors.matrix @ vectors.matrix[i], vectors.known)
            own = int(intents.of_entry[i])
            mates = (intents.of_entry == own) & (np.arange(count) != i)
            own_score = float(scores[mates].max()) if mates.any() else None
            others = [(entry, score) for intent, entry, score in intents.rank(scores, 3, exclude=i) if intent != own]
            results.append(LeftOut(i, own_score, others[0] if others else (None, 0.0), others[1][1] if len(others) > 1 else 0.0))
        return results

    def _calibrate(self, library: _Library) -> Calibration:
        floor, margin = self._fixed
        if floor is not None and margin is not None:
            return Calibration(floor, margin)
        rows = self._leave_one_out(library) if library.intents.count > 1 else []
        # How close a question gets to an intent it does not belong to: the floor sits above most of that.
        others = [row.other[1] for row in rows]
        # How far a wrong intent can lead the right one: the margin must cover that.
        wrong_leads = [row.other[1] - row.own for row in rows if row.own is not None and row.other[1] > row.own]
        found_floor = float(np.quantile(others, FLOOR_QUANTILE)) if others else MIN_FLOOR
        found_margin = float(np.quantile(wrong_leads, MARGIN_QUANTILE)) if wrong_leads else MIN_MARGIN
        floor = floor if floor is not None else max(MIN_FLOOR, found_floor)
        margin = margin if margin is not None else min(MAX_MARGIN, max(MIN_MARGIN, found_margin))
        return Calibration(floor, margin)

    async def check(self) -> LibraryCheck:
        return await asyncio.to_thread(check_library, self)

    async def confusions(self, entry_ids: Iterable[int]) -> list[tuple[str, str, float]]:
        return await asyncio.to_thread(self.confusions_now, set(entry_ids))

    def confusions_now(self, entry_ids: set[int]) -> list[tuple[str, str, float]]:
        """Taught questions that, asked in other words, would now get another intent's answer because of these entries:
        the entries themselves, and the taught questions nearest to them."""
        library = self._library
        index_of = {entry.id: i for i, entry in enumerate(library.entries)}
        new = [index_of[i] for i in entry_ids if i in index_of]
        near: set[int] = set(new)
        for i in new:
            scores = library.lexical.scores(library.features[i])
            near.update(int(j) for j in np.argsort(-scores)[:NEAR_CHECKED] if scores[j] >= self.calibration.floor)
        found = []
        for row in self._leave_one_out(library, sorted(near)):
            confusion = _confusion(row, library, self.calibration)
            if confusion is not None and (row.index in new or index_of.get(library.entries[row.other[0]].id) in new):
                found.append(confusion)
        return found


def _word_scores(library: _Library, question: str) -> np.ndarray:
    return library.lexical.scores(terms(analyzer().lemmas(question)))


@dataclass(frozen=True)
class IntentCheck:
    answer: str
    questions: list[str]
    nearest_question: str | None  # the nearest taught question of another intent
    nearest_alike: float  # how alike (0-1) that question is to this intent's phrasing nearest to it
    separation: float  # how far its other phrasings stay ahead of that intent (negative: behind)
    confused: list[tuple[str, str, float]]  # (its question, the other intent's question whose answer it would get, how alike)

    @property
    def safe(self) -> bool:
        return not self.confused and len(self.questions) >= 3


@dataclass(frozen=True)
class LibraryCheck:
    calibration: Calibration
    intents: list[IntentCheck]  # least safely separated first

    @property
    def confused(self) -> list[tuple[str, str, float]]:
        return [pair for intent in self.intents for pair in intent.confused]


def check_library(matcher: Matcher) -> LibraryCheck:
    """Per intent: its nearest other intent, how safely it stays apart, and taught questions that would get another's answer."""
    library = matcher._library
    calibration = matcher.calibration
    if library.intents.count == 0:
        return LibraryCheck(calibration, [])
    members: dict[int, list[int]] = {}
    for index, intent in enumerate(library.intents.of_entry):
        members.setdefault(int(intent), []).append(index)
    rows = {row.index: row for row in matcher._leave_one_out(library)}
    entries = library.entries
    checks = []
    for intent, indexes in members.items():
        separation, nearest, alike, confused = 1.0, None, 0.0, []
        for i in indexes:
            row = rows.get(i)
            if row is None or row.other[0] is None:
                continue
            lead = (row.own if row.own is not None else 0.0) - row.other[1]
            if nearest is None or lead < separation:
                separation, nearest, alike = lead, entries[row.other[0]].question, row.other[1]
            confusion = _confusion(row, library, calibration)
            if confusion is not None:
                confused.append(confusion)
        checks.append(
            IntentCheck(entries[indexes[-1]].answer, [entries[i].question for i in indexes], nearest, alike, separation, confused)
        )
    checks.sort(key=lambda c: (c.safe, c.separation))
    return LibraryCheck(calibration, checks)


def _confusion(row: LeftOut, library: _Library, calibration: Calibration) -> tuple[str, str, float] | None:
    """Asked as if this phrasing were not taught, would another intent's answer be sent verbatim?"""
    entry, score = row.other
    beaten = max(row.own or 0.0, row.runner_up)
    if entry is None or score < calibration.floor or score - beaten < calibration.margin:
        return None
    return library.entries[row.index].question, library.entries[entry].question, score


def render_check(check: LibraryCheck, *, most: int = 10) -> Lines:
    """The check as text for staff: the rule in force, questions that would get another answer, intents to strengthen.

    Lines in the reader's language; `str()` of it is English (the `check-examples` command prints that).
    """
    calibration = check.calibration
    phrasings = sum(len(intent.questions) for intent in check.intents)
    summary = Lines([
        _(
            "{questions} in {intents} (questions sharing an answer are one intent).",
            questions=_n("{count:,} taught question", "{count:,} taught questions", phrasings),
            intents=_n("{count:,} intent", "{count:,} intents", len(check.intents)),
        ),
        _(
            "A customer gets a taught answer word for word when its intent scores at least {floor:.2f} "
            "and leads the next intent by {margin:.2f} or more.",
            floor=calibration.floor,
            margin=calibration.margin,
        ),
    ])
    confused = check.confused
    wrong: list[Text] = []
    if confused:
        wrong.append(_n(
            "⚠️ {count} taught question would get another intent's answer if a customer asked it in other words:",
            "⚠️ {count} taught questions would get another intent's answer if a customer asked them in other words:",
            len(confused),
        ))
        wrong += [
            _("• “{question}” → the answer of “{other}” ({alike:.0%} alike)", question=q, other=other, alike=alike)
            for q, other, alike in confused[:most]
        ]
        if len(confused) > most:
            wrong.append(_("• … and {more} more", more=len(confused) - most))
    weak = [intent for intent in check.intents if not intent.safe]
    strengthen: list[Text] = []
    if weak:
        strengthen.append(_("Intents that need more phrasings (fewer than 3, or too close to another intent), least safe first:"))
        for intent in weak[:most]:
            count = _n("{count} phrasing", "{count} phrasings", len(intent.questions))
            strengthen.append(
                _(
                    "• “{question}” ({phrasings}); nearest: “{nearest}” ({alike:.0%} alike)",
                    question=intent.questions[0], phrasings=count, nearest=intent.nearest_question, alike=intent.nearest_alike,
                )
                if intent.nearest_question
                else _("• “{question}” ({phrasings})", question=intent.questions[0], phrasings=count)
            )
        if len(weak) > most:
            strengthen.append(_("• … and {more} more", more=len(weak) - most))
    safe = _n(
        "{safe} of {count} intent is well separated (3+ phrasings, none answered wrongly).",
        "{safe} of {count} intents are well separated (3+ phrasings, none answered wrongly).",
        len(check.intents),
        safe=len(check.intents) - len(weak),
    )
    return Lines([summary, Lines(wrong), Lines(strengthen), safe], separator="\n\n")


# -- the provider's embeddings ---------------------------------------------------------------

Embed = Callable[..., Awaitable[list[list[float]]]]  # (texts, caller=None) -> one vector per text


class VectorStore(Protocol):
    async def cached_vectors(self, model: str) -> dict[int, tuple[str, bytes]]: ...

    async def save_vectors(self, model: str, vectors: list[tuple[int, str, bytes]]) -> None: ...


class ProviderEmbeddings:
    """The provider's embeddings (EMBEDDING_MODEL); each example's vector is computed once and cached in the database."""

    def __init__(self, embed: Embed, store: VectorStore, *, model: str, costs_a_call: bool = True) -> None:
        self.costs_a_call = costs_a_call  # False for an endpoint the shop runs itself: no customer limits to count against
        self._embed = embed
        self._store = store
        self.model = model

    async def vectors(self, entries: Sequence[Entry]) -> Vectors:
        cached = await self._store.cached_vectors(self.model)
        missing = [e for e in entries if cached.get(e.id, ("",))[0] != _fingerprint(e)]
        fresh: list[tuple[int, str, bytes]] = []
        try:
            for start in range(0, len(missing), 256):
                batch = missing[start : start + 256]
                vectors = await self._embed([e.question for e in batch])
                if len(vectors) != len(batch):
                    raise ModelError(f"{len(vectors)} vectors for {len(batch)} texts", kind="bad_response")
                for entry, vector in zip(batch, vectors, strict=True):
                    fresh.append((entry.id, _fingerprint(entry), np.asarray(vector, dtype=np.float32).tobytes()))
        except ModelError as exc:
            # Examples without a vector are matched on words alone until the next load.
            log.warning("embedding %s examples failed (%s); they are matched once embeddings work", len(missing), exc.kind)
        if fresh:
            try:
                await self._store.save_vectors(self.model, fresh)
            except StorageError:
                pass  # logged by storage; the vectors are used from memory and computed again next start
            cached.update({i: (f, v) for i, f, v in fresh})
        current = {i for i, _ in cached.items()} - {e.id for e in missing} | {i for i, _, _ in fresh}
        known = np.array([e.id in current for e in entries], dtype=bool)
        rows = [np.frombuffer(cached[e.id][1], dtype=np.float32) if e.id in current else None for e in entries]
        width = next((len(r) for r in rows if r is not None), 0)
        if not width:
            return Vectors(np.zeros((len(entries), 0), dtype=np.float32), known)
        matrix = np.vstack([r if r is not None and len(r) == width else np.zeros(width, dtype=np.float32) for r in rows])
        known &= np.array([r is not None and len(r) == width for r in rows], dtype=bool)
        matrix = matrix / np.maximum(np.linalg.norm(matrix, axis=1, keepdims=True), 1e-12)
        return Vectors(matrix, known)

    async def question_vector(self, question: str, caller: Caller | None) -> np.ndarray | None:
        """The question's unit vector, or None when embedding it failed (matching then goes on with words)."""
        try:
            vectors = await self._embed([question], caller)
            if len(vectors) != 1:
                raise ModelError(f"{len(vectors)} vectors for 1 text", kind="bad_response")
            [vector] = vectors
        except ModelError as exc:
            log.warning("embedding a question failed (%s); matching on words alone", exc.kind)
            return None
        query = np.asarray(vector, dtype=np.float32)
        return query / max(float(np.linalg.norm(query)), 1e-12)


def _fingerprint(entry: Entry) -> str:
    """Changes when the question or the answer changes, so a vector is recomputed then."""
    return hashlib.sha256(f"{entry.question}\n{entry.answer}".encode()).hexdigest()[:16]
