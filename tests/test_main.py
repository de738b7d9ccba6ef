"""The entry point: start-up errors, the terminal chat, and command syncing."""

from __future__ import annotations

import asyncio
import io
import logging
import os
import sys
from dataclasses import replace
from pathlib import Path

from bot.client import make_bot
from bot.logs import RedactSecrets
from discord.ext import commands

from conftest import API_KEY, ROOT, both_engines, open_storage
from discord_fakes import APP_ID, GUILD_ID, SUPPORT_CHANNEL, FakeDiscord


async def run_bot_cli(args: list[str], *, env: dict[str, str], cwd: Path, stdin: bytes = b"") -> tuple[int, str, str]:
    """Run `python -m bot ARGS` as a shop would, without the test's environment."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", *args,
        cwd=cwd,
        env={"PATH": os.environ["PATH"], "PYTHONPATH": str(ROOT), **env},
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(stdin), timeout=60)
    return process.returncode, out.decode(), err.decode()


async def test_missing_token_stops_with_one_clear_line(tmp_path):
    """Without DISCORD_TOKEN the bot says what to set and where, and exits non-zero."""
    code, out, err = await run_bot_cli([], env={}, cwd=tmp_path)

    assert code != 0
    assert err.strip().count("\n") == 0
    assert "DISCORD_TOKEN" in err and ".env" in err and "Traceback" not in err


async def test_bad_setting_names_the_variable(tmp_path):
    """A malformed value stops start-up with the variable's name."""
    code, _, err = await run_bot_cli([], env={"DISCORD_TOKEN": "x", "COMMAND_GUILDS": "abc"}, cwd=tmp_path)

    assert code != 0 and "COMMAND_GUILDS" in err and "Traceback" not in err


async def test_token_in_dotenv_file_is_read(tmp_path):
    """Settings come from .env in the working folder; a bad value there is reported the same way."""
    (tmp_path / ".env").write_text("DISCORD_TOKEN=abc\nCOMMAND_GUILDS=not-a-number\n")
    code, _, err = await run_bot_cli([], env={}, cwd=tmp_path)

    assert code != 0 and "COMMAND_GUILDS" in err


async def test_chat_answers_each_piped_line(tmp_path, fake_openai):
    """`python -m bot chat` answers one question per stdin line with the support service."""
    env = {
        "OPENAI_API_KEY": API_KEY,
        "OPENAI_BASE_URL": fake_openai.base_url,
        "DATABASE_PATH": str(tmp_path / "bot.db"),
        "SUPPORT_PROMPT_FILE": str(ROOT / "data" / "support_prompt.txt"),
        "SAMPLE_DATASET_FILE": str(tmp_path / "none.jsonl"),
    }
    code, out, err = await run_bot_cli(["chat"], env=env, cwd=tmp_path, stdin="선물 포장 되나요?\n\nDo you ship abroad?\n".encode())

    assert code == 0, err
    assert out.splitlines() == ["echo: 선물 포장 되나요?", "echo: Do you ship abroad?"]
    assert [r["model"] for r in fake_openai.chat_requests()] == ["gpt-5-mini", "gpt-5-mini"]


async def test_chat_survives_input_that_is_not_utf8(tmp_path):
    """A line of bad bytes on a strict UTF-8 stdin gets an answer like any line, and the chat goes on to the end."""
    from bot.support import FOLLOW_UP

    env = {"DATABASE_PATH": str(tmp_path / "bot.db"), "PYTHONIOENCODING": "utf-8:strict"}
    stdin = b"caf\xe9 \xff\xfe open?\n" + "구독 방법 좀 알려 주세요\n".encode()
    code, out, err = await asyncio.wait_for(run_bot_cli(["chat"], env=env, cwd=ROOT, stdin=stdin), timeout=30)

    assert code == 0, err
    assert out.splitlines()[0] == FOLLOW_UP and out.splitlines()[1].startswith("홈페이지 상단 메뉴의 '구독' 탭")
    assert "Traceback" not in err


async def test_missing_prompt_file_names_the_setting(tmp_path):
    """A support prompt file that is not there is reported by its setting's name."""
    env = {"SUPPORT_PROMPT_FILE": str(tmp_path / "nope.txt"), "DATABASE_PATH": str(tmp_path / "bot.db")}
    code, _, err = await run_bot_cli(["chat"], env=env, cwd=tmp_path)

    assert code != 0 and "SUPPORT_PROMPT_FILE" in err and "Traceback" not in err


