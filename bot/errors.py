"""Domain errors whose messages are fit to show a Discord user as they are."""

from __future__ import annotations


class UserError(Exception):
    """An error the user can act on; its message is shown to them verbatim."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ConfigError(UserError):
    """A setting is missing or malformed; the message names the variable."""


class ModelError(UserError):
    """The model API failed; the message is the friendly line, the cause is logged."""

    def __init__(self, message: str, *, kind: str) -> None:
        super().__init__(message)
        self.kind = kind


class TrainingError(UserError):
    """Fine-tuning cannot go on; the message says why in plain words."""


class DatasetError(UserError):
    """A dataset failed validation; the message is the report, with line numbers."""
