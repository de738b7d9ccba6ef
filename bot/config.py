"""Settings: the one place that reads the environment, once, into a frozen object."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlsplit

from bot.errors import ConfigError
from bot.i18n import language_of, languages

# Defaults are current choices, not truths: every model is configuration. OpenAI's
# fine-tunable models (and the fine-tunes built on them) shut down on 2027-01-14.
DEFAULT_SUPPORT_MODEL = "gpt-5-mini"
DEFAULT_BARTENDER_MODEL = "gpt-5-mini"
DEFAULT_FINETUNE_BASE_MODEL = "gpt-4.1-mini-2025-04-14"
# The shipped prompts and sample are found next to the code, wherever the bot is started from.
SHIPPED_DATA = Path(__file__).resolve().parent.parent / "data"


@dataclass(frozen=True)
class Settings:
    discord_token: str | None = None
    discord_api_base: str | None = None  # REST through a proxy (nirn-proxy) or a test server; None: discord.com
    openai_api_key: str | None = None
    openai_base_url: str | None = None
    database_path: Path = Path("data/bot.db")
    database_url: str | None = field(default=None, repr=False)  # holds a password
    support_prompt_file: Path = SHIPPED_DATA / "support_prompt.txt"
    support_channels: frozenset[str] = frozenset()
    bartender_channels: frozenset[str] = frozenset()
    admin_roles: frozenset[str] = frozenset()
    staff_roles: frozenset[str] = frozenset()
    support_model: str = DEFAULT_SUPPORT_MODEL
    bartender_model: str = DEFAULT_BARTENDER_MODEL
    finetune_base_model: str = DEFAULT_FINETUNE_BASE_MODEL
    finetune_base_url: str | None = None
    finetune_api_key: str | None = None
    finetune_max_tokens: int | None = None  # None: the base model family's limit (bot/tokens.py)
    job_poll_seconds: float = 30.0
    sample_dataset_file: Path = SHIPPED_DATA / "sample_dataset.jsonl"
    max_dataset_mb: float = 50.0
    bartender_prompt_file: Path = SHIPPED_DATA / "bartender_prompt.txt"
    bartender_history_tokens: int = 2000
    bartender_idle_minutes: float = 120.0
    bartender_edit_seconds: float = 1.0
    bartender_reply_seconds: float = 60.0  # a bartender turn's whole reply must stream within this
    rate_limit_per_minute: int = 10
    daily_tokens_per_user: int = 50_000
    daily_tokens_per_server: int = 2_000_000
    limits_exempt_staff: bool = True
    moderation: bool = False
    prices: str | None = None
    embedding_model: str | None = None
    embedding_base_url: str | None = None  # an embeddings endpoint of its own (e.g. a local server); None: the model endpoint's
    embedding_api_key: str | None = field(default=None, repr=False)
    match_floor: float | None = None  # None: calibrated on the examples
    match_margin: float | None = None
    match_chooser: bool = False
    guidance_examples: int = 3
    bot_language: str | None = None  # the language of the bot's own lines in messages (else each server's locale)
    staff_channel: int | None = None  # where handoffs are posted for staff (bot/handoffs.py); none: no handoffs
    handoff_remind_minutes: float = 30.0
    promote: str = "if-better"  # what a succeeded fine-tune does: if-better, always, never (see bot/evaluation.py)
    eval_max_questions: int = 50
    command_guilds: tuple[int, ...] = ()
    allowed_guilds: tuple[int, ...] = ()  # the servers the bot serves; see bot/access.py ServedGuilds
    shard_count: int | None = None
    shard_ids: tuple[int, ...] = ()
    model_timeout: float = 60.0
    model_max_retries: int = 2
    log_level: str = "INFO"
    loop_stall_ms: float = 250.0  # log a warning when the event loop was blocked this long
    secrets: tuple[str, ...] = field(default=(), repr=False)

    def __repr__(self) -> str:  # never print a secret by accident
        return f"Settings(database_path={self.database_path!s}, support_model={self.support_model!r})"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read every setting from `environ` (default: os.environ); raise ConfigError on a bad value."""
        env = os.environ if environ is None else environ

        def text(name: str, default: str | None = None) -> str | None:
            value = env.get(name, "").strip()
            return value or default

        discord_token = text("DISCORD_TOKEN")
        openai_api_key = text("OPENAI_API_KEY")
        finetune_api_key = text("FINETUNE_API_KEY")
        embedding_api_key = text("EMBEDDING_API_KEY")
        database_url = text("DATABASE_URL")
        shard_count = text("SHARD_COUNT")
        shard_count = int(_number("SHARD_COUNT", shard_count, 1, minimum=1)) if shard_count else None
        shard_ids = _ids("SHARD_IDS", text("SHARD_IDS"))
        if shard_ids and shard_count is None:
            raise ConfigError("SHARD_IDS needs SHARD_COUNT: the total number of shards across all processes.")
        if shard_count is not None and not (text("ALLOWED_GUILDS") or text("COMMAND_GUILDS")):
            # Each process sees only its shards' servers: "the servers at the first start" would differ per process.
            raise ConfigError("With SHARD_COUNT set, list the servers the bot serves in ALLOWED_GUILDS.")
        if any(shard >= (shard_count or 0) for shard in shard_ids):
            raise ConfigError(f"SHARD_IDS must be shard numbers from 0 to {(shard_count or 1) - 1} (SHARD_COUNT is {shard_count}).")
        return cls(
            discord_token=discord_token,
            discord_api_base=_url("DISCORD_API_BASE", text("DISCORD_API_BASE")),
            openai_api_key=openai_api_key,
            openai_base_url=text("OPENAI_BASE_URL"),
            database_path=Path(text("DATABASE_PATH", "data/bot.db")),
            database_url=database_url,
            support_prompt_file=Path(text("SUPPORT_PROMPT_FILE", str(SHIPPED_DATA / "support_prompt.txt"))),
            support_channels=_names(text("SUPPORT_CHANNELS")),
            bartender_channels=_names(text("BARTENDER_CHANNELS")),
            admin_roles=_names(text("ADMIN_ROLES")),
            staff_roles=_names(text("STAFF_ROLES")),
            support_model=text("SUPPORT_MODEL", DEFAULT_SUPPORT_MODEL),
            bartender_model=text("BARTENDER_MODEL", DEFAULT_BARTENDER_MODEL),
            finetune_base_model=text("FINETUNE_BASE_MODEL", DEFAULT_FINETUNE_BASE_MODEL),
            finetune_base_url=text("FINETUNE_BASE_URL"),
            finetune_api_key=finetune_api_key,
            finetune_max_tokens=(
                int(_number("FINETUNE_MAX_TOKENS", text("FINETUNE_MAX_TOKENS"), 0, minimum=1)) if text("FINETUNE_MAX_TOKENS") else None
            ),
            job_poll_seconds=_number("JOB_POLL_SECONDS", text("JOB_POLL_SECONDS"), 30.0, minimum=0.01),
            sample_dataset_file=Path(text("SAMPLE_DATASET_FILE", str(SHIPPED_DATA / "sample_dataset.jsonl"))),
            max_dataset_mb=_number("MAX_DATASET_MB", text("MAX_DATASET_MB"), 50.0, minimum=0.001),
            bartender_prompt_file=Path(text("BARTENDER_PROMPT_FILE", str(SHIPPED_DATA / "bartender_prompt.txt"))),
            bartender_history_tokens=int(
                _number("BARTENDER_HISTORY_TOKENS", text("BARTENDER_HISTORY_TOKENS"), 2000, minimum=100)
            ),
            bartender_idle_minutes=_number("BARTENDER_IDLE_MINUTES", text("BARTENDER_IDLE_MINUTES"), 120.0, minimum=1),
            bartender_edit_seconds=_number("BARTENDER_EDIT_SECONDS", text("BARTENDER_EDIT_SECONDS"), 1.0, minimum=0.2),
            bartender_reply_seconds=_number("BARTENDER_REPLY_SECONDS", text("BARTENDER_REPLY_SECONDS"), 60.0, minimum=0.1),
            rate_limit_per_minute=int(_number("RATE_LIMIT_PER_MINUTE", text("RATE_LIMIT_PER_MINUTE"), 10, minimum=0)),
            daily_tokens_per_user=int(_number("DAILY_TOKENS_PER_USER", text("DAILY_TOKENS_PER_USER"), 50_000, minimum=0)),
            daily_tokens_per_server=int(
                _number("DAILY_TOKENS_PER_SERVER", text("DAILY_TOKENS_PER_SERVER"), 2_000_000, minimum=0)
            ),
            limits_exempt_staff=_switch("LIMITS_EXEMPT_STAFF", text("LIMITS_EXEMPT_STAFF"), True),
            moderation=_switch("MODERATION", text("MODERATION"), False),
            prices=text("PRICES"),
            embedding_model=text("EMBEDDING_MODEL"),
            embedding_base_url=_url("EMBEDDING_BASE_URL", text("EMBEDDING_BASE_URL")),
            embedding_api_key=embedding_api_key,
            match_floor=_fraction("MATCH_FLOOR", text("MATCH_FLOOR")),
            match_margin=_fraction("MATCH_MARGIN", text("MATCH_MARGIN")),
            match_chooser=_chooser(text("MATCH_CHOOSER", "off")),
            guidance_examples=int(_number("GUIDANCE_EXAMPLES", text("GUIDANCE_EXAMPLES"), 3, minimum=0)),
            bot_language=_bot_language(text("BOT_LANGUAGE")),
            staff_channel=_channel_id("STAFF_CHANNEL", text("STAFF_CHANNEL")),
            handoff_remind_minutes=_number("HANDOFF_REMIND_MINUTES", text("HANDOFF_REMIND_MINUTES"), 30.0, minimum=1),
            promote=_promote(text("PROMOTE", "if-better")),
            eval_max_questions=int(_number("EVAL_MAX_QUESTIONS", text("EVAL_MAX_QUESTIONS"), 50, minimum=1)),
            command_guilds=_ids("COMMAND_GUILDS", text("COMMAND_GUILDS")),
            allowed_guilds=_ids("ALLOWED_GUILDS", text("ALLOWED_GUILDS")),
            shard_count=shard_count,
            shard_ids=shard_ids,
            model_timeout=_number("MODEL_TIMEOUT", text("MODEL_TIMEOUT"), 60.0, minimum=1),
            model_max_retries=int(_number("MODEL_MAX_RETRIES", text("MODEL_MAX_RETRIES"), 2, minimum=0)),
            log_level=_log_level(text("LOG_LEVEL", "INFO")),
            loop_stall_ms=_number("LOOP_STALL_MS", text("LOOP_STALL_MS"), 250.0, minimum=1),
            secrets=tuple(
                s for s in (discord_token, openai_api_key, finetune_api_key, embedding_api_key, database_url, _password(database_url)) if s
            ),
        )


