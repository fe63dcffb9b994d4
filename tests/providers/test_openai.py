"""OpenAI adapter: the real openai client over HTTP to the fake provider, exact telemetry assertions."""

from __future__ import annotations

import gc
import json
from typing import Any

import openai
import openai._base_client
import pytest
from openai.resources.chat import completions as chat_module
from opentelemetry.trace import SpanKind, StatusCode

from tests.sdk_versions import http_library, requires, requires_parameter
from tests.telemetry import Telemetry, assert_attributes, assert_failed_call
from tokentrace._core.usage import TokenUsage
from tokentrace._providers.openai import (
    extract_chat_usage,
    extract_embeddings_usage,
    extract_responses_usage,
    provider_for_host,
)
from tokentrace.testing import FakeProvider, Reply
from tokentrace.testing.openai import CHAT_USAGE, RESPONSES_USAGE

# Older releases lack these; their tests skip there (./scripts/test-matrix runs the oldest release).
needs_responses = requires(openai.OpenAI, "responses")
needs_chat_parse = requires(chat_module.Completions, "parse")
needs_chat_stream = requires(chat_module.Completions, "stream")
needs_reasoning_effort = requires_parameter(chat_module.Completions.create, "reasoning_effort")
# A connection cut mid-stream: newer releases raise APIError, older ones let the transport error through.
STREAM_CUT = (openai.APIError, http_library(openai._base_client).TransportError)

MESSAGES: list[Any] = [{"role": "user", "content": "Say hello."}]
CACHED_USAGE = {
    "gen_ai.usage.input_tokens": 1217,
    "gen_ai.usage.output_tokens": 9,
    "gen_ai.usage.cache_read.input_tokens": 1152,
    "gen_ai.usage.reasoning.output_tokens": 0,
}


def client(fake: FakeProvider, **kwargs: Any) -> openai.OpenAI:
    return openai.OpenAI(base_url=fake.base_url("openai"), api_key="sk-test-key", max_retries=0, **kwargs)


def async_client(fake: FakeProvider, **kwargs: Any) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(
        base_url=fake.base_url("openai"), api_key="sk-test-key", max_retries=0, **kwargs
    )


# --- chat completions ------------------------------------------------------------------------------


def test_chat_completion_span_and_metrics(fake: FakeProvider, instrument: Any, telemetry: Telemetry) -> None:
    instrument("openai")
    response = client(fake).chat.completions.create(
        model="gpt-4o-mini", messages=MESSAGES, temperature=0.2, max_tokens=64, seed=7, stop=["\n"]
    )
    assert response.usage is not None and response.usage.prompt_tokens == 1217

    span = telemetry.only_span()
    assert span.name == "chat gpt-4o-mini"
    assert span.kind is SpanKind.CLIENT
    assert span.status.status_code is StatusCode.UNSET
    assert_attributes(
        span,
        {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": "openai",
            "gen_ai.request.model": "gpt-4o-mini",
            "gen_ai.request.temperature": 0.2,
            "gen_ai.request.max_tokens": 64,
            "gen_ai.request.seed": 7,
            "gen_ai.request.stop_sequences": ("\n",),
            "server.address": "127.0.0.1",
            "server.port": fake.port,
            "gen_ai.response.id": "chatcmpl-CbXq3ZyGvJ8hB0mQp2sT4uV6wX8yZ",
            "gen_ai.response.model": "gpt-4o-mini-2024-07-18",
            "gen_ai.response.finish_reasons": ("stop",),
            "openai.api.type": "chat_completions",
            "openai.response.service_tier": "default",
            "openai.response.system_fingerprint": "fp_560af6e559",
            **CACHED_USAGE,
        },
    )
    assert "gen_ai.request.stream" not in span.attributes
    assert "gen_ai.usage.cache_write.input_tokens" not in span.attributes

    assert telemetry.token_usage() == {"input": (1217, 1), "output": (9, 1)}
    (point,) = telemetry.points("gen_ai.client.operation.duration")
    assert point.count == 1
    assert dict(point.attributes) == {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "gpt-4o-mini",
        "gen_ai.response.model": "gpt-4o-mini-2024-07-18",
        "server.address": "127.0.0.1",
        "server.port": fake.port,
    }
    assert telemetry.counter_total("gen_ai.client.inference.usage.input_tokens") == 1217
    assert telemetry.counter_total("gen_ai.client.inference.usage.cache_read.input_tokens") == 1152
    assert telemetry.counter_total("gen_ai.client.inference.usage.reasoning.output_tokens") == 0
    assert telemetry.points("gen_ai.client.inference.usage.cache_write.input_tokens") == []
    assert telemetry.points("gen_ai.client.operation.time_to_first_chunk") == []


