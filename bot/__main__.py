"""Entry point: `python -m bot` runs the Discord bot; `python -m bot chat` tries support in a terminal."""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import sys
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import aiohttp
import discord
from dotenv import find_dotenv, load_dotenv

from bot.bartender import BartenderService
from bot.client import SupportBot
from bot.config import Settings
from bot.db import Database, DatabaseError, StorageError, Usage
from bot.errors import ConfigError, UserError
from bot.dataset import validate_dataset
from bot.tokens import encoding_for
from bot.llm import LLM, Caller, FineTuningAPI
from bot.logs import RedactSecrets
from bot.limits import Limits
from bot.moderation import Moderator
from bot.retrieval import EmbeddingRetriever, LocalRetriever, Retriever, confusable_threshold
from bot.support import SupportService
from bot.teaching import TeachingService
from bot.training import TrainingService
from bot.usage import UsageService, parse_prices

log = logging.getLogger("bot")

NO_TOKEN = (
    "DISCORD_TOKEN is not set: put your bot's token in .env (copy .env.example to .env) "
    "or in the environment, then start again."
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bot", description="The shop's Discord support bot.")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.add_parser("run", help="run the Discord bot (the default)")
    commands.add_parser("chat", help="ask the support service questions from stdin, one per line")
    validate = commands.add_parser("validate", help="check a JSONL fine-tuning dataset; exit 0 when trainable")
    validate.add_argument("file", type=Path, help="the JSONL chat dataset")
    validate.add_argument("--base-model", help="the model to fine-tune (default: FINETUNE_BASE_MODEL)")
    validate.add_argument("--epochs", type=int, help="epochs for the cost estimate (default: from the size)")
    args = parser.parse_args(argv)

    load_dotenv(find_dotenv(usecwd=True))
    try:
        settings = Settings.from_env()
        if args.command == "chat":
            return asyncio.run(chat(settings, sys.stdin, sys.stdout))
        if args.command == "validate":
            return validate_file(args.file, args.base_model or settings.finetune_base_model, args.epochs, settings)
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


def validate_file(path: Path, base_model: str, epochs: int | None, settings: Settings) -> int:
    """Print the dataset report; 0 when the file can be trained on, 1 when not."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        print(f"error: cannot read {path}: {exc.strerror}", file=sys.stderr)
        return 1
    report = validate_dataset(
        raw,
        token_limit=settings.finetune_max_tokens,
        encoding=encoding_for(base_model),
        epochs=epochs,
        confusable_threshold=confusable_threshold(settings),
    )
    print(report.render(path.name))
    return 0 if report.ok else 1


def setup_logging(settings: Settings, *, level: str | None = None) -> None:
    discord.utils.setup_logging(level=getattr(logging, level or settings.log_level), root=True)
    redact = RedactSecrets(settings.secrets)
    for handler in logging.getLogger().handlers:
        handler.addFilter(redact)
    # A text-only bot: discord.py's warnings about missing voice libraries are noise here.
    discord.VoiceClient.warn_nacl = discord.VoiceClient.warn_dave = False


def read_prompt(path: Path, setting: str) -> str:
    try:
        text = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{setting} points to {path}, which cannot be read ({exc.__class__.__name__}).") from None
    if not text:
        raise ConfigError(f"{setting} points to {path}, which is empty.")
    return text


@dataclass(frozen=True)
class Services:
    db: Database
    llm: LLM
    support: SupportService
    training: TrainingService
    teaching: TeachingService
    bartender: BartenderService
    usage: UsageService


@asynccontextmanager
async def open_services(settings: Settings) -> AsyncIterator[Services]:
    """Build the shared resources once; close them however the caller ends."""
    system_prompt = await asyncio.to_thread(read_prompt, settings.support_prompt_file, "SUPPORT_PROMPT_FILE")
    persona = await asyncio.to_thread(read_prompt, settings.bartender_prompt_file, "BARTENDER_PROMPT_FILE")
    db = await Database.open(settings.database_path)
    limits = Limits(
        db,
        per_minute=settings.rate_limit_per_minute,
        daily_user_tokens=settings.daily_tokens_per_user,
        daily_server_tokens=settings.daily_tokens_per_server,
    )

    async def record_usage(usage: Usage) -> None:
        limits.add(usage)
        await db.record_usage(usage)

    llm = LLM.from_settings(settings, record_usage=record_usage)
    finetune = FineTuningAPI.from_settings(settings)
    try:
        retriever = make_retriever(settings, llm, db)
        moderator = Moderator(llm, db, enabled=settings.moderation)
        teaching = TeachingService(db, retriever, system_prompt=system_prompt, moderator=moderator)
        await teaching.start(settings.sample_dataset_file)
        support = SupportService(
            db,
            llm,
            retriever,
            default_model=settings.support_model,
            system_prompt=system_prompt,
            guidance_examples=settings.guidance_examples,
            limits=limits,
            moderator=moderator,
        )
        training = TrainingService.from_settings(settings, db, finetune, llm, support, teaching)
        bartender = BartenderService.from_settings(settings, db, llm, persona=persona, limits=limits, moderator=moderator)
        await bartender.start()
        try:
            usage = UsageService(db, prices=parse_prices(settings.prices))
            # What start-up loaded lives as long as the bot: keep it out of the garbage collector's
            # full passes, which would otherwise stall the event loop in proportion to it.
            gc.freeze()
            yield Services(db, llm, support, training, teaching, bartender, usage)
        finally:
            await bartender.close()
            training.close()
    finally:
        await finetune.close()
        await llm.close()
        await db.close()


def make_retriever(settings: Settings, llm: LLM, db: Database) -> Retriever:
    """The provider's embeddings when EMBEDDING_MODEL is set and a key exists; the local matcher otherwise."""
    if settings.embedding_model and llm.available:
        model = settings.embedding_model

        async def embed(texts: list[str], caller: Caller | None = None) -> list[list[float]]:
            return await llm.embed(texts, model=model, caller=caller or Caller("embeddings"))

        return EmbeddingRetriever(
            embed, db, model=model,
            exact_threshold=settings.match_threshold, fallback_threshold=settings.fallback_threshold,
        )
    if settings.embedding_model:
        log.warning("EMBEDDING_MODEL is set but there is no API key; matching taught examples locally")
    return LocalRetriever(exact_threshold=settings.match_threshold, fallback_threshold=settings.fallback_threshold)


async def run_bot(settings: Settings) -> int:
    async with open_services(settings) as services:
        bot = SupportBot(
            settings,
            db=services.db,
            llm=services.llm,
            support=services.support,
            training=services.training,
            teaching=services.teaching,
            bartender=services.bartender,
            usage=services.usage,
        )
        async with bot:
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
            print(f"Support chat with {await support.live_model()}. Ask a question; Ctrl-D to quit.", file=stdout)
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
    """Lines from stdin without blocking the loop; a daemon thread reads, so Ctrl-C never waits on it."""
    loop = asyncio.get_running_loop()
    lines: asyncio.Queue[str | None] = asyncio.Queue()

    def pump() -> None:
        try:
            for line in stdin:
                loop.call_soon_threadsafe(lines.put_nowait, line)
            loop.call_soon_threadsafe(lines.put_nowait, None)
        except RuntimeError:
            pass  # the loop closed first (Ctrl-C): nobody is waiting for more lines

    threading.Thread(target=pump, name="stdin", daemon=True).start()
    while (line := await lines.get()) is not None:
        yield line


if __name__ == "__main__":
    sys.exit(main())
