"""Benchmark: the local matcher's accuracy on held-out paraphrases, and its speed at 10,000 examples."""

from __future__ import annotations

import json
import random
import statistics
import time
from pathlib import Path

from bot.retrieval import Entry, LocalIndex, LocalRetriever

ROOT = Path(__file__).resolve().parent.parent


def sample_entries() -> list[Entry]:
    entries = []
    for number, line in enumerate((ROOT / "data" / "sample_dataset.jsonl").read_text(encoding="utf-8").splitlines(), 1):
        messages = json.loads(line)["messages"]
        entries.append(Entry(number, messages[1]["content"], messages[2]["content"]))
    return entries


def accuracy() -> dict[str, object]:
    entries = sample_entries()
    answer_of = {e.question: e.answer for e in entries}
    index = LocalIndex(entries)
    exact, fallback = LocalRetriever.exact_threshold, LocalRetriever.fallback_threshold
    counts = dict.fromkeys(
        ["in_scope", "top1", "top3", "verbatim_right", "verbatim_wrong", "offline_right", "offline_wrong",
         "offline_deferred", "out_of_scope", "out_of_scope_answered"], 0
    )
    misses = []
    for line in (ROOT / "bench" / "paraphrases.jsonl").read_text(encoding="utf-8").splitlines():
        case = json.loads(line)
        matches = index.search(case["question"], k=3)
        best = matches[0] if matches else None
        verbatim = best is not None and best.score >= exact and best.covered
        answered = best is not None and best.score >= fallback and best.covered
        if case["matches"] is None:
            counts["out_of_scope"] += 1
            counts["out_of_scope_answered"] += answered
            continue
        want = answer_of[case["matches"]]
        right = best is not None and best.entry.answer == want
        counts["in_scope"] += 1
        counts["top1"] += right
        counts["top3"] += any(m.entry.answer == want for m in matches)
        counts["verbatim_right" if right else "verbatim_wrong"] += verbatim
        if not answered:
            counts["offline_deferred"] += 1
        else:
            counts["offline_right" if right else "offline_wrong"] += 1
        if not right:
            misses.append(f"{case['question']} -> {best.entry.question if best else None}")
    return {**counts, "misses": misses}


def speed(examples: int = 10_000, queries: int = 500) -> dict[str, float]:
    rng = random.Random(3)
    base = sample_entries()
    nouns = "배송 환불 교환 반품 구독 결제 적립금 포인트 쿠폰 셰이커 지거 시럽 리큐르 비터스 머들러 글라스 선물 포장 영수증 주소".split()
    entries = [
        Entry(i, f"{rng.choice(nouns)} {rng.choice(nouns)} {rng.choice(base).question} {i}", rng.choice(base).answer)
        for i in range(examples)
    ]
    start = time.perf_counter()
    index = LocalIndex(entries)
    build = time.perf_counter() - start
    questions = [f"{rng.choice(nouns)} {rng.choice(base).question}" for _ in range(queries)]
    timings = []
    for question in questions:
        start = time.perf_counter()
        index.search(question, k=3)
        timings.append((time.perf_counter() - start) * 1000)
    timings.sort()
    return {
        "examples": examples,
        "build_s": round(build, 2),
        "p50_ms": round(statistics.median(timings), 2),
        "p99_ms": round(timings[int(len(timings) * 0.99) - 1], 2),
    }


def main() -> None:
    result = accuracy()
    n = result["in_scope"]
    print(f"held-out paraphrases: {n} in scope, {result['out_of_scope']} out of scope")
    print(f"  top-1 {result['top1']}/{n} ({result['top1'] / n:.0%}), top-3 {result['top3']}/{n} ({result['top3'] / n:.0%})")
    print(f"  verbatim (no model call): {result['verbatim_right']} right, {result['verbatim_wrong']} wrong")
    print(f"  offline (no model at all): {result['offline_right']} right, {result['offline_wrong']} wrong, "
          f"{result['offline_deferred']} handed to staff; out of scope answered: {result['out_of_scope_answered']}")
    for miss in result["misses"]:
        print("  miss:", miss)
    print("speed:", speed())


if __name__ == "__main__":
    main()