def test_token_usage_histogram_has_advised_buckets(
    fake: FakeProvider, instrument: Any, telemetry: Telemetry
) -> None:
    instrument("openai")
    client(fake).chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    usage = telemetry.metric("gen_ai.client.token.usage")
    assert usage.unit == "{token}"
    point = usage.data.data_points[0]
    assert list(point.explicit_bounds) == [
        1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864,
    ]  # fmt: skip
    duration = telemetry.metric("gen_ai.client.operation.duration")
    assert duration.unit == "s"
    assert list(duration.data.data_points[0].explicit_bounds)[:3] == [0.01, 0.02, 0.04]
    counter = telemetry.metric("gen_ai.client.inference.usage.input_tokens")
    assert counter.data.is_monotonic
    assert counter.data.data_points[0].attributes["gen_ai.token.modality"] == "unknown"


def test_token_counters_can_be_switched_off(
    fake: FakeProvider, instrument: Any, telemetry: Telemetry, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TOKENTRACE_TOKEN_COUNTERS", "false")
    instrument("openai")
    client(fake).chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert telemetry.points("gen_ai.client.inference.usage.input_tokens") == []
    assert telemetry.points("gen_ai.client.inference.usage.cache_read.input_tokens") == []
    assert telemetry.token_usage() == {"input": (1217, 1), "output": (9, 1)}


async def test_async_chat_completion(fake: FakeProvider, instrument: Any, telemetry: Telemetry) -> None:
    instrument("openai")
    async with async_client(fake) as aclient:
        response = await aclient.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert response.choices[0].message.content == "Hello! How can I help you today?"
    span = telemetry.only_span()
    assert_attributes(span, {"gen_ai.operation.name": "chat", **CACHED_USAGE})
    assert telemetry.token_usage() == {"input": (1217, 1), "output": (9, 1)}


@needs_reasoning_effort
def test_reasoning_and_cache_write_tokens(fake: FakeProvider, instrument: Any, telemetry: Telemetry) -> None:
    instrument("openai")
    fake.enqueue(
        "openai.chat",
        {
            "usage": {
                "prompt_tokens": 2048,
                "completion_tokens": 300,
                "total_tokens": 2348,
                "prompt_tokens_details": {
                    "cached_tokens": 1024,
                    "cache_write_tokens": 512,
                    "text_tokens": 2048,
                },
                "completion_tokens_details": {"reasoning_tokens": 256},
            }
        },
    )
    client(fake).chat.completions.create(model="o4-mini", messages=MESSAGES, reasoning_effort="high")
    assert_attributes(
        telemetry.only_span(),
        {
            "gen_ai.request.reasoning.level": "high",
            "gen_ai.usage.input_tokens": 2048,
            "gen_ai.usage.output_tokens": 300,
            "gen_ai.usage.cache_read.input_tokens": 1024,
            "gen_ai.usage.cache_write.input_tokens": 512,
            "gen_ai.usage.reasoning.output_tokens": 256,
            "gen_ai.usage.text.input_tokens": 2048,
        },
    )
    assert (
        telemetry.counter_total("gen_ai.client.inference.usage.input_tokens", gen_ai__token__modality="text")
        == 2048
    )
    assert telemetry.counter_total("gen_ai.client.inference.usage.cache_write.input_tokens") == 512
    assert telemetry.counter_total("gen_ai.client.inference.usage.reasoning.output_tokens") == 256


def test_response_without_usage_records_no_tokens(
    fake: FakeProvider, instrument: Any, telemetry: Telemetry
) -> None:
    instrument("openai")
    fake.enqueue("openai.chat", {"usage": None})
    client(fake).chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    span = telemetry.only_span()
    assert not any(key.startswith("gen_ai.usage.") for key in span.attributes)
    assert telemetry.token_usage() == {}
    assert telemetry.points("gen_ai.client.inference.usage.input_tokens") == []
    assert len(telemetry.points("gen_ai.client.operation.duration")) == 1


@needs_chat_parse
def test_parse_is_one_span_with_json_output_type(
    fake: FakeProvider, instrument: Any, telemetry: Telemetry
) -> None:
    instrument("openai")
    fake.enqueue("openai.chat", {"text": '{"city": "Paris"}'})
    from pydantic import BaseModel

    class City(BaseModel):
        city: str

    parsed = client(fake).chat.completions.parse(model="gpt-4o-mini", messages=MESSAGES, response_format=City)
    assert parsed.choices[0].message.parsed == City(city="Paris")
    assert_attributes(telemetry.only_span(), {"gen_ai.output.type": "json", **CACHED_USAGE})


# --- chat streams ----------------------------------------------------------------------------------


def chunk_dumps(chunks: list[Any]) -> list[dict[str, Any]]:
    return [chunk.model_dump() for chunk in chunks]


def test_stream_injects_include_usage_and_hides_the_usage_chunk(
    fake: FakeProvider, instrument: Any, telemetry: Telemetry
) -> None:
    uninstrumented = chunk_dumps(
        list(client(fake).chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True))
    )
    assert "stream_options" not in fake.requests_to("openai.chat")[-1].json

    instrument("openai")
    chunks = chunk_dumps(
        list(client(fake).chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True))
    )
    assert fake.requests_to("openai.chat")[-1].json["stream_options"] == {"include_usage": True}
    assert chunks == uninstrumented
    assert all(chunk["usage"] is None for chunk in chunks)

    span = telemetry.only_span()
    assert_attributes(
        span,
        {
            "gen_ai.request.stream": True,
            "gen_ai.response.finish_reasons": ("stop",),
            "gen_ai.response.id": "chatcmpl-CbXq3ZyGvJ8hB0mQp2sT4uV6wX8yZ",
            **CACHED_USAGE,
        },
    )
    ttfc = span.attributes["gen_ai.response.time_to_first_chunk"]
    assert isinstance(ttfc, float) and ttfc > 0
    assert telemetry.token_usage() == {"input": (1217, 1), "output": (9, 1)}
    (first,) = telemetry.points("gen_ai.client.operation.time_to_first_chunk")
    assert first.count == 1
    (per_chunk,) = telemetry.points("gen_ai.client.operation.time_per_output_chunk")
    assert per_chunk.count == len(chunks) - 1