async def start_bot(services) -> FakeDiscord:
    fake = FakeDiscord(make_bot(services, application_id=APP_ID))
    await fake.start()
    return fake


async def test_global_commands_sync_only_when_changed(services):
    """The first start syncs global commands; a restart with the same commands does not."""
    first = await start_bot(services)
    await first.close()
    await first.bot.close()
    second = await start_bot(services)
    await second.close()
    await second.bot.close()

    assert [c.path for c in first.command_syncs()] == [f"/applications/{APP_ID}/commands"]
    assert second.command_syncs() == []


async def test_command_guilds_get_commands_at_every_start(services):
    """With COMMAND_GUILDS the commands are synced to those guilds at start-up."""
    fake = await start_bot(replace(services, settings=replace(services.settings, command_guilds=(GUILD_ID,))))
    await fake.close()
    await fake.bot.close()

    [sync] = fake.command_syncs()
    assert sync.path == f"/applications/{APP_ID}/guilds/{GUILD_ID}/commands"
    assert "ask" in [c["name"] for c in sync.payload]


def test_secrets_are_redacted_from_log_lines_and_tracebacks(caplog):
    """A configured secret never appears in a log line, even inside an exception."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactSecrets(["sk-live-123"]))
    logger = logging.getLogger("test.redact")
    logger.addHandler(handler)
    try:
        logger.error("key is %s", "sk-live-123")
        try:
            raise RuntimeError("bad key sk-live-123")
        except RuntimeError:
            logger.exception("failed")
    finally:
        logger.removeHandler(handler)
    assert "sk-live-123" not in stream.getvalue()
    assert "key is [redacted]" in stream.getvalue() and "bad key [redacted]" in stream.getvalue()


async def test_failed_command_sync_is_logged_and_retried_next_start(services, caplog):
    """A sync Discord refuses does not stop the bot; the next start tries again."""
    fake = FakeDiscord(make_bot(services, application_id=APP_ID))
    fake.fail_next("PUT", r"/commands$", 403)
    await fake.start()
    await fake.close()
    await fake.bot.close()
    again = await start_bot(services)
    await again.close()
    await again.bot.close()

    assert "could not sync global commands" in caplog.text
    assert len(again.command_syncs()) == 1


async def test_offline_chat_answers_from_the_sample_with_no_server(tmp_path):
    """A fresh clone with no keys answers the sample's questions from its examples, and hands the rest to staff."""
    from bot.support import FOLLOW_UP

    env = {"DATABASE_PATH": str(tmp_path / "bot.db")}
    code, out, err = await run_bot_cli(["chat"], env=env, cwd=ROOT, stdin="구독 방법 좀 알려 주세요\n사장님 이름이 뭐예요?\n".encode())

    assert code == 0, err
    subscribe = "홈페이지 상단 메뉴의 '구독' 탭을 누르거나 haru.bar/subscribe 로 들어가 원하는 시작 월을 고르고 결제하시면 됩니다. 로그인이 필요해요."
    assert out.splitlines() == [subscribe, FOLLOW_UP]


@both_engines
async def test_chat_on_either_engine_keeps_the_shop_across_restarts(tmp_path, settings, database_url):
    """`chat` runs on DATABASE_URL's PostgreSQL as on SQLite; a restart finds the sample seeded once and what was taught."""
    env = {"DATABASE_PATH": str(settings.database_path), **({"DATABASE_URL": database_url} if database_url else {})}
    code, out, err = await run_bot_cli(["chat"], env=env, cwd=ROOT, stdin="환불 되나요\n".encode())
    assert code == 0, err
    storage = await open_storage(settings)
    try:
        seeded = len(await storage.examples.all())
        assert seeded > 10
        await storage.examples.add("주차 되나요?", "건물 뒤 공영주차장을 이용해 주세요.", author_id=1)
    finally:
        await storage.close()

    code, out, err = await run_bot_cli(["chat"], env=env, cwd=ROOT, stdin="주차 되나요?\n".encode())
    assert code == 0, err
    assert out.splitlines() == ["건물 뒤 공영주차장을 이용해 주세요."]
    storage = await open_storage(settings)
    try:
        assert len(await storage.examples.all()) == seeded + 1
    finally:
        await storage.close()


