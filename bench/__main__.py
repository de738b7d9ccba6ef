"""The benchmark: what the bot costs beyond the model, under load. `python -m bench` (add --quick for a smoke run).

Drives the real services and cogs (fake Discord gateway, real SQLite file) against the fake OpenAI
server running in its own process with a fixed latency, and prints one table (also written as JSON):
overhead per message, throughput, event-loop stalls, memory, validation speed and matching speed.
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
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from discord_fakes import APP_ID, BAR_CHANNEL, SUPPORT_CHANNEL, FakeDiscord, FakeUser  # noqa: E402

from bench.cookbook import cookbook_validate  # noqa: E402
from bench.fake_server import API_KEY  # noqa: E402
from bench.matching import speed as matching_speed  # noqa: E402
from bench.validate import generate  # noqa: E402
from bot.client import make_bot  # noqa: E402
from bot.config import Settings  # noqa: E402
from bot.dataset import validate_dataset  # noqa: E402
from bot.services import Services, open_services  # noqa: E402
from bot.tokens import encoder  # noqa: E402

TARGETS = {
    "overhead_p50_ms": 5.0,
    "overhead_p99_ms": 25.0,
    "throughput_ratio": 0.95,
    "max_loop_stall_ms": 50.0,
    "peak_rss_mb": 200.0,
    "validation_ratio": 1.0,
    "matching_p99_ms": 20.0,
}


@dataclass(frozen=True)
class Plan:
    latency: float
    concurrency: tuple[int, ...]
    messages_per_level: tuple[int, ...]  # for each concurrency
    validation_examples: int
    import_examples: int
    stored: int  # bartender sessions and taught examples for the memory figure


FULL = Plan(latency=0.5, concurrency=(1, 50, 500), messages_per_level=(40, 500, 1000), validation_examples=100_000,
            import_examples=5_000, stored=10_000)
QUICK = Plan(latency=0.05, concurrency=(1, 5, 20), messages_per_level=(10, 20, 40), validation_examples=2_000,
             import_examples=200, stored=300)


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


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, max(0, round(len(ordered) * fraction) - 1))], 2)


@dataclass
class Level:
    kind: str
    concurrency: int
    overheads_ms: list[float] = field(default_factory=list)  # reply - message - the model call as the bot saw it
    fixed_ms: list[float] = field(default_factory=list)  # reply - message - the fake's fixed latency
    model_ms: list[float] = field(default_factory=list)  # the model call as the bot saw it
    seconds: float = 0.0

    def summary(self, latency: float) -> dict[str, float]:
        ideal = self.concurrency / latency
        answered = len(self.overheads_ms)
        return {
            "p50_ms": percentile(self.overheads_ms, 0.5),
            "p99_ms": percentile(self.overheads_ms, 0.99),
            "vs_fixed_latency_p50_ms": percentile(self.fixed_ms, 0.5),
            "vs_fixed_latency_p99_ms": percentile(self.fixed_ms, 0.99),
            "model_call_p50_ms": percentile(self.model_ms, 0.5),
            "messages": answered,
            "per_second": round(answered / self.seconds, 1),
            "throughput_ratio": round(answered / self.seconds / ideal, 3),
        }


class Load:
    """Sends waves of messages, one per conversation, and times each from its event to its reply."""

    def __init__(self, discord: FakeDiscord, latency: float, services: Services) -> None:
        self.discord = discord
        self.latency = latency
        self._users = 10**17
        self.model_seconds: dict[int, float] = {}  # user -> how long their model call took, seen from the bot
        self._time_model_calls(services.llm)

    def _time_model_calls(self, llm) -> None:
        chat, stream_chat = llm.chat, llm.stream_chat

        async def timed_chat(messages, *, model, caller):
            started = time.monotonic()
            try:
                return await chat(messages, model=model, caller=caller)
            finally:
                self.model_seconds[caller.user_id] = time.monotonic() - started

        async def timed_stream(messages, *, model, caller):
            started = time.monotonic()
            try:
                async for piece in stream_chat(messages, model=model, caller=caller):
                    yield piece
            finally:
                self.model_seconds[caller.user_id] = time.monotonic() - started

        llm.chat, llm.stream_chat = timed_chat, timed_stream

    def _user(self) -> FakeUser:
        self._users += 1
        return FakeUser(self._users, f"user{self._users}")

    async def level(self, kind: str, concurrency: int, total: int) -> Level:
        level = Level(kind, concurrency)
        channel = SUPPORT_CHANNEL if kind == "support" else BAR_CHANNEL
        started = time.monotonic()
        for wave in range(max(1, total // concurrency)):
            users = [self._user() for _ in range(concurrency)]  # new customers, so no rate limit is hit
            mark = len(self.discord.calls)
            sent_at: dict[str, float] = {}
            author: dict[str, int] = {}
            for n, user in enumerate(users):
                text = f"Can I pay with a gift card? (wave {wave}, {n})" if kind == "support" else f"Something with gin, please ({wave})"
                payload = self.discord.message_payload(text, author=user, channel_id=channel)
                sent_at[payload["id"]], author[payload["id"]] = time.monotonic(), user.id
                self.discord.state.parse_message_create(payload)
                await asyncio.sleep(0)  # the gateway reads one event at a time, yielding in between
            await self.discord.settle()
            for message, total in self._reply_times(self.discord.calls[mark:], sent_at, channel).items():
                model = self.model_seconds.pop(author[message], 0.0)
                level.overheads_ms.append((total - model) * 1000)
                level.fixed_ms.append((total - self.latency) * 1000)
                level.model_ms.append(model * 1000)
            del self.discord.calls[:]  # the fake gateway's record is the bench's, not the bot's memory
        level.seconds = time.monotonic() - started
        return level

    def _reply_times(self, calls, sent_at: dict[str, float], channel: int) -> dict[str, float]:
        """Seconds from each message to its reply being sent (for a streamed reply, its last edit)."""
        replied: dict[str, float] = {}
        reply_of: dict[str, str] = {}
        for call in calls:
            if call.method == "POST" and call.path == f"/channels/{channel}/messages" and call.payload.get("message_reference"):
                asked = str(call.payload["message_reference"]["message_id"])
                reply_of[call.reply["id"]] = asked
                replied[asked] = call.at
            elif call.method == "PATCH" and call.path.startswith(f"/channels/{channel}/messages/"):
                asked = reply_of.get(call.path.rsplit("/", 1)[1])
                if asked is not None:
                    replied[asked] = call.at  # a streamed reply is sent when its last edit is
        return {m: replied[m] - sent_at[m] for m in sent_at if m in replied}


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


async def load_figures(plan: Plan, base_url: str, results: dict) -> None:
    with tempfile.TemporaryDirectory() as folder:
        settings = bench_settings(Path(folder), base_url)
        async with open_services(settings) as services:
            discord = start_bot(services)
            await discord.start()
            probe = LoopProbe()
            probe.start()
            load = Load(discord, plan.latency, services)
            stalls = []
            for kind in ("support", "bartender"):
                for concurrency, messages in zip(plan.concurrency, plan.messages_per_level):
                    level = await load.level(kind, concurrency, messages)
                    results["overhead"][f"{kind} x{concurrency}"] = level.summary(plan.latency)
                    stalls.append(probe.take())
            # The heavy admin work, at the same time as customers are being answered.
            dataset = generate(plan.validation_examples)
            probe.take()
            started = time.monotonic()
            await asyncio.gather(
                services.training.validate(dataset, base_model=settings.finetune_base_model),
                services.teaching.import_file(import_file(plan.import_examples), "bench.jsonl", actor_id=1),
                load.level("support", plan.concurrency[1], plan.messages_per_level[1]),
            )
            results["loop"] = {
                "max_stall_ms_under_load": round(max(stalls), 1),
                "max_stall_ms_validate_and_import": round(probe.take(), 1),
                "validate_and_import_seconds": round(time.monotonic() - started, 1),
            }
            probe.stop()
            await discord.close()
            await discord.bot.close()


async def seed(path: Path, base_url: str, stored: int) -> None:
    """A database with `stored` taught examples and `stored` bartender sessions (two turns each)."""
    settings = bench_settings(path.parent, base_url)
    async with open_services(settings) as services:
        await services.teaching.import_file(import_file(stored), "seed.jsonl", actor_id=1)
        for n in range(stored):
            session = await services.storage.conversations.start_session(f"channel:{BAR_CHANNEL}:user:{n}", user_id=n)
            for turn in range(2):
                turn_id = await services.storage.conversations.start_turn(session.id, f"message {turn} about gin", 6)
                await services.storage.conversations.finish_turn(turn_id, f"reply {turn}: a gimlet, perhaps?", 14)


async def memory_figure(plan: Plan, base_url: str) -> dict:
    with tempfile.TemporaryDirectory() as folder:
        await seed(Path(folder) / "bench.db", base_url, plan.stored)
        output = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "bench.memory", str(Path(folder)), base_url],
            cwd=ROOT, capture_output=True, text=True, check=True,
        )
    return json.loads(output.stdout.strip().splitlines()[-1])


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
    rows = [f"Fake model latency {plan.latency * 1000:.0f} ms; bot and fake provider in separate processes, 2 cores.",
            "overhead = reply sent - message event - the model call (as the bot saw it); 'fixed' subtracts the fake's",
            "configured latency instead, so it also counts the HTTP client and the fake provider's own queueing."]
    rows.append(f"{'':<20} {'p50 ms':>8} {'p99 ms':>8} {'fixed p50':>10} {'fixed p99':>10} {'model p50':>10} {'msg/s':>7} {'of ideal':>9}")
    for name, f in results["overhead"].items():
        rows.append(f"  {name:<18} {f['p50_ms']:>8} {f['p99_ms']:>8} {f['vs_fixed_latency_p50_ms']:>10} "
                    f"{f['vs_fixed_latency_p99_ms']:>10} {f['model_call_p50_ms']:>10} {f['per_second']:>7} {f['throughput_ratio']:>9.1%}")
    loop, memory, validation, matching = results["loop"], results["memory"], results["validation"], results["matching"]
    rows += [
        f"event loop: longest stall under load {loop['max_stall_ms_under_load']} ms; while validating "
        f"{plan.validation_examples:,} examples and importing {plan.import_examples:,} {loop['max_stall_ms_validate_and_import']} ms",
        f"memory: peak RSS {memory['peak_rss_mb']} MB with {plan.stored:,} bartender sessions and {plan.stored:,} taught examples",
        f"validation: {validation['ours_per_second']:,} examples/s vs cookbook {validation['cookbook_per_second']:,}/s "
        f"= {validation['ratio']}x",
        f"matching: {matching['examples']:,} examples, p50 {matching['p50_ms']} ms, p99 {matching['p99_ms']} ms",
    ]
    return "\n".join(rows)


async def run(plan: Plan) -> dict:
    fake, base_url = await start_fake(plan.latency)
    results: dict = {"plan": plan.__dict__, "overhead": {}}
    try:
        await load_figures(plan, base_url, results)
        results["memory"] = await memory_figure(plan, base_url)
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