def test_caller_include_usage_is_kept_and_usage_chunk_visible(
    fake: FakeProvider, instrument: Any, telemetry: Telemetry
) -> None:
    options = {"include_usage": True}
    uninstrumented = chunk_dumps(
        list(
            client(fake).chat.completions.create(
                model="gpt-4o-mini", messages=MESSAGES, stream=True, stream_options=options
            )
        )
    )  # type: ignore[arg-type]
    instrument("openai")
    chunks = chunk_dumps(
        list(
            client(fake).chat.completions.create(
                model="gpt-4o-mini", messages=MESSAGES, stream=True, stream_options=options
            )
        )
    )  # type: ignore[arg-type]
    assert chunks == uninstrumented
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["prompt_tokens"] == 1217
    assert_attributes(telemetry.only_span(), CACHED_USAGE)


def test_caller_disabling_usage_wins(fake: FakeProvider, instrument: Any, telemetry: Telemetry) -> None:
    instrument("openai")
    chunks = list(
        client(fake).chat.completions.create(
            model="gpt-4o-mini", messages=MESSAGES, stream=True, stream_options={"include_usage": False}
        )
    )  # type: ignore[arg-type]
    assert fake.requests_to("openai.chat")[-1].json["stream_options"] == {"include_usage": False}
    assert chunks[-1].choices[0].finish_reason == "stop"
    span = telemetry.only_span()
    assert "gen_ai.usage.input_tokens" not in span.attributes
    assert telemetry.token_usage() == {}


