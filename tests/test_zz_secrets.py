"""Secrets never leak: the whole run's logs are checked (this file runs last), and the check itself works."""

from __future__ import annotations

import logging

import conftest
from conftest import API_KEY, DISCORD_TOKEN, LEAKS, SecretLeakFinder


def test_the_leak_finder_catches_a_secret_in_a_message_or_a_traceback():
    """A record showing a secret, in its text or its exception, is caught."""
    finder = SecretLeakFinder()
    before = len(LEAKS)
    finder.handle(logging.makeLogRecord({"name": "x", "msg": "key=%s", "args": (API_KEY,)}))
    try:
        raise RuntimeError(f"token {DISCORD_TOKEN}")
    except RuntimeError as exc:
        finder.handle(logging.makeLogRecord({"name": "x", "msg": "failed", "exc_info": (type(exc), exc, exc.__traceback__)}))
    caught = LEAKS[before:]
    del LEAKS[before:]
    assert len(caught) == 2


def test_no_secret_appeared_in_any_log_line_of_the_run():
    """Across every test before this one, no log line showed the API key or the Discord token."""
    assert conftest.LEAKS == []
