"""Benchmark: what the database costs a support answer and a bartender turn, on SQLite and on PostgreSQL.

The real services answer against the fake OpenAI server (no added latency); every read and write
they make is timed where it enters the database. PostgreSQL comes from DATABASE_URL (default: the
local server at 127.0.0.1:5432); a throwaway database is made there and dropped afterwards.

    python -m bench.storage [--messages 300]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import asyncpg
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from fake_openai import FakeOpenAI  # noqa: E402

from bot.bartender import Place  # noqa: E402
from bot.config import Settings  # noqa: E402
from bot.services import open_services  # noqa: E402
from bot.storage import Database  # noqa: E402

DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"
UNTAUGHT = "혹시 제주도도 배송되나요?"
TAUGHT = "구독 방법 알려주세요"


class Timed:
    """Wraps a Database's read() and write(): how many times each was entered and how long each took."""

    def __init__(self, db: Database) -> None:
        self.durations: dict[str, list[float]] = {"read": [], "write": []}
        for kind in self.durations:
            setattr(db, kind, self._wrap(kind, getattr(db, kind)))

    def _wrap(self, kind, enter):
        @contextlib.asynccontextmanager
        async def timed():
            started = time.perf_counter()
            try:
                async with enter() as conn:
                    yield conn
            finally:
                self.durations[kind].append(time.perf_counter() - started)

        return timed

    def reset(self) -> None:
        for values in self.durations.values():
            values.clear()

    def per_message(self, messages: int) -> dict[str, float]:
        everything = self.durations["read"] + self.durations["write"]
        return {
            "reads": len(self.durations["read"]) / messages,
            "writes": len(self.durations["write"]) / messages,
            "ms_per_message": 1000 * sum(everything) / messages,
            "write_p50_ms": 1000 * statistics.median(self.durations["write"]) if self.durations["write"] else 0.0,
            "read_p50_ms": 1000 * statistics.median(self.durations["read"]) if self.durations["read"] else 0.0,
        }


async def measure(settings: Settings, messages: int) -> dict[str, dict[str, float]]:
    results = {}
    async with open_services(settings) as services:
        timed = Timed(services.storage.database)
        await services.storage.usage.flush()
        for name, question in (("support, taught answer", TAUGHT), ("support, model answer", UNTAUGHT)):
            await services.support.answer(question, user_id=1, guild_id=2)  # warm: caches, prepared statements
            await services.storage.usage.flush()
            timed.reset()
            for n in range(messages):
                await services.support.answer(question, user_id=1000 + n, guild_id=2)
            await services.storage.usage.flush()  # the batched usage rows belong to these answers
            results[name] = timed.per_message(messages)

        place = Place.seat(1, 7, guild_id=2)
        await _bartender_turn(services, place, "안녕하세요")
        await services.storage.usage.flush()
        timed.reset()
        for n in range(messages):
            await _bartender_turn(services, place, f"진 베이스 칵테일 추천 {n}")
        await services.bartender.wait_for_summaries()
        await services.storage.usage.flush()
        results["bartender turn"] = timed.per_message(messages)
    return results


async def _bartender_turn(services, place: Place, text: str) -> None:
    async for _ in services.bartender.reply(place, text):
        pass


@contextlib.asynccontextmanager
async def postgres_database(server: str):
    name = f"bench_storage_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(server)
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    try:
        yield str(make_url(server).set(database=name))
    finally:
        admin = await asyncpg.connect(server)
        await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        await admin.close()


async def run(messages: int) -> dict[str, dict[str, dict[str, float]]]:
    fake = FakeOpenAI()
    await fake.start()
    figures = {}
    try:
        with tempfile.TemporaryDirectory() as folder:
            base = Settings(
                openai_api_key=fake.api_key,
                openai_base_url=fake.base_url,
                database_path=Path(folder) / "bench.db",
                rate_limit_per_minute=0,
                daily_tokens_per_user=0,
                daily_tokens_per_server=0,
            )
            figures["sqlite"] = await measure(base, messages)
            server = os.environ.get("DATABASE_URL") or DEFAULT_POSTGRES
            try:
                async with postgres_database(server) as url:
                    figures["postgresql"] = await measure(Settings(**{**base.__dict__, "database_url": url}), messages)
            except (OSError, asyncpg.PostgresError) as exc:
                print(f"PostgreSQL skipped: {server} can't be used ({exc})", file=sys.stderr)
    finally:
        await fake.close()
    return figures


def table(figures: dict) -> str:
    lines = [f"{'':24}{'engine':>12}{'reads':>8}{'writes':>8}{'ms/msg':>9}{'read p50':>10}{'write p50':>11}"]
    for engine, paths in figures.items():
        for path, f in paths.items():
            lines.append(
                f"{path:24}{engine:>12}{f['reads']:>8.2f}{f['writes']:>8.2f}{f['ms_per_message']:>9.2f}"
                f"{f['read_p50_ms']:>10.2f}{f['write_p50_ms']:>11.2f}"
            )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=300)
    args = parser.parse_args()
    print(table(asyncio.run(run(args.messages))))


if __name__ == "__main__":
    main()