def test_injection_can_be_switched_off(
    fake: FakeProvider, instrument: Any, telemetry: Telemetry, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TOKENTRACE_OPENAI_INCLUDE_USAGE", "false")
    instrument("openai")
    list(client(fake).chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True))
    assert "stream_options" not in fake.requests_to("openai.chat")[-1].json
    assert "gen_ai.usage.input_tokens" not in telemetry.only_span().attributes


async def test_async_stream(fake: FakeProvider, instrument: Any, telemetry: Telemetry) -> None:
    async with async_client(fake) as aclient:
        plain = [
            c.model_dump()
            async for c in await aclient.chat.completions.create(
                model="gpt-4o-mini", messages=MESSAGES, stream=True
            )
        ]
    instrument("openai")
    async with async_client(fake) as aclient:
        stream = await aclient.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True)
        async with stream:
            chunks = [c.model_dump() async for c in stream]
    assert chunks == plain
    assert_attributes(telemetry.only_span(), {"gen_ai.request.stream": True, **CACHED_USAGE})
    assert telemetry.token_usage() == {"input": (1217, 1), "output": (9, 1)}


def test_exemplars_link_the_call_metrics_to_its_span_and_chunk_intervals_to_nothing(
    fake: FakeProvider, instrument: Any, telemetry: Telemetry, tracer_provider: Any
) -> None:
    instrument("openai")
    with tracer_provider.get_tracer("app").start_as_current_span("handle request") as app_span:
        for _chunk in client(fake).chat.completions.create(
            model="gpt-4o-mini", messages=MESSAGES, stream=True
        ):
            pass
    llm_span = next(span for span in telemetry.spans() if span.name.startswith("chat"))
    points = telemetry.collect()
    for metric in (
        "gen_ai.client.operation.duration",
        "gen_ai.client.token.usage",
        "gen_ai.client.operation.time_to_first_chunk",
    ):
        assert points[metric], metric
        for point in points[metric]:
            assert [exemplar.span_id for exemplar in point.exemplars] == [llm_span.context.span_id], metric
    # The chunk intervals are recorded after the stream ended, in the application's context: they
    # must not pick the application's span (or any span) as an exemplar.
    (per_chunk,) = points["gen_ai.client.operation.time_per_output_chunk"]
    assert per_chunk.count >= 1
    assert per_chunk.exemplars == []
    assert app_span.get_span_context().span_id != llm_span.context.span_id


@needs_chat_stream
def test_stream_helper_is_one_span(fake: FakeProvider, instrument: Any, telemetry: Telemetry) -> None:
    instrument("openai")
    with client(fake).chat.completions.stream(model="gpt-4o-mini", messages=MESSAGES) as stream:
        text = "".join(event.delta for event in stream if event.type == "content.delta")
        final = stream.get_final_completion()
    assert text == "Hello! How can I help you today?"
    assert final.usage is None  # as without instrumentation: the caller did not ask for usage
    assert_attributes(telemetry.only_span(), {"gen_ai.request.stream": True, **CACHED_USAGE})


def test_stream_used_as_context_manager_and_closed_early(
    fake: FakeProvider, instrument: Any, telemetry: Telemetry
) -> None:
    instrument("openai")
    with client(fake).chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True) as stream:
        first = next(stream)
    assert first.choices[0].delta.role == "assistant"
    span = telemetry.only_span()
    assert span.status.status_code is StatusCode.UNSET
    assert "gen_ai.usage.input_tokens" not in span.attributes  # usage never arrived: none recorded
    assert telemetry.token_usage() == {}
    assert len(telemetry.points("gen_ai.client.operation.duration")) == 1


