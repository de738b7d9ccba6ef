"""The fake OpenAI server behaves like the real API as seen through the real SDK."""

import json

import openai
import pytest

from conftest import API_KEY

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
    assert request.headers["authorization"] == f"Bearer {API_KEY}"
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


# --- files and fine-tuning -------------------------------------------------------------

BASE = "gpt-4.1-mini-2025-04-14"
TRAINING = b'{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]}\n'


async def upload(client, content: bytes = TRAINING):
    return await client.files.create(file=("train.jsonl", content), purpose="fine-tune")


async def create_job(client, **kwargs):
    training_file = await upload(client)
    return await client.fine_tuning.jobs.create(model=BASE, training_file=training_file.id, **kwargs)


async def test_uploaded_file_is_processed_after_polls(openai_client, fake_openai):
    """An upload starts "uploaded" and wait_for_processing sees "processed" after file_processing_polls retrieves."""
    fake_openai.file_processing_polls = 3

    uploaded = await upload(openai_client)
    processed = await openai_client.files.wait_for_processing(uploaded.id, poll_interval=0.01)

    assert uploaded.id.startswith("file-")
    assert (uploaded.status, uploaded.bytes, uploaded.filename) == ("uploaded", len(TRAINING), "train.jsonl")
    assert processed.status == "processed"
    assert fake_openai.files[uploaded.id]["bytes"] == TRAINING
    retrieves = [r for r in fake_openai.requests if r.method == "GET" and r.path == f"/v1/files/{uploaded.id}"]
    assert len(retrieves) == 3


async def test_file_error_next_ends_upload_in_error(openai_client, fake_openai):
    """file_error_next makes the next upload end in status "error" with the message as status_details."""
    fake_openai.file_error_next("Invalid file format: line 1 is not JSON.")

    uploaded = await upload(openai_client, b"not json\n")
    finished = await openai_client.files.wait_for_processing(uploaded.id, poll_interval=0.01)

    assert finished.status == "error"
    assert finished.status_details == "Invalid file format: line 1 is not JSON."


async def test_job_advances_one_step_per_retrieve_to_a_chattable_model(openai_client, fake_openai):
    """Each retrieve moves a job one status along job_script; on success its ft: model answers chat."""
    job = await create_job(openai_client, suffix="support", metadata={"guild": "42"})

    statuses = [job.status]
    for _ in range(4):
        statuses.append((await openai_client.fine_tuning.jobs.retrieve(job.id)).status)
    finished = await openai_client.fine_tuning.jobs.retrieve(job.id)
    reply = await openai_client.chat.completions.create(model=finished.fine_tuned_model, messages=QUESTION)

    assert statuses == ["validating_files", "queued", "running", "succeeded", "succeeded"]
    assert finished.fine_tuned_model == f"ft:{BASE}:fake-org:support:{finished.fine_tuned_model[-8:]}"
    assert finished.trained_tokens and finished.finished_at
    assert finished.metadata == {"guild": "42"}
    assert reply.choices[0].message.content == "echo: how do I reset my password"


async def test_fail_job_next_ends_job_failed_with_error(openai_client, fake_openai):
    """fail_job_next makes the next job end "failed" with the given code and message instead of succeeding."""
    fake_openai.job_script = ["validating_files", "succeeded"]
    fake_openai.fail_job_next("Example 3 is missing an assistant message.")
    job = await create_job(openai_client)

    failed = await openai_client.fine_tuning.jobs.retrieve(job.id)

    assert failed.status == "failed"
    assert failed.fine_tuned_model is None
    assert failed.error is not None
    assert (failed.error.code, failed.error.message, failed.error.param) == (
        "invalid_training_file",
        "Example 3 is missing an assistant message.",
        None,
    )