def _url(name: str, raw: str | None) -> str | None:
    if raw is None:
        return None
    if not raw.startswith(("http://", "https://")):
        raise ConfigError(f"{name} must be an http(s) URL such as https://discord.com/api/v10, not {raw!r}.")
    return raw.rstrip("/")


def _names(raw: str | None) -> frozenset[str]:
    """Split a comma-separated list of IDs or names; names compare case-insensitively."""
    if not raw:
        return frozenset()
    return frozenset(part.strip().lstrip("#@").casefold() for part in raw.split(",") if part.strip())


def _ids(name: str, raw: str | None) -> tuple[int, ...]:
    if not raw:
        return ()
    ids = []
    for part in (p.strip() for p in raw.split(",")):
        if not part:
            continue
        if not part.isdigit():
            raise ConfigError(f"{name} must be comma-separated numbers; {part!r} is not one.")
        ids.append(int(part))
    return tuple(ids)


def _number(name: str, raw: str | None, default: float, *, minimum: float) -> float:
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number; got {raw!r}.") from None
    if value < minimum:
        raise ConfigError(f"{name} must be at least {minimum:g}; got {raw!r}.")
    return value


def _switch(name: str, raw: str | None, default: bool) -> bool:
    if raw is None:
        return default
    value = raw.casefold()
    if value in ("on", "true", "yes", "1"):
        return True
    if value in ("off", "false", "no", "0"):
        return False
    raise ConfigError(f"{name} must be on or off; got {raw!r}.")


