"""Domain errors whose messages are fit to show a Discord user as they are."""

from __future__ import annotations

from bot.i18n import Text


class UserError(Exception):
    """An error the user can act on; its message is shown to them verbatim."""

    def __init__(self, message: Text) -> None:
        super().__init__(str(message))  # English, for logs
        self.message = message  # localized when it is shown


class ConfigError(UserError):
    """A setting is missing or malformed; the message names the variable."""


class ModelError(UserError):
    """The model API failed; the message is the friendly line, the cause is logged."""

    def __init__(self, message: Text, *, kind: str) -> None:
        super().__init__(message)
        self.kind = kind


class TrainingError(UserError):
    """Fine-tuning cannot go on; the message says why in plain words."""


class DatasetError(UserError):
    """A dataset failed validation; the message is the report, with line numbers."""
