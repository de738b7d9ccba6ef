"""Shared fixtures: the fake OpenAI server, a real SQLite file or PostgreSQL database, the services, and the bot on a fake Discord."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import uuid
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import asyncpg
import openai
import pytest
import pytest_asyncio
from sqlalchemy import event, text
from sqlalchemy.engine import make_url

from bot.bartender import BartenderService
from bot.client import make_bot
from bot.config import Settings
from bot.limits import Limits
from bot.llm import LLM, FineTuningAPI
from bot.moderation import Moderator
from bot.retrieval import Matcher
from bot.services import Services, open_services
from bot.storage import Storage
from bot.support import SupportService
from bot.teaching import TeachingService
from bot.training import TrainingService
from discord_fakes import APP_ID, STAFF_ROLE, FakeDiscord
from fake_openai import FakeOpenAI

ROOT = Path(__file__).resolve().parent.parent
LOCAL_POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"
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
def engine() -> str:
    """The database engine a test runs on; modules that must hold on both parametrize it (see `both_engines`)."""
    return "sqlite"


# Tests (or whole modules, as `pytestmark = both_engines`) marked so run once per engine, where they use a database.
both_engines = pytest.mark.both_engines


def pytest_generate_tests(metafunc):
    if "engine" in metafunc.fixturenames and metafunc.definition.get_closest_marker("both_engines"):
        metafunc.parametrize("engine", ["sqlite", "postgresql"])


@pytest.fixture(scope="session")
def postgres_server() -> str:
    """The PostgreSQL server the tests may use: TEST_DATABASE_URL, else the local default.

    With TEST_DATABASE_URL set (as CI sets it) an unreachable server fails the run; without it, the
    PostgreSQL tests are skipped with the reason.
    """
    url = os.environ.get("TEST_DATABASE_URL") or LOCAL_POSTGRES
    try:
        # Its own thread and loop: this is first asked for from inside a test's running loop.
        with ThreadPoolExecutor(max_workers=1) as thread:
            thread.submit(asyncio.run, _ping(url)).result()
    except (OSError, asyncio.TimeoutError, asyncpg.PostgresError) as exc:
        if os.environ.get("TEST_DATABASE_URL"):
            pytest.fail(f"TEST_DATABASE_URL={url} can't be reached: {exc}")
        pytest.skip(f"no PostgreSQL at {url} ({type(exc).__name__}); set TEST_DATABASE_URL to run these tests")
    return url


async def _ping(url: str) -> None:
    conn = await asyncpg.connect(url, timeout=3)
    await conn.close()


@pytest.fixture(scope="session")
def postgres_template(postgres_server) -> str:
    """An empty database migrated once by the bot; each test's database is a copy (much faster than migrating each)."""
    name = f"bot_test_template_{os.getpid()}"

    async def build() -> None:
        admin = await asyncpg.connect(postgres_server)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
            await admin.execute(f'CREATE DATABASE "{name}"')
        finally:
            await admin.close()
        storage = await Storage.open(str(make_url(postgres_server).set(database=name)), Path("unused"))
        await storage.close()

    async def drop() -> None:
        admin = await asyncpg.connect(postgres_server)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()

    with ThreadPoolExecutor(max_workers=1) as thread:
        thread.submit(asyncio.run, build()).result()
    yield name
    with ThreadPoolExecutor(max_workers=1) as thread:
        thread.submit(asyncio.run, drop()).result()


@pytest_asyncio.fixture
async def database_url(request, engine) -> str | None:
    """None for SQLite (DATABASE_PATH is used); for PostgreSQL, a new empty database, dropped after the test."""
    if engine == "sqlite":
        yield None
        return
    server = request.getfixturevalue("postgres_server")
    template = request.getfixturevalue("postgres_template")
    name = f"bot_test_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(server)
    try:
        await admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    finally:
        await admin.close()
    yield str(make_url(server).set(database=name))
    admin = await asyncpg.connect(server)
    try:
        await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@pytest.fixture
