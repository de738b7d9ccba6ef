"""The benchmark cannot rot: a quick run completes and produces every figure (no timing thresholds here)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from conftest import ROOT


def test_quick_benchmark_produces_every_figure(tmp_path):
    """`python -m bench --quick` runs the bot and the floor as processes against the fake Discord, prints the table
    and writes all figures as JSON."""
    out = tmp_path / "bench.json"
    result = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--json", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    figures = json.loads(out.read_text())

    levels = {f"support x{n}" for n in (1, 5, 20)}
    assert set(figures["floor"]) == levels and set(figures["bot"]) == levels | {"bartender x5"}
    for level in [*figures["floor"].values(), *figures["bot"].values()]:
        assert level["answers"] > 0 and level["unanswered"] == 0
        assert {"p50_ms", "p95_ms", "throughput_ratio", "requests_per_answer", "cpu_ms_per_answer", "max_loop_stall_ms"} <= set(level)
    assert figures["bot_peak_rss_mb"] > 0 and figures["floor_peak_rss_mb"] > 0
    assert figures["admin_work"]["max_loop_stall_ms"] >= 0
    assert figures["validation"]["ratio"] > 0 and figures["validation"]["examples"] == 2_000
    assert figures["matching"]["p99_ms"] > 0
    assert "floor/bot" in result.stdout and "peak RSS" in result.stdout


def test_storage_benchmark_measures_both_engines(postgres_server):
    """`python -m bench.storage` times the database work of support answers and bartender turns on each engine."""
    result = subprocess.run(
        [sys.executable, "-m", "bench.storage", "--messages", "5"],
        cwd=ROOT, capture_output=True, text=True, timeout=300, env={**os.environ, "DATABASE_URL": postgres_server},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    rows = [line.split() for line in result.stdout.splitlines()[1:]]
    assert [row[-6] for row in rows] == ["sqlite"] * 3 + ["postgresql"] * 3
    bartender = [row for row in rows if row[0] == "bartender"]
    assert all(float(row[-5]) > 0 and float(row[-4]) > 0 for row in bartender)  # a turn reads and writes


async def test_fake_discord_enforces_a_rate_limit_per_channel_bucket_with_discords_headers():
    """The benchmark's Discord answers 429 past RATE_LIMIT requests a second in one bucket, as Discord does."""
    import aiohttp

    from bench.fake_discord import RATE_LIMIT, FakeDiscordServer

    discord = FakeDiscordServer({"support": 1})
    api = await discord.start()
    try:
        async with aiohttp.ClientSession() as session:
            async def post(channel: int) -> aiohttp.ClientResponse:
                async with session.post(f"{api}/channels/{channel}/messages", json={"content": "hi"}) as response:
                    await response.read()
                    return response

            first = [await post(10**17) for _ in range(RATE_LIMIT + 5)]
            other_channel = await post(10**17 + 1)
    finally:
        await discord.close()
    assert [r.status for r in first].count(200) == RATE_LIMIT and [r.status for r in first[RATE_LIMIT:]] == [429] * 5
    assert float(first[-1].headers["Retry-After"]) > 0 and first[RATE_LIMIT - 1].headers["X-RateLimit-Remaining"] == "0"
    assert other_channel.status == 200 and discord.limited == 5
