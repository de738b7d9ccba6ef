"""The benchmark: what the bot costs beyond the model, under load. `python -m bench` (add --quick for a smoke run).

The bot runs as the real `python -m bot` process against a fake Discord (bench/fake_discord.py:
REST and gateway, rate limits enforced) and the fake model in its own process with a fixed latency;
the floor, a bare discord.py bot (bench/floor_bot.py), runs on the same harness in the same run.
Customers write at once in the support channels (bench/load.py). One table is printed (and written
as JSON): overhead beyond the model, throughput, requests and CPU per answer, event-loop stalls and
peak memory (of the bot with `stored` taught examples and bartender sessions in its database), then
the loop while a big dataset is validated and examples are imported, validation and matching speed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from sqlalchemy import insert

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from discord_fakes import APP_ID, FakeDiscord, FakeUser  # noqa: E402

from bench.cookbook import cookbook_validate  # noqa: E402
from bench.load import compare  # noqa: E402
from bench.fake_server import API_KEY, REPLY  # noqa: E402
from bench.matching import speed as matching_speed  # noqa: E402
from bench.validate import generate  # noqa: E402
from bot.client import make_bot  # noqa: E402
from bot.config import Settings  # noqa: E402
from bot.dataset import validate_dataset  # noqa: E402
from bot.services import Services, open_services  # noqa: E402
from bot.storage.schema import bartender_sessions, bartender_turns  # noqa: E402
from bot.tokens import encoder  # noqa: E402

@dataclass(frozen=True)
class Plan:
    latency: float  # the fake model's, seconds
    support: tuple[tuple[int, float], ...]  # (customers at once, seconds) per level, for the floor and the bot
    bartender: tuple[tuple[int, float], ...]  # the bot only (streamed replies), compared with its support at the same load
    validation_examples: int
    import_examples: int
    stored: int  # bartender sessions and taught examples in the bot's database
    under_load: int  # customers at once while the dataset is validated and the examples imported


FULL = Plan(latency=1.0, support=((1, 6), (20, 8), (50, 8), (100, 8)), bartender=((50, 8),), validation_examples=100_000,
            import_examples=5_000, stored=10_000, under_load=100)
QUICK = Plan(latency=0.2, support=((1, 1.5), (5, 1.5), (20, 1.5)), bartender=((5, 1.5),), validation_examples=2_000,
             import_examples=200, stored=300, under_load=20)


class LoopProbe:
    """Wakes every 10 ms and records how late it woke: the longest stall of the event loop."""

    def __init__(self) -> None:
        self.longest = 0.0
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            before = loop.time()
            await asyncio.sleep(0.01)
            self.longest = max(self.longest, loop.time() - before - 0.01)

    def take(self) -> float:
        """The longest stall since the last take, in milliseconds."""
        longest, self.longest = self.longest, 0.0
        return longest * 1000

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()


async def customers_asking(discord: FakeDiscord, concurrency: int, waves: int) -> None:
    """Waves of `concurrency` new customers asking in #support at once, each wave answered before the next."""
    for wave in range(waves):
        for n in range(concurrency):
            user = FakeUser(10**17 + wave * concurrency + n, f"user{wave}-{n}")  # new customers: no rate limit is hit
            discord.state.parse_message_create(discord.message_payload(f"Can I pay with a gift card? ({wave}, {n})", author=user))
            await asyncio.sleep(0)  # the gateway reads one event at a time, yielding in between
        await discord.settle()
        del discord.calls[:]  # the fake gateway's record is the bench's, not the bot's memory


async def start_fake(latency: float) -> tuple[subprocess.Popen, str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "bench.fake_server", "--latency", str(latency), "--chunks", "20"],
        cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    line = await asyncio.to_thread(process.stdout.readline)
    return process, f"http://127.0.0.1:{line.split()[1]}/v1"


def bench_settings(folder: Path, base_url: str) -> Settings:
    return Settings(
        openai_api_key=API_KEY,
        openai_base_url=base_url,
        database_path=folder / "bench.db",
        support_channels=frozenset({"support"}),
        bartender_channels=frozenset({"bar"}),
        model_timeout=30,
        daily_tokens_per_server=10**9,  # on (so it is checked) but out of reach of the load
    )


