"""An OpenAI-compatible HTTP server on localhost for driving the real openai SDK in tests."""

from __future__ import annotations

import asyncio
import base64
import csv
import hashlib
import io
import json
import math
import struct
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, TypeVar

from aiohttp import web

DEFAULT_MODELS = frozenset(
    {"gpt-5-mini", "gpt-4.1-mini-2025-04-14", "gpt-4.1-2025-04-14", "gpt-4o-mini-2024-07-18"}
)
DEFAULT_FINETUNABLE_MODELS = frozenset({"gpt-4.1-mini-2025-04-14", "gpt-4.1-2025-04-14", "gpt-4o-mini-2024-07-18"})
DEFAULT_JOB_SCRIPT = ("validating_files", "queued", "running", "succeeded")
ORGANIZATION = "fake-org"

# A job in one of these states no longer moves along its script and cannot be cancelled.
FINISHED_JOB_STATUSES = frozenset({"succeeded", "failed", "cancelled"})

# The event the real API logs when a job enters each state; other states get a generic line.
_JOB_EVENT_MESSAGES = {
    "validating_files": "Validating training file: {training_file}",
    "queued": "Fine-tuning job queued",
    "running": "Fine-tuning job started",
    "succeeded": "The job has successfully completed",
    "failed": "The job failed: {error}",
    "cancelled": "The job was cancelled",
}

MODERATION_CATEGORIES = (
    "harassment",
    "harassment/threatening",
    "hate",
    "hate/threatening",
    "illicit",
    "illicit/violent",
    "self-harm",
    "self-harm/instructions",
    "self-harm/intent",
    "sexual",
    "sexual/minors",
    "violence",
    "violence/graphic",
)

# The columns of OpenAI's step metrics file (a job's first result file), in its order.
METRICS_COLUMNS = ("step", "train_loss", "train_accuracy", "valid_loss", "valid_mean_token_accuracy")

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
    query: dict[str, str] = field(default_factory=dict)  # decoded, e.g. {"metadata[guild]": "42"}
    received_at: float = field(default_factory=time.monotonic)
    answered_at: float | None = None  # when the handler finished (for a stream: after the last chunk)


@dataclass(frozen=True)
class _Target:
    """Which requests an injected fault applies to: None matches anything."""

    method: str | None = None
    path: str | None = None  # exact, or a prefix followed by "*"

    def __post_init__(self) -> None:
        # A path without the /v1 prefix would silently match nothing, so refuse it.
        if self.path is not None and not self.path.startswith("/v1/"):
            raise ValueError(f"path must be the full request path, e.g. '/v1/fine_tuning/jobs', not {self.path!r}")

    def matches(self, request: web.Request) -> bool:
        if self.method is not None and request.method != self.method.upper():
            return False
        if self.path is None:
            return True
        if self.path.endswith("*"):
            return request.path.startswith(self.path[:-1])
        return request.path == self.path


@dataclass(frozen=True)
class _Delay:
    seconds: float
    target: _Target


@dataclass
class _JobPlan:
    """Where a job is in the statuses it will go through, and how it ends if it is to fail."""

    script: list[str]
    failure: dict | None = None  # the job's `error` once it reaches "succeeded" in its script
    step: int = 0
    model_key: str = field(default_factory=lambda: short_id(8))  # names the fine-tuned model and its checkpoints


@dataclass(frozen=True)
class _InjectedFailure:
    status: int
    message: str | None
    code: str | None
    retry_after_ms: int | None
    target: _Target

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


_Targeted = TypeVar("_Targeted", _Delay, _InjectedFailure)


def take_first_match(queue: deque[_Targeted], request: web.Request) -> _Targeted | None:
    """Remove and return the first queued fault meant for this request, leaving the others in order."""
    for index, item in enumerate(queue):
        if item.target.matches(request):
            del queue[index]
            return item
    return None


def short_id(length: int = 24) -> str:
    return uuid.uuid4().hex[:length]