def test_abandoned_stream_is_finalized_on_gc(
    fake: FakeProvider, instrument: Any, telemetry: Telemetry
) -> None:
    instrument("openai")
    stream = client(fake).chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True)
    next(stream)
    assert telemetry.spans() == []
    del stream
    gc.collect()
    span = telemetry.only_span()
    assert span.end_time is not None
    assert len(telemetry.points("gen_ai.client.operation.duration")) == 1


def test_stream_broken_midway_reraises_and_ends_span(
    fake: FakeProvider, instrument: Any, telemetry: Telemetry
) -> None:
    instrument("openai")
    fake.enqueue("openai.chat", {"cut_after": 3})
    stream = client(fake).chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True)
    received = []
    with pytest.raises(STREAM_CUT) as raised:
        for chunk in stream:
            received.append(chunk)
    assert len(received) == 3
    assert_failed_call(telemetry, type(raised.value).__qualname__)


def test_stream_keeps_usage_received_before_a_failure(
    fake: FakeProvider, instrument: Any, telemetry: Telemetry
) -> None:
    """A stream that fails after its usage chunk arrived keeps those counts."""
    instrument("openai")
    fake.enqueue("openai.chat", {"cut_after": 10})  # role, 7 words, finish, usage; cut before [DONE]
    stream = client(fake).chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True)
    with pytest.raises(STREAM_CUT):
        list(stream)
    span = telemetry.only_span()
    assert span.status.status_code is StatusCode.ERROR
    assert_attributes(span, CACHED_USAGE)
    assert telemetry.token_usage() == {"input": (1217, 1), "output": (9, 1)}


# --- errors ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "exception"),
    [(400, openai.BadRequestError), (429, openai.RateLimitError), (500, openai.InternalServerError)],
)
def test_http_errors_propagate_unchanged(
    fake: FakeProvider, instrument: Any, telemetry: Telemetry, status: int, exception: type[Exception]
) -> None:
    fake.enqueue("openai.chat", {"error": status})
    with pytest.raises(exception) as plain:
        client(fake).chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    instrument("openai")
    fake.enqueue("openai.chat", {"error": status})
    with pytest.raises(exception) as instrumented:
        client(fake).chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert type(instrumented.value) is type(plain.value)
    assert str(instrumented.value) == str(plain.value)
    assert_failed_call(telemetry, exception.__name__)


def test_timeout_propagates(fake: FakeProvider, instrument: Any, telemetry: Telemetry) -> None:
    instrument("openai")
    fake.enqueue("openai.chat", Reply(delay=1.0, body=b"{}"))
    with pytest.raises(openai.APITimeoutError):
        client(fake, timeout=0.2).chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    span = telemetry.only_span()
    assert span.attributes["error.type"] == "APITimeoutError"
    assert span.status.status_code is StatusCode.ERROR


async def test_async_error(fake: FakeProvider, instrument: Any, telemetry: Telemetry) -> None:
    instrument("openai")
    fake.enqueue("openai.chat", {"error": 429})
    async with async_client(fake) as aclient:
        with pytest.raises(openai.RateLimitError):
            await aclient.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert telemetry.only_span().attributes["error.type"] == "RateLimitError"


# --- Responses, embeddings, legacy completions -------------------------------------------------------


RESPONSES_ATTRIBUTES = {
    "gen_ai.operation.name": "chat",
    "openai.api.type": "responses",
    "gen_ai.response.id": "resp_0a1b2c3d4e5f",
    "gen_ai.response.model": "o4-mini-2025-04-16",
    "gen_ai.response.finish_reasons": ("stop",),
    "gen_ai.usage.input_tokens": 14,
    "gen_ai.usage.output_tokens": 151,
    "gen_ai.usage.cache_read.input_tokens": 0,
    "gen_ai.usage.reasoning.output_tokens": 128,
}