def start_bot(services: Services) -> FakeDiscord:
    return FakeDiscord(make_bot(services, application_id=APP_ID))


def import_file(count: int) -> bytes:
    rng = random.Random(5)
    words = "배송 환불 교환 반품 구독 결제 적립금 쿠폰 셰이커 지거 시럽 리큐르 선물 포장 영수증 주소 변경 취소".split()
    lines = [
        json.dumps({"question": f"{' '.join(rng.choices(words, k=4))} 질문 {n}?", "answer": f"답변 {n}: " + " ".join(rng.choices(words, k=12))}, ensure_ascii=False)
        for n in range(count)
    ]
    return "\n".join(lines).encode()


async def admin_work_figures(plan: Plan, base_url: str, results: dict) -> None:
    """The longest event-loop stall while a big dataset is validated and examples are imported, with customers asking."""
    with tempfile.TemporaryDirectory() as folder:
        settings = bench_settings(Path(folder), base_url)
        async with open_services(settings) as services:
            discord = start_bot(services)
            await discord.start()
            probe = LoopProbe()
            probe.start()
            # The inputs are built first: building them blocks this loop, and that is the benchmark's doing, not the bot's.
            dataset = generate(plan.validation_examples)
            upload = import_file(plan.import_examples)
            await asyncio.sleep(0.1)  # the probe wakes and records that; take() discards it
            probe.take()
            started = time.monotonic()
            await asyncio.gather(
                services.training.validate(dataset, base_model=settings.finetune_base_model),
                services.teaching.import_file(upload, "bench.jsonl", actor_id=1),
                customers_asking(discord, plan.under_load, waves=3),
            )
            results["admin_work"] = {
                "max_loop_stall_ms": round(probe.take(), 1),
                "seconds": round(time.monotonic() - started, 1),
            }
            probe.stop()
            await discord.close()
            await discord.bot.close()


async def seed(path: Path, base_url: str, stored: int) -> None:
    """A database with `stored` taught examples (imported as staff would) and `stored` bartender sessions of two turns."""
    settings = bench_settings(path.parent, base_url)
    async with open_services(settings) as services:
        await services.teaching.import_file(import_file(stored), "seed.jsonl", actor_id=1)
        now = datetime.now(timezone.utc)
        async with services.storage.database.write() as conn:
            await conn.execute(insert(bartender_sessions), [
                {"id": n + 1, "scope": f"channel:{n}:user:{n}", "user_id": 10**16 + n, "created_at": now, "last_active_at": now}
                for n in range(stored)
            ])
            await conn.execute(insert(bartender_turns), [
                {"session_id": n + 1, "user_message": f"message {turn} about gin", "reply": f"reply {turn}: a gimlet, perhaps?",
                 "status": "done", "tokens": 20, "created_at": now}
                for n in range(stored) for turn in range(2)
            ])


def validation_figure(plan: Plan) -> dict:
    raw = generate(plan.validation_examples)
    encoder("o200k_base")("warm up")  # both use the same tables; load them before timing either
    started = time.perf_counter()
    ours = validate_dataset(raw, token_limit=65_536)
    ours_seconds = time.perf_counter() - started
    started = time.perf_counter()
    baseline = cookbook_validate(raw)
    cookbook_seconds = time.perf_counter() - started
    assert ours.tokens == baseline["tokens"], "the two must count the same tokens"
    return {
        "examples": plan.validation_examples,
        "ours_per_second": round(plan.validation_examples / ours_seconds),
        "cookbook_per_second": round(plan.validation_examples / cookbook_seconds),
        "ratio": round(cookbook_seconds / ours_seconds, 2),
    }


