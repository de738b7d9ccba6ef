"""Finds the taught examples nearest to a question: a local n-gram matcher, or the provider's embeddings."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
import re
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from bot.config import Settings
from bot.errors import ModelError
from bot.llm import Caller
from bot.text import normalise_question

log = logging.getLogger(__name__)

# Words that frame a question rather than say what it is about ("how do I…", "please tell me…").
# Dropping them keeps "구독 안내 부탁드려요" and "구독 안내 좀 해주세요" the same question.
QUESTION_FRAME_WORDS = frozenset(
    """
    알려주세요 알려 주세요 어떻게 어떡해 하나요 해요 하죠 싶어요 싶은데 되나요 돼요 됩니까 있나요 있어요
    주세요 해주세요 부탁드려요 부탁해요 부탁합니다 부탁드립니다 궁금해요 궁금합니다 가능한가요 가능해요 가능할까요
    있을까요 될까요 할까요 주실래요 주시겠어요 알려주시겠어요 해주시겠어요
    좀 제 저 내 요 방금 그 이 수 할 하는 하려면 해야 뭐 뭐가 무엇 언제 어디 어디서 얼마나 혹시
    please how do does i can could you the a an is are what when where my me to of
    """.split()
)
# Korean particles stripped from the end of a word so "배송은" and "배송" are one word.
_PARTICLES = ("으로", "에서", "에게", "까지", "부터", "는", "은", "이", "가", "을", "를", "도", "로", "에", "의", "요")
_NOT_WORD = re.compile(r"[^\w\s]")


@dataclass(frozen=True)
class Entry:
    """A taught question and its answer."""

    id: int
    question: str
    answer: str


@dataclass(frozen=True)
class Match:
    entry: Entry
    score: float  # resemblance to the taught question, 0..1
    covered: bool  # every word of the question the shop's examples know is in the taught question


class Retriever(Protocol):
    exact_threshold: float  # at or above (and covered): the taught answer is sent verbatim
    fallback_threshold: float  # with no model: at or above, the best taught answer is sent
    costs_a_call: bool  # searching calls the provider (counts against the customer's limits)

    async def load(self, entries: Iterable[Entry]) -> None: ...

    async def search(self, question: str, k: int = 3, *, caller: Caller | None = None) -> list[Match]: ...


def words(text: str) -> list[str]:
    """Content words: case folded, punctuation and question-frame words dropped, particles stripped."""
    found = []
    for word in _NOT_WORD.sub(" ", text.casefold()).split():
        if word in QUESTION_FRAME_WORDS:
            continue
        for particle in _PARTICLES:
            if len(word) > len(particle) + 1 and word.endswith(particle):
                word = word[: -len(particle)]
                break
        found.append(word)
    return found


def features(text: str) -> Counter[str]:
    """Character 1- to 3-grams inside each word (Korean runs words together), plus the word itself."""
    grams: Counter[str] = Counter()
    for word in words(text):
        padded = f" {word} "
        for n in (1, 2, 3):
            for i in range(len(padded) - n + 1):
                gram = padded[i : i + n]
                if gram.strip():
                    grams[gram] += 1
        grams["w:" + word] += 2
    return grams


class _TfIdf:
    """TF-IDF vectors of a fixed set of texts, with an inverted index for fast cosine search."""

    def __init__(self, documents: Sequence[Counter[str]], idf: dict[str, float], unknown_idf: float) -> None:
        self._idf = idf
        self._unknown_idf = unknown_idf
        postings: dict[str, tuple[list[int], list[float]]] = {}
        for doc, grams in enumerate(documents):
            for gram, weight in self._weigh(grams).items():
                ids, weights = postings.setdefault(gram, ([], []))
                ids.append(doc)
                weights.append(weight)
        self._postings = {g: (np.array(i, dtype=np.int32), np.array(w)) for g, (i, w) in postings.items()}
        self.size = len(documents)

    def _weigh(self, grams: Counter[str]) -> dict[str, float]:
        idf, unknown = self._idf, self._unknown_idf
        weighted = {g: (1 + math.log(tf)) * idf.get(g, unknown) for g, tf in grams.items()}
        norm = math.sqrt(sum(w * w for w in weighted.values())) or 1.0
        return {g: w / norm for g, w in weighted.items()}

    def scores(self, grams: Counter[str]) -> np.ndarray:
        scores = np.zeros(self.size)
        for gram, weight in self._weigh(grams).items():
            posting = self._postings.get(gram)
            if posting is not None:
                scores[posting[0]] += posting[1] * weight
        return scores


class LocalIndex:
    """A synchronous, immutable index of entries: build it off the loop, search it anywhere."""

    def __init__(self, entries: Sequence[Entry]) -> None:
        self.entries = list(entries)
        questions = [features(e.question) for e in self.entries]
        document_frequency: Counter[str] = Counter()
        for grams in questions:
            document_frequency.update(grams.keys())
        total = len(self.entries)
        idf = {g: math.log((total + 1) / (df + 1)) + 1 for g, df in document_frequency.items()}
        self._questions = _TfIdf(questions, idf, unknown_idf=math.log(total + 1) + 1)
        # Two-letter word starts the shop's examples use: a word they never use can't be covered anyway.
        self._known = {w[:2] for e in self.entries for text in (e.question, e.answer) for w in words(text)}

    def search(self, question: str, k: int = 3) -> list[Match]:
        if not self.entries:
            return []
        scores = self._questions.scores(features(question))
        k = min(k, len(self.entries))
        best = np.argpartition(-scores, k - 1)[:k]
        best = best[np.argsort(-scores[best])]
        asked = [w[:2] for w in words(question) if w[:2] in self._known]
        matches = []
        for i in best:
            if scores[i] <= 0:
                break
            taught = normalise_question(self.entries[i].question).replace(" ", "")
            covered = all(start in taught for start in asked)
            matches.append(Match(self.entries[i], min(1.0, float(scores[i])), covered))
        return matches


class LocalRetriever:
    """Character n-gram TF-IDF: no network, no model download, good on Korean."""

    exact_threshold = 0.7
    fallback_threshold = 0.3
    costs_a_call = False

    def __init__(self, *, exact_threshold: float | None = None, fallback_threshold: float | None = None) -> None:
        self.exact_threshold = self.exact_threshold if exact_threshold is None else exact_threshold
        self.fallback_threshold = self.fallback_threshold if fallback_threshold is None else fallback_threshold
        self._index = LocalIndex([])

    async def load(self, entries: Iterable[Entry]) -> None:
        entries = list(entries)
        self._index = await asyncio.to_thread(LocalIndex, entries)

    async def search(self, question: str, k: int = 3, *, caller: Caller | None = None) -> list[Match]:
        return self._index.search(question, k)


Embed = Callable[..., Awaitable[list[list[float]]]]  # (texts, caller=None) -> one vector per text


class VectorStore(Protocol):
    async def cached_vectors(self, model: str) -> dict[int, tuple[str, bytes]]: ...

    async def save_vectors(self, model: str, vectors: list[tuple[int, str, bytes]]) -> None: ...


class EmbeddingRetriever:
    """The provider's embeddings; each example's vector is computed once and cached in the database."""

    exact_threshold = 0.9
    fallback_threshold = 0.5
    costs_a_call = True

    def __init__(
        self,
        embed: Embed,
        store: VectorStore,
        *,
        model: str,
        exact_threshold: float | None = None,
        fallback_threshold: float | None = None,
    ) -> None:
        self._embed = embed
        self._store = store
        self.model = model
        self.exact_threshold = self.exact_threshold if exact_threshold is None else exact_threshold
        self.fallback_threshold = self.fallback_threshold if fallback_threshold is None else fallback_threshold
        self._entries: list[Entry] = []
        self._matrix = np.zeros((0, 0))

    async def load(self, entries: Iterable[Entry]) -> None:
        entries = list(entries)
        cached = await self._store.cached_vectors(self.model)
        missing = [e for e in entries if cached.get(e.id, ("",))[0] != _fingerprint(e)]
        fresh: list[tuple[int, str, bytes]] = []
        try:
            for start in range(0, len(missing), 256):
                batch = missing[start : start + 256]
                vectors = await self._embed([e.question for e in batch])
                for entry, vector in zip(batch, vectors, strict=True):
                    fresh.append((entry.id, _fingerprint(entry), np.asarray(vector, dtype=np.float32).tobytes()))
        except ModelError as exc:
            # Examples without a vector are left out until the next load; the rest still match.
            log.warning("embedding %s examples failed (%s); they are matched once embeddings work", len(missing), exc.kind)
        if fresh:
            await self._store.save_vectors(self.model, fresh)
            cached.update({i: (f, v) for i, f, v in fresh})
        current = {e.id for e in entries} - {e.id for e in missing} | {i for i, _, _ in fresh}
        entries = [e for e in entries if e.id in current]
        rows = [np.frombuffer(cached[e.id][1], dtype=np.float32) for e in entries]
        matrix = np.vstack(rows) if rows else np.zeros((0, 0), dtype=np.float32)
        if len(matrix):
            matrix = matrix / np.maximum(np.linalg.norm(matrix, axis=1, keepdims=True), 1e-12)
        self._entries, self._matrix = entries, matrix

    async def search(self, question: str, k: int = 3, *, caller: Caller | None = None) -> list[Match]:
        if not self._entries:
            return []
        [vector] = await self._embed([question], caller)
        query = np.asarray(vector, dtype=np.float32)
        scores = self._matrix @ (query / max(float(np.linalg.norm(query)), 1e-12))
        best = np.argsort(-scores)[: min(k, len(self._entries))]
        return [Match(self._entries[i], float(scores[i]), True) for i in best]


def confusable_threshold(settings: Settings) -> float:
    """Datasets are checked for confusable questions with the local matcher, so its threshold applies."""
    if settings.match_threshold is not None and not settings.embedding_model:
        return settings.match_threshold
    return LocalRetriever.exact_threshold


def _fingerprint(entry: Entry) -> str:
    """Changes when the question or the answer changes, so a vector is recomputed then."""
    return hashlib.sha256(f"{entry.question}\n{entry.answer}".encode()).hexdigest()[:16]
