"""Customers at once against a real bot process: this bot (`python -m bot`) and the floor (bench/floor_bot.py).

Both run as their own processes against the same fake Discord (bench/fake_discord.py, REST and
gateway with rate limits) and the same fake model (bench/fake_server.py, a fixed latency). C
customers each ask, wait for the answer and ask again (a new customer each time, so no per-user
limit is hit), for a fixed time per level. For each answer:

    overhead = answer shown (the request carrying the model's full reply reaches Discord)
               - message event sent - the model's latency (the fake streams its reply at once)

Throughput is the answers shown against the ideal: as many as fit, one after another, in the time
each customer spent asking, had every answer taken just the model's latency (C / latency per second). CPU is the bot process's
user+system time per answer; loop stalls are the bot's own "event loop was blocked" warnings
(LOOP_STALL_MS); peak RSS is the process's VmHWM.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench.fake_discord import GUILD_ID, FakeDiscordServer, Request

ROOT = Path(__file__).resolve().parent.parent
TICKS = os.sysconf("SC_CLK_TCK")
STALL = re.compile(r"the event loop was blocked for (\d+) ms")
SUPPORT_QUESTION = "Can I pay with a gift card? I'd like to order a shaker set for my brother."
BARTENDER_MESSAGE = "Something refreshing with gin, please"


def percentile(values: list[float], fraction: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, max(0, round(len(ordered) * fraction) - 1))], 1)


@dataclass
class Level:
    bot: str
    kind: str
    concurrency: int
    seconds: float = 0.0
    answered: int = 0
    ideal_answers: float = 0.0  # in the same time, had each answer taken exactly the model's latency
    overheads_ms: list[float] = field(default_factory=list)
    unanswered: int = 0
    requests: int = 0
    limited: int = 0
    cpu_seconds: float = 0.0
    stall_ms: float = 0.0

    def summary(self) -> dict[str, float]:
        answers = len(self.overheads_ms)
        return {
            "answers": answers,
            "unanswered": self.unanswered,
            "p50_ms": percentile(self.overheads_ms, 0.5),
            "p95_ms": percentile(self.overheads_ms, 0.95),
            "p99_ms": percentile(self.overheads_ms, 0.99),
            "throughput_ratio": round(self.answered / self.ideal_answers, 3) if self.ideal_answers else 0.0,
            "requests_per_answer": round(self.requests / answers, 2) if answers else 0.0,
            "rate_limited": self.limited,
            "cpu_ms_per_answer": round(self.cpu_seconds * 1000 / answers, 2) if answers else 0.0,
            "max_loop_stall_ms": self.stall_ms,
        }


class BotProcess:
    """A bot started as its own process; its log is read as it goes, for the loop-stall warnings."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str]) -> None:
        self.name, self.argv, self.env = name, argv, env
        self.stall_ms = 0.0
        self.log_tail: list[str] = []

    async def start(self) -> None:
        self.process = await asyncio.create_subprocess_exec(
            *self.argv, cwd=ROOT, env=self.env, stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
        )
        self._reader = asyncio.create_task(self._read_log())

    async def _read_log(self) -> None:
        assert self.process.stderr is not None
        async for raw in self.process.stderr:
            line = raw.decode(errors="replace").rstrip()
            self.log_tail = [*self.log_tail[-30:], line]
            if found := STALL.search(line):
                self.stall_ms = max(self.stall_ms, float(found.group(1)))

    def take_stall(self) -> float:
        stall, self.stall_ms = self.stall_ms, 0.0
        return stall

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime

    def peak_rss_mb(self) -> float:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
        return 0.0

    async def stop(self) -> None:
        if self.process.returncode is None:
            self.process.terminate()
            try:
                await asyncio.wait_for(self.process.wait(), 15)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()
        await self._reader

    def failed(self) -> str:
        return f"{self.name} exited with {self.process.returncode}:\n" + "\n".join(self.log_tail)


class Customers:
    """Customers who each ask, wait for the whole answer and ask again, for `seconds`."""

    def __init__(self, discord: FakeDiscordServer, reply: str) -> None:
        self.discord = discord
        self.reply = reply.strip()
        self._users = itertools.count(10**17)
        self._waiting: dict[str, asyncio.Future[float]] = {}
        self._source: dict[str, str] = {}  # the bot's message -> the customer's message it answers
        discord.on_request = self._seen

    def _seen(self, request: Request) -> None:
        if not isinstance(request.body, dict):
            return
        reference = (request.body.get("message_reference") or {}).get("message_id")
        if reference is not None and request.message_id is not None:
            self._source[request.message_id] = str(reference)
        asked = str(reference) if reference is not None else self._source.get(request.path.rsplit("/", 1)[-1])
        content = (request.body.get("content") or "").strip()
        waiting = self._waiting.get(asked) if asked else None
        if waiting is not None and not waiting.done() and content == self.reply:
            waiting.set_result(request.at)

    async def level(self, level: Level, channels: list[int], text: str, seconds: float, latency: float, bot: BotProcess) -> None:
        stop_at = time.monotonic() + seconds
        first_request = len(self.discord.requests)
        limited = self.discord.limited
        cpu = bot.cpu_seconds()
        bot.take_stall()
        started = time.monotonic()

        async def customer(channel_id: int, start: float) -> None:
            await asyncio.sleep(start)
            began, answers, last = time.monotonic(), 0, None
            while time.monotonic() < stop_at:
                payload = self.discord.message(text, channel_id=channel_id, author_id=next(self._users))
                answered = asyncio.get_running_loop().create_future()
                self._waiting[payload["id"]] = answered
                sent = time.monotonic()
                await self.discord.dispatch("MESSAGE_CREATE", payload)
                try:
                    at = await asyncio.wait_for(answered, 30)
                except TimeoutError:
                    level.unanswered += 1
                    continue
                finally:
                    del self._waiting[payload["id"]]
                level.overheads_ms.append((at - sent - latency) * 1000)
                answers, last = answers + 1, at
            level.answered += answers
            level.ideal_answers += ((last if last is not None else stop_at) - began) / latency

        # Customers arrive spread over one model latency, as people do, not in lockstep.
        starts = [latency * n / level.concurrency for n in range(level.concurrency)]
        await asyncio.gather(*(customer(channels[n % len(channels)], start) for n, start in enumerate(starts)))
        level.seconds = time.monotonic() - started
        await asyncio.sleep(0.3)  # stragglers' last requests (an edit after the answer, a typing stop)
        level.requests = sum(1 for r in self.discord.requests[first_request:] if r.status != 429)
        level.limited = self.discord.limited - limited
        level.cpu_seconds = bot.cpu_seconds() - cpu
        level.stall_ms = bot.take_stall()
        del self.discord.requests[:]


