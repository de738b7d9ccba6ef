"""The model API layer, against the fake OpenAI server with the real SDK."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone

import openai
import pytest

from bot.config import Settings
from bot.errors import ModelError, TrainingError
from bot.i18n import localize
from bot.llm import BUSY, LLM, MISCONFIGURED, NOT_CONFIGURED, UNAVAILABLE, Caller, FineTuningAPI
from bot.logs import redact

HELLO = [{"role": "user", "content": "hello there"}]


async def usage_of(storage):
    return await storage.usage.totals(datetime.now(timezone.utc) - timedelta(days=1))


async def test_chat_returns_the_reply_and_records_usage(llm, storage, fake_openai):
    """A call's tokens are stored with model and purpose."""
    fake_openai.reply = "Hi! How can I help?"
    reply = await llm.chat(HELLO, model="gpt-5-mini", caller=Caller("support", user_id=1, guild_id=2))

    assert reply.text == "Hi! How can I help?"
    [total] = await usage_of(storage)
    assert (total.model, total.purpose) == ("gpt-5-mini", "support")
    assert (total.prompt_tokens, total.completion_tokens) == (reply.prompt_tokens, reply.completion_tokens)
    assert total.prompt_tokens > 0 and total.completion_tokens > 0


async def test_stream_yields_pieces_and_records_usage(llm, storage, fake_openai):
    """A streamed reply arrives in pieces that join to the full text; usage is recorded at the end."""
    fake_openai.reply = "one two three four five six"
    pieces = [p async for p in llm.stream_chat(HELLO, model="gpt-5-mini", caller=Caller("bartender"))]

    assert len(pieces) > 1 and "".join(pieces) == "one two three four five six"
    [request] = fake_openai.chat_requests()
    assert request["stream"] is True
    [total] = await usage_of(storage)
    assert total.purpose == "bartender" and total.completion_tokens == 6


@pytest.mark.parametrize(
    ("status", "message", "kind"),
    [
        (429, BUSY, "rate_limited"),
        (500, UNAVAILABLE, "server_error"),
        (401, MISCONFIGURED, "bad_key"),
    ],
)
async def test_api_errors_become_friendly_lines(llm, fake_openai, status, message, kind):
    """Rate limits, server errors and a bad key each give a friendly line and a kind for the log."""
    fake_openai.fail_next(status, times=2, retry_after_ms=1)
    with pytest.raises(ModelError) as caught:
        await llm.chat(HELLO, model="gpt-5-mini", caller=Caller("support"))
    assert (caught.value.message, caught.value.kind) == (message, kind)


@pytest.mark.parametrize(("status", "message", "kind"), [(429, BUSY, "rate_limited"), (401, MISCONFIGURED, "bad_key")])
async def test_api_errors_on_a_stream_become_friendly_lines(llm, fake_openai, status, message, kind):
    """The streamed path (read as JSON chunks) maps HTTP errors as the plain one does, and sends the key."""
    fake_openai.fail_next(status, times=2, retry_after_ms=1)
    with pytest.raises(ModelError) as caught:
        async for _ in llm.stream_chat(HELLO, model="gpt-5-mini", caller=Caller("bartender")):
            pass
    assert (caught.value.message, caught.value.kind) == (message, kind)


async def test_an_error_sent_inside_a_stream_is_a_friendly_line_after_the_pieces_received(llm, fake_openai):
    """The API can send an error event mid-stream: the pieces before it arrive, then the friendly error."""
    fake_openai.reply = "a b c d e f"
    fake_openai.stream_chunks = 6
    fake_openai.error_in_stream_next(after_chunks=2, message="The server had an error (sk-proj-secret123456)")
    received = []
    with pytest.raises(ModelError) as caught:
        async for piece in llm.stream_chat(HELLO, model="gpt-5-mini", caller=Caller("bartender")):
            received.append(piece)
    assert len(received) == 2 and "".join(received).strip() == "a b"
    assert caught.value.message == UNAVAILABLE and "sk-proj" not in caught.value.message


async def test_unknown_model_is_a_friendly_line(llm, fake_openai):
    """A model the endpoint does not serve is reported as misconfiguration."""
    with pytest.raises(ModelError) as caught:
        await llm.chat(HELLO, model="gpt-3.5-turbo", caller=Caller("support"))
    assert (caught.value.message, caught.value.kind) == (MISCONFIGURED, "unknown_model")


