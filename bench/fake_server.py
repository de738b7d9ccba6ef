"""Runs the test suite's fake OpenAI server in its own process, so the bot's measurements exclude it.

Prints "PORT <n>" once listening; stops when its standard input closes.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from fake_openai import FakeOpenAI  # noqa: E402

API_KEY = "sk-bench"
REPLY = "Thanks for asking! Orders ship within two business days, and you can track them in My Page."


async def serve(latency: float, chunks: int, chunk_delay: float) -> None:
    fake = FakeOpenAI()
    fake.api_key = API_KEY
    fake.latency, fake.stream_chunks, fake.chunk_delay = latency, chunks, chunk_delay
    fake.reply = REPLY
    await fake.start()
    print(f"PORT {fake.base_url.rsplit(':', 1)[1].split('/')[0]}", flush=True)
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, sys.stdin.read)  # until the benchmark closes our stdin
    await fake.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--latency", type=float, default=0.5)
    parser.add_argument("--chunks", type=int, default=20)
    parser.add_argument("--chunk-delay", type=float, default=0.0)
    args = parser.parse_args()
    asyncio.run(serve(args.latency, args.chunks, args.chunk_delay))


if __name__ == "__main__":
    main()
