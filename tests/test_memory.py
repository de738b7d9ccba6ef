"""The C allocator's settings: large blocks freed go back to the system, and start-up gives back what loading dropped."""

from __future__ import annotations

import subprocess
import sys

import pytest

import bot.__main__
import bot.services
from bot.memory import _glibc
from bot.services import open_services
from conftest import ROOT

glibc_only = pytest.mark.skipif(_glibc() is None, reason="the settings are glibc's")

# A large block freed first: left alone, glibc then raises its threshold and puts the next 1 MB blocks on the heap,
# where the small blocks between them keep the freed pages with the process.
FREE_AFTER_A_LARGE_BLOCK = """
from bot.memory import tune_malloc
assert tune_malloc()
def rss():
    return next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmRSS")) // 1024
big = bytearray(8 << 20); del big
before = rss()
pairs = [(bytearray(1 << 20), bytearray(600)) for _ in range(50)]
smalls = [small for _, small in pairs]
del pairs
print(rss() - before)
"""


@glibc_only
def test_large_blocks_freed_go_back_to_the_system():
    """Once tuned, 50 blocks of 1 MB freed leave the process (untuned, all 50 MB stay)."""
    result = subprocess.run(
        [sys.executable, "-c", FREE_AFTER_A_LARGE_BLOCK], cwd=ROOT, capture_output=True, text=True, timeout=60, check=True
    )
    assert int(result.stdout) < 10


def test_the_bot_tunes_the_allocator_before_it_loads_anything(monkeypatch, tmp_path):
    """`python -m bot` sets malloc first, whatever the command."""
    calls = []
    monkeypatch.setattr(bot.__main__, "tune_malloc", lambda: calls.append("tuned"))
    monkeypatch.chdir(tmp_path)
    bot.__main__.main(["validate", str(tmp_path / "missing.jsonl")])
    assert calls == ["tuned"]


async def test_start_up_gives_back_the_memory_loading_freed(monkeypatch, settings):
    """Once every service is built (the examples loaded and indexed), the heap's free pages are released, once."""
    calls = []
    monkeypatch.setattr(bot.services, "release_free_memory", lambda: calls.append("released"))
    async with open_services(settings):
        assert calls == ["released"]