async def test_timeout_is_a_friendly_line(settings, storage, fake_openai):
    """A reply slower than MODEL_TIMEOUT is given up on with a friendly line."""
    fast = LLM.from_settings(replace(settings, model_timeout=1, model_max_retries=0), record_usage=storage.usage.record)
    fake_openai.slow_next(3)
    try:
        with pytest.raises(ModelError) as caught:
            await fast.chat(HELLO, model="gpt-5-mini", caller=Caller("support"))
    finally:
        await fast.close()
    assert caught.value.kind == "timeout"


async def test_malformed_response_is_a_friendly_line(llm, fake_openai):
    """A body that is not JSON does not escape as a raw decoding error."""
    fake_openai.malformed_next()
    with pytest.raises(ModelError) as caught:
        await llm.chat(HELLO, model="gpt-5-mini", caller=Caller("support"))
    assert caught.value.message == UNAVAILABLE


async def test_stream_cut_midway_is_a_friendly_line(llm, fake_openai):
    """A stream that breaks off raises the friendly error after the pieces already received."""
    fake_openai.reply = "a b c d e f g h"
    fake_openai.stream_chunks = 8
    fake_openai.cut_stream_next(after_chunks=3)
    received = []
    with pytest.raises(ModelError) as caught:
        async for piece in llm.stream_chat(HELLO, model="gpt-5-mini", caller=Caller("bartender")):
            received.append(piece)
    assert len(received) == 3 and caught.value.message == UNAVAILABLE


async def test_without_api_key_calls_say_not_configured(storage, fake_openai):
    """No OPENAI_API_KEY means no client and a polite line, not a crash."""
    llm = LLM.from_settings(Settings(), record_usage=storage.usage.record)
    assert not llm.available
    with pytest.raises(ModelError) as caught:
        await llm.chat(HELLO, model="gpt-5-mini", caller=Caller("support"))
    assert caught.value.message == NOT_CONFIGURED
    assert fake_openai.requests == []


def test_redact_removes_configured_secrets_bearer_tokens_and_key_shaped_strings():
    """Provider text loses configured secrets, any bearer token and anything shaped like an API key; other words stay."""
    text = "key ABC-secret-1 header Authorization: Bearer eyJhbGciOi.x-y_z. other sk-proj-Zx81abcdef, task-1234567 desk-lamp."
    assert redact(text, ["ABC-secret-1"]) == (
        "key [redacted] header Authorization: Bearer [redacted]. other [redacted], task-1234567 desk-lamp."
    )


async def test_the_fine_tuning_client_is_built_when_training_first_needs_it(settings, fake_openai, monkeypatch):
    """Most starts never train: the fine-tuning endpoint's client (its pool and TLS context) waits for the first call."""
    built = []

    class Counted(openai.AsyncOpenAI):
        def __init__(self, **options) -> None:
            built.append(options["base_url"])
            super().__init__(**options)

    monkeypatch.setattr(openai, "AsyncOpenAI", Counted)
    finetune = FineTuningAPI.from_settings(settings)
    assert built == []
    try:
        assert await finetune.find_by_run_id("no-such-run") is None
        await finetune.find_by_run_id("no-such-run")
        assert built == [settings.openai_base_url]
    finally:
        await finetune.close()


async def test_a_fine_tuning_refusal_reads_in_the_admins_language_with_the_providers_words_redacted(finetune, fake_openai):
    """The sentence around the provider's words is English or Korean; the words and the job ID are as they are, keys redacted."""
    fake_openai.fail_next(400, message="Bearer sk-proj-Zx81abcdef may not do that", path="/v1/fine_tuning/jobs/ftjob-1/cancel", method="POST")
    with pytest.raises(TrainingError) as caught:
        await finetune.cancel("ftjob-1")
    assert str(caught.value) == "The provider refused to cancel job ftjob-1: Bearer [redacted] may not do that"
    assert localize(caught.value.message, "ko") == "제공사가 작업 ftjob-1 취소 요청을 거부했어요: Bearer [redacted] may not do that"


async def test_fine_tuning_without_a_key_is_explained_in_korean_too():
    api = FineTuningAPI(None, poll_interval=1.0)
    with pytest.raises(TrainingError) as caught:
        await api.cancel("ftjob-1")
    assert str(caught.value) == "Fine-tuning needs an API key: set OPENAI_API_KEY (or FINETUNE_API_KEY)."
    assert localize(caught.value.message, "ko") == "파인튜닝에는 API 키가 필요해요. OPENAI_API_KEY(또는 FINETUNE_API_KEY)를 설정해 주세요."