def table(results: dict, plan: Plan) -> str:
    floor, bot = results["floor"], results["bot"]
    rows = [
        f"Overhead beyond the model (fake model: {plan.latency * 1000:.0f} ms) from the message event to the answer shown,",
        "through a real bot process and a fake Discord with rate limits. floor = a bare discord.py bot (1 reply + 1 edit).",
        f"{'':<16}{'p50 floor/bot ms':>18}{'p95 floor/bot ms':>18}{'p50 x':>7}{'p95 x':>7}{'throughput':>12}"
        f"{'req/ans':>9}{'CPU ms/ans':>12}{'stall ms':>10}",
    ]
    for name, ours in bot.items():
        base = floor.get(name)
        if base is not None:
            rows.append(
                f"  {name:<14}{base['p50_ms']:>8} /{ours['p50_ms']:>7}{base['p95_ms']:>10} /{ours['p95_ms']:>7}"
                f"{_times(ours['p50_ms'], base['p50_ms']):>7}{_times(ours['p95_ms'], base['p95_ms']):>7}"
                f"{base['throughput_ratio']:>6.0%}/{ours['throughput_ratio']:<4.0%}{ours['requests_per_answer']:>8}"
                f"{base['cpu_ms_per_answer']:>6}/{ours['cpu_ms_per_answer']:<5}{base['max_loop_stall_ms']:>4}/{ours['max_loop_stall_ms']}"
            )
        else:
            support = bot.get(name.replace("bartender", "support"), {}).get("p50_ms")
            against = f" (support at the same load: p50 {support} ms)" if support is not None else ""
            rows.append(
                f"  {name:<14}{'':>8} /{ours['p50_ms']:>7}{'':>10} /{ours['p95_ms']:>7}{'':>14}{'':>6}/{ours['throughput_ratio']:<4.0%}"
                f"{ours['requests_per_answer']:>8}{'':>6}/{ours['cpu_ms_per_answer']:<5}{'':>4}/{ours['max_loop_stall_ms']}{against}"
            )
    limited = sum(level["rate_limited"] for figures in (floor, bot) for level in figures.values())
    admin, validation, matching = results["admin_work"], results["validation"], results["matching"]
    rows += [
        f"rate-limited requests (429) in all levels: {limited}",
        f"memory: the bot's peak RSS {results['bot_peak_rss_mb']} MB with {plan.stored:,} taught examples and "
        f"{plan.stored:,} bartender sessions (floor: {results['floor_peak_rss_mb']} MB)",
        f"event loop while validating {plan.validation_examples:,} examples and importing {plan.import_examples:,} with "
        f"{plan.under_load} customers asking: longest stall {admin['max_loop_stall_ms']} ms",
        f"validation: {validation['ours_per_second']:,} examples/s vs cookbook {validation['cookbook_per_second']:,}/s "
        f"= {validation['ratio']}x",
        f"matching: {matching['examples']:,} examples, p50 {matching['p50_ms']} ms, p99 {matching['p99_ms']} ms",
    ]
    return "\n".join(rows)


def _times(ours: float, floor: float) -> str:
    return f"{ours / floor:.1f}" if floor > 0 else "-"


async def run(plan: Plan) -> dict:
    fake, base_url = await start_fake(plan.latency)
    results: dict = {"plan": plan.__dict__}
    try:
        with tempfile.TemporaryDirectory() as folder:
            await seed(Path(folder) / "bench.db", base_url, plan.stored)
            results.update(await compare(
                Path(folder), base_url, REPLY, latency=plan.latency,
                support_levels=plan.support, bartender_levels=plan.bartender,
            ))
        await admin_work_figures(plan, base_url, results)
    finally:
        fake.stdin.close()
        fake.wait(timeout=10)
    results["validation"] = validation_figure(plan)
    results["matching"] = matching_speed(examples=plan.stored)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a small, fast run (the test suite's smoke test)")
    parser.add_argument("--json", type=Path, default=ROOT / "bench" / "results" / "latest.json", help="where to write the figures")
    args = parser.parse_args()
    plan = QUICK if args.quick else FULL
    os.environ.setdefault("PYTHONHASHSEED", "0")
    started = time.monotonic()
    results = asyncio.run(run(plan))
    results["seconds"] = round(time.monotonic() - started, 1)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2))
    print(table(results, plan))
    print(f"({results['seconds']} s; figures written to {args.json})")


if __name__ == "__main__":
    main()
