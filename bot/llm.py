"""The model API: one AsyncOpenAI client, error mapping to friendly lines, usage accounting."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import openai
from openai.types.chat import ChatCompletion

from bot.config import Settings
from bot.db import Usage
from bot.errors import ModelError

log = logging.getLogger(__name__)

Message = dict[str, Any]
UsageSink = Callable[[Usage], Awaitable[None]]

BUSY = "I'm getting a lot of questions right now. Please try again in a minute."
UNAVAILABLE = "I couldn't come up with an answer just now. Please try again in a moment."
MISCONFIGURED = "I can't answer right now, sorry. The team has been told and will look into it."
NOT_CONFIGURED = "Answers aren't switched on yet here. A staff member will follow up with you."


@dataclass(frozen=True)
class Reply:
    text: str
    model: str
    prompt_tokens: int
    completion_tokens: int


@dataclass(frozen=True)
class Caller:
    """Who a call is made for, so usage can be accounted per purpose, user and server."""

    purpose: str
    user_id: int | None = None
    guild_id: int | None = None


class LLM:
    """Chat completions (plain and streamed) through one client; every call's tokens are recorded."""

    def __init__(self, client: openai.AsyncOpenAI | None, *, record_usage: UsageSink) -> None:
        self._client = client
        self._record_usage = record_usage

    @classmethod
    def from_settings(cls, settings: Settings, *, record_usage: UsageSink) -> LLM:
        """Without an API key there is no client: callers get NOT_CONFIGURED, not a crash."""
        if not settings.openai_api_key:
            return cls(None, record_usage=record_usage)
        client = openai.AsyncOpenAI(
            api_key=settings.openai_api_key,
            base_url=settings.openai_base_url,
            timeout=settings.model_timeout,
            max_retries=settings.model_max_retries,
        )
        return cls(client, record_usage=record_usage)

    @property
    def available(self) -> bool:
        return self._client is not None

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()

    async def chat(self, messages: Sequence[Message], *, model: str, caller: Caller) -> Reply:
        client = self._require_client()
        try:
            completion = await client.chat.completions.create(model=model, messages=list(messages))
            if not isinstance(completion, ChatCompletion):
                raise ValueError(f"expected a chat completion, got {type(completion).__name__}")
        except (openai.OpenAIError, ValueError) as exc:
            raise _friendly(exc, model) from exc
        text = (completion.choices[0].message.content or "").strip() if completion.choices else ""
        usage = completion.usage
        reply = Reply(
            text=text,
            model=completion.model or model,
            prompt_tokens=usage.prompt_tokens if usage else 0,
            completion_tokens=usage.completion_tokens if usage else 0,
        )
        await self._account(model, reply.prompt_tokens, reply.completion_tokens, caller)
        return reply

    async def stream_chat(self, messages: Sequence[Message], *, model: str, caller: Caller) -> AsyncIterator[str]:
        """Yield the reply's text as it arrives; usage is recorded when the stream ends."""
        client = self._require_client()
        prompt_tokens = completion_tokens = 0
        try:
            stream = await client.chat.completions.create(
                model=model,
                messages=list(messages),
                stream=True,
                stream_options={"include_usage": True},
            )
            async with stream:
                async for chunk in stream:
                    if chunk.usage:
                        prompt_tokens = chunk.usage.prompt_tokens
                        completion_tokens = chunk.usage.completion_tokens
                    for choice in chunk.choices:
                        if choice.delta.content:
                            yield choice.delta.content
        except (openai.OpenAIError, ValueError) as exc:
            raise _friendly(exc, model) from exc
        finally:
            if prompt_tokens or completion_tokens:
                await self._account(model, prompt_tokens, completion_tokens, caller)

    def _require_client(self) -> openai.AsyncOpenAI:
        if self._client is None:
            raise ModelError(NOT_CONFIGURED, kind="not_configured")
        return self._client

    async def _account(self, model: str, prompt: int, completion: int, caller: Caller) -> None:
        usage = Usage(model, caller.purpose, prompt, completion, caller.user_id, caller.guild_id)
        try:
            await self._record_usage(usage)
        except Exception:
            # Losing one usage row must not cost the customer their answer.
            log.exception("could not record usage for %s", model)


def _friendly(exc: Exception, model: str) -> ModelError:
    """Map an SDK error (or an unreadable response body) to the line a customer sees; the cause goes to the log."""
    if isinstance(exc, openai.RateLimitError):
        kind, message = "rate_limited", BUSY
    elif isinstance(exc, openai.APITimeoutError):
        kind, message = "timeout", UNAVAILABLE
    elif isinstance(exc, openai.APIConnectionError):
        kind, message = "connection", UNAVAILABLE
    elif isinstance(exc, openai.InternalServerError):
        kind, message = "server_error", UNAVAILABLE
    elif isinstance(exc, openai.AuthenticationError | openai.PermissionDeniedError):
        kind, message = "bad_key", MISCONFIGURED
    elif isinstance(exc, openai.NotFoundError):
        kind, message = "unknown_model", MISCONFIGURED
    elif isinstance(exc, openai.OpenAIError):
        kind, message = "api_error", UNAVAILABLE
    else:
        kind, message = "bad_response", UNAVAILABLE
    level = logging.ERROR if message is MISCONFIGURED else logging.WARNING
    log.log(level, "model call to %s failed (%s): %s", model, kind, exc)
    return ModelError(message, kind=kind)
