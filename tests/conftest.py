"""Shared fixtures: the fake OpenAI server, a real SQLite file, the services, and the bot on a fake Discord."""

from __future__ import annotations

import logging
from datetime import timedelta
from pathlib import Path

import openai
import pytest
import pytest_asyncio

from bot.bartender import BartenderService
from bot.client import SupportBot
from bot.config import Settings
from bot.db import Database
from bot.llm import LLM, FineTuningAPI
from bot.retrieval import LocalRetriever
from bot.support import SupportService
from bot.teaching import TeachingService
from bot.training import TrainingService
from discord_fakes import APP_ID, STAFF_ROLE, FakeDiscord
from fake_openai import FakeOpenAI

ROOT = Path(__file__).resolve().parent.parent
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
    await fake.start()
    yield fake
    await fake.close()


@pytest_asyncio.fixture
async def openai_client(fake_openai):
    client = openai.AsyncOpenAI(
        base_url=fake_openai.base_url,
        api_key="sk-test",
        max_retries=2,
        timeout=5,
        _strict_response_validation=True,
    )
    yield client
    await client.close()


@pytest.fixture
def settings(tmp_path, fake_openai) -> Settings:
    return Settings(
        openai_api_key="sk-test",
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
        secrets=("sk-test",),
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
def retriever() -> LocalRetriever:
    return LocalRetriever()


@pytest_asyncio.fixture
async def teaching(settings, db, retriever) -> TeachingService:
    """The examples library, seeded with the shipped sample as on a shop's first start."""
    service = TeachingService(db, retriever, system_prompt=SUPPORT_PROMPT)
    await service.start(settings.sample_dataset_file)
    return service


@pytest.fixture
def support(settings, db, llm, retriever, teaching) -> SupportService:
    return SupportService(db, llm, retriever, default_model=settings.support_model, system_prompt=SUPPORT_PROMPT)


@pytest_asyncio.fixture
async def finetune(settings):
    api = FineTuningAPI.from_settings(settings)
    yield api
    await api.close()


@pytest.fixture
def training(settings, db, llm, support, teaching, finetune) -> TrainingService:
    return TrainingService(
        db,
        finetune,
        llm,
        support,
        teaching,
        token_limit=settings.finetune_max_tokens,
        max_dataset_bytes=int(settings.max_dataset_mb * 1_000_000),
        poll_interval=settings.job_poll_seconds,
        confusable_threshold=LocalRetriever.exact_threshold,
    )


@pytest_asyncio.fixture
async def bartender(settings, db, llm) -> BartenderService:
    service = BartenderService(
        db,
        llm,
        persona=PERSONA,
        model=settings.bartender_model,
        history_tokens=settings.bartender_history_tokens,
        idle_after=timedelta(minutes=settings.bartender_idle_minutes),
    )
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
        application_id=APP_ID,
    )
    fake = FakeDiscord(bot)
    await fake.start()
    yield fake
    await fake.close()
    await bot.close()