@needs_responses
def test_responses_create(fake: FakeProvider, instrument: Any, telemetry: Telemetry) -> None:
    instrument("openai")
    client(fake).responses.create(
        model="o4-mini",
        input="Capital of France?",
        reasoning={"effort": "low"},
        previous_response_id="resp_prev",
        max_output_tokens=500,
    )
    assert_attributes(
        telemetry.only_span(),
        {
            **RESPONSES_ATTRIBUTES,
            "gen_ai.request.reasoning.level": "low",
            "gen_ai.request.previous_response.id": "resp_prev",
            "gen_ai.request.max_tokens": 500,
        },
    )
    assert telemetry.token_usage() == {"input": (14, 1), "output": (151, 1)}
    assert telemetry.counter_total("gen_ai.client.inference.usage.reasoning.output_tokens") == 128


@needs_responses
def test_responses_stream_helper(fake: FakeProvider, instrument: Any, telemetry: Telemetry) -> None:
    instrument("openai")
    with client(fake).responses.stream(model="o4-mini", input="Capital of France?") as stream:
        events = [event.type for event in stream]
        final = stream.get_final_response()
    assert events[-1] == "response.completed"
    assert final.usage is not None and final.usage.output_tokens == 151
    assert_attributes(telemetry.only_span(), {**RESPONSES_ATTRIBUTES, "gen_ai.request.stream": True})


@needs_responses
async def test_responses_async_stream_incomplete(
    fake: FakeProvider, instrument: Any, telemetry: Telemetry
) -> None:
    instrument("openai")
    fake.enqueue("openai.responses", {"status": "incomplete"})
    async with async_client(fake) as aclient:
        stream = await aclient.responses.create(model="o4-mini", input="hi", stream=True)
        types = [event.type async for event in stream]
    assert types[-1] == "response.incomplete"
    assert_attributes(
        telemetry.only_span(),
        {"gen_ai.response.finish_reasons": ("max_output_tokens",), "gen_ai.usage.output_tokens": 151},
    )


def test_embeddings(fake: FakeProvider, instrument: Any, telemetry: Telemetry) -> None:
    instrument("openai")
    client(fake).embeddings.create(model="text-embedding-3-small", input=["a", "b"], encoding_format="float")
    span = telemetry.only_span()
    assert span.name == "embeddings text-embedding-3-small"
    assert_attributes(
        span,
        {
            "gen_ai.operation.name": "embeddings",
            "gen_ai.request.encoding_formats": ("float",),
            "gen_ai.usage.input_tokens": 8,
            "gen_ai.embeddings.dimension.count": 4,
            "gen_ai.response.model": "text-embedding-3-small",
        },
    )
    assert "gen_ai.usage.output_tokens" not in span.attributes
    assert telemetry.token_usage() == {"input": (8, 1)}


def test_legacy_completions_stream(fake: FakeProvider, instrument: Any, telemetry: Telemetry) -> None:
    instrument("openai")
    texts = [
        c.choices[0].text
        for c in client(fake).completions.create(
            model="gpt-3.5-turbo-instruct", prompt="Say hello", stream=True
        )
    ]
    assert "" not in texts[:-1] and len(texts) == 8
    span = telemetry.only_span()
    assert span.name == "text_completion gpt-3.5-turbo-instruct"
    assert_attributes(
        span,
        {
            "gen_ai.usage.input_tokens": 5,
            "gen_ai.usage.output_tokens": 9,
            "gen_ai.response.finish_reasons": ("stop",),
        },
    )
    assert "openai.api.type" not in span.attributes


def test_with_raw_response_is_read_without_touching_the_callers_parse(
    fake: FakeProvider, instrument: Any, telemetry: Telemetry
) -> None:
    plain = client(fake).chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=MESSAGES)
    instrument("openai")
    raw = client(fake).chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=MESSAGES)
    assert raw.headers.get("content-type") == "application/json"
    assert raw.parse().model_dump() == plain.parse().model_dump()
    assert_attributes(
        telemetry.only_span(),
        {
            "gen_ai.response.id": "chatcmpl-CbXq3ZyGvJ8hB0mQp2sT4uV6wX8yZ",
            "gen_ai.response.finish_reasons": ("stop",),
            **CACHED_USAGE,
        },
    )
    assert telemetry.token_usage() == {"input": (1217, 1), "output": (9, 1)}


