"""The model API: one AsyncOpenAI client, error mapping to friendly lines, usage accounting."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import Any

import aiohttp
import openai
from openai.types.chat import ChatCompletion

from bot.config import Settings
from bot.errors import ModelError, TrainingError, UserError
from bot.i18n import N_, Line, _
from bot.logs import redact
from bot.records import Usage
from bot.tokens import estimate_tokens

log = logging.getLogger(__name__)

Message = dict[str, Any]
UsageSink = Callable[[Usage], Awaitable[None]]

BUSY = N_("I'm getting a lot of questions right now. Please try again in a minute.")
UNAVAILABLE = N_("I couldn't come up with an answer just now. Please try again in a moment.")
MISCONFIGURED = N_("I can't answer right now, sorry. The team has been told and will look into it.")
NOT_CONFIGURED = N_("Answers aren't switched on yet here. A staff member will follow up with you.")


@dataclass(frozen=True)
class Reply:
    text: str
    model: str
    prompt_tokens: int
    completion_tokens: int


@dataclass(frozen=True)
class ModelInfo:
    id: str
    shutdown_date: str | None = None  # as the provider reports it, e.g. "2027-01-14"


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
        return cls.at(settings.openai_base_url, settings.openai_api_key, settings, record_usage=record_usage)

    @classmethod
    def at(cls, base_url: str | None, api_key: str, settings: Settings, *, record_usage: UsageSink) -> LLM:
        """A client of one OpenAI-compatible endpoint, with the configured timeout and retries, on aiohttp."""
        client = openai.AsyncOpenAI(
            api_key=api_key,
            base_url=base_url,
            timeout=settings.model_timeout,
            max_retries=settings.model_max_retries,
            http_client=openai.DefaultAioHttpClient(),
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
        streamed: list[str] = []
        opened = False
        try:
            # The chunks are read as the JSON they are: building the SDK's typed chunk from each one cost about 0.25 ms
            # of CPU (a reply is a chunk per token or so), several times all the rest of a streamed call. The request,
            # retries, errors (in-stream ones too) and the SSE decoding are still the SDK's, as `create` does them.
            stream = await client.post(
                "/chat/completions",
                body={"model": model, "messages": list(messages), "stream": True, "stream_options": {"include_usage": True}},
                options={"security": {"bearer_auth": True}},
                cast_to=object,
                stream=True,
                stream_cls=openai.AsyncStream[object],
            )
            opened = True
            async with stream:
                async for chunk in stream:
                    if not isinstance(chunk, dict):
                        raise ValueError(f"expected a chat completion chunk, got {type(chunk).__name__}")
                    if usage := chunk.get("usage"):
                        prompt_tokens = usage.get("prompt_tokens") or 0
                        completion_tokens = usage.get("completion_tokens") or 0
                    for choice in chunk.get("choices") or ():
                        if content := (choice.get("delta") or {}).get("content"):
                            streamed.append(content)
                            yield content
        except (openai.OpenAIError, ValueError) as exc:
            raise _friendly(exc, model) from exc
        finally:
            if opened and not (prompt_tokens or completion_tokens):
                # Cut short (a deadline, a reader gone) before the usage chunk: the provider still bills what it
                # generated, so an estimate is counted rather than nothing.
                prompt_tokens = sum(estimate_tokens(str(m.get("content") or "")) for m in messages)
                completion_tokens = estimate_tokens("".join(streamed))
            if prompt_tokens or completion_tokens:
                await self._account(model, prompt_tokens, completion_tokens, caller)

    async def embed(self, texts: list[str], *, model: str, caller: Caller) -> list[list[float]]:
        """One vector per text, in order."""
        client = self._require_client()
        try:
            response = await client.embeddings.create(model=model, input=texts, encoding_format="float")
        except (openai.OpenAIError, ValueError) as exc:
            raise _friendly(exc, model) from exc
        tokens = response.usage.prompt_tokens if response.usage else 0
        await self._account(model, tokens, 0, caller)
        vectors = sorted(response.data, key=lambda item: item.index)
        if [item.index for item in vectors] != list(range(len(texts))):
            # Vectors can't be paired with their texts: as unusable as a body that does not parse.
            log.warning("model call to %s failed (bad_response): %s vectors for %s texts", model, len(vectors), len(texts))
            raise ModelError(UNAVAILABLE, kind="bad_response")
        return [item.embedding for item in vectors]

    async def moderate(self, texts: list[str]) -> list[list[str]]:
        """For each text, the moderation categories it was flagged for (empty when not flagged)."""
        client = self._require_client()
        try:
            response = await client.moderations.create(input=texts)
        except (openai.OpenAIError, ValueError) as exc:
            raise _friendly(exc, "moderation") from exc
        flagged = []
        for result in response.results:
            categories = result.categories.model_dump(by_alias=True) if result.flagged else {}
            flagged.append(sorted(name for name, hit in categories.items() if hit) or (["flagged"] if result.flagged else []))
        return flagged

    async def model_info(self, model: str) -> ModelInfo | None:
        """What the chat endpoint says of a model, or None when it does not serve it."""
        client = self._require_client()
        try:
            found = await client.models.retrieve(model)
        except openai.NotFoundError:
            return None
        except (openai.OpenAIError, ValueError) as exc:
            raise _friendly(exc, model) from exc
        return ModelInfo(found.id, _date(found.shutdown_date))

    def _require_client(self) -> openai.AsyncOpenAI:
        if self._client is None:
            raise ModelError(NOT_CONFIGURED, kind="not_configured")
        return self._client

    async def _account(self, model: str, prompt: int, completion: int, caller: Caller) -> None:
        usage = Usage(model, caller.purpose, prompt, completion, caller.user_id, caller.guild_id)
        try:
            await self._record_usage(usage)
        except UserError:
            pass  # storage is unavailable: the database already logged it, once per failed write
        except Exception:
            # Losing one usage row must not cost the customer their answer.
            log.exception("could not record usage for %s", model)


def _refused(exc: BaseException) -> bool:
    """The endpoint could not be connected to at all. The SDK's aiohttp transport reports that as a
    connect timeout; the aiohttp error it started from says what happened."""
    cause = exc.__cause__ or exc.__context__
    while cause is not None:
        if isinstance(cause, aiohttp.ClientConnectorError):
            return True
        cause = cause.__cause__ or cause.__context__
    return False


def _friendly(exc: Exception, model: str) -> ModelError:
    """Map an SDK error (or an unreadable response body) to the line a customer sees; the cause goes to the log."""
    if isinstance(exc, openai.RateLimitError):
        kind, message = "rate_limited", BUSY
    elif isinstance(exc, openai.APITimeoutError) and not _refused(exc):
        kind, message = "timeout", UNAVAILABLE
    elif isinstance(exc, openai.APIConnectionError):  # APITimeoutError included: see _refused
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
    log.log(level, "model call to %s failed (%s): %s", model, kind, redact(str(exc)))
    return ModelError(message, kind=kind)


# -- fine-tuning ----------------------------------------------------------------------


@dataclass(frozen=True)
class RemoteJob:
    """A fine-tuning job as the provider reports it."""

    id: str
    status: str
    base_model: str
    fine_tuned_model: str | None = None
    trained_tokens: int | None = None
    error: str | None = None
    finished_at: datetime | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    result_files: tuple[str, ...] = ()  # file IDs; OpenAI's first is a CSV of step metrics
    estimated_finish: datetime | None = None  # the provider's own estimate, while the job runs


@dataclass(frozen=True)
class JobEvent:
    created_at: datetime
    message: str
    type: str = "message"  # "metrics" events carry a step's numbers in `data`
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Checkpoint:
    """A model saved during a job (OpenAI keeps the last epochs'), usable like the final one."""

    model: str
    step: int
    created_at: datetime
    train_loss: float | None = None
    valid_loss: float | None = None


class JobMayExist(TrainingError):
    """Creating a job failed in a way that leaves open whether the provider started it."""


CREATE_ATTEMPTS = 3
LOOKUP_ATTEMPTS = 3
FILE_READY_TIMEOUT = 120.0  # seconds /train waits for the provider to finish processing the training file


class FineTuningAPI:
    """Files and fine-tuning jobs, on their own endpoint (FINETUNE_BASE_URL) when one is configured."""

    def __init__(
        self, connect: Callable[[], openai.AsyncOpenAI] | None, *, poll_interval: float, secrets: Sequence[str] = ()
    ) -> None:
        # The client (its HTTP pool and TLS context, a few MB) is built on the first call: most starts never train.
        self._connect = connect
        self._client: openai.AsyncOpenAI | None = None
        self._poll_interval = poll_interval
        self._secrets = tuple(secrets)  # kept out of every provider message shown to a user

    @classmethod
    def from_settings(cls, settings: Settings) -> FineTuningAPI:
        api_key = settings.finetune_api_key or settings.openai_api_key
        if not api_key:
            return cls(None, poll_interval=settings.job_poll_seconds, secrets=settings.secrets)

        def connect() -> openai.AsyncOpenAI:
            return openai.AsyncOpenAI(
                api_key=api_key,
                base_url=settings.finetune_base_url or settings.openai_base_url,
                timeout=settings.model_timeout,
                max_retries=settings.model_max_retries,
            )

        return cls(connect, poll_interval=settings.job_poll_seconds, secrets=settings.secrets)

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()

    async def upload(self, data: bytes, filename: str) -> str:
        """Upload a training file; returns its ID.

        The file object's status fields are deprecated: an uploaded file is used as it is, and
        creating the job says whether the provider is ready with it (`create_job` waits for that).
        """
        client = self._require_client()
        try:
            uploaded = await client.files.create(file=(filename, data, "application/jsonl"), purpose="fine-tune")
        except (openai.OpenAIError, ValueError) as exc:
            raise self._training_error(exc, _("upload the training file")) from exc
        return uploaded.id

    async def create_job(
        self, *, base_model: str, training_file: str, run_id: str, epochs: int | None, suffix: str | None,
        validation_file: str | None = None,
    ) -> RemoteJob:
        """Create the job exactly once: after a failed call, look for it by run ID before trying again.

        A training file the provider is still processing is waited for, up to FILE_READY_TIMEOUT.
        """
        client = self._require_client().with_options(max_retries=0)
        options: dict[str, Any] = {"metadata": {"run_id": run_id}}
        if epochs:
            options["method"] = {"type": "supervised", "supervised": {"hyperparameters": {"n_epochs": epochs}}}
        if suffix:
            options["suffix"] = suffix
        if validation_file:
            options["validation_file"] = validation_file
        loop = asyncio.get_running_loop()
        ready_by = loop.time() + FILE_READY_TIMEOUT
        attempt = 0
        while True:
            try:
                job = await client.fine_tuning.jobs.create(model=base_model, training_file=training_file, **options)
                return self._remote_job(job)
            except (openai.APITimeoutError, openai.APIConnectionError, openai.InternalServerError) as exc:
                attempt += 1
                log.warning("creating fine-tuning job %s failed (%s); checking whether it exists", run_id, self._redact(str(exc)))
                existing = await self._find_by_run_id(client, run_id)
                if existing is not None:
                    return existing
                if attempt == CREATE_ATTEMPTS:
                    raise self._training_error(exc, _("start the fine-tuning job")) from exc
                await asyncio.sleep(attempt)
            except openai.BadRequestError as exc:
                if not _file_not_ready(exc):
                    raise self._training_error(exc, _("start the fine-tuning job")) from exc
                if loop.time() >= ready_by:
                    log.warning("training file %s still not ready after %ss: %s", training_file, FILE_READY_TIMEOUT, self._redact(str(exc)))
                    raise TrainingError(
                        _(
                            "The provider had not finished processing the training file after {waited}, "
                            "so no job was started. Try /train again in a few minutes.",
                            waited=_duration(FILE_READY_TIMEOUT),
                        )
                    ) from exc
                # An admin is waiting on this one: processing takes seconds, so ask again soon.
                await asyncio.sleep(min(self._poll_interval, 2.0, max(ready_by - loop.time(), 0.0)))
            except (openai.OpenAIError, ValueError) as exc:
                raise self._training_error(exc, _("start the fine-tuning job")) from exc

    async def find_by_run_id(self, run_id: str) -> RemoteJob | None:
        """The provider's job carrying this run ID in its metadata, or None; JobMayExist when it can't be asked."""
        return await self._find_by_run_id(self._require_client(), run_id)

    async def _find_by_run_id(self, client: openai.AsyncOpenAI, run_id: str) -> RemoteJob | None:
        """The job with this run ID, or None when the provider says there is none.

        When the provider can't be asked, it is not safe to create the job again (it may exist):
        that is an error, not None.
        """
        for attempt in range(1, LOOKUP_ATTEMPTS + 1):
            try:
                page = await client.fine_tuning.jobs.list(metadata={"run_id": run_id}, limit=10)
                break
            except (openai.OpenAIError, ValueError) as exc:
                log.warning("could not look up fine-tuning job %s (attempt %s): %s", run_id, attempt, self._redact(str(exc)))
                if attempt == LOOKUP_ATTEMPTS:
                    raise JobMayExist(
                        _(
                            "The provider stopped answering while the job was being started, so I can't tell whether it "
                            "started. If it did, I'll find it and post here; check /status before running /train again."
                        )
                    ) from exc
                await asyncio.sleep(attempt)
        for job in page.data:
            if (job.metadata or {}).get("run_id") == run_id:
                return self._remote_job(job)
        return None

    async def retrieve(self, job_id: str) -> RemoteJob:
        client = self._require_client()
        try:
            return self._remote_job(await client.fine_tuning.jobs.retrieve(job_id))
        except (openai.OpenAIError, ValueError) as exc:
            raise self._training_error(exc, _("look up job {job}", job=job_id)) from exc

    async def events(self, job_id: str, limit: int = 5) -> list[JobEvent]:
        """The latest events, oldest first."""
        client = self._require_client()
        try:
            page = await client.fine_tuning.jobs.list_events(job_id, limit=limit)
        except (openai.OpenAIError, ValueError) as exc:
            raise self._training_error(exc, _("read the events of job {job}", job=job_id)) from exc
        events = [
            JobEvent(
                datetime.fromtimestamp(e.created_at, timezone.utc),
                self._redact(e.message),
                e.type or "message",
                e.data if isinstance(e.data, dict) else {},
            )
            for e in page.data
        ]
        # The page is newest first; reversed before the (stable) sort, events of the same second keep their order.
        return sorted(reversed(events), key=lambda e: e.created_at)

    async def result_file(self, file_id: str) -> bytes:
        """A job's result file as the provider serves it (for OpenAI, a CSV of step metrics)."""
        client = self._require_client()
        try:
            response = await client.files.content(file_id)
            return await response.aread()
        except (openai.OpenAIError, ValueError) as exc:
            raise self._training_error(exc, _("read the result file {file}", file=file_id)) from exc

    async def checkpoints(self, job_id: str) -> list[Checkpoint]:
        """The job's checkpoints, oldest first; none where the provider has no such endpoint."""
        client = self._require_client()
        try:
            page = await client.fine_tuning.jobs.checkpoints.list(job_id, limit=20)
        except openai.NotFoundError:
            return []
        except (openai.OpenAIError, ValueError) as exc:
            raise self._training_error(exc, _("list the checkpoints of job {job}", job=job_id)) from exc
        found = [
            Checkpoint(
                c.fine_tuned_model_checkpoint,
                c.step_number,
                datetime.fromtimestamp(c.created_at, timezone.utc),
                c.metrics.train_loss if c.metrics else None,
                (c.metrics.valid_loss if c.metrics.valid_loss is not None else c.metrics.full_valid_loss) if c.metrics else None,
            )
            for c in page.data
        ]
        return sorted(found, key=lambda c: c.step)

    async def cancel(self, job_id: str) -> RemoteJob:
        client = self._require_client()
        try:
            return self._remote_job(await client.fine_tuning.jobs.cancel(job_id))
        except (openai.OpenAIError, ValueError) as exc:
            raise self._training_error(exc, _("cancel job {job}", job=job_id)) from exc

    def _redact(self, text: str) -> str:
        return redact(text, self._secrets)

    def _remote_job(self, job: Any) -> RemoteJob:
        remote = _remote_job(job)
        return replace(remote, error=self._redact(remote.error)) if remote.error else remote

    def _training_error(self, exc: Exception, action: Line) -> TrainingError:
        return _training_error(exc, action, self._secrets)

    def _require_client(self) -> openai.AsyncOpenAI:
        if self._client is None:
            if self._connect is None:
                raise TrainingError(_("Fine-tuning needs an API key: set OPENAI_API_KEY (or FINETUNE_API_KEY)."))
            self._client = self._connect()
        return self._client


def _remote_job(job: Any) -> RemoteJob:
    error = None
    if job.error and (job.error.message or job.error.code):
        error = job.error.message or job.error.code
    return RemoteJob(
        id=job.id,
        status=job.status,
        base_model=job.model,
        fine_tuned_model=job.fine_tuned_model,
        trained_tokens=job.trained_tokens,
        error=error,
        finished_at=datetime.fromtimestamp(job.finished_at, timezone.utc) if job.finished_at else None,
        metadata=dict(job.metadata or {}),
        result_files=tuple(job.result_files or ()),
        estimated_finish=datetime.fromtimestamp(job.estimated_finish, timezone.utc) if job.estimated_finish else None,
    )


def _training_error(exc: Exception, action: Line, secrets: Sequence[str] = ()) -> TrainingError:
    """A provider's refusal as a plain sentence, without secrets (an endpoint may echo them); its codes stay in the log."""
    log.warning("could not %s: %s", action, redact(str(exc), secrets))
    body = getattr(exc, "body", None)
    details = body.get("error", body) if isinstance(body, dict) else None
    code = (details.get("code") if isinstance(details, dict) else None) or getattr(exc, "code", None)
    provider_says = details.get("message") if isinstance(details, dict) else None
    if code == "daily_rate_limit_exceeded":
        return TrainingError(_("The provider's daily limit for fine-tuning jobs is reached. Try again tomorrow."))
    if isinstance(exc, openai.RateLimitError):
        return TrainingError(_("The provider is rate-limiting fine-tuning requests right now. Try again in a few minutes."))
    action = _redacted(action, secrets)
    if isinstance(exc, openai.AuthenticationError | openai.PermissionDeniedError):
        return TrainingError(
            _("The provider refused the API key when trying to {action}. Check FINETUNE_API_KEY / OPENAI_API_KEY.", action=action)
        )
    if isinstance(exc, openai.NotFoundError) and provider_says and "model" not in provider_says.lower():
        return TrainingError(_("Fine-tuning is not available at this endpoint (could not {action}). Check FINETUNE_BASE_URL.", action=action))
    if isinstance(exc, openai.APIStatusError) and provider_says:
        return TrainingError(_("The provider refused to {action}: {provider_says}", action=action, provider_says=redact(provider_says, secrets)))
    return TrainingError(_("Could not {action}: the provider did not answer. Try again in a few minutes.", action=action))


def _redacted(line: Line, secrets: Sequence[str]) -> Line:
    """`line` with no secret in its values (an ID echoed from a command may be anything)."""
    values = {name: redact(value, secrets) if isinstance(value, str) else value for name, value in line.values.items()}
    return Line(line.template, values, line.plural)


def _file_not_ready(exc: openai.BadRequestError) -> bool:
    """The provider refused the job only because the training file is still being processed."""
    body = exc.body.get("error", exc.body) if isinstance(exc.body, dict) else {}
    body = body if isinstance(body, dict) else {}
    if body.get("code") in ("file_not_ready", "file_not_processed"):
        return True
    message = str(body.get("message") or "").lower()
    return body.get("param") == "training_file" and ("not ready" in message or "still being processed" in message)


def _duration(seconds: float) -> Line:
    return _("{minutes:g} minutes", minutes=seconds / 60) if seconds >= 60 else _("{seconds:g} seconds", seconds=seconds)


def _date(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value, timezone.utc).date().isoformat()
    return str(value)
