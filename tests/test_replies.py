"""What a user sees when something fails: one renderer for commands, listeners, modals and views."""

from __future__ import annotations

import json
import logging

from discord import app_commands
from discord_fakes import BAR_CHANNEL, STAFF, SUPPORT_CHANNEL

from bot.errors import UserError
from bot.replies import SOMETHING_WENT_WRONG, user_message

# An unexpected error's text, so a test can see whether it leaked to Discord.
INTERNALS = "cursor closed at 0x7f3a"


async def broken(*args, **kwargs):
    raise RuntimeError(INTERNALS)


def failures_logged(caplog) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "bot.replies" and r.levelno == logging.ERROR]


def shown_to_discord(discord_bot) -> str:
    return json.dumps([c.payload for c in discord_bot.calls], ensure_ascii=False)


def test_user_error_is_shown_as_its_message():
    """A domain error reaches the user as its message, word for word."""
    assert user_message(UserError("There is no example #7."), context="command /examples remove") == "There is no example #7."


def test_failed_check_is_shown_as_its_reason():
    """A failed permission check tells the user why."""
    error = app_commands.CheckFailure("Only staff (a STAFF_ROLES role) and admins can use this command.")

    assert user_message(error, context="command /teach") == "Only staff (a STAFF_ROLES role) and admins can use this command."


def test_failed_check_without_a_reason_gets_the_default_line():
    """A check that gives no reason still gets a sentence, not an empty message."""
    assert user_message(app_commands.CheckFailure(), context="command /teach") == "You can't use this command here."


def test_unexpected_error_is_logged_with_its_context_and_hidden_from_the_user(caplog):
    """Anything else is logged once with its traceback, naming where it happened; the user gets the generic line."""
    error = RuntimeError(INTERNALS)

    assert user_message(error, context="answering message 42") == SOMETHING_WENT_WRONG
    [record] = failures_logged(caplog)
    assert record.getMessage() == "answering message 42 failed" and record.exc_info[1] is error


async def test_command_error_is_shown_as_the_error_the_command_raised(discord_bot):
    """The command tree wraps what a command raised; the user sees the wrapped error's message."""
    error = app_commands.CommandInvokeError(discord_bot.bot.tree.get_command("ask"), UserError("Please slow down."))

    assert user_message(error, context="command /ask") == "Please slow down."


async def test_unexpected_failure_in_a_command_is_logged_and_shows_the_generic_line(discord_bot, monkeypatch, caplog):
    """A command that breaks answers with the generic line; the log names the command."""
    monkeypatch.setattr(discord_bot.bot.teaching, "page", broken)
    interaction = await discord_bot.slash("examples list", user=STAFF)

    assert discord_bot.ephemeral_texts(interaction) == [SOMETHING_WENT_WRONG]
    assert [r.getMessage() for r in failures_logged(caplog)] == ["command /examples list failed"]
    assert INTERNALS not in shown_to_discord(discord_bot)


async def test_unexpected_failure_answering_a_message_is_logged_and_shows_the_generic_line(discord_bot, monkeypatch, caplog):
    """The support listener replies with the generic line when answering breaks; the log names the message."""
    monkeypatch.setattr(discord_bot.bot.support, "respond", broken)
    question = await discord_bot.send_message("When will my order ship?", channel_id=SUPPORT_CHANNEL)

    assert [m["content"] for m in discord_bot.sent_messages(SUPPORT_CHANNEL)] == [SOMETHING_WENT_WRONG]
    assert [r.getMessage() for r in failures_logged(caplog)] == [f"answering message {question['id']} failed"]
    assert INTERNALS not in shown_to_discord(discord_bot)


async def test_unexpected_failure_in_a_bartender_reply_is_logged_and_shows_the_generic_line(discord_bot, monkeypatch, caplog):
    """A bartender reply that breaks before any words shows the generic line."""

    async def broken_reply(*args, **kwargs):
        raise RuntimeError(INTERNALS)
        yield  # an async generator, as the real reply is

    monkeypatch.setattr(discord_bot.bot.bartender, "reply", broken_reply)
    await discord_bot.send_message("A negroni, please", channel_id=BAR_CHANNEL)

    assert discord_bot.shown_messages(BAR_CHANNEL) == [SOMETHING_WENT_WRONG]
    assert [r.getMessage() for r in failures_logged(caplog)] == ["bartender reply failed"]
    assert INTERNALS not in shown_to_discord(discord_bot)


async def test_unexpected_failure_in_the_teaching_form_is_logged_and_shows_the_generic_line(discord_bot, monkeypatch, caplog):
    """A form whose save breaks answers with the generic line, as a command would."""
    opened = await discord_bot.slash("teach", user=STAFF)
    monkeypatch.setattr(discord_bot.bot.teaching, "teach", broken)
    submitted = await discord_bot.submit_modal(opened, ["영수증 발급 되나요?", "네, 됩니다."], user=STAFF)

    assert discord_bot.ephemeral_texts(submitted) == [SOMETHING_WENT_WRONG]
    assert [r.getMessage() for r in failures_logged(caplog)] == ["teaching form failed"]
    assert INTERNALS not in shown_to_discord(discord_bot)