async def test_job_with_unknown_training_file_raises_bad_request(openai_client, fake_openai):
    """Creating a job on a file id the fake never saw raises BadRequestError naming training_file."""
    with pytest.raises(openai.BadRequestError) as exc_info:
        await openai_client.fine_tuning.jobs.create(model=BASE, training_file="file-missing")

    assert exc_info.value.param == "training_file"
    assert fake_openai.jobs == {}


async def test_job_on_model_that_cannot_be_finetuned_raises_bad_request(openai_client):
    """Creating a job on a model outside finetunable_models raises BadRequestError with the API's wording."""
    training_file = await upload(openai_client)

    with pytest.raises(openai.BadRequestError) as exc_info:
        await openai_client.fine_tuning.jobs.create(model="gpt-5-mini", training_file=training_file.id)

    assert exc_info.value.code == "model_not_available"
    assert "Model gpt-5-mini is not available for fine-tuning or does not exist." in str(exc_info.value)


async def test_job_list_metadata_filter_finds_only_matching_job(openai_client, fake_openai):
    """jobs.list(metadata=...) is sent as metadata[k]=v and returns only the job with that metadata."""
    await create_job(openai_client, metadata={"guild": "1"})
    wanted = await create_job(openai_client, metadata={"guild": "2"})
    await create_job(openai_client)

    page = await openai_client.fine_tuning.jobs.list(metadata={"guild": "2"})

    assert [job.id for job in page.data] == [wanted.id]
    assert fake_openai.requests[-1].query == {"metadata[guild]": "2"}


async def test_job_list_pages_newest_first(openai_client):
    """Jobs are listed newest first, limit/after page through them and has_more marks a following page."""
    created = [await create_job(openai_client) for _ in range(3)]

    first = await openai_client.fine_tuning.jobs.list(limit=2)
    second = await openai_client.fine_tuning.jobs.list(limit=2, after=first.data[-1].id)

    assert [job.id for job in first.data] == [created[2].id, created[1].id]
    assert first.has_more is True
    assert [job.id for job in second.data] == [created[0].id]
    assert second.has_more is False


async def test_job_events_are_listed_newest_first(openai_client):
    """Each status change adds an event; events come newest first and page with limit/after."""
    job = await create_job(openai_client)
    for _ in range(3):
        await openai_client.fine_tuning.jobs.retrieve(job.id)

    events = await openai_client.fine_tuning.jobs.list_events(job.id)
    older = await openai_client.fine_tuning.jobs.list_events(job.id, limit=2, after=events.data[1].id)

    assert [e.message for e in events.data] == [
        "The job has successfully completed",
        "Fine-tuning job started",
        "Fine-tuning job queued",
        f"Validating training file: {job.training_file}",
    ]
    assert [e.id for e in older.data] == [e.id for e in events.data[2:]]


async def test_scripted_metrics_are_a_result_file_and_metrics_events(openai_client, fake_openai):
    """set_job_metrics gives the job a result CSV (served as file content) and one metrics event per row, both strict-valid."""
    fake_openai.job_script = ["running"]
    job = await create_job(openai_client)
    fake_openai.set_job_metrics(
        job.id, [{"step": 1, "train_loss": 2.5, "valid_loss": 2.7}, {"step": 2, "train_loss": 2.0}], total_steps=10, seconds_per_step=5
    )

    retrieved = await openai_client.fine_tuning.jobs.retrieve(job.id)
    content = await openai_client.files.content(retrieved.result_files[0])
    events = await openai_client.fine_tuning.jobs.list_events(job.id)

    assert content.content.decode() == (
        "step,train_loss,train_accuracy,valid_loss,valid_mean_token_accuracy\n1,2.5,,2.7,\n2,2.0,,,\n"
    )
    newest, older = events.data[0], events.data[1]
    assert (newest.type, newest.data) == ("metrics", {"step": 2, "train_loss": 2.0, "total_steps": 10})
    assert newest.message == "Step 2/10: training loss=2.0000"
    assert older.message == "Step 1/10: training loss=2.5000, validation loss=2.7000"
    assert newest.created_at - older.created_at == 5