async def run_bot(
    bot: BotProcess, discord: FakeDiscordServer, customers: Customers, *, levels: list[tuple[str, int, float]],
    support: list[int], bar: list[int], latency: float, warm_up: int = 5,
) -> tuple[dict[str, dict], float]:
    """Start `bot`, warm it up, run each (kind, concurrency, seconds) level; returns the figures and peak RSS."""
    discord.reset_ready()
    await bot.start()
    try:
        ready = asyncio.create_task(discord.wait_ready(90))
        exited = asyncio.create_task(bot.process.wait())
        done, _ = await asyncio.wait({ready, exited}, return_when=asyncio.FIRST_COMPLETED)
        if exited in done:
            raise RuntimeError(bot.failed())
        exited.cancel()
        await asyncio.sleep(1.0)  # on_ready work: commands, served servers
        await customers.level(Level(bot.name, "warm-up", warm_up), support, SUPPORT_QUESTION, 2 * latency, latency, bot)
        figures = {}
        for kind, concurrency, seconds in levels:
            level = Level(bot.name, kind, concurrency)
            channels, text = (support, SUPPORT_QUESTION) if kind == "support" else (bar, BARTENDER_MESSAGE)
            await customers.level(level, channels, text, seconds, latency, bot)
            if bot.process.returncode is not None:
                raise RuntimeError(bot.failed())
            figures[f"{kind} x{concurrency}"] = level.summary()
        return figures, bot.peak_rss_mb()
    finally:
        await bot.stop()


def bot_env(base: dict[str, str], **settings: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DISCORD_", "OPENAI_", "DATABASE_"))}
    return {**env, **base, **settings, "PYTHONUNBUFFERED": "1"}


async def compare(
    folder: Path, model_url: str, reply: str, *, latency: float,
    support_levels: tuple[tuple[int, float], ...], bartender_levels: tuple[tuple[int, float], ...], channels: int = 5,
) -> dict:
    """The floor and this bot on the same fake Discord and model, one after the other; their figures side by side."""
    support_names = [f"support-{n}" for n in range(1, channels + 1)]
    bar_names = [f"bar-{n}" for n in range(1, channels + 1)]
    discord = FakeDiscordServer({name: 120_000_000_000_000_000 + n for n, name in enumerate(support_names + bar_names, 1)})
    api = await discord.start()
    support = [discord.channels[name] for name in support_names]
    bar = [discord.channels[name] for name in bar_names]
    customers = Customers(discord, reply)
    base = {
        "DISCORD_TOKEN": "bench.token", "DISCORD_API_BASE": api, "OPENAI_API_KEY": "sk-bench", "OPENAI_BASE_URL": model_url,
        "SUPPORT_CHANNELS": ",".join(support_names), "SUPPORT_MODEL": "gpt-5-mini",
    }
    levels = [("support", c, s) for c, s in support_levels]
    try:
        floor = BotProcess("floor", [sys.executable, "-m", "bench.floor_bot"], bot_env(base, LOOP_STALL_MS="20"))
        floor_figures, floor_rss = await run_bot(
            floor, discord, customers, levels=levels, support=support, bar=bar, latency=latency
        )
        ours = BotProcess("bot", [sys.executable, "-m", "bot"], bot_env(
            base, DATABASE_PATH=str(folder / "bench.db"), BARTENDER_CHANNELS=",".join(bar_names),
            LOOP_STALL_MS="20", DAILY_TOKENS_PER_SERVER=str(10**9), DAILY_TOKENS_PER_USER=str(10**9),
            ALLOWED_GUILDS=str(GUILD_ID),  # served from the start, not only after on_ready (2 s after the guild arrives)
        ))
        our_figures, our_rss = await run_bot(
            ours, discord, customers, levels=levels + [("bartender", c, s) for c, s in bartender_levels],
            support=support, bar=bar, latency=latency,
        )
    finally:
        await discord.close()
    return {"floor": floor_figures, "bot": our_figures, "floor_peak_rss_mb": floor_rss, "bot_peak_rss_mb": our_rss}