def test_raw_response_stream_is_proxied_behind_parse(
    fake: FakeProvider, instrument: Any, telemetry: Telemetry
) -> None:
    """How langchain-openai streams: ``with_raw_response.create(stream=True)`` then ``parse()``."""
    plain = client(fake).chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=MESSAGES, stream=True
    )
    expected = chunk_dumps(list(plain.parse()))
    instrument("openai")
    raw = client(fake).chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=MESSAGES, stream=True
    )
    assert chunk_dumps(list(raw.parse())) == expected
    assert_attributes(telemetry.only_span(), {"gen_ai.request.stream": True, **CACHED_USAGE})


@needs_responses
async def test_async_raw_responses(fake: FakeProvider, instrument: Any, telemetry: Telemetry) -> None:
    instrument("openai")
    async with async_client(fake) as aclient:
        raw = await aclient.responses.with_raw_response.create(model="o4-mini", input="hi")
        assert raw.parse().usage is not None
        raw_embeddings = await aclient.embeddings.with_raw_response.create(
            model="text-embedding-3-small", input="hi"
        )
        assert raw_embeddings.parse().usage.prompt_tokens == 8
    spans = telemetry.spans()
    assert [span.attributes["gen_ai.usage.input_tokens"] for span in spans] == [14, 8]


# --- provider and server identification ------------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "provider"),
    [
        ("api.openai.com", "openai"),
        ("my-resource.openai.azure.com", "azure.ai.openai"),
        ("api.groq.com", "groq"),
        ("api.together.xyz", "together"),
        ("api.fireworks.ai", "fireworks"),
        ("api.mistral.ai", "mistral_ai"),
        ("generativelanguage.googleapis.com", "gcp.gemini"),
        ("us-central1-aiplatform.googleapis.com", "gcp.vertex_ai"),
        ("api.deepseek.com", "deepseek"),
        ("openrouter.ai", "openrouter"),
        ("127.0.0.1", "openai"),
        ("llm-proxy.internal", "openai"),
        (None, "openai"),
    ],
)
def test_provider_for_host(host: str | None, provider: str) -> None:
    assert provider_for_host(host) == provider


def test_base_url_with_credentials_never_leaks(
    instrument: Any, telemetry: Telemetry, fake: FakeProvider
) -> None:
    instrument("openai")
    leaky = openai.OpenAI(
        base_url=f"http://user:secret@127.0.0.1:{fake.port}/v1?token=abc",
        api_key="sk-test-key",
        max_retries=0,
    )
    try:
        leaky.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    except openai.APIError:
        pass
    span = telemetry.only_span()
    assert span.attributes["server.address"] == "127.0.0.1"
    assert all("secret" not in str(value) and "token" not in str(value) for value in span.attributes.values())


def azure_client(fake: FakeProvider, api_version: str) -> openai.AzureOpenAI:
    return openai.AzureOpenAI(
        azure_endpoint=fake.url,
        api_key="azure-key",
        api_version=api_version,
        max_retries=0,
        azure_deployment="gpt-4o-mini",
    )


def test_azure_client_is_azure_provider(fake: FakeProvider, instrument: Any, telemetry: Telemetry) -> None:
    instrument("openai")
    list(
        azure_client(fake, "2024-10-21").chat.completions.create(
            model="gpt-4o-mini", messages=MESSAGES, stream=True
        )
    )
    (request,) = fake.requests_to("openai.azure_chat")
    assert request.path == "/openai/deployments/gpt-4o-mini/chat/completions"
    assert request.json["stream_options"] == {"include_usage": True}
    span = telemetry.only_span()
    assert_attributes(
        span,
        {"gen_ai.provider.name": "azure.ai.openai", "openai.api.type": "chat_completions", **CACHED_USAGE},
    )