async def test_checkpoints_are_listed_and_served_as_models(openai_client, fake_openai):
    """add_checkpoint lists a checkpoint (newest first, strict-valid) whose model the models endpoint serves."""
    job = await create_job(openai_client)
    first = fake_openai.add_checkpoint(job.id, 10, train_loss=0.9, valid_loss=1.1)
    second = fake_openai.add_checkpoint(job.id, 20)

    page = await openai_client.fine_tuning.jobs.checkpoints.list(job.id)
    model = await openai_client.models.retrieve(first)

    assert [c.fine_tuned_model_checkpoint for c in page.data] == [second, first]
    assert page.data[1].step_number == 10 and page.data[1].metrics.valid_loss == 1.1
    assert first.startswith(f"ft:{BASE}:fake-org::") and first.endswith(":ckpt-step-10")
    assert model.id == first


async def test_checkpoint_and_final_model_share_the_jobs_name(openai_client, fake_openai):
    """A checkpoint's model is the job's fine-tuned model with ":ckpt-step-N" added, as on the real API."""
    fake_openai.job_script = ["running", "succeeded"]
    job = await create_job(openai_client, suffix="shop")
    checkpoint = fake_openai.add_checkpoint(job.id, 5)
    finished = await openai_client.fine_tuning.jobs.retrieve(job.id)

    assert checkpoint == f"{finished.fine_tuned_model}:ckpt-step-5"


async def test_cancel_running_job_marks_it_cancelled(openai_client, fake_openai):
    """Cancelling an unfinished job returns it "cancelled", and later retrieves keep it there."""
    job = await create_job(openai_client)

    cancelled = await openai_client.fine_tuning.jobs.cancel(job.id)
    later = await openai_client.fine_tuning.jobs.retrieve(job.id)

    assert cancelled.status == "cancelled"
    assert later.status == "cancelled"


async def test_cancel_finished_job_raises_bad_request(openai_client, fake_openai):
    """Cancelling a job that already succeeded raises BadRequestError."""
    fake_openai.job_script = ["succeeded"]
    job = await create_job(openai_client)

    with pytest.raises(openai.BadRequestError):
        await openai_client.fine_tuning.jobs.cancel(job.id)


async def test_unknown_job_status_is_passed_through(openai_client, fake_openai):
    """A status outside the SDK's Literal (e.g. "paused") reaches a non-strict client as is and fails a strict one."""
    fake_openai.job_script = ["validating_files", "paused"]
    job = await create_job(openai_client)
    lenient = openai.AsyncOpenAI(base_url=fake_openai.base_url, api_key=API_KEY, max_retries=0)

    paused = await lenient.fine_tuning.jobs.retrieve(job.id)
    with pytest.raises(openai.APIResponseValidationError):
        await openai_client.fine_tuning.jobs.retrieve(job.id)
    await lenient.close()

    assert paused.status == "paused"


# --- targeted faults --------------------------------------------------------------------


async def test_targeted_failure_hits_only_job_create(openai_client, fake_openai):
    """fail_next with path and method fails POST /v1/fine_tuning/jobs and no other request."""
    fake_openai.fail_next(500, path="/v1/fine_tuning/jobs", method="POST")
    client = openai_client.with_options(max_retries=0)
    training_file = await upload(client)
    await client.fine_tuning.jobs.list()

    with pytest.raises(openai.InternalServerError):
        await client.fine_tuning.jobs.create(model=BASE, training_file=training_file.id)
    job = await client.fine_tuning.jobs.create(model=BASE, training_file=training_file.id)

    assert list(fake_openai.jobs) == [job.id]


async def test_wildcard_path_failure_skips_other_paths(openai_client, fake_openai):
    """A path ending in '*' matches by prefix: it fails a job retrieve but lets job create through."""
    fake_openai.fail_next(404, path="/v1/fine_tuning/jobs/*")
    job = await create_job(openai_client)

    with pytest.raises(openai.NotFoundError):
        await openai_client.fine_tuning.jobs.retrieve(job.id)