def embed(text: str, dimensions: int) -> list[float]:
    """A unit vector from hashed character bigrams and trigrams, so texts sharing characters point alike.

    Each n-gram adds +1 or -1 to one dimension (both chosen by a stable hash, unlike hash()),
    which keeps unrelated texts near cosine 0 instead of all sharing a positive bias.
    """
    vector = [0.0] * dimensions
    padded = f" {text.lower().strip()} "
    for size in (2, 3):
        for start in range(len(padded) - size + 1):
            digest = hashlib.blake2b(padded[start : start + size].encode(), digest_size=8).digest()
            vector[int.from_bytes(digest[:4], "little") % dimensions] += 1.0 if digest[4] & 1 else -1.0
    norm = math.sqrt(sum(value * value for value in vector))
    if norm == 0:
        return [1.0] + [0.0] * (dimensions - 1)
    return [value / norm for value in vector]


def as_base64_floats(vector: list[float]) -> str:
    # The SDK decodes base64 embeddings as little-endian float32.
    return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()


def moderation_texts(value: Any) -> list[str]:
    """One text per moderation result: a string, each string of a list, or all text parts of a multimodal list."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return list(value)
    if isinstance(value, list):
        return [message_text(value)]
    return [""]


async def read_json(request: web.Request) -> Any:
    # Only JSON is read here: reading a multipart body would leave nothing for request.post().
    if not request.content_type.endswith("json"):
        return None
    raw = await request.read()
    if not raw:
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
        self.model_extras: dict[str, dict] = {}  # merged into that model's object, e.g. {"shutdown_date": ...}
        self.api_key: str | None = "sk-test"

        # Files: id -> {"bytes": raw content, "filename", "purpose", "status", "status_details", ...}.
        self.files: dict[str, dict] = {}
        # Retrieves (or job creations naming it) until an uploaded file is "processed" (0: at upload);
        # until then creating a job on it answers 400 file_not_ready, as the real API does.
        self.file_processing_polls = 1

        # Fine-tuning: id -> the job object as the API returns it; events oldest first.
        self.jobs: dict[str, dict] = {}
        self.job_events: dict[str, list[dict]] = {}
        self.job_checkpoints: dict[str, list[dict]] = {}  # job id -> checkpoints, oldest first (see add_checkpoint)
        self.finetunable_models: set[str] = set(DEFAULT_FINETUNABLE_MODELS)
        self.job_script: list[str] = list(DEFAULT_JOB_SCRIPT)  # copied into each job when it is created

        self.embedding_models: set[str] = {"text-embedding-3-small"}
        self.embedding_dimensions = 64
        self.flagged_words: set[str] = {"kill", "bomb"}

        self._failures: deque[_InjectedFailure] = deque()
        self._delays: deque[_Delay] = deque()
        self._stalls: deque[_Delay] = deque()
        self._file_errors: deque[str] = deque()
        self._job_failures: deque[dict] = deque()
        self._job_plans: dict[str, _JobPlan] = {}
        self._stream_cuts: deque[int] = deque()
        self._stream_errors: deque[tuple[int, str]] = deque()
        self._short_embeddings: deque[int] = deque()
        self._malformed_pending = 0
        self._runner: web.AppRunner | None = None
        self._port: int | None = None

    # --- routes: add new endpoints here ---------------------------------------------------

    def _routes(self) -> list[tuple[str, str, Handler]]:
        return [
            ("POST", "/v1/chat/completions", self._chat_completions),
            ("GET", "/v1/models", self._list_models),
            ("GET", "/v1/models/{model_id}", self._retrieve_model),
            ("POST", "/v1/files", self._upload_file),
            ("GET", "/v1/files/{file_id}", self._retrieve_file),
            ("GET", "/v1/files/{file_id}/content", self._file_content),
            ("POST", "/v1/fine_tuning/jobs", self._create_job),
            ("GET", "/v1/fine_tuning/jobs", self._list_jobs),
            ("GET", "/v1/fine_tuning/jobs/{job_id}", self._retrieve_job),
            ("GET", "/v1/fine_tuning/jobs/{job_id}/events", self._list_job_events),
            ("GET", "/v1/fine_tuning/jobs/{job_id}/checkpoints", self._list_checkpoints),
            ("POST", "/v1/fine_tuning/jobs/{job_id}/cancel", self._cancel_job),
            ("POST", "/v1/embeddings", self._embeddings),
            ("POST", "/v1/moderations", self._moderations),
        ]

    # --- lifecycle ------------------------------------------------------------------------

    async def start(self) -> None:
        # Training files can be larger than aiohttp's 1 MiB default body limit.
        app = web.Application(middlewares=[self._front_door], client_max_size=64 * 1024 * 1024)
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
        path: str | None = None,
        method: str | None = None,
    ) -> None:
        """Answer the next `times` matching requests with an OpenAI-shaped error; the request is not handled.

        Without `path`/`method` any request matches; `path` is the full path ("/v1/fine_tuning/jobs")
        or a prefix ending in "*" ("/v1/fine_tuning/jobs/*"). Without `message`/`code`, the real
        API's wording for that status is used. Pass `retry_after_ms` to keep SDK retries fast:
        it overrides the SDK's 0.5 s+ backoff.
        """
        failure = _InjectedFailure(status, message, code, retry_after_ms, _Target(method, path))
        self._failures.extend([failure] * times)

    def slow_next(
        self, seconds: float, *, times: int = 1, path: str | None = None, method: str | None = None
    ) -> None:
        """Delay the next `times` matching requests before they are handled (`path`/`method` as in fail_next)."""
        self._delays.extend([_Delay(seconds, _Target(method, path))] * times)

    def stall_after_handling_next(
        self, seconds: float, *, times: int = 1, path: str | None = None, method: str | None = None
    ) -> None:
        """Handle the next `times` matching requests at once but hold their responses back for `seconds`.

        The side effects happen (a job is created) even if the client times out meanwhile, which
        is how a real request that timed out on the client can still have succeeded on the server.
        """
        self._stalls.extend([_Delay(seconds, _Target(method, path))] * times)

    def file_error_next(self, message: str) -> None:
        """Make the next uploaded file end in status "error" with `message` as its status_details."""
        self._file_errors.append(message)

    def fail_job_next(self, message: str, code: str = "invalid_training_file") -> None:
        """Make the next created job end "failed" with this error where its script says "succeeded"."""
        self._job_failures.append({"code": code, "message": message, "param": None})

    def cut_stream_next(self, after_chunks: int) -> None:
        """Drop the connection of the next streamed reply after `after_chunks` content chunks."""
        self._stream_cuts.append(after_chunks)

    def error_in_stream_next(self, after_chunks: int, message: str = "The server had an error while processing your request.") -> None:
        """After `after_chunks` content chunks, the next streamed reply sends an error event (as the API does mid-stream)."""
        self._stream_errors.append((after_chunks, message))

    def short_embeddings_next(self, missing: int = 1) -> None:
        """Answer the next embeddings request with `missing` fewer vectors than inputs (the last ones left out)."""
        self._short_embeddings.append(missing)

    def malformed_next(self) -> None:
        """Answer the next request with 200 and a JSON body that does not parse (in a stream: one data line)."""
        self._malformed_pending += 1

    # --- scripted training metrics and checkpoints -----------------------------------------

    def set_job_metrics(
        self,
        job_id: str,
        rows: list[dict],
        *,
        total_steps: int | None = None,
        seconds_per_step: float = 1.0,
        result_file: bool = True,
        events: bool = True,
    ) -> None:
        """Give a job the metrics the real API reports while and after it trains.

        `rows` are {"step": 3, "train_loss": 1.2, "valid_loss": 1.4, ...} (any of METRICS_COLUMNS; a missing or None
        value is an empty cell). With `result_file` they become the job's result file, a CSV served at
        /v1/files/{id}/content; with `events`, one "metrics" event per row, `seconds_per_step` apart, the last now.
        """
        if result_file:
            out = io.StringIO()
            writer = csv.writer(out, lineterminator="\n")
            writer.writerow(METRICS_COLUMNS)
            for row in rows:
                writer.writerow(["" if row.get(name) is None else row[name] for name in METRICS_COLUMNS])
            self.set_job_result_file(job_id, out.getvalue().encode())
        if events:
            total = total_steps or max((row["step"] for row in rows), default=0)
            now = int(time.time())
            for index, row in enumerate(rows):
                data = {key: value for key, value in row.items() if value is not None}
                data["total_steps"] = total
                losses = [f"{label} loss={row[key]:.4f}" for key, label in (("train_loss", "training"), ("valid_loss", "validation")) if row.get(key) is not None]
                message = f"Step {row['step']}/{total}: " + ", ".join(losses)
                self.job_events[job_id].append(
                    {
                        "id": f"ftevent-{short_id()}",
                        "object": "fine_tuning.job.event",
                        "created_at": now - round((len(rows) - 1 - index) * seconds_per_step),
                        "level": "info",
                        "message": message,
                        "data": data,
                        "type": "metrics",
                    }
                )

    def set_job_result_file(self, job_id: str, content: bytes) -> str:
        """Make `content` the job's (only) result file, whatever it holds; returns the file's ID."""
        file_id = f"file-{short_id()}"
        self.files[file_id] = {
            "id": file_id,
            "bytes": content,
            "filename": "step_metrics.csv",
            "purpose": "fine-tune-results",
            "status": "processed",
            "status_details": None,
            "created_at": int(time.time()),
            "retrieves": 0,
            "outcome": ("processed", None),
        }
        self.jobs[job_id]["result_files"] = [file_id]
        return file_id

    def add_checkpoint(self, job_id: str, step: int, *, train_loss: float | None = None, valid_loss: float | None = None) -> str:
        """A checkpoint of the job at `step`, served as a model like the real API's; returns its model ID."""
        job = self.jobs[job_id]
        model = f"{self._fine_tuned_model(job_id)}:ckpt-step-{step}"
        metrics = {"step": float(step), "train_loss": train_loss, "valid_loss": valid_loss}
        self.job_checkpoints.setdefault(job_id, []).append(
            {
                "id": f"ftckpt-{short_id()}",
                "object": "fine_tuning.job.checkpoint",
                "created_at": int(time.time()),
                "fine_tuned_model_checkpoint": model,
                "fine_tuning_job_id": job["id"],
                "metrics": {key: value for key, value in metrics.items() if value is not None},
                "step_number": step,
            }
        )
        self.models.add(model)
        return model

    def _fine_tuned_model(self, job_id: str) -> str:
        job = self.jobs[job_id]
        return f"ft:{job['model']}:{ORGANIZATION}:{job['user_provided_suffix'] or ''}:{self._job_plans[job_id].model_key}"

    # --- middleware -----------------------------------------------------------------------

    @web.middleware
    async def _front_door(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Record every request, then apply injected faults and auth before routing it."""
        body = await read_json(request)
        request[REQUEST_JSON] = body
        headers = {key.lower(): value for key, value in request.headers.items()}
        query = dict(request.query)
        recorded = RecordedRequest(request.method, request.path, body, headers, query)
        self.requests.append(recorded)

        delay = take_first_match(self._delays, request)
        if delay is not None:
            await asyncio.sleep(delay.seconds)
        failure = take_first_match(self._failures, request)
        if failure is not None:
            return failure.response()
        if self._malformed_pending:
            self._malformed_pending -= 1
            return await self._malformed(request, streaming=isinstance(body, dict) and bool(body.get("stream")))
        if self.api_key is not None and headers.get("authorization") != f"Bearer {self.api_key}":
            return error_response(
                401,
                "Incorrect API key provided. You can find your API key at https://platform.openai.com/account/api-keys.",
                code="invalid_api_key",
            )
        stall = take_first_match(self._stalls, request)
        try:
            response = await handler(request)
            recorded.answered_at = time.monotonic()
        except (web.HTTPNotFound, web.HTTPMethodNotAllowed):
            # Answer like the real API so a route missing from the fake fails loudly in the SDK.
            return error_response(404, f"Invalid URL ({request.method} {request.path})")
        if stall is not None:
            await asyncio.sleep(stall.seconds)
        return response

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
        error_after, error = self._stream_errors.popleft() if self._stream_errors else (None, "")
        for sent, piece in enumerate(split_evenly(text, self.stream_chunks)):
            if sent == cut_after:
                return self._drop_connection(request, response)
            if sent == error_after:
                await response.write(f"data: {json.dumps({'error': {'message': error, 'type': 'server_error'}})}\n\n".encode())
                await response.write_eof()
                return response
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

    def _model(self, model_id: str) -> dict:
        # Fine-tuned models belong to the organization that trained them, as on the real API.
        owner = ORGANIZATION if model_id.startswith("ft:") else "system"
        model = {"id": model_id, "object": "model", "created": 1_700_000_000, "owned_by": owner}
        return {**model, **self.model_extras.get(model_id, {})}

    # --- files ----------------------------------------------------------------------------

    async def _upload_file(self, request: web.Request) -> web.Response:
        form = await request.post()
        upload, purpose = form.get("file"), form.get("purpose")
        if not isinstance(upload, web.FileField):
            return error_response(400, "Missing required parameter: 'file'.", param="file")
        if not isinstance(purpose, str) or not purpose:
            return error_response(400, "Missing required parameter: 'purpose'.", param="purpose")
        error = self._file_errors.popleft() if self._file_errors else None
        file_id = f"file-{short_id()}"
        self.files[file_id] = {
            "id": file_id,
            "bytes": upload.file.read(),
            "filename": upload.filename,
            "purpose": purpose,
            "status": "uploaded",
            "status_details": None,
            "created_at": int(time.time()),
            "retrieves": 0,
            "outcome": ("error", error) if error is not None else ("processed", None),
        }
        self._maybe_finish_processing(self.files[file_id])
        return web.json_response(self._file_object(self.files[file_id]))

    async def _retrieve_file(self, request: web.Request) -> web.Response:
        file_id = request.match_info["file_id"]
        record = self.files.get(file_id)
        if record is None:
            return error_response(404, f"No such File object: {file_id}", param="id")
        record["retrieves"] += 1
        self._maybe_finish_processing(record)
        return web.json_response(self._file_object(record))

    def _maybe_finish_processing(self, record: dict) -> None:
        # Only a file still "uploaded" moves on, so a test may also set the status by hand.
        if record["status"] == "uploaded" and record["retrieves"] >= self.file_processing_polls:
            record["status"], record["status_details"] = record["outcome"]

    async def _file_content(self, request: web.Request) -> web.Response:
        file_id = request.match_info["file_id"]
        record = self.files.get(file_id)
        if record is None:
            return error_response(404, f"No such File object: {file_id}", param="id")
        return web.Response(body=record["bytes"], content_type="application/octet-stream")

    @staticmethod
    def _file_object(record: dict) -> dict:
        return {
            "id": record["id"],
            "object": "file",
            "bytes": len(record["bytes"]),
            "created_at": record["created_at"],
            "filename": record["filename"],
            "purpose": record["purpose"],
            "status": record["status"],
            "status_details": record["status_details"],
        }

    # --- fine-tuning ----------------------------------------------------------------------

    async def _create_job(self, request: web.Request) -> web.Response:
        body = request[REQUEST_JSON] or {}
        if body.get("training_file") not in self.files:
            return error_response(400, f"invalid training_file: {body.get('training_file')}", param="training_file")
        training_file = self.files[body["training_file"]]
        # Creating a job is how a client learns whether its file is ready: it counts as a check.
        training_file["retrieves"] += 1
        self._maybe_finish_processing(training_file)
        if training_file["status"] == "uploaded":
            return error_response(
                400,
                f"File {training_file['id']} is still being processed and is not ready to be used for fine-tuning. "
                "Please try again later.",
                param="training_file",
                code="file_not_ready",
            )
        if training_file["status"] == "error":
            return error_response(
                400,
                f"Invalid training file {training_file['id']}: {training_file['status_details']}",
                param="training_file",
                code="invalid_training_file",
            )
        if body.get("validation_file") is not None and body["validation_file"] not in self.files:
            return error_response(400, f"invalid validation_file: {body['validation_file']}", param="validation_file")
        model = body.get("model")
        if model not in self.finetunable_models:
            return error_response(
                400,
                f"Model {model} is not available for fine-tuning or does not exist.",
                param="model",
                code="model_not_available",
            )

        job_id = f"ftjob-{short_id()}"
        method = body.get("method")
        # The job reports hyperparameters whether they came at the top level or inside `method`.
        hyperparameters = {"batch_size": "auto", "learning_rate_multiplier": "auto", "n_epochs": "auto"}
        if body.get("hyperparameters"):
            hyperparameters |= body["hyperparameters"]
        elif isinstance(method, dict):
            hyperparameters |= (method.get(method.get("type")) or {}).get("hyperparameters") or {}
        self.jobs[job_id] = {
            "id": job_id,
            "object": "fine_tuning.job",
            "created_at": int(time.time()),
            "model": model,
            "organization_id": f"org-{ORGANIZATION}",
            "status": None,  # set below, which also logs the first event
            "training_file": body["training_file"],
            "validation_file": body.get("validation_file"),
            "hyperparameters": hyperparameters,
            "method": method or {"type": "supervised", "supervised": {"hyperparameters": hyperparameters}},
            "seed": body.get("seed", int(job_id[-6:], 16)),  # the API picks one when none is sent
            "user_provided_suffix": body.get("suffix"),
            "metadata": body.get("metadata"),
            "integrations": body.get("integrations") or [],
            "fine_tuned_model": None,
            "finished_at": None,
            "trained_tokens": None,
            "estimated_finish": None,
            "result_files": [],
            "error": None,
        }
        self.job_events[job_id] = []
        failure = self._job_failures.popleft() if self._job_failures else None
        self._job_plans[job_id] = _JobPlan(script=list(self.job_script) or ["succeeded"], failure=failure)
        self._set_job_status(job_id, self._job_plans[job_id].script[0])
        return web.json_response(self.jobs[job_id])

    async def _retrieve_job(self, request: web.Request) -> web.Response:
        job_id = request.match_info["job_id"]
        if job_id not in self.jobs:
            return self._job_not_found(job_id)
        plan = self._job_plans[job_id]
        # Each retrieve is one step of progress, so a test controls exactly what the bot sees.
        if self.jobs[job_id]["status"] not in FINISHED_JOB_STATUSES and plan.step + 1 < len(plan.script):
            plan.step += 1
            self._set_job_status(job_id, plan.script[plan.step])
        return web.json_response(self.jobs[job_id])

    async def _list_jobs(self, request: web.Request) -> web.Response:
        wanted = {
            key[len("metadata[") : -1]: value
            for key, value in request.query.items()
            if key.startswith("metadata[") and key.endswith("]")
        }
        jobs = list(reversed(self.jobs.values()))
        if request.query.get("metadata") == "null":
            # The documented way to ask for jobs without metadata (the SDK drops metadata=None).
            jobs = [job for job in jobs if job["metadata"] is None]
        elif wanted:
            jobs = [job for job in jobs if all((job["metadata"] or {}).get(k) == v for k, v in wanted.items())]
        return self._cursor_page(request, jobs)

    async def _list_job_events(self, request: web.Request) -> web.Response:
        job_id = request.match_info["job_id"]
        if job_id not in self.jobs:
            return self._job_not_found(job_id)
        return self._cursor_page(request, list(reversed(self.job_events[job_id])))

    async def _list_checkpoints(self, request: web.Request) -> web.Response:
        job_id = request.match_info["job_id"]
        if job_id not in self.jobs:
            return self._job_not_found(job_id)
        return self._cursor_page(request, list(reversed(self.job_checkpoints.get(job_id, []))))

    async def _cancel_job(self, request: web.Request) -> web.Response:
        job_id = request.match_info["job_id"]
        if job_id not in self.jobs:
            return self._job_not_found(job_id)
        status = self.jobs[job_id]["status"]
        if status in FINISHED_JOB_STATUSES:
            return error_response(400, f"Job {job_id} has already {status} and cannot be cancelled.")
        self._set_job_status(job_id, "cancelled")
        return web.json_response(self.jobs[job_id])

    def _set_job_status(self, job_id: str, status: str) -> None:
        job, plan = self.jobs[job_id], self._job_plans[job_id]
        if status == "succeeded" and plan.failure is not None:
            status = "failed"
            job["error"] = plan.failure
        if status in ("succeeded", "failed"):
            job["finished_at"] = int(time.time())
        if status == "succeeded":
            job["fine_tuned_model"] = self._fine_tuned_model(job_id)
            epochs = job["hyperparameters"]["n_epochs"]
            words = len(self.files[job["training_file"]]["bytes"].split())
            job["trained_tokens"] = words * (epochs if isinstance(epochs, int) else 3)
            self.models.add(job["fine_tuned_model"])
        job["status"] = status
        message = _JOB_EVENT_MESSAGES.get(status, "Fine-tuning job status changed to {status}")
        self.job_events[job_id].append(
            {
                "id": f"ftevent-{short_id()}",
                "object": "fine_tuning.job.event",
                "created_at": int(time.time()),
                "level": "error" if status == "failed" else "info",
                "message": message.format(
                    status=status, training_file=job["training_file"], error=(job["error"] or {}).get("message")
                ),
                "data": {},
                "type": "message",
            }
        )

    @staticmethod
    def _cursor_page(request: web.Request, items: list[dict]) -> web.Response:
        """One page of a newest-first list, as the SDK's CursorPage reads it (`after` is the last id seen)."""
        after = request.query.get("after")
        if after is not None:
            ids = [item["id"] for item in items]
            items = items[ids.index(after) + 1 :] if after in ids else []
        limit = int(request.query.get("limit", 20))
        return web.json_response({"object": "list", "data": items[:limit], "has_more": len(items) > limit})

    @staticmethod
    def _job_not_found(job_id: str) -> web.Response:
        return error_response(404, f"No such fine-tuning job: {job_id}", param="fine_tuning_job_id")

    # --- embeddings and moderations -------------------------------------------------------

    async def _embeddings(self, request: web.Request) -> web.Response:
        body = request[REQUEST_JSON] or {}
        model = body.get("model")
        if model not in self.embedding_models:
            return model_not_found(model)
        texts = body.get("input")
        texts = [texts] if isinstance(texts, str) else list(texts or [])
        dimensions = body.get("dimensions") or self.embedding_dimensions
        base64_wanted = body.get("encoding_format") == "base64"
        data = []
        for index, text in enumerate(texts):
            vector = embed(str(text), dimensions)
            encoded = as_base64_floats(vector) if base64_wanted else vector
            data.append({"object": "embedding", "index": index, "embedding": encoded})
        if self._short_embeddings:
            data = data[: max(len(data) - self._short_embeddings.popleft(), 0)]
        tokens = sum(len(str(text).split()) for text in texts)
        return web.json_response(
            {
                "object": "list",
                "data": data,
                "model": model,
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
            }
        )

    async def _moderations(self, request: web.Request) -> web.Response:
        body = request[REQUEST_JSON] or {}
        results = []
        for text in moderation_texts(body.get("input")):
            flagged = any(word.lower() in text.lower() for word in self.flagged_words)
            # A flagged word counts as violence: one category is enough to drive "flagged".
            categories = {name: flagged and name == "violence" for name in MODERATION_CATEGORIES}
            results.append(
                {
                    "flagged": flagged,
                    "categories": categories,
                    "category_scores": {name: 0.97 if hit else 0.0001 for name, hit in categories.items()},
                    "category_applied_input_types": {name: ["text"] for name in MODERATION_CATEGORIES},
                }
            )
        return web.json_response(
            {
                "id": f"modr-{short_id()}",
                "model": body.get("model") or "omni-moderation-latest",
                "results": results,
            }
        )
