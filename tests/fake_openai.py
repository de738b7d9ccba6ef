"""An OpenAI-compatible HTTP server on localhost for driving the real openai SDK in tests."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections import deque
from dataclasses import dataclass
from typing import Any, Awaitable, Callable

from aiohttp import web

DEFAULT_MODELS = frozenset(
    {"gpt-5-mini", "gpt-4.1-mini-2025-04-14", "gpt-4.1-2025-04-14", "gpt-4o-mini-2024-07-18"}
)

# (type, code, message) the real API sends for each status, used when a test injects one.
_ERROR_DEFAULTS: dict[int, tuple[str, str | None, str]] = {
    400: ("invalid_request_error", None, "Invalid request."),
    401: ("invalid_request_error", "invalid_api_key", "Incorrect API key provided."),
    403: ("invalid_request_error", None, "You are not allowed to sample from this model."),
    404: ("invalid_request_error", None, "Not found."),
    408: ("server_error", None, "Request timed out."),
    409: ("invalid_request_error", None, "Conflict."),
    429: ("requests", "rate_limit_exceeded", "Rate limit reached for requests. Please try again shortly."),
    500: ("server_error", None, "The server had an error while processing your request. Sorry about that!"),
    502: ("server_error", None, "Bad gateway."),
    503: ("server_error", None, "The engine is currently overloaded, please try again later."),
}

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

# The body is read once in the middleware and handed to handlers through the request.
REQUEST_JSON = web.RequestKey[Any]("json")


@dataclass
class RecordedRequest:
    method: str
    path: str  # e.g. "/v1/chat/completions"
    json: Any  # parsed JSON body, or None when the body is empty or not JSON
    headers: dict[str, str]  # keys lower-cased


@dataclass(frozen=True)
class _InjectedFailure:
    status: int
    message: str | None
    code: str | None
    retry_after_ms: int | None

    def response(self) -> web.Response:
        error_type, default_code, default_message = _ERROR_DEFAULTS.get(
            self.status,
            ("server_error" if self.status >= 500 else "invalid_request_error", None, f"HTTP {self.status}."),
        )
        headers = {"retry-after-ms": str(self.retry_after_ms)} if self.retry_after_ms is not None else None
        return error_response(
            self.status,
            self.message or default_message,
            error_type=error_type,
            code=self.code or default_code,
            headers=headers,
        )


def error_response(
    status: int,
    message: str,
    *,
    error_type: str = "invalid_request_error",
    param: str | None = None,
    code: str | None = None,
    headers: dict[str, str] | None = None,
) -> web.Response:
    """An error in the shape the real API uses, which the SDK turns into its typed exceptions."""
    body = {"error": {"message": message, "type": error_type, "param": param, "code": code}}
    return web.json_response(body, status=status, headers=headers)


def model_not_found(model: Any) -> web.Response:
    return error_response(
        404,
        f"The model `{model}` does not exist or you do not have access to it.",
        code="model_not_found",
    )


def message_text(content: Any) -> str:
    """The text of a message whose content is a string or a list of typed parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(
            part.get("text", "") for part in content if isinstance(part, dict) and part.get("type") == "text"
        )
    return ""


def echo_last_user_message(body: dict) -> str:
    for message in reversed(body.get("messages", [])):
        if message.get("role") == "user":
            return f"echo: {message_text(message.get('content'))}"
    return "echo: "


def count_usage(messages: list[dict], reply: str) -> dict:
    """Deterministic stand-in for token counts: words, plus 3 per message like the real overhead."""
    prompt_tokens = sum(len(message_text(m.get("content")).split()) + 3 for m in messages)
    completion_tokens = len(reply.split())
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": 0,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