def test_azure_api_version_without_stream_options_is_left_alone(
    fake: FakeProvider, instrument: Any, telemetry: Telemetry
) -> None:
    instrument("openai")
    list(
        azure_client(fake, "2024-06-01").chat.completions.create(
            model="gpt-4o-mini", messages=MESSAGES, stream=True
        )
    )
    (request,) = fake.requests_to("openai.azure_chat")
    assert "stream_options" not in request.json
    assert "gen_ai.usage.input_tokens" not in telemetry.only_span().attributes


# --- content capture (opt-in) -----------------------------------------------------------------------


def test_content_is_captured_only_when_opted_in(
    fake: FakeProvider, instrument: Any, telemetry: Telemetry, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "span_only")
    instrument("openai")
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Say hello."}]
    client(fake).chat.completions.create(model="gpt-4o-mini", messages=messages)  # type: ignore[arg-type]
    list(client(fake).chat.completions.create(model="gpt-4o-mini", messages=messages, stream=True))  # type: ignore[arg-type]
    for span in telemetry.spans():
        assert json.loads(span.attributes["gen_ai.input.messages"]) == [
            {"role": "system", "parts": [{"type": "text", "content": "Be brief."}]},
            {"role": "user", "parts": [{"type": "text", "content": "Say hello."}]},
        ]
        assert json.loads(span.attributes["gen_ai.output.messages"]) == [
            {
                "role": "assistant",
                "parts": [{"type": "text", "content": "Hello! How can I help you today?"}],
                "finish_reason": "stop",
            }
        ]


@needs_responses
def test_captured_content_respects_the_size_limit(
    fake: FakeProvider, instrument: Any, telemetry: Telemetry, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "SPAN_AND_EVENT")
    monkeypatch.setenv("TOKENTRACE_CAPTURE_CONTENT_MAX_LENGTH", "256")
    instrument("openai")
    client(fake).responses.create(model="o4-mini", input="word " * 500, instructions="Answer in one word.")
    span = telemetry.only_span()
    captured = span.attributes["gen_ai.input.messages"]
    assert len(captured) <= 256
    assert [item["role"] for item in json.loads(captured)] == ["system", "user"]
    assert json.loads(span.attributes["gen_ai.output.messages"])[0]["parts"][0]["content"] == "Paris."


@pytest.mark.parametrize("value", ["", "false", "NO_CONTENT", "event_only", "garbage"])
def test_content_is_not_captured_otherwise(
    fake: FakeProvider, instrument: Any, telemetry: Telemetry, monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", value)
    instrument("openai")
    client(fake).chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    attributes = telemetry.only_span().attributes
    assert "gen_ai.input.messages" not in attributes and "gen_ai.output.messages" not in attributes


# --- pure normalizers --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("usage", "expected"),
    [
        (
            CHAT_USAGE,
            TokenUsage(
                input=1217,
                output=9,
                cache_read=1152,
                reasoning=0,
                input_modalities=(("audio", 0),),
                output_modalities=(("audio", 0),),
            ),
        ),
        # LangChain "Response metadata" seed, OpenAI example: token_usage without details.
        (
            {"completion_tokens": 164, "prompt_tokens": 17, "total_tokens": 181},
            TokenUsage(input=17, output=164),
        ),
        (
            {"prompt_tokens": 10, "completion_tokens": None, "prompt_tokens_details": None},
            TokenUsage(input=10),
        ),
        ({"prompt_tokens": -1, "completion_tokens": "5"}, TokenUsage()),
        (None, None),
    ],
)
def test_extract_chat_usage(usage: Any, expected: TokenUsage | None) -> None:
    assert extract_chat_usage(usage) == expected


def test_extract_responses_and_embeddings_usage() -> None:
    assert extract_responses_usage(RESPONSES_USAGE) == TokenUsage(
        input=14, output=151, cache_read=0, reasoning=128
    )
    assert extract_embeddings_usage({"prompt_tokens": 8, "total_tokens": 8}) == TokenUsage(input=8)