def settings(tmp_path, fake_openai, database_url) -> Settings:
    return Settings(
        discord_token=DISCORD_TOKEN,
        openai_api_key=API_KEY,
        openai_base_url=fake_openai.base_url,
        database_path=tmp_path / "bot.db",
        database_url=database_url,
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


@pytest.fixture(scope="session")
def validation_executor():
    """Validation in threads for speed; one test checks the real worker process."""
    with ThreadPoolExecutor(max_workers=1) as executor:
        yield executor


@pytest_asyncio.fixture
async def services(settings, validation_executor) -> Services:
    """Every service, built as the bot builds them (the shipped sample seeded as on a shop's first start)."""
    async with open_services(settings, executor=validation_executor) as built:
        yield built
        await built.bartender.wait_for_summaries()


@pytest.fixture
def storage(services) -> Storage:
    return services.storage


@pytest.fixture
def llm(services) -> LLM:
    return services.llm


@pytest.fixture
def limits(services) -> Limits:
    return services.limits


@pytest.fixture
def moderator(services) -> Moderator:
    return services.moderator


@pytest.fixture
def matcher(services) -> Matcher:
    return services.teaching.matcher


@pytest.fixture
def teaching(services) -> TeachingService:
    return services.teaching


@pytest.fixture
def support(services) -> SupportService:
    return services.support


@pytest.fixture
def training(services) -> TrainingService:
    return services.training


@pytest.fixture
def bartender(services) -> BartenderService:
    return services.bartender


@pytest_asyncio.fixture
async def finetune(settings):
    api = FineTuningAPI.from_settings(settings)
    yield api
    await api.close()


@contextlib.asynccontextmanager
async def logged_in(services: Services) -> AsyncIterator[FakeDiscord]:
    """The real bot on these services with its cogs loaded, logged in to a fake Discord; closed (cogs unloaded) after."""
    bot = make_bot(services, application_id=APP_ID)
    fake = FakeDiscord(bot)
    await fake.start()
    try:
        yield fake
    finally:
        await fake.close()
        await bot.close()


@pytest_asyncio.fixture
async def discord_bot(services):
    """The real bot with its cogs loaded, logged in to a fake Discord."""
    async with logged_in(services) as fake:
        yield fake
    shown = json.dumps([(c.path, c.payload) for c in fake.calls], ensure_ascii=False)
    files = b"".join(f.fp.getvalue() for c in fake.calls for f in c.files if hasattr(f.fp, "getvalue"))
    for secret in SECRETS:
        assert secret not in shown and secret.encode() not in files, "a secret was sent to Discord"


async def open_storage(settings: Settings) -> Storage:
    """Another handle on the test's database, as a restarted bot (or a second process) opens it."""
    return await Storage.open(settings.database_url, settings.database_path)


async def query(storage: Storage, sql: str, **params) -> list[tuple]:
    """Rows straight from the database, to check what was stored."""
    async with storage.database.read() as conn:
        return [tuple(row) for row in (await conn.execute(text(sql), params)).all()]


READ_ONLY = {"sqlite": "PRAGMA query_only = ON", "postgresql": "SET default_transaction_read_only = on"}


async def on_every_connection(storage: Storage, statement: str | None) -> None:
    """Run `statement` on each connection the storage opens from now on (None: stop), as a broken disk or server would behave."""
    engine = storage.database.engine.sync_engine
    for listener in getattr(storage, "_test_listeners", []):
        event.remove(engine, "connect", listener)
    listeners = []
    if statement is not None:

        def run(dbapi_connection, _record) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute(statement)
            cursor.close()
            dbapi_connection.commit()  # a SET inside PostgreSQL's open transaction would be rolled back with it

        event.listen(engine, "connect", run)
        listeners.append(run)
    object.__setattr__(storage, "_test_listeners", listeners)
    await storage.database.engine.dispose()  # pooled connections would not have it