def split_evenly(text: str, pieces: int) -> list[str]:
    """Split text into at most `pieces` non-empty parts that join back to it exactly."""
    count = min(max(pieces, 1), len(text))
    return [text[len(text) * i // count : len(text) * (i + 1) // count] for i in range(count)]


async def read_json(request: web.Request) -> Any:
    raw = await request.read()
    if not raw or not request.content_type.endswith("json"):
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return None


class FakeOpenAI:
    """Serves /v1 like api.openai.com, records every request and injects faults on demand."""

    def __init__(self) -> None:
        self.requests: list[RecordedRequest] = []
        self.reply: str | Callable[[dict], str] = echo_last_user_message
        self.latency = 0.0
        self.stream_chunks = 5
        self.chunk_delay = 0.0
        self.models: set[str] = set(DEFAULT_MODELS)
        self.api_key: str | None = "sk-test"
        self._failures: deque[_InjectedFailure] = deque()
        self._delays: deque[float] = deque()
        self._stream_cuts: deque[int] = deque()
        self._malformed_pending = 0
        self._runner: web.AppRunner | None = None
        self._port: int | None = None

    # --- routes: add new endpoints here ---------------------------------------------------

    def _routes(self) -> list[tuple[str, str, Handler]]:
        return [
            ("POST", "/v1/chat/completions", self._chat_completions),
            ("GET", "/v1/models", self._list_models),
            ("GET", "/v1/models/{model_id}", self._retrieve_model),
        ]

    # --- lifecycle ------------------------------------------------------------------------

    async def start(self) -> None:
        app = web.Application(middlewares=[self._front_door])
        for method, path, handler in self._routes():
            app.router.add_route(method, path, handler)
        # handler_cancellation stops a handler that is sleeping for a client that already
        # timed out and hung up; a short shutdown_timeout keeps close() fast regardless.
        self._runner = web.AppRunner(app, handler_cancellation=True, shutdown_timeout=0.1)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self._port = self._runner.addresses[0][1]

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @property
    def base_url(self) -> str:
        if self._port is None:
            raise RuntimeError("FakeOpenAI.start() has not been awaited")
        return f"http://127.0.0.1:{self._port}/v1"

    # --- inspection -----------------------------------------------------------------------

    def chat_requests(self) -> list[dict]:
        return [
            r.json for r in self.requests if r.method == "POST" and r.path == "/v1/chat/completions"
        ]

    # --- fault injection ------------------------------------------------------------------

    def fail_next(
        self,
        status: int,
        *,
        times: int = 1,
        retry_after_ms: int | None = None,
        message: str | None = None,
        code: str | None = None,
    ) -> None:
        """Answer the next `times` requests (any endpoint) with an OpenAI-shaped error.

        Without `message`/`code`, the real API's wording for that status is used. Pass
        `retry_after_ms` to keep SDK retries fast: it overrides the SDK's 0.5 s+ backoff.
        """
        self._failures.extend([_InjectedFailure(status, message, code, retry_after_ms)] * times)

    def slow_next(self, seconds: float, *, times: int = 1) -> None:
        """Delay the next `times` requests (any endpoint) before they are answered."""
        self._delays.extend([seconds] * times)

    def cut_stream_next(self, after_chunks: int) -> None:
        """Drop the connection of the next streamed reply after `after_chunks` content chunks."""
        self._stream_cuts.append(after_chunks)

    def malformed_next(self) -> None:
        """Answer the next request with 200 and a JSON body that does not parse (in a stream: one data line)."""
        self._malformed_pending += 1

    # --- middleware -----------------------------------------------------------------------

    @web.middleware
    async def _front_door(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Record every request, then apply injected faults and auth before routing it."""
        body = await read_json(request)
        request[REQUEST_JSON] = body
        headers = {key.lower(): value for key, value in request.headers.items()}
        self.requests.append(RecordedRequest(request.method, request.path, body, headers))

        if self._delays:
            await asyncio.sleep(self._delays.popleft())
        if self._failures:
            return self._failures.popleft().response()
        if self._malformed_pending:
            self._malformed_pending -= 1
            return await self._malformed(request, streaming=isinstance(body, dict) and bool(body.get("stream")))
        if self.api_key is not None and headers.get("authorization") != f"Bearer {self.api_key}":
            return error_response(
                401,
                "Incorrect API key provided. You can find your API key at https://platform.openai.com/account/api-keys.",
                code="invalid_api_key",
            )
        try:
            return await handler(request)
        except (web.HTTPNotFound, web.HTTPMethodNotAllowed):
            # Answer like the real API so a route missing from the fake fails loudly in the SDK.
            return error_response(404, f"Invalid URL ({request.method} {request.path})")

    async def _malformed(self, request: web.Request, *, streaming: bool) -> web.StreamResponse:
        if not streaming:
            return web.Response(status=200, text='{"id": "chatcmpl-trunc', content_type="application/json")
        # A stream is parsed event by event, so the damage has to be inside a data line.
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        await response.write(b'data: {"id": "chatcmpl-trunc\n\n')
        await response.write_eof()
        return response

    # --- endpoints ------------------------------------------------------------------------

    async def _chat_completions(self, request: web.Request) -> web.StreamResponse:
        body = request[REQUEST_JSON] or {}
        model = body.get("model")
        if model not in self.models:
            return model_not_found(model)
        if self.latency:
            await asyncio.sleep(self.latency)

        text = self.reply(body) if callable(self.reply) else self.reply
        usage = count_usage(body.get("messages", []), text)
        completion = {
            "id": f"chatcmpl-{uuid.uuid4().hex}",
            "created": int(time.time()),
            "model": model,
            "service_tier": "default",
            "system_fingerprint": None,
        }
        if body.get("stream"):
            include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
            return await self._stream_chat(request, completion, text, usage if include_usage else None)

        message = {"role": "assistant", "content": text, "refusal": None, "annotations": []}
        return web.json_response(
            {
                **completion,
                "object": "chat.completion",
                "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": "stop"}],
                "usage": usage,
            }
        )

    async def _stream_chat(
        self, request: web.Request, completion: dict, text: str, usage: dict | None
    ) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
        await response.prepare(request)

        async def send(choices: list[dict], **extra: Any) -> None:
            chunk = {**completion, "object": "chat.completion.chunk", "choices": choices, **extra}
            if usage is not None:
                # With include_usage the real API sends "usage": null on every chunk but the last.
                chunk.setdefault("usage", None)
            await response.write(f"data: {json.dumps(chunk)}\n\n".encode())

        def choice(delta: dict, finish_reason: str | None = None) -> dict:
            return {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}

        await send([choice({"role": "assistant", "content": "", "refusal": None})])
        cut_after = self._stream_cuts.popleft() if self._stream_cuts else None
        for sent, piece in enumerate(split_evenly(text, self.stream_chunks)):
            if sent == cut_after:
                return self._drop_connection(request, response)
            if self.chunk_delay:
                await asyncio.sleep(self.chunk_delay)
            await send([choice({"content": piece})])
        if cut_after is not None:
            return self._drop_connection(request, response)

        await send([choice({}, "stop")])
        if usage is not None:
            await send([], usage=usage)
        await response.write(b"data: [DONE]\n\n")
        await response.write_eof()
        return response

    def _drop_connection(self, request: web.Request, response: web.StreamResponse) -> web.StreamResponse:
        # Closing the socket without the final zero-length chunk is what a dropped
        # upstream connection looks like to the client: an incomplete chunked body.
        assert request.transport is not None
        request.transport.close()
        return response

    async def _list_models(self, request: web.Request) -> web.Response:
        return web.json_response({"object": "list", "data": [self._model(m) for m in sorted(self.models)]})

    async def _retrieve_model(self, request: web.Request) -> web.Response:
        model_id = request.match_info["model_id"]
        if model_id not in self.models:
            return model_not_found(model_id)
        return web.json_response(self._model(model_id))

    @staticmethod
    def _model(model_id: str) -> dict:
        return {"id": model_id, "object": "model", "created": 1_700_000_000, "owned_by": "system"}
