"""Settings read from the environment."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import DEFAULT_SUPPORT_MODEL, Settings
from bot.errors import ConfigError


def test_defaults_when_nothing_is_set():
    """An empty environment gives working defaults."""
    settings = Settings.from_env({})
    assert settings.discord_token is None
    assert settings.database_path == Path("data/bot.db")
    assert settings.support_model == DEFAULT_SUPPORT_MODEL
    assert settings.command_guilds == ()


def test_lists_accept_ids_and_names_case_insensitively():
    """Channel and role lists take IDs or names, with or without # and @."""
    settings = Settings.from_env({"SUPPORT_CHANNELS": "123, #Help-Desk ,", "STAFF_ROLES": "@Staff,456"})
    assert settings.support_channels == {"123", "help-desk"}
    assert settings.staff_roles == {"staff", "456"}


def test_models_are_configuration():
    """Every model comes from the environment."""
    settings = Settings.from_env({"SUPPORT_MODEL": "my-model", "BARTENDER_MODEL": "b", "FINETUNE_BASE_MODEL": "f"})
    assert (settings.support_model, settings.bartender_model, settings.finetune_base_model) == ("my-model", "b", "f")


def test_command_guilds_are_parsed():
    """COMMAND_GUILDS is a list of numeric guild IDs."""
    assert Settings.from_env({"COMMAND_GUILDS": "1, 22"}).command_guilds == (1, 22)


def test_non_numeric_guild_id_names_the_variable():
    """A bad guild ID stops start-up with a message naming COMMAND_GUILDS."""
    with pytest.raises(ConfigError, match="COMMAND_GUILDS.*'my-server'"):
        Settings.from_env({"COMMAND_GUILDS": "123,my-server"})


def test_bad_number_names_the_variable():
    """A bad timeout names MODEL_TIMEOUT."""
    with pytest.raises(ConfigError, match="MODEL_TIMEOUT"):
        Settings.from_env({"MODEL_TIMEOUT": "soon"})


def test_secrets_are_not_in_repr():
    """Printing settings never shows a token or key."""
    settings = Settings.from_env({"DISCORD_TOKEN": "tok-123", "OPENAI_API_KEY": "sk-secret"})
    assert "tok-123" not in repr(settings) and "sk-secret" not in repr(settings)
    assert set(settings.secrets) == {"tok-123", "sk-secret"}


def test_database_url_is_read_and_its_password_kept_secret():
    """DATABASE_URL as a platform gives it; the URL and its password are redacted like keys."""
    settings = Settings.from_env({"DATABASE_URL": "postgres://shop:hunter2secret@db.example.com:5432/shop"})
    assert settings.database_url == "postgres://shop:hunter2secret@db.example.com:5432/shop"
    assert "hunter2secret" not in repr(settings)
    assert "hunter2secret" in settings.secrets


def test_shards_are_parsed():
    settings = Settings.from_env({"SHARD_COUNT": "4", "SHARD_IDS": "2, 3", "ALLOWED_GUILDS": "1"})
    assert (settings.shard_count, settings.shard_ids) == (4, (2, 3))
    assert Settings.from_env({}).shard_count is None


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"SHARD_IDS": "0"}, "SHARD_IDS needs SHARD_COUNT"),
        ({"SHARD_COUNT": "2", "SHARD_IDS": "2", "ALLOWED_GUILDS": "1"}, "SHARD_IDS must be shard numbers from 0 to 1"),
        ({"SHARD_COUNT": "2"}, "With SHARD_COUNT set, list the servers the bot serves in ALLOWED_GUILDS"),
        ({"SHARD_COUNT": "0"}, "SHARD_COUNT"),
        ({"SHARD_COUNT": "2", "SHARD_IDS": "one", "ALLOWED_GUILDS": "1"}, "SHARD_IDS"),
    ],
)
def test_bad_shard_settings_name_the_variable(environ, message):
    with pytest.raises(ConfigError, match=message):
        Settings.from_env(environ)


