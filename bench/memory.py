"""Peak memory of a bot process on a database with many sessions and examples (run by the benchmark).

Usage: python -m bench.memory FOLDER BASE_URL — prints one JSON line with the peak RSS.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from discord_fakes import BAR_CHANNEL, SUPPORT_CHANNEL, FakeUser  # noqa: E402

from bench.__main__ import bench_settings, start_bot  # noqa: E402
from bot.services import open_services  # noqa: E402


async def main(folder: Path, base_url: str) -> None:
    settings = bench_settings(folder, base_url)
    async with open_services(settings) as services:
        discord = start_bot(services)
        await discord.start()
        for n in range(20):
            user = FakeUser(10**17 + n, f"user{n}")
            await discord.send_message("구독 방법 알려주세요.", channel_id=SUPPORT_CHANNEL, author=user)
            await discord.send_message("Something with gin?", channel_id=BAR_CHANNEL, author=user)
        await discord.close()
        await discord.bot.close()
    print(json.dumps({"peak_rss_mb": round(peak_rss_mb(), 1)}))


def peak_rss_mb() -> float:
    """This process's peak resident memory. Not ru_maxrss: that survives exec, so a child started by a big
    parent would report the parent's size."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]), sys.argv[2]))