async def test_sharded_bot_answers_support(services, fake_openai):
    """With SHARD_COUNT set the bot is discord.py's AutoShardedBot for its SHARD_IDS, and works as before."""
    sharded = replace(services, settings=replace(services.settings, shard_count=4, shard_ids=(2, 3)))
    bot = make_bot(sharded, application_id=APP_ID)
    assert isinstance(bot, commands.AutoShardedBot)
    assert (bot.shard_count, bot.shard_ids) == (4, [2, 3])
    fake = FakeDiscord(bot)
    await fake.start()
    try:
        await fake.send_message("When will my order ship?", channel_id=SUPPORT_CHANNEL)
        [sent] = fake.sent_messages(SUPPORT_CHANNEL)
        assert sent["content"] == "echo: When will my order ship?"
    finally:
        await fake.close()
        await bot.close()
    assert not isinstance(make_bot(services, application_id=APP_ID), commands.AutoShardedBot)


async def test_corrupt_database_stops_start_up_with_a_clear_message(tmp_path):
    """A file that is not a database: one line saying so, no traceback, non-zero exit."""
    (tmp_path / "bot.db").write_bytes(b"garbage" * 1000)
    code, _, err = await run_bot_cli(["chat"], env={"DATABASE_PATH": str(tmp_path / "bot.db")}, cwd=tmp_path)

    assert code != 0 and "is not a usable database" in err and "Traceback" not in err


async def test_newer_database_stops_start_up_with_a_clear_message(tmp_path):
    """A database from a newer bot version is left alone, with a clear message."""
    import sqlite3

    with sqlite3.connect(tmp_path / "bot.db") as conn:
        conn.execute("PRAGMA user_version = 999")
    code, _, err = await run_bot_cli(["chat"], env={"DATABASE_PATH": str(tmp_path / "bot.db")}, cwd=tmp_path)

    assert code != 0 and "newer than this bot knows" in err and "Traceback" not in err


def test_setup_logging_puts_redaction_on_every_handler():
    """The bot's logging set-up redacts the configured secrets in what it prints."""
    from bot.__main__ import setup_logging
    from bot.config import Settings

    root = logging.getLogger()
    before = list(root.handlers)
    try:
        setup_logging(Settings(discord_token="tok-secret-1"), level="INFO")
        added = [h for h in root.handlers if h not in before]
        assert added and all(any(isinstance(f, RedactSecrets) for f in h.filters) for h in added)
    finally:
        for handler in [h for h in root.handlers if h not in before]:
            root.removeHandler(handler)


def test_setup_logging_silences_the_voice_library_warnings(monkeypatch):
    """A text-only bot does not log that voice is unsupported; the running bot's logging set-up says so."""
    import discord

    from bot.__main__ import setup_logging
    from bot.config import Settings

    monkeypatch.setattr(discord.VoiceClient, "warn_nacl", True)
    monkeypatch.setattr(discord.VoiceClient, "warn_dave", True)
    root = logging.getLogger()
    before = list(root.handlers)
    try:
        setup_logging(Settings(discord_token="tok-secret-1"), level="INFO")
    finally:
        for handler in [h for h in root.handlers if h not in before]:
            root.removeHandler(handler)

    assert (discord.VoiceClient.warn_nacl, discord.VoiceClient.warn_dave) == (False, False)


def test_setup_logging_keeps_the_http_clients_request_lines_out_unless_debugging(monkeypatch):
    """At INFO a model request is not a log line of its own (one per customer message); at DEBUG it is."""
    from bot.__main__ import setup_logging
    from bot.config import Settings

    root = logging.getLogger()
    before, level = list(root.handlers), root.level
    try:
        for configured, shown in (("INFO", False), ("DEBUG", True)):
            for name in ("httpx", "httpx2"):
                monkeypatch.setattr(logging.getLogger(name), "level", logging.NOTSET)
            setup_logging(Settings(), level=configured)
            assert logging.getLogger("httpx2").isEnabledFor(logging.INFO) is shown
    finally:
        for handler in [h for h in root.handlers if h not in before]:
            root.removeHandler(handler)
        root.setLevel(level)


SAMPLE_DATASET = ROOT / "data" / "sample_dataset.jsonl"


async def test_validate_refuses_epochs_out_of_range(tmp_path):
    """`validate --epochs -3` says what is allowed instead of printing a negative billed estimate."""
    code, out, err = await run_bot_cli(["validate", str(SAMPLE_DATASET), "--epochs", "-3"], env={}, cwd=tmp_path)

    assert code == 2 and out == ""
    assert err.strip() == "error: --epochs must be a whole number from 1 to 50 (got -3)"


