"""Benchmark: the bartender through the real cog and services, against the fake OpenAI server.

Reports time to the first visible reply, edits per reply, and the bot's own added latency per turn
with an empty session and with 1,000 stored turns.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from discord_fakes import APP_ID, BAR_CHANNEL, CUSTOMER, FakeDiscord, FakeUser  # noqa: E402
from fake_openai import FakeOpenAI  # noqa: E402

from bot.bartender import Place  # noqa: E402
from bot.client import make_bot  # noqa: E402
from bot.config import Settings  # noqa: E402
from bot.services import open_services  # noqa: E402

LATENCY = 0.3
CHUNKS = 50
CHUNK_DELAY = 0.04  # a 2 s stream, so the once-a-second edit limit is exercised
TURNS = 10


async def measure(stored_turns: int) -> dict[str, float]:
    fake = FakeOpenAI()
    fake.latency, fake.stream_chunks, fake.chunk_delay = LATENCY, CHUNKS, CHUNK_DELAY
    fake.reply = " ".join(f"word{n}" for n in range(120))
    await fake.start()
    with tempfile.TemporaryDirectory() as folder:
        settings = Settings(
            openai_api_key="sk-test",
            openai_base_url=fake.base_url,
            database_path=Path(folder) / "bench.db",
            bartender_channels=frozenset({"bar"}),
            bartender_history_tokens=2000,
            rate_limit_per_minute=0,  # one customer sends every turn of the measurement
        )
        async with open_services(settings) as services:
            user = FakeUser(CUSTOMER.id, "customer")
            place = Place.seat(BAR_CHANNEL, user.id)
            if stored_turns:
                session = await services.storage.conversations.start_session(place.scope, user_id=user.id)
                for n in range(stored_turns):
                    turn = await services.storage.conversations.start_turn(session.id, f"message {n} about gin", 6)
                    await services.storage.conversations.finish_turn(turn, f"reply {n}: try a gimlet", 14)
                # Let the summary of those turns happen first: measure the steady state, not the catch-up.
                await _first_turn_then_settle(services, place)
            bot = make_bot(services, application_id=APP_ID)
            discord = FakeDiscord(bot)
            await discord.start()
            first_visible, edits, before_model, after_model = [], [], [], []
            for n in range(TURNS):
                before = len(discord.calls)
                start = time.monotonic()
                await discord.send_message(f"turn {n}: what should I drink?", channel_id=BAR_CHANNEL, author=user)
                end = time.monotonic()
                calls = discord.calls[before:]
                posts = [c for c in calls if c.method == "POST" and c.path.endswith("/messages")]
                [request] = [r for r in fake.requests if r.received_at >= start and r.json.get("stream")]
                first_visible.append(posts[0].at - start)
                edits.append(sum(1 for c in calls if c.method == "PATCH"))
                before_model.append(request.received_at - start)
                after_model.append(end - request.answered_at)
            await services.bartender.wait_for_summaries()
            await discord.close()
            await bot.close()
    await fake.close()
    return {
        "stored_turns": stored_turns,
        "first_visible_ms": round(statistics.median(first_visible) * 1000, 1),
        "edits_per_reply": statistics.median(edits),
        "bot_before_model_ms": round(statistics.median(before_model) * 1000, 2),
        "each_before_model_ms": [round(x * 1000, 1) for x in before_model],
        "bot_after_stream_ms": round(statistics.median(after_model) * 1000, 2),
    }


async def _first_turn_then_settle(services, place: Place) -> None:
    async for _ in services.bartender.reply(place, "warm-up"):
        pass
    await services.bartender.wait_for_summaries()


async def main() -> None:
    print(f"fake model: first token after {LATENCY * 1000:.0f} ms, {CHUNKS} chunks {CHUNK_DELAY * 1000:.0f} ms apart; "
          f"edits at most every 1 s")
    for stored in (0, 1000):
        print(await measure(stored))


if __name__ == "__main__":
    asyncio.run(main())
