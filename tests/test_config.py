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
