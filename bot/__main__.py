"""Entry point: `python -m bot` runs the Discord bot; `python -m bot chat` tries support in a terminal."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TextIO

import aiohttp
import discord
from dotenv import find_dotenv, load_dotenv

from bot.client import make_bot
from bot.config import Settings
from bot.dataset import validate_dataset
from bot.errors import ConfigError, UserError
from bot.logs import RedactSecrets
from bot.memory import tune_malloc
from bot.retrieval import Entry, Matcher, render_check
from bot.services import open_services
from bot.stalls import watch_event_loop
from bot.storage import DatabaseError, Storage, StorageError
from bot.teaching import parse_examples

log = logging.getLogger("bot")

MIN_EPOCHS, MAX_EPOCHS = 1, 50  # what the fine-tuning API accepts for n_epochs

NO_TOKEN = (
    "DISCORD_TOKEN is not set: put your bot's token in .env (copy .env.example to .env) "
    "or in the environment, then start again."
)


def main(argv: list[str] | None = None) -> int:
    tune_malloc()  # before loading the examples: see bot/memory.py
    parser = argparse.ArgumentParser(prog="python -m bot", description="The shop's Discord support bot.")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.add_parser("run", help="run the Discord bot (the default)")
    commands.add_parser("chat", help="ask the support service questions from stdin, one per line")
    validate = commands.add_parser("validate", help="check a JSONL fine-tuning dataset; exit 0 when trainable")
    validate.add_argument("file", type=Path, help="the JSONL chat dataset")
    validate.add_argument("--base-model", help="the model to fine-tune (default: FINETUNE_BASE_MODEL)")
    validate.add_argument("--epochs", type=int, help="epochs for the cost estimate (default: from the size)")
    check = commands.add_parser("check-examples", help="how safely taught questions are told apart (as /examples check)")
    source = check.add_mutually_exclusive_group(required=True)
    source.add_argument("file", nargs="?", type=Path, help="a JSONL file of examples (training or question/answer lines)")
    source.add_argument("--db", action="store_true", help="the examples in the bot's database")
    # scripts/start runs from the repository: it passes the folder it was called from, where relative paths begin.
    parser.add_argument("--cwd", type=Path, default=Path(), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    load_dotenv(find_dotenv(usecwd=True))
    try:
        settings = Settings.from_env()
        if args.command == "chat":
            return asyncio.run(chat(settings, sys.stdin, sys.stdout))
        if args.command == "validate":
            return validate_file(args.cwd / args.file, args.base_model or settings.finetune_base_model, args.epochs, settings)
        if args.command == "check-examples":
            return asyncio.run(check_examples(args.file, settings))
        if not settings.discord_token:
            raise ConfigError(NO_TOKEN)
        setup_logging(settings)
        return asyncio.run(run_bot(settings))
    except (ConfigError, DatabaseError, StorageError) as exc:
        # Stopping with one clear line (not a traceback a supervisor would loop on).
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


async def check_examples(path: Path | None, settings: Settings) -> int:
    """Print the library check for a file of examples, or for the database's; 1 when a question would get another's answer."""
    if path is not None:
        try:
            raw = path.read_bytes()
            pairs = parse_examples(raw, source=path.name)
        except OSError as exc:
            print(f"error: cannot read {path}: {exc.strerror}", file=sys.stderr)
            return 2
        except UserError as exc:
            print(f"error: {exc.message}", file=sys.stderr)
            return 2
        entries = [Entry(number, question, answer) for number, (question, answer) in enumerate(pairs, 1)]
    else:
        storage = await Storage.open(settings.database_url, settings.database_path)
        try:
            entries = [Entry(e.id, e.question, e.answer) for e in await storage.examples.all()]
        finally:
            await storage.close()
    matcher = Matcher(floor=settings.match_floor, margin=settings.match_margin)
    await matcher.load(entries)
    check = await matcher.check()
    print(render_check(check, most=50))
    return 1 if check.confused else 0


def validate_file(path: Path, base_model: str, epochs: int | None, settings: Settings) -> int:
    """Print the dataset report; 0 when the file can be trained on, 1 when not (2 for a bad option)."""
    if epochs is not None and not MIN_EPOCHS <= epochs <= MAX_EPOCHS:
        print(f"error: --epochs must be a whole number from {MIN_EPOCHS} to {MAX_EPOCHS} (got {epochs})", file=sys.stderr)
        return 2
    try:
        raw = path.read_bytes()
    except OSError as exc:
        print(f"error: cannot read {path}: {exc.strerror}", file=sys.stderr)
        return 1
    report = validate_dataset(
        raw,
        token_limit=settings.finetune_max_tokens,
        base_model=base_model,
        epochs=epochs,
        check_confusable=True,
    )
    try:
        print(report.render(path.name), flush=True)
    except BrokenPipeError:
        # The reader stopped early (`| head`): the rest is unwanted, not an error; keep exit's flush quiet too.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0 if report.ok else 1


def setup_logging(settings: Settings, *, level: str | None = None) -> None:
    discord.utils.setup_logging(level=getattr(logging, level or settings.log_level), root=True)
    redact = RedactSecrets(settings.secrets)
    for handler in logging.getLogger().handlers:
        handler.addFilter(redact)
    # A text-only bot: discord.py's warnings about missing voice libraries are noise here.
    discord.VoiceClient.warn_nacl = discord.VoiceClient.warn_dave = False
    # The SDK's HTTP client logs a line for every model request at INFO: one per customer message,
    # which drowns the bot's own lines (and costs CPU). Kept at DEBUG, where someone asks for them.
    if logging.getLogger().getEffectiveLevel() > logging.DEBUG:
        for name in ("httpx", "httpx2"):
            logging.getLogger(name).setLevel(logging.WARNING)


async def run_bot(settings: Settings) -> int:
    if settings.discord_api_base:
        discord.http.Route.BASE = settings.discord_api_base  # how discord.py is pointed at a REST proxy
    watcher = asyncio.create_task(watch_event_loop(settings.loop_stall_ms))
    try:
        return await _run(settings)
    finally:
        watcher.cancel()


async def _run(settings: Settings) -> int:
    async with open_services(settings) as services:
        async with make_bot(services) as bot:
            # A platform stops the bot with SIGTERM (a deploy, a restart): close as on Ctrl-C, so usage
            # still queued and replies being written down are saved before the database closes.
            loop = asyncio.get_running_loop()
            loop.add_signal_handler(signal.SIGTERM, lambda: asyncio.ensure_future(bot.close()))
            try:
                await bot.start(settings.discord_token)
            except discord.LoginFailure:
                log.error("Discord rejected DISCORD_TOKEN; copy the bot token again from the Developer Portal.")
                return 1
            except discord.PrivilegedIntentsRequired:
                log.error("Turn on the Message Content intent for this bot in the Developer Portal (Bot page).")
                return 1
            except (OSError, aiohttp.ClientError) as exc:
                log.error("cannot reach Discord (%s); check the network and start again", exc)
                return 1
    return 0


async def chat(settings: Settings, stdin: TextIO, stdout: TextIO) -> int:
    """Answer one question per input line; works interactively and piped."""
    setup_logging(settings, level="WARNING")
    interactive = stdin.isatty()
    async with open_services(settings) as services:
        support = services.support
        if interactive:
            # Without a key no model answers: only the taught examples do, so the banner names none.
            source = await support.live_model() if settings.openai_api_key else "the taught examples (offline: no OPENAI_API_KEY)"
            print(f"Support chat with {source}. Ask a question; Ctrl-D to quit.", file=stdout)
        if interactive:
            print("> ", end="", file=stdout, flush=True)
        async for line in read_lines(stdin):
            if not line.strip():
                continue
            try:
                answer = await support.answer(line)
            except UserError as exc:
                answer = exc.message
            print(answer, file=stdout, flush=True)
            if interactive:
                print("> ", end="", file=stdout, flush=True)
    return 0


async def read_lines(stdin: TextIO) -> AsyncIterator[str]:
    """Lines from stdin without blocking the loop; a daemon thread reads, so Ctrl-C never waits on it.

    Bytes that aren't valid text become U+FFFD rather than ending the chat; however reading
    stops, the loop is told that input ended, so `chat` never waits on a reader that is gone.
    """
    loop = asyncio.get_running_loop()
    lines: asyncio.Queue[str | None] = asyncio.Queue()

    def put(line: str | None) -> None:
        try:
            loop.call_soon_threadsafe(lines.put_nowait, line)
        except RuntimeError:
            pass  # the loop closed first (Ctrl-C): nobody is waiting for more lines

    def pump() -> None:
        try:
            raw = getattr(stdin, "buffer", None)
            if raw is None:
                for line in stdin:
                    put(line)
            else:
                encoding = getattr(stdin, "encoding", None) or "utf-8"
                for chunk in raw:
                    put(chunk.decode(encoding, errors="replace").replace("\r\n", "\n"))
        except Exception as exc:  # an unreadable stdin ends the chat; it must not leave it waiting
            print(f"error: cannot read input: {exc}", file=sys.stderr)
        finally:
            put(None)

    threading.Thread(target=pump, name="stdin", daemon=True).start()
    while (line := await lines.get()) is not None:
        yield line


if __name__ == "__main__":
    sys.exit(main())