async def test_validate_through_the_start_script_reads_paths_from_the_callers_folder(tmp_path):
    """`scripts/start validate FILE` from another folder finds FILE there, though the script moves to the repository."""
    import shutil

    repo, work = tmp_path / "repo", tmp_path / "work"
    (repo / "scripts").mkdir(parents=True)
    (repo / ".venv" / "bin").mkdir(parents=True)
    work.mkdir()
    shutil.copy(ROOT / "scripts" / "start", repo / "scripts" / "start")
    (repo / "scripts" / "venv.sh").write_text('cd "$(dirname "${BASH_SOURCE[0]}")/.."\n')  # as the real one does, minus installing
    python = repo / ".venv" / "bin" / "python"
    python.write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
    python.chmod(0o755)
    shutil.copy(SAMPLE_DATASET, work / "mine.jsonl")
    process = await asyncio.create_subprocess_exec(
        "bash", str(repo / "scripts" / "start"), "validate", "mine.jsonl",
        cwd=work, env={"PATH": os.environ["PATH"], "PYTHONPATH": str(ROOT)},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=60)

    assert process.returncode == 0, err.decode()
    assert out.decode().startswith("mine.jsonl is ready to train")


def test_validate_piped_into_a_reader_that_stops_prints_no_traceback(tmp_path):
    """`validate FILE | head -1`: the reader closing early is not an error."""
    import subprocess

    path = tmp_path / "dup.jsonl"
    path.write_bytes(SAMPLE_DATASET.read_bytes() * 40)
    process = subprocess.Popen(
        [sys.executable, "-m", "bot", "validate", str(path)], cwd=tmp_path,
        env={"PATH": os.environ["PATH"], "PYTHONPATH": str(ROOT)}, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    process.stdout.close()  # before the report is written
    err = process.stderr.read().decode()
    process.wait(timeout=60)

    assert "Traceback" not in err and "BrokenPipeError" not in err, err


class TerminalInput(io.StringIO):
    def isatty(self) -> bool:
        return True


async def test_chat_banner_without_a_key_names_no_model(settings):
    """Without OPENAI_API_KEY the interactive banner says answers come from the taught examples, naming no model."""
    from bot.__main__ import chat

    out = io.StringIO()
    root = logging.getLogger()
    before = list(root.handlers)
    try:
        await chat(replace(settings, openai_api_key=None), TerminalInput(""), out)
    finally:
        for handler in [h for h in root.handlers if h not in before]:
            root.removeHandler(handler)

    banner = out.getvalue().splitlines()[0]
    assert banner.startswith("Support chat with the taught examples (offline: no OPENAI_API_KEY).")
    assert settings.support_model not in banner


async def test_sigterm_stops_the_bot_cleanly_and_keeps_what_was_queued(tmp_path, fake_openai):
    """A platform's SIGTERM (a deploy) closes the bot as Ctrl-C would: the answer's usage, still queued, is saved."""
    import signal
    import sqlite3

    from bench.fake_discord import GUILD_ID as BENCH_GUILD
    from bench.fake_discord import FakeDiscordServer
    from bench.load import BotProcess, Customers, Level, bot_env

    fake_openai.reply = "Orders ship within two business days."
    discord = FakeDiscordServer({"support": 1})
    api = await discord.start()
    customers = Customers(discord, fake_openai.reply)
    database = tmp_path / "bot.db"
    bot = BotProcess("bot", [sys.executable, "-m", "bot"], bot_env({
        "DISCORD_TOKEN": "test.token", "DISCORD_API_BASE": api, "OPENAI_API_KEY": API_KEY, "OPENAI_BASE_URL": fake_openai.base_url,
        "SUPPORT_CHANNELS": "support", "DATABASE_PATH": str(database), "ALLOWED_GUILDS": str(BENCH_GUILD),
    }))
    try:
        await bot.start()
        await discord.wait_ready(60)
        level = Level("bot", "support", 1)
        await customers.level(level, [1], "When will my order ship?", 0.01, 0.001, bot)
        assert len(level.overheads_ms) == 1  # answered
        bot.process.send_signal(signal.SIGTERM)  # within the usage queue's 0.25 s
        assert await asyncio.wait_for(bot.process.wait(), 15) == 0
    finally:
        await bot.stop()
        await discord.close()
    with sqlite3.connect(database) as db:
        assert db.execute("SELECT purpose FROM usage").fetchall() == [("support",)]
