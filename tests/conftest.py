"""Shared fixtures: the fake OpenAI server, a real SQLite file, the services, and the bot on a fake Discord."""

from __future__ import annotations

import json
import logging
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import openai
import pytest
import pytest_asyncio

from bot.bartender import BartenderService
from bot.client import SupportBot
from bot.config import Settings
from bot.db import Database
from bot.limits import Limits
from bot.llm import LLM, FineTuningAPI
from bot.moderation import Moderator
from bot.retrieval import LocalRetriever
from bot.support import SupportService
from bot.teaching import TeachingService
from bot.training import TrainingService
from bot.usage import UsageService, parse_prices
from discord_fakes import APP_ID, STAFF_ROLE, FakeDiscord
from fake_openai import FakeOpenAI

ROOT = Path(__file__).resolve().parent.parent
# Distinctive secrets, so a leak anywhere (logs, Discord messages, files) can be found by text.
API_KEY = "sk-test-4f1d9c2b7e"
DISCORD_TOKEN = "discord-test-token-8a6e3f"
SECRETS = (API_KEY, DISCORD_TOKEN)
LEAKS: list[str] = []  # log lines that contained a secret, across the whole run


class SecretLeakFinder(logging.Handler):
    """Sees every log record of the run (pytest's log_level is DEBUG) and keeps those showing a secret."""

    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage()
        if record.exc_info:
            text += logging.Formatter().formatException(record.exc_info)
        if any(secret in text for secret in SECRETS):
            LEAKS.append(f"{record.name}: {text[:300]}")


def pytest_configure(config):
    logging.getLogger().addHandler(SecretLeakFinder(level=logging.DEBUG))


def pytest_sessionfinish(session, exitstatus):
    if LEAKS:
        print("\nSECRETS LEAKED INTO LOGS:\n" + "\n".join(LEAKS))
        session.exitstatus = 1
SUPPORT_PROMPT = (ROOT / "data" / "support_prompt.txt").read_text(encoding="utf-8").strip()
PERSONA = (ROOT / "data" / "bartender_prompt.txt").read_text(encoding="utf-8").strip()


@pytest.fixture(autouse=True)
def no_discord_errors(caplog):
    """discord.py logs exceptions that escape a handler ("Ignoring exception in ..."); none may."""
    yield
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR and r.name.startswith("discord")]
    assert errors == [], [r.getMessage() for r in errors]


@pytest.fixture(autouse=True)
def no_real_endpoints(monkeypatch):
    """Any client a test forgot to point at the fake fails fast instead of reaching out."""
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    for name in ("OPENAI_API_KEY", "DISCORD_TOKEN"):
        monkeypatch.delenv(name, raising=False)


@pytest_asyncio.fixture
async def fake_openai():
    fake = FakeOpenAI()
    fake.api_key = API_KEY
    await fake.start()
    yield fake
    await fake.close()


@pytest_asyncio.fixture
async def openai_client(fake_openai):
    client = openai.AsyncOpenAI(
        base_url=fake_openai.base_url,
        api_key=API_KEY,
        max_retries=2,
        timeout=5,
        _strict_response_validation=True,
    )
    yield client
    await client.close()


@pytest.fixture
def settings(tmp_path, fake_openai) -> Settings:
    return Settings(
        discord_token=DISCORD_TOKEN,
        openai_api_key=API_KEY,
        openai_base_url=fake_openai.base_url,
        database_path=tmp_path / "bot.db",
        support_channels=frozenset({"support"}),
        bartender_channels=frozenset({"bar"}),
        admin_roles=frozenset({"admins"}),
        staff_roles=frozenset({str(STAFF_ROLE)}),
        model_timeout=2,
        model_max_retries=1,
        job_poll_seconds=0.01,
        sample_dataset_file=ROOT / "data" / "sample_dataset.jsonl",
        bartender_edit_seconds=0.2,
        rate_limit_per_minute=0,
        daily_tokens_per_user=0,
        daily_tokens_per_server=0,
        secrets=SECRETS,
    )


@pytest_asyncio.fixture
async def db(settings):
    database = await Database.open(settings.database_path)
    yield database
    await database.close()


@pytest_asyncio.fixture
async def llm(settings, db):
    model_api = LLM.from_settings(settings, record_usage=db.record_usage)
    yield model_api
    await model_api.close()


@pytest.fixture
def limits(settings, db) -> Limits:
    return Limits(
        db,
        per_minute=settings.rate_limit_per_minute,
        daily_user_tokens=settings.daily_tokens_per_user,
        daily_server_tokens=settings.daily_tokens_per_server,
    )


@pytest.fixture
def moderator(settings, db, llm) -> Moderator:
    return Moderator(llm, db, enabled=settings.moderation)


@pytest.fixture
def retriever() -> LocalRetriever:
    return LocalRetriever()


@pytest_asyncio.fixture
async def teaching(settings, db, retriever, moderator) -> TeachingService:
    """The examples library, seeded with the shipped sample as on a shop's first start."""
    service = TeachingService(db, retriever, system_prompt=SUPPORT_PROMPT, moderator=moderator)
    await service.start(settings.sample_dataset_file)
    return service


@pytest.fixture
def support(settings, db, llm, retriever, teaching, limits, moderator) -> SupportService:
    return SupportService(
        db,
        llm,
        retriever,
        default_model=settings.support_model,
        system_prompt=SUPPORT_PROMPT,
        limits=limits,
        moderator=moderator,
    )


@pytest_asyncio.fixture
async def finetune(settings):
    api = FineTuningAPI.from_settings(settings)
    yield api
    await api.close()


@pytest.fixture(scope="session")
def validation_executor():
    """Validation in threads for speed; one test checks the real worker process."""
    with ThreadPoolExecutor(max_workers=1) as executor:
        yield executor


@pytest.fixture
def training(settings, db, llm, support, teaching, finetune, validation_executor) -> TrainingService:
    return TrainingService.from_settings(settings, db, finetune, llm, support, teaching, executor=validation_executor)


@pytest_asyncio.fixture
async def bartender(settings, db, llm, limits, moderator) -> BartenderService:
    service = BartenderService.from_settings(settings, db, llm, persona=PERSONA, limits=limits, moderator=moderator)
    await service.start()
    yield service
    await service.wait_for_summaries()


@pytest_asyncio.fixture
async def discord_bot(settings, db, llm, support, training, teaching, bartender):
    """The real bot with its cogs loaded, logged in to a fake Discord."""
    bot = SupportBot(
        settings,
        db=db,
        llm=llm,
        support=support,
        training=training,
        teaching=teaching,
        bartender=bartender,
        usage=UsageService(db, prices=parse_prices(settings.prices)),
        application_id=APP_ID,
    )
    fake = FakeDiscord(bot)
    await fake.start()
    yield fake
    await fake.close()
    await bot.close()
    shown = json.dumps([(c.path, c.payload) for c in fake.calls], ensure_ascii=False)
    files = b"".join(f.fp.getvalue() for c in fake.calls for f in c.files if hasattr(f.fp, "getvalue"))
    for secret in SECRETS:
        assert secret not in shown and secret.encode() not in files, "a secret was sent to Discord"

