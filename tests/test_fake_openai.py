"""The fake OpenAI server behaves like the real API as seen through the real SDK."""

import json

import openai
import pytest

MODEL = "gpt-5-mini"
QUESTION = [{"role": "user", "content": "how do I reset my password"}]


async def test_plain_chat_returns_reply_and_usage(openai_client):
    """A plain chat completion carries the echoed reply and word-based usage."""
    completion = await openai_client.chat.completions.create(model=MODEL, messages=QUESTION)

    assert completion.model == MODEL
    assert completion.id.startswith("chatcmpl-")
    assert completion.choices[0].message.content == "echo: how do I reset my password"
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage is not None
    assert completion.usage.prompt_tokens == 6 + 3
    assert completion.usage.completion_tokens == 7
    assert completion.usage.total_tokens == 16


async def test_fixed_reply_string_is_returned(openai_client, fake_openai):
    """Setting reply to a string makes every completion answer with it."""
    fake_openai.reply = "Try the 'Forgot password' link."

    completion = await openai_client.chat.completions.create(model=MODEL, messages=QUESTION)

    assert completion.choices[0].message.content == "Try the 'Forgot password' link."


async def test_streamed_chat_yields_reply_pieces_then_usage(openai_client, fake_openai):
    """A streamed reply arrives in stream_chunks pieces that join to the full text, then usage."""
    stream = await openai_client.chat.completions.create(
        model=MODEL, messages=QUESTION, stream=True, stream_options={"include_usage": True}
    )
    chunks = [chunk async for chunk in stream]

    pieces = [c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content]
    assert "".join(pieces) == "echo: how do I reset my password"
    assert len(pieces) == fake_openai.stream_chunks
    assert chunks[0].choices[0].delta.role == "assistant"
    assert chunks[-2].choices[0].finish_reason == "stop"
    assert chunks[-1].choices == []
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens == 7


async def test_chat_request_is_recorded_with_model_and_messages(openai_client, fake_openai):
    """Each chat request is recorded with the model, messages and bearer key sent."""
    await openai_client.chat.completions.create(model=MODEL, messages=QUESTION)

    [request] = fake_openai.requests
    assert (request.method, request.path) == ("POST", "/v1/chat/completions")
    assert request.headers["authorization"] == "Bearer sk-test"
    assert fake_openai.chat_requests() == [{"model": MODEL, "messages": QUESTION}]


async def test_unknown_model_raises_not_found(openai_client):
    """Chatting with a model the fake does not know raises NotFoundError with model_not_found."""
    with pytest.raises(openai.NotFoundError) as exc_info:
        await openai_client.chat.completions.create(model="gpt-9", messages=QUESTION)

    assert exc_info.value.code == "model_not_found"


async def test_wrong_api_key_raises_authentication_error(openai_client):
    """A request with a key other than the fake's api_key raises AuthenticationError."""
    with pytest.raises(openai.AuthenticationError) as exc_info:
        await openai_client.with_options(api_key="sk-wrong").chat.completions.create(
            model=MODEL, messages=QUESTION
        )

    assert exc_info.value.code == "invalid_api_key"


async def test_rate_limit_is_retried_then_succeeds(openai_client, fake_openai):
    """One injected 429 is retried by the SDK and the second attempt succeeds."""
    fake_openai.fail_next(429, retry_after_ms=10)

    completion = await openai_client.chat.completions.create(model=MODEL, messages=QUESTION)

    assert completion.choices[0].message.content == "echo: how do I reset my password"
    assert len(fake_openai.requests) == 2


async def test_persistent_server_error_raises_after_retries(openai_client, fake_openai):
    """A 500 on the first try and both retries raises InternalServerError."""
    fake_openai.fail_next(500, times=3, retry_after_ms=10)

    with pytest.raises(openai.InternalServerError):
        await openai_client.chat.completions.create(model=MODEL, messages=QUESTION)

    assert len(fake_openai.requests) == 3


async def test_slow_response_raises_timeout(openai_client, fake_openai):
    """A reply slower than the client timeout raises APITimeoutError."""
    fake_openai.slow_next(2.0)
    client = openai_client.with_options(timeout=0.2, max_retries=0)

    with pytest.raises(openai.APITimeoutError):
        await client.chat.completions.create(model=MODEL, messages=QUESTION)


async def test_cut_stream_raises_connection_error_mid_iteration(openai_client, fake_openai):
    """A stream dropped after two pieces raises APIConnectionError (not a timeout) while iterating."""
    fake_openai.cut_stream_next(after_chunks=2)
    stream = await openai_client.chat.completions.create(model=MODEL, messages=QUESTION, stream=True)

    pieces = []
    with pytest.raises(openai.APIConnectionError) as exc_info:
        async for chunk in stream:
            if chunk.choices[0].delta.content:
                pieces.append(chunk.choices[0].delta.content)

    assert exc_info.type is openai.APIConnectionError
    assert len(pieces) == 2
    assert "echo: how do I reset my password".startswith("".join(pieces))
    assert len(fake_openai.requests) == 1


async def test_malformed_body_raises_json_decode_error(openai_client, fake_openai):
    """A 200 whose JSON body is broken surfaces as json.JSONDecodeError, not an openai error."""
    fake_openai.malformed_next()

    with pytest.raises(json.JSONDecodeError):
        await openai_client.chat.completions.create(model=MODEL, messages=QUESTION)

    assert len(fake_openai.requests) == 1


async def test_models_list_returns_known_models(openai_client, fake_openai):
    """Listing models returns every id in the fake's models set."""
    page = await openai_client.models.list()

    assert {model.id for model in page.data} == fake_openai.models


async def test_models_retrieve_returns_known_model(openai_client):
    """Retrieving a known model id returns that model."""
    model = await openai_client.models.retrieve("gpt-4.1-mini-2025-04-14")

    assert model.id == "gpt-4.1-mini-2025-04-14"
    assert model.object == "model"


async def test_models_retrieve_unknown_raises_not_found(openai_client):
    """Retrieving an unknown model id raises NotFoundError."""
    with pytest.raises(openai.NotFoundError):
        await openai_client.models.retrieve("gpt-9")