def test_matching_settings():
    settings = Settings.from_env({"MATCH_FLOOR": "0.4", "MATCH_MARGIN": "0.15", "MATCH_CHOOSER": "model"})
    assert (settings.match_floor, settings.match_margin, settings.match_chooser) == (0.4, 0.15, True)
    defaults = Settings.from_env({})
    assert (defaults.match_floor, defaults.match_margin, defaults.match_chooser) == (None, None, False)
    with pytest.raises(ConfigError, match="MATCH_CHOOSER"):
        Settings.from_env({"MATCH_CHOOSER": "gpt"})
    with pytest.raises(ConfigError, match="MATCH_MARGIN"):
        Settings.from_env({"MATCH_MARGIN": "2"})


def test_allowed_guilds_are_parsed():
    assert Settings.from_env({"ALLOWED_GUILDS": "1, 22"}).allowed_guilds == (1, 22)
    with pytest.raises(ConfigError, match="ALLOWED_GUILDS"):
        Settings.from_env({"ALLOWED_GUILDS": "my-shop"})


def test_discord_api_base_and_loop_stall_settings():
    settings = Settings.from_env({"DISCORD_API_BASE": "http://127.0.0.1:8080/api/v10/", "LOOP_STALL_MS": "40"})
    assert (settings.discord_api_base, settings.loop_stall_ms) == ("http://127.0.0.1:8080/api/v10", 40.0)
    defaults = Settings.from_env({})
    assert (defaults.discord_api_base, defaults.loop_stall_ms) == (None, 250.0)
    with pytest.raises(ConfigError, match="DISCORD_API_BASE must be an http"):
        Settings.from_env({"DISCORD_API_BASE": "discord.com/api"})
    with pytest.raises(ConfigError, match="LOOP_STALL_MS"):
        Settings.from_env({"LOOP_STALL_MS": "0"})


def test_promotion_settings():
    settings = Settings.from_env({"PROMOTE": "Never", "EVAL_MAX_QUESTIONS": "20"})
    assert (settings.promote, settings.eval_max_questions) == ("never", 20)
    defaults = Settings.from_env({})
    assert (defaults.promote, defaults.eval_max_questions) == ("if-better", 50)
    with pytest.raises(ConfigError, match="PROMOTE must be if-better, always or never"):
        Settings.from_env({"PROMOTE": "yes"})
    with pytest.raises(ConfigError, match="EVAL_MAX_QUESTIONS"):
        Settings.from_env({"EVAL_MAX_QUESTIONS": "0"})


def test_bot_language_setting():
    assert Settings.from_env({"BOT_LANGUAGE": " KO "}).bot_language == "ko"
    assert Settings.from_env({}).bot_language is None
    assert [Settings.from_env({"BOT_LANGUAGE": code}).bot_language for code in ("ko-KR", "ko_KR", "en-US")] == ["ko", "ko", "en"]
    with pytest.raises(ConfigError, match="BOT_LANGUAGE must be one of en, ko"):
        Settings.from_env({"BOT_LANGUAGE": "kr"})  # a country, not a language: refused, not silently English


def test_an_embeddings_endpoint_of_its_own_with_its_key_kept_secret():
    settings = Settings.from_env(
        {"EMBEDDING_MODEL": "e5-query", "EMBEDDING_BASE_URL": "http://127.0.0.1:8000/v1", "EMBEDDING_API_KEY": "emb-secret"}
    )
    assert (settings.embedding_model, settings.embedding_base_url) == ("e5-query", "http://127.0.0.1:8000/v1")
    assert "emb-secret" in settings.secrets and "emb-secret" not in repr(settings)
    with pytest.raises(ConfigError, match="EMBEDDING_BASE_URL must be an http"):
        Settings.from_env({"EMBEDDING_BASE_URL": "localhost:8000"})