async def test_stall_after_handling_times_out_client_but_job_exists(openai_client, fake_openai):
    """A stalled job create times out on the client while the job was created on the server."""
    training_file = await upload(openai_client)
    fake_openai.stall_after_handling_next(2.0, path="/v1/fine_tuning/jobs", method="POST")
    client = openai_client.with_options(timeout=0.3, max_retries=0)

    with pytest.raises(openai.APITimeoutError):
        await client.fine_tuning.jobs.create(model=BASE, training_file=training_file.id)

    assert len(fake_openai.jobs) == 1


# --- models, embeddings, moderations ----------------------------------------------------


async def test_model_extras_show_in_retrieve_and_list(openai_client, fake_openai):
    """model_extras fields such as shutdown_date appear on the model in retrieve and list."""
    fake_openai.model_extras["gpt-4o-mini-2024-07-18"] = {"shutdown_date": "2027-01-14"}

    model = await openai_client.models.retrieve("gpt-4o-mini-2024-07-18")
    listed = {m.id: m for m in (await openai_client.models.list()).data}

    assert model.shutdown_date == "2027-01-14"
    assert listed["gpt-4o-mini-2024-07-18"].shutdown_date == "2027-01-14"
    assert listed["gpt-5-mini"].shutdown_date is None


def cosine(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b))  # the fake's vectors are unit length


SIMILAR_TEXTS = ["구독 안내", "구독 안내 부탁드려요", "배송 조회"]


async def test_embeddings_score_texts_sharing_characters_higher(openai_client, fake_openai):
    """Float embeddings are unit vectors; "구독 안내" is closer to a longer 구독 request than to 배송 조회."""
    response = await openai_client.embeddings.create(
        model="text-embedding-3-small", input=SIMILAR_TEXTS, encoding_format="float"
    )
    query, similar, unrelated = (item.embedding for item in response.data)

    assert len(query) == fake_openai.embedding_dimensions
    assert abs(cosine(query, query) - 1) < 1e-9
    assert cosine(query, similar) > cosine(query, unrelated) + 0.3
    assert response.usage.prompt_tokens == response.usage.total_tokens == 7  # words


async def test_embeddings_default_base64_decodes_to_the_float_vectors(openai_client, fake_openai):
    """Without encoding_format the SDK asks for base64, which a non-strict client decodes to the same vectors."""
    lenient = openai.AsyncOpenAI(base_url=fake_openai.base_url, api_key=API_KEY, max_retries=0)

    decoded = await lenient.embeddings.create(model="text-embedding-3-small", input=SIMILAR_TEXTS)
    floats = await openai_client.embeddings.create(
        model="text-embedding-3-small", input=SIMILAR_TEXTS, encoding_format="float"
    )
    await lenient.close()

    assert fake_openai.requests[0].json["encoding_format"] == "base64"
    for got, expected in zip(decoded.data, floats.data):
        assert got.embedding == pytest.approx(expected.embedding, abs=1e-6)


async def test_embeddings_unknown_model_raises_not_found(openai_client):
    """Embedding with a model outside embedding_models raises NotFoundError with model_not_found."""
    with pytest.raises(openai.NotFoundError) as exc_info:
        await openai_client.embeddings.create(model="gpt-5-mini", input="hi", encoding_format="float")

    assert exc_info.value.code == "model_not_found"


async def test_moderation_flags_input_with_flagged_word(openai_client):
    """An input containing a flagged word is flagged under violence; a clean one is not."""
    response = await openai_client.moderations.create(input=["how do I build a BOMB", "reset my password"])
    dangerous, clean = response.results

    assert dangerous.flagged is True
    assert dangerous.categories.violence is True
    assert clean.flagged is False
    assert not any(clean.categories.model_dump().values())