def _chooser(raw: str) -> bool:
    if raw.casefold() in ("model", "on"):
        return True
    if raw.casefold() in ("off", "none", "no"):
        return False
    raise ConfigError(f"MATCH_CHOOSER must be model or off; got {raw!r}.")


def _channel_id(name: str, raw: str | None) -> int | None:
    if not raw:
        return None
    if not raw.strip().isdigit():
        raise ConfigError(f"{name} must be a channel ID (a number: right-click the channel → Copy Channel ID); got {raw!r}.")
    return int(raw)


def _bot_language(raw: str | None) -> str | None:
    """"ko", "ko-KR", "ko_KR" -> "ko"; a language without a catalog is refused rather than silently English."""
    if raw is None:
        return None
    language = language_of(raw.replace("_", "-"))
    if language != raw.casefold().replace("_", "-").split("-")[0]:
        raise ConfigError(f"BOT_LANGUAGE must be one of {', '.join(languages())} (a language code such as ko or ko-KR), not {raw!r}.")
    return language


def _promote(raw: str) -> str:
    if raw.casefold() in ("if-better", "always", "never"):
        return raw.casefold()
    raise ConfigError(f"PROMOTE must be if-better, always or never; got {raw!r}.")


def _fraction(name: str, raw: str | None) -> float | None:
    """A similarity threshold between 0 and 1, or None for the matcher's own default."""
    if raw is None:
        return None
    value = _number(name, raw, 0.0, minimum=0)
    if value > 1:
        raise ConfigError(f"{name} must be between 0 and 1; got {raw!r}.")
    return value


def _log_level(raw: str) -> str:
    level = raw.upper()
    if level not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
        raise ConfigError(f"LOG_LEVEL must be DEBUG, INFO, WARNING, ERROR or CRITICAL; got {raw!r}.")
    return level


def _password(url: str | None) -> str | None:
    """The password inside DATABASE_URL, so logs can hide it wherever it shows up."""
    if not url:
        return None
    userinfo = urlsplit(url).netloc.rpartition("@")[0]
    password = unquote(userinfo.partition(":")[2])
    return password if len(password) >= 4 else None  # a tiny one would blank out ordinary words
