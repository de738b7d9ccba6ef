"""Benchmark: validate a generated 100,000-example dataset; prints examples per second and peak memory."""

from __future__ import annotations

import argparse
import gc
import json
import random
import resource
import time

from bot.dataset import validate_dataset

SYSTEM = "당신은 칵테일 재료·도구 쇼핑몰 '하루바'의 고객 상담원입니다. 쇼핑몰이 가르친 답변대로, 짧고 친절하게 답하세요."
WORDS = "배송 주문 환불 구독 결제 적립금 교환 반품 셰이커 지거 시럽 리큐르 언제 어떻게 가능한가요 알려주세요 order refund ship".split()


def generate(examples: int, seed: int = 7) -> bytes:
    rng = random.Random(seed)
    lines = []
    for n in range(examples):
        question = " ".join(rng.choices(WORDS, k=rng.randint(4, 12))) + f" #{n}?"
        answer = " ".join(rng.choices(WORDS, k=rng.randint(15, 60))) + "."
        messages = [
            {"role": "system", "content": SYSTEM},
            {"role": "user", "content": question},
            {"role": "assistant", "content": answer},
        ]
        lines.append(json.dumps({"messages": messages}, ensure_ascii=False))
    return ("\n".join(lines) + "\n").encode()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--examples", type=int, default=100_000)
    args = parser.parse_args()
    raw = generate(args.examples)
    gc.collect()
    before_mb = _current_rss_mb()
    start = time.perf_counter()
    report = validate_dataset(raw, token_limit=65_536)
    seconds = time.perf_counter() - start
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{report.examples:,} examples ({len(raw) / 1e6:.1f} MB) validated in {seconds:.2f} s "
          f"= {report.examples / seconds:,.0f} examples/s; ok={report.ok}; {report.tokens:,} tokens; "
          f"RSS {before_mb:.0f} MB with the file in memory, peak {peak_mb:.0f} MB")


def _current_rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * resource.getpagesize() / 2**20


if __name__ == "__main__":
    main()
