"""SupportService: the live model, the system prompt and the question's limits."""

from __future__ import annotations

import pytest

from bot.errors import UserError
from conftest import SUPPORT_PROMPT, both_engines

pytestmark = both_engines  # every test here runs on SQLite and on PostgreSQL


async def test_answer_uses_configured_model_and_system_prompt(support, fake_openai):
    """Before any promotion the configured SUPPORT_MODEL answers with the shop's system prompt."""
    fake_openai.reply = "Shipping is free over 50,000 won."
    answer = await support.answer("  Is shipping free? ", user_id=1)

    assert answer == "Shipping is free over 50,000 won."
    [request] = fake_openai.chat_requests()
    assert request["model"] == "gpt-5-mini"
    assert request["messages"] == [
        {"role": "system", "content": SUPPORT_PROMPT},
        {"role": "user", "content": "Is shipping free?"},
    ]


async def test_promoted_model_answers_once_live(support, storage, fake_openai):
    """A model made live in the database answers the next question."""
    fake_openai.models.add("ft:gpt-4.1-mini-2025-04-14:shop::xyz")
    await storage.jobs.set_live_model("ft:gpt-4.1-mini-2025-04-14:shop::xyz", by="admin", reason="test")
    await support.answer("Hi?")

    assert fake_openai.chat_requests()[0]["model"] == "ft:gpt-4.1-mini-2025-04-14:shop::xyz"
    assert await support.live_model() == "ft:gpt-4.1-mini-2025-04-14:shop::xyz"


async def test_blank_question_is_refused_without_a_model_call(support, fake_openai):
    """An empty question gets a hint and costs nothing."""
    with pytest.raises(UserError):
        await support.answer("   ")
    assert fake_openai.requests == []


async def test_overlong_question_is_refused(support, fake_openai):
    """A question over the limit is refused with its size in the message."""
    with pytest.raises(UserError, match="4,000"):
        await support.answer("x" * 4001)
    assert fake_openai.requests == []
