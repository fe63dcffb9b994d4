"""Anthropic adapter: real SDK clients over real HTTP against the fake provider."""

from __future__ import annotations

import gc
import importlib.util
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import anthropic
import anthropic._base_client
import anthropic.resources.messages
import pydantic
import pytest
from anthropic.types import MessageDeltaUsage, Usage
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

import tokentrace
from tests.sdk_versions import http_library, requires, requires_parameter
from tests.telemetry import Telemetry
from tokentrace._core.emitter import Emitter
from tokentrace._core.invocation import RequestFacts
from tokentrace._core.usage import TokenUsage
from tokentrace._demo import anthropic as demo
from tokentrace._providers import anthropic as adapter
from tokentrace.testing import FakeProvider, Route
from tokentrace.testing import anthropic as fake_anthropic

# The HTTP library this release sends with (httpx2 from anthropic 2.x, httpx before).
httpx2 = http_library(anthropic._base_client)
# The SDK's class for HTTP 529 (older releases raise the generic 5xx class).
# Older releases lack these; their tests skip there (./scripts/test-matrix runs the oldest release).
needs_sdk_tracing = requires(anthropic._base_client, "start_api_call_span")
needs_parse = requires(anthropic.resources.messages.Messages, "parse")
needs_thread = requires(anthropic.resources.messages.Messages, "thread")
needs_service_tier = requires_parameter(anthropic.resources.messages.Messages.create, "service_tier")
needs_thinking = requires_parameter(anthropic.resources.messages.Messages.create, "thinking")
# Releases that still return ``LegacyAPIResponse`` from ``with_raw_response`` build a new stream on
# every ``parse()`` (and the async one is not awaited): the streamed raw-response path is not traced there.
needs_raw_response_cache = pytest.mark.skipif(
    importlib.util.find_spec("anthropic._legacy_response") is not None,
    reason=f"anthropic {anthropic.__version__}: with_raw_response returns LegacyAPIResponse",
)
OVERLOADED: type[anthropic.APIStatusError] = getattr(
    anthropic, "OverloadedError", anthropic.InternalServerError
)

MODEL = "claude-haiku-4-5"
RESPONSE_MODEL = "claude-haiku-4-5-20251001"
MAX_TOKENS = 64
MESSAGES: list[Any] = [{"role": "user", "content": "Hello"}]
SDK_SCOPE = "com.anthropic.sdk.python"

TOKEN_USAGE = "gen_ai.client.token.usage"
DURATION = "gen_ai.client.operation.duration"
CACHE_READ_COUNTER = "gen_ai.client.inference.usage.cache_read.input_tokens"
CACHE_WRITE_COUNTER = "gen_ai.client.inference.usage.cache_write.input_tokens"
REASONING_COUNTER = "gen_ai.client.inference.usage.reasoning.output_tokens"


# --- helpers ---------------------------------------------------------------------------------------


@pytest.fixture
def client(fake: FakeProvider) -> Iterator[anthropic.Anthropic]:
    with anthropic.Anthropic(base_url=fake.base_url("anthropic"), api_key="test", max_retries=0) as sdk:
        yield sdk


@pytest.fixture
async def async_client(fake: FakeProvider) -> AsyncIterator[anthropic.AsyncAnthropic]:
    async with anthropic.AsyncAnthropic(
        base_url=fake.base_url("anthropic"), api_key="test", max_retries=0
    ) as sdk:
        yield sdk


def request_attributes(
    fake: FakeProvider, *, operation: str = "chat", stream: bool = False
) -> dict[str, Any]:
    attributes: dict[str, Any] = {
        "gen_ai.operation.name": operation,
        "gen_ai.provider.name": "anthropic",
        "gen_ai.request.model": MODEL,
        "server.address": "127.0.0.1",
        "server.port": fake.port,
    }
    if operation == "chat":
        attributes["gen_ai.request.max_tokens"] = MAX_TOKENS
    if stream:
        attributes["gen_ai.request.stream"] = True
    return attributes


def chat_attributes(fake: FakeProvider, *, stream: bool = False, **overrides: Any) -> dict[str, Any]:
    """The span attributes of a call answered with the fake's reference usage."""
    attributes = {
        **request_attributes(fake, stream=stream),
        "gen_ai.response.id": fake_anthropic.MESSAGE_ID,
        "gen_ai.response.model": RESPONSE_MODEL,
        "gen_ai.response.finish_reasons": ("end_turn",),
        "gen_ai.usage.input_tokens": 1233,
        "gen_ai.usage.output_tokens": 12,
        "gen_ai.usage.cache_read.input_tokens": 1024,
        "gen_ai.usage.cache_write.input_tokens": 188,
        "anthropic.response.service_tier": "standard",
        "anthropic.usage.cache_creation.ephemeral_5m_input_tokens": 188,
        "anthropic.usage.cache_creation.ephemeral_1h_input_tokens": 0,
    }
    attributes.update(overrides)
    return {key: value for key, value in attributes.items() if value is not None}


def assert_span(span: ReadableSpan, expected: dict[str, Any], *, streamed: bool = False) -> None:
    """Exact attributes, values and types; time to first chunk present exactly on streams."""
    actual = dict(span.attributes or {})
    first_chunk = actual.pop("gen_ai.response.time_to_first_chunk", None)
    if streamed:
        assert isinstance(first_chunk, float) and first_chunk >= 0
    else:
        assert first_chunk is None
    assert actual == expected
    for key, value in expected.items():
        assert type(actual[key]) is type(value), key
    assert span.kind is trace.SpanKind.CLIENT
    assert span.instrumentation_scope is not None and span.instrumentation_scope.name == "tokentrace"
    operation = expected["gen_ai.operation.name"]
    assert span.name == f"{operation} {expected['gen_ai.request.model']}"


def metric_attributes(fake: FakeProvider, *, operation: str = "chat", **extra: Any) -> dict[str, Any]:
    attributes = {
        "gen_ai.operation.name": operation,
        "gen_ai.provider.name": "anthropic",
        "gen_ai.request.model": MODEL,
        "server.address": "127.0.0.1",
        "server.port": fake.port,
    }
    if operation == "chat":
        attributes["gen_ai.response.model"] = RESPONSE_MODEL
    attributes.update(extra)
    return attributes


def assert_chat_metrics(
    telemetry: Telemetry,
    fake: FakeProvider,
    *,
    input_tokens: int = 1233,
    output_tokens: int | None = 12,
    cache_read: int = 1024,
    cache_write: int = 188,
    reasoning: int = 0,
    streamed: bool = False,
) -> None:
    expected_usage = {"input": (input_tokens, 1)}
    if output_tokens is not None:
        expected_usage["output"] = (output_tokens, 1)
    assert telemetry.token_usage() == expected_usage
    for point in telemetry.points(TOKEN_USAGE):
        kind = point.attributes["gen_ai.token.type"]
        assert dict(point.attributes) == metric_attributes(fake, **{"gen_ai.token.type": kind})
    assert telemetry.counter_total(CACHE_READ_COUNTER) == cache_read
    assert telemetry.counter_total(CACHE_WRITE_COUNTER) == cache_write
    assert telemetry.counter_total(REASONING_COUNTER) == reasoning
    (duration,) = telemetry.points(DURATION)
    assert duration.count == 1
    assert dict(duration.attributes) == metric_attributes(fake)
    first_chunk = telemetry.points("gen_ai.client.operation.time_to_first_chunk")
    assert len(first_chunk) == (1 if streamed else 0)


# --- messages.create -------------------------------------------------------------------------------


def test_create(
    fake: FakeProvider,
    instrument: Callable[..., list[str]],
    telemetry: Telemetry,
    client: anthropic.Anthropic,
) -> None:
    instrument("anthropic")
    message = client.messages.create(model=MODEL, max_tokens=MAX_TOKENS, messages=MESSAGES)

    assert message.usage.input_tokens == 21
    assert_span(telemetry.only_span(), chat_attributes(fake))
    assert_chat_metrics(telemetry, fake)
    (sent,) = fake.requests_to("anthropic.messages")
    assert sent.json == {"max_tokens": MAX_TOKENS, "messages": MESSAGES, "model": MODEL}


async def test_create_async(
    fake: FakeProvider,
    instrument: Callable[..., list[str]],
    telemetry: Telemetry,
    async_client: anthropic.AsyncAnthropic,
) -> None:
    instrument("anthropic")
    await async_client.messages.create(model=MODEL, max_tokens=MAX_TOKENS, messages=MESSAGES)

    assert_span(telemetry.only_span(), chat_attributes(fake))
    assert_chat_metrics(telemetry, fake)


@needs_service_tier
def test_create_request_parameters(
    fake: FakeProvider,
    instrument: Callable[..., list[str]],
    telemetry: Telemetry,
    client: anthropic.Anthropic,
) -> None:
    instrument("anthropic")
    client.messages.create(
        model=MODEL,
        max_tokens=MAX_TOKENS,
        messages=MESSAGES,
        stop_sequences=["END"],
        service_tier="standard_only",
        thinking={"type": "enabled", "budget_tokens": 2048},
        output_config={"effort": "high"},
    )

    attributes = dict(telemetry.only_span().attributes or {})
    assert {
        key: attributes[key] for key in attributes if key.startswith(("gen_ai.request", "anthropic.t"))
    } == {
        "gen_ai.request.model": MODEL,
        "gen_ai.request.max_tokens": MAX_TOKENS,
        "gen_ai.request.stop_sequences": ("END",),
        "gen_ai.request.reasoning.level": "high",
        "anthropic.thinking.type": "enabled",
        "anthropic.thinking.budget_tokens": 2048,
    }
    assert attributes["anthropic.request.service_tier"] == "standard_only"


def test_create_stream(
    fake: FakeProvider,
    instrument: Callable[..., list[str]],
    telemetry: Telemetry,
    client: anthropic.Anthropic,
) -> None:
    instrument("anthropic")
    stream = client.messages.create(model=MODEL, max_tokens=MAX_TOKENS, messages=MESSAGES, stream=True)
    kinds = [event.type for event in stream]

    assert kinds[0] == "message_start" and kinds[-1] == "message_stop"
    assert_span(telemetry.only_span(), chat_attributes(fake, stream=True), streamed=True)
    assert_chat_metrics(telemetry, fake, streamed=True)
    per_chunk = telemetry.points("gen_ai.client.operation.time_per_output_chunk")
    assert sum(point.count for point in per_chunk) == len(kinds) - 1


def test_create_stream_as_context_manager(
    fake: FakeProvider,
    instrument: Callable[..., list[str]],
    telemetry: Telemetry,
    client: anthropic.Anthropic,
) -> None:
    instrument("anthropic")
    with client.messages.create(model=MODEL, max_tokens=MAX_TOKENS, messages=MESSAGES, stream=True) as stream:
        for _ in stream:
            pass

    assert_span(telemetry.only_span(), chat_attributes(fake, stream=True), streamed=True)
    assert_chat_metrics(telemetry, fake, streamed=True)


async def test_create_stream_async(
    fake: FakeProvider,
    instrument: Callable[..., list[str]],
    telemetry: Telemetry,
    async_client: anthropic.AsyncAnthropic,
) -> None:
    instrument("anthropic")
    stream = await async_client.messages.create(
        model=MODEL, max_tokens=MAX_TOKENS, messages=MESSAGES, stream=True
    )
    async with stream:
        kinds = [event.type async for event in stream]

    assert kinds[-1] == "message_stop"
    assert_span(telemetry.only_span(), chat_attributes(fake, stream=True), streamed=True)
    assert_chat_metrics(telemetry, fake, streamed=True)


def test_stream_cache_counts_follow_message_delta(
    fake: FakeProvider,
    instrument: Callable[..., list[str]],
    telemetry: Telemetry,
    client: anthropic.Anthropic,
) -> None:
    """message_delta's counts are cumulative: they replace message_start's, never add to them."""
    instrument("anthropic")
    start = {**fake_anthropic.USAGE, "output_tokens": 1}
    delta = {"input_tokens": 30, "cache_read_input_tokens": 1024, "output_tokens": 40}
    fake.enqueue("anthropic.messages", {"start_usage": start, "delta_usage": delta})
    for _ in client.messages.create(model=MODEL, max_tokens=MAX_TOKENS, messages=MESSAGES, stream=True):
        pass

    expected = chat_attributes(
        fake,
        stream=True,
        **{"gen_ai.usage.input_tokens": 30 + 1024 + 188, "gen_ai.usage.output_tokens": 40},
    )
    assert_span(telemetry.only_span(), expected, streamed=True)
    assert_chat_metrics(telemetry, fake, input_tokens=1242, output_tokens=40, streamed=True)


@needs_thinking
def test_cache_writes_by_lifetime_and_thinking(
    fake: FakeProvider,
    instrument: Callable[..., list[str]],
    telemetry: Telemetry,
    client: anthropic.Anthropic,
) -> None:
    instrument("anthropic")
    usage = {
        "input_tokens": 50,
        "cache_creation_input_tokens": 3000,
        "cache_read_input_tokens": 0,
        "cache_creation": {"ephemeral_5m_input_tokens": 1000, "ephemeral_1h_input_tokens": 2000},
        "output_tokens": 900,
        "output_tokens_details": {"thinking_tokens": 850},
        "service_tier": "priority",
    }
    fake.enqueue("anthropic.messages", {"usage": usage, "thinking": "Let me think."})
    client.messages.create(
        model=MODEL,
        max_tokens=MAX_TOKENS,
        messages=MESSAGES,
        thinking={"type": "enabled", "budget_tokens": 1024},
    )

    expected = chat_attributes(
        fake,
        **{
            "gen_ai.usage.input_tokens": 3050,
            "gen_ai.usage.output_tokens": 900,
            "gen_ai.usage.cache_read.input_tokens": 0,
            "gen_ai.usage.cache_write.input_tokens": 3000,
            "gen_ai.usage.reasoning.output_tokens": 850,
            "anthropic.response.service_tier": "priority",
            "anthropic.usage.cache_creation.ephemeral_5m_input_tokens": 1000,
            "anthropic.usage.cache_creation.ephemeral_1h_input_tokens": 2000,
            "anthropic.thinking.type": "enabled",
            "anthropic.thinking.budget_tokens": 1024,
        },
    )
    assert_span(telemetry.only_span(), expected)
    assert_chat_metrics(
        telemetry, fake, input_tokens=3050, output_tokens=900, cache_read=0, cache_write=3000, reasoning=850
    )


def test_stream_with_thinking(
    fake: FakeProvider,
    instrument: Callable[..., list[str]],
    telemetry: Telemetry,
    client: anthropic.Anthropic,
) -> None:
    instrument("anthropic")
    usage = {**fake_anthropic.USAGE, "output_tokens": 300, "output_tokens_details": {"thinking_tokens": 280}}
    fake.enqueue("anthropic.messages", {"usage": usage, "thinking": "Hmm."})
    with client.messages.stream(model=MODEL, max_tokens=MAX_TOKENS, messages=MESSAGES) as stream:
        final = stream.get_final_message()

    assert final.usage.output_tokens == 300
    expected = chat_attributes(
        fake,
        stream=True,
        **{"gen_ai.usage.output_tokens": 300, "gen_ai.usage.reasoning.output_tokens": 280},
    )
    assert_span(telemetry.only_span(), expected, streamed=True)
    assert_chat_metrics(telemetry, fake, output_tokens=300, reasoning=280, streamed=True)


def test_no_usage_records_no_tokens(
    fake: FakeProvider,
    instrument: Callable[..., list[str]],
    telemetry: Telemetry,
    client: anthropic.Anthropic,
) -> None:
    instrument("anthropic")
    fake.enqueue("anthropic.messages", {"usage": None})
    client.messages.create(model=MODEL, max_tokens=MAX_TOKENS, messages=MESSAGES)

    expected = chat_attributes(
        fake,
        **{
            "gen_ai.usage.input_tokens": None,
            "gen_ai.usage.output_tokens": None,
            "gen_ai.usage.cache_read.input_tokens": None,
            "gen_ai.usage.cache_write.input_tokens": None,
            "anthropic.response.service_tier": None,
            "anthropic.usage.cache_creation.ephemeral_5m_input_tokens": None,
            "anthropic.usage.cache_creation.ephemeral_1h_input_tokens": None,
        },
    )
    assert_span(telemetry.only_span(), expected)
    assert telemetry.points(TOKEN_USAGE) == []


# --- messages.stream() helpers ---------------------------------------------------------------------


def _events(stream: Any) -> Any:
    return [event.type for event in stream]


def _text(stream: Any) -> Any:
    return "".join(stream.text_stream)


def _until_done(stream: Any) -> Any:
    stream.until_done()
    return stream.current_message_snapshot.model_dump()


def _final_message(stream: Any) -> Any:
    return stream.get_final_message().model_dump()


def _final_text(stream: Any) -> Any:
    return stream.get_final_text()


SYNC_READERS = [_events, _text, _until_done, _final_message, _final_text]


@pytest.mark.parametrize("read", SYNC_READERS)
def test_stream_helper(
    fake: FakeProvider,
    instrument: Callable[..., list[str]],
    telemetry: Telemetry,
    client: anthropic.Anthropic,
    read: Callable[[Any], Any],
) -> None:
    instrument("anthropic")
    with client.messages.stream(model=MODEL, max_tokens=MAX_TOKENS, messages=MESSAGES) as stream:
        read(stream)
    assert_span(telemetry.only_span(), chat_attributes(fake, stream=True), streamed=True)
    assert_chat_metrics(telemetry, fake, streamed=True)
    (sent,) = fake.requests_to("anthropic.messages")
    assert sent.json["stream"] is True


async def _aevents(stream: Any) -> Any:
    return [event.type async for event in stream]


async def _atext(stream: Any) -> Any:
    return "".join([text async for text in stream.text_stream])


async def _auntil_done(stream: Any) -> Any:
    await stream.until_done()
    return stream.current_message_snapshot.model_dump()


async def _afinal_message(stream: Any) -> Any:
    return (await stream.get_final_message()).model_dump()


async def _afinal_text(stream: Any) -> Any:
    return await stream.get_final_text()


ASYNC_READERS = [_aevents, _atext, _auntil_done, _afinal_message, _afinal_text]


@pytest.mark.parametrize("read", ASYNC_READERS)
async def test_stream_helper_async(
    fake: FakeProvider,
    instrument: Callable[..., list[str]],
    telemetry: Telemetry,
    async_client: anthropic.AsyncAnthropic,
    read: Callable[[Any], Any],
) -> None:
    instrument("anthropic")
    async with async_client.messages.stream(model=MODEL, max_tokens=MAX_TOKENS, messages=MESSAGES) as stream:
        await read(stream)
    assert_span(telemetry.only_span(), chat_attributes(fake, stream=True), streamed=True)
    assert_chat_metrics(telemetry, fake, streamed=True)


@needs_thread
def test_message_thread_stream_is_traced_once(
    fake: FakeProvider,
    instrument: Callable[..., list[str]],
    telemetry: Telemetry,
    client: anthropic.Anthropic,
) -> None:
    """A thread's stream manager sends through ``create(stream=True)``: that call is the one traced."""
    instrument("anthropic")
    thread = client.beta.messages.thread(model=MODEL, max_tokens=MAX_TOKENS)
    with thread.stream(MESSAGES) as stream:
        assert stream.get_final_text() == fake_anthropic.TEXT

    assert_span(telemetry.only_span(), chat_attributes(fake, stream=True), streamed=True)
    assert_chat_metrics(telemetry, fake, streamed=True)


def test_stream_helper_sends_nothing_until_entered(
    fake: FakeProvider,
    instrument: Callable[..., list[str]],
    telemetry: Telemetry,
    client: anthropic.Anthropic,
) -> None:
    instrument("anthropic")
    manager = client.messages.stream(model=MODEL, max_tokens=MAX_TOKENS, messages=MESSAGES)
    assert fake.requests_to("anthropic.messages") == [] and telemetry.spans() == []
    with manager as stream:
        stream.until_done()
    assert len(telemetry.spans()) == 1


def test_stream_helper_left_unread(
    fake: FakeProvider,
    instrument: Callable[..., list[str]],
    telemetry: Telemetry,
    client: anthropic.Anthropic,
) -> None:
    """Leaving the block without reading closes the stream: the span ends, no usage arrived."""
    instrument("anthropic")
    with client.messages.stream(model=MODEL, max_tokens=MAX_TOKENS, messages=MESSAGES):
        pass

    span = telemetry.only_span()
    assert span.status.status_code is StatusCode.UNSET
    assert_span(span, request_attributes(fake, stream=True))
    assert telemetry.points(TOKEN_USAGE) == []
    assert len(telemetry.points(DURATION)) == 1


@needs_raw_response_cache
def test_stream_helper_response_headers(
    instrument: Callable[..., list[str]], telemetry: Telemetry, client: anthropic.Anthropic
) -> None:
    instrument("anthropic")
    with client.messages.stream(model=MODEL, max_tokens=MAX_TOKENS, messages=MESSAGES) as stream:
        assert stream.request_id == fake_anthropic.REQUEST_ID
        assert isinstance(stream._raw_stream, anthropic.Stream)
        stream.until_done()


def test_abandoned_stream_ends_its_span(
    fake: FakeProvider,
    instrument: Callable[..., list[str]],
    telemetry: Telemetry,
    client: anthropic.Anthropic,
) -> None:
    instrument("anthropic")
    stream = client.messages.create(model=MODEL, max_tokens=MAX_TOKENS, messages=MESSAGES, stream=True)
    next(iter(stream))
    del stream
    gc.collect()

    span = telemetry.only_span()
    assert span.attributes is not None
    assert span.attributes["gen_ai.usage.input_tokens"] == 1233
    assert "gen_ai.usage.output_tokens" not in span.attributes


# --- parse, count_tokens, raw responses -------------------------------------------------------------


class City(pydantic.BaseModel):
    city: str


@needs_parse
def test_parse(
    fake: FakeProvider,
    instrument: Callable[..., list[str]],
    telemetry: Telemetry,
    client: anthropic.Anthropic,
) -> None:
    instrument("anthropic")
    fake.enqueue("anthropic.messages", {"text": '{"city": "Paris"}'})
    parsed = client.messages.parse(model=MODEL, max_tokens=MAX_TOKENS, messages=MESSAGES, output_format=City)

    assert parsed.parsed_output == City(city="Paris")
    assert_span(telemetry.only_span(), chat_attributes(fake, **{"gen_ai.output.type": "json"}))
    assert_chat_metrics(telemetry, fake)


@needs_parse
async def test_parse_async(
    fake: FakeProvider,
    instrument: Callable[..., list[str]],
    telemetry: Telemetry,
    async_client: anthropic.AsyncAnthropic,
) -> None:
    instrument("anthropic")
    await async_client.messages.parse(model=MODEL, max_tokens=MAX_TOKENS, messages=MESSAGES)

    assert_span(telemetry.only_span(), chat_attributes(fake))
    assert_chat_metrics(telemetry, fake)


def test_count_tokens(
    fake: FakeProvider,
    instrument: Callable[..., list[str]],
    telemetry: Telemetry,
    client: anthropic.Anthropic,
) -> None:
    instrument("anthropic")
    counted = client.messages.count_tokens(model=MODEL, messages=MESSAGES)

    assert counted.input_tokens == fake_anthropic.COUNT_TOKENS
    expected = {**request_attributes(fake, operation="count_tokens"), "gen_ai.usage.input_tokens": 2095}
    assert_span(telemetry.only_span(), expected)
    assert telemetry.points(TOKEN_USAGE) == []
    assert telemetry.counter_total("gen_ai.client.inference.usage.input_tokens") == 0
    (duration,) = telemetry.points(DURATION)
    assert dict(duration.attributes) == metric_attributes(fake, operation="count_tokens")


async def test_count_tokens_async(
    fake: FakeProvider,
    instrument: Callable[..., list[str]],
    telemetry: Telemetry,
    async_client: anthropic.AsyncAnthropic,
) -> None:
    instrument("anthropic")
    fake.enqueue("anthropic.count_tokens", {"input_tokens": 14})
    await async_client.messages.count_tokens(model=MODEL, messages=MESSAGES)

    expected = {**request_attributes(fake, operation="count_tokens"), "gen_ai.usage.input_tokens": 14}
    assert_span(telemetry.only_span(), expected)
    assert telemetry.points(TOKEN_USAGE) == []


def test_raw_response(
    fake: FakeProvider,
    instrument: Callable[..., list[str]],
    telemetry: Telemetry,
    client: anthropic.Anthropic,
) -> None:
    instrument("anthropic")
    raw = client.messages.with_raw_response.create(model=MODEL, max_tokens=MAX_TOKENS, messages=MESSAGES)

    assert raw.headers["request-id"] == fake_anthropic.REQUEST_ID
    assert raw.parse().usage.cache_read_input_tokens == 1024
    assert_span(telemetry.only_span(), chat_attributes(fake))
    assert_chat_metrics(telemetry, fake)


@needs_raw_response_cache
def test_raw_response_stream(
    fake: FakeProvider,
    instrument: Callable[..., list[str]],
    telemetry: Telemetry,
    client: anthropic.Anthropic,
) -> None:
    """langchain-anthropic streams this way: the caller's ``parse()`` gets the proxied event stream."""
    instrument("anthropic")
    raw = client.messages.with_raw_response.create(
        model=MODEL, max_tokens=MAX_TOKENS, messages=MESSAGES, stream=True
    )
    assert telemetry.spans() == []
    stream = raw.parse()
    assert isinstance(stream, anthropic.Stream) and raw.parse() is stream
    assert [event.type for event in stream][-1] == "message_stop"

    assert_span(telemetry.only_span(), chat_attributes(fake, stream=True), streamed=True)
    assert_chat_metrics(telemetry, fake, streamed=True)


@needs_raw_response_cache
async def test_raw_response_stream_async(
    fake: FakeProvider,
    instrument: Callable[..., list[str]],
    telemetry: Telemetry,
    async_client: anthropic.AsyncAnthropic,
) -> None:
    instrument("anthropic")
    raw = await async_client.beta.messages.with_raw_response.create(
        model=MODEL, max_tokens=MAX_TOKENS, messages=MESSAGES, stream=True
    )
    async for _ in await raw.parse():
        pass

    assert_span(telemetry.only_span(), chat_attributes(fake, stream=True), streamed=True)
    assert_chat_metrics(telemetry, fake, streamed=True)


@needs_raw_response_cache
async def test_raw_response_async(
    fake: FakeProvider,
    instrument: Callable[..., list[str]],
    telemetry: Telemetry,
    async_client: anthropic.AsyncAnthropic,
) -> None:
    instrument("anthropic")
    raw = await async_client.messages.with_raw_response.count_tokens(model=MODEL, messages=MESSAGES)

    assert (await raw.parse()).input_tokens == 2095
    expected = {**request_attributes(fake, operation="count_tokens"), "gen_ai.usage.input_tokens": 2095}
    assert_span(telemetry.only_span(), expected)


# --- beta messages ---------------------------------------------------------------------------------


def test_beta_create_with_compaction(
    fake: FakeProvider,
    instrument: Callable[..., list[str]],
    telemetry: Telemetry,
    client: anthropic.Anthropic,
) -> None:
    instrument("anthropic")
    usage = {
        **fake_anthropic.USAGE,
        "iterations": [
            {
                "type": "compaction",
                "input_tokens": 150000,
                "cache_read_input_tokens": 0,
                "cache_creation_input_tokens": 0,
                "output_tokens": 2000,
            },
            {
                "type": "message",
                "input_tokens": 21,
                "cache_read_input_tokens": 1024,
                "cache_creation_input_tokens": 188,
                "output_tokens": 12,
            },
        ],
    }
    fake.enqueue("anthropic.messages", {"usage": usage})
    message = client.beta.messages.create(
        model=MODEL, max_tokens=MAX_TOKENS, messages=MESSAGES, betas=["compact-2026-01-12"]
    )

    assert isinstance(message, anthropic.types.beta.BetaMessage)
    expected = chat_attributes(
        fake,
        **{
            "anthropic.usage.compaction.input_tokens": 150000,
            "anthropic.usage.compaction.output_tokens": 2000,
        },
    )
    assert_span(telemetry.only_span(), expected)
    assert_chat_metrics(telemetry, fake)
    (sent,) = fake.requests_to("anthropic.messages")
    assert sent.headers["anthropic-beta"] == "compact-2026-01-12"


def test_beta_stream_helper(
    fake: FakeProvider,
    instrument: Callable[..., list[str]],
    telemetry: Telemetry,
    client: anthropic.Anthropic,
) -> None:
    instrument("anthropic")
    with client.beta.messages.stream(model=MODEL, max_tokens=MAX_TOKENS, messages=MESSAGES) as stream:
        text = "".join(stream.text_stream)

    assert text == fake_anthropic.TEXT
    assert_span(telemetry.only_span(), chat_attributes(fake, stream=True), streamed=True)
    assert_chat_metrics(telemetry, fake, streamed=True)


@needs_parse
async def test_beta_async(
    fake: FakeProvider,
    instrument: Callable[..., list[str]],
    telemetry: Telemetry,
    async_client: anthropic.AsyncAnthropic,
    span_exporter: InMemorySpanExporter,
) -> None:
    instrument("anthropic")
    async with async_client.beta.messages.stream(
        model=MODEL, max_tokens=MAX_TOKENS, messages=MESSAGES
    ) as stream:
        await stream.get_final_message()
    assert_span(telemetry.only_span(), chat_attributes(fake, stream=True), streamed=True)
    span_exporter.clear()

    stream_events = await async_client.beta.messages.create(
        model=MODEL, max_tokens=MAX_TOKENS, messages=MESSAGES, stream=True
    )
    async for _ in stream_events:
        pass
    assert_span(telemetry.only_span(), chat_attributes(fake, stream=True), streamed=True)
    span_exporter.clear()

    await async_client.beta.messages.parse(model=MODEL, max_tokens=MAX_TOKENS, messages=MESSAGES)
    assert_span(telemetry.only_span(), chat_attributes(fake))
    span_exporter.clear()

    await async_client.beta.messages.count_tokens(model=MODEL, messages=MESSAGES)
    expected = {**request_attributes(fake, operation="count_tokens"), "gen_ai.usage.input_tokens": 2095}
    assert_span(telemetry.only_span(), expected)


@needs_parse
def test_beta_parse_and_count_tokens(
    fake: FakeProvider,
    instrument: Callable[..., list[str]],
    telemetry: Telemetry,
    client: anthropic.Anthropic,
    span_exporter: InMemorySpanExporter,
) -> None:
    instrument("anthropic")
    client.beta.messages.parse(model=MODEL, max_tokens=MAX_TOKENS, messages=MESSAGES)
    assert_span(telemetry.only_span(), chat_attributes(fake))
    span_exporter.clear()

    client.beta.messages.count_tokens(model=MODEL, messages=MESSAGES)
    expected = {**request_attributes(fake, operation="count_tokens"), "gen_ai.usage.input_tokens": 2095}
    assert_span(telemetry.only_span(), expected)


# --- errors and broken streams ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "exception"),
    [
        (400, anthropic.BadRequestError),
        (429, anthropic.RateLimitError),
        (500, anthropic.InternalServerError),
        (529, OVERLOADED),
    ],
)
def test_sdk_error(
    fake: FakeProvider,
    instrument: Callable[..., list[str]],
    telemetry: Telemetry,
    client: anthropic.Anthropic,
    status: int,
    exception: type[Exception],
) -> None:
    instrument("anthropic")
    fake.enqueue("anthropic.messages", {"error": status})
    with pytest.raises(exception) as raised:
        client.messages.create(model=MODEL, max_tokens=MAX_TOKENS, messages=MESSAGES)

    assert type(raised.value) is exception
    assert raised.value.status_code == status
    _assert_failed(telemetry, fake, exception.__name__, request_attributes(fake))


def _assert_failed(
    telemetry: Telemetry, fake: FakeProvider, error_type: str, attributes: dict[str, Any]
) -> None:
    span = telemetry.only_span()
    assert span.status.status_code is StatusCode.ERROR
    assert_span(span, {**attributes, "error.type": error_type})
    assert telemetry.points(TOKEN_USAGE) == []
    (duration,) = telemetry.points(DURATION)
    operation = attributes["gen_ai.operation.name"]
    expected = metric_attributes(fake, operation=operation, **{"error.type": error_type})
    expected.pop("gen_ai.response.model", None)
    assert dict(duration.attributes) == expected


async def test_sdk_error_async(
    fake: FakeProvider,
    instrument: Callable[..., list[str]],
    telemetry: Telemetry,
    async_client: anthropic.AsyncAnthropic,
) -> None:
    instrument("anthropic")
    fake.enqueue("anthropic.messages", {"error": 529})
    with pytest.raises(OVERLOADED):
        await async_client.messages.create(model=MODEL, max_tokens=MAX_TOKENS, messages=MESSAGES, stream=True)
    _assert_failed(telemetry, fake, OVERLOADED.__name__, request_attributes(fake, stream=True))


def test_sdk_error_entering_stream_helper(
    fake: FakeProvider,
    instrument: Callable[..., list[str]],
    telemetry: Telemetry,
    client: anthropic.Anthropic,
) -> None:
    instrument("anthropic")
    fake.enqueue("anthropic.messages", {"error": 401})
    with pytest.raises(anthropic.AuthenticationError):
        with client.messages.stream(model=MODEL, max_tokens=MAX_TOKENS, messages=MESSAGES):
            pass
    _assert_failed(telemetry, fake, "AuthenticationError", request_attributes(fake, stream=True))


async def test_sdk_error_entering_async_stream_helper(
    fake: FakeProvider,
    instrument: Callable[..., list[str]],
    telemetry: Telemetry,
    async_client: anthropic.AsyncAnthropic,
) -> None:
    instrument("anthropic")
    fake.enqueue("anthropic.messages", {"error": 500})
    with pytest.raises(anthropic.InternalServerError):
        async with async_client.messages.stream(model=MODEL, max_tokens=MAX_TOKENS, messages=MESSAGES):
            pass
    _assert_failed(telemetry, fake, "InternalServerError", request_attributes(fake, stream=True))


def test_count_tokens_error(
    fake: FakeProvider,
    instrument: Callable[..., list[str]],
    telemetry: Telemetry,
    client: anthropic.Anthropic,
) -> None:
    instrument("anthropic")
    fake.enqueue("anthropic.count_tokens", {"error": 400})
    with pytest.raises(anthropic.BadRequestError):
        client.messages.count_tokens(model=MODEL, messages=MESSAGES)
    _assert_failed(telemetry, fake, "BadRequestError", request_attributes(fake, operation="count_tokens"))


def _partial_attributes(fake: FakeProvider, error_type: str) -> dict[str, Any]:
    """What message_start told before the stream broke: input and cache counts, no output count."""
    return chat_attributes(
        fake,
        stream=True,
        **{
            "gen_ai.usage.output_tokens": None,
            "gen_ai.response.finish_reasons": None,
            "error.type": error_type,
        },
    )


def _assert_partial(telemetry: Telemetry, fake: FakeProvider, error_type: str) -> None:
    span = telemetry.only_span()
    assert span.status.status_code is StatusCode.ERROR
    assert_span(span, _partial_attributes(fake, error_type), streamed=True)
    assert telemetry.token_usage() == {"input": (1233, 1)}
    assert telemetry.counter_total(CACHE_READ_COUNTER) == 1024


def test_error_event_mid_stream_keeps_partial_usage(
    fake: FakeProvider,
    instrument: Callable[..., list[str]],
    telemetry: Telemetry,
    client: anthropic.Anthropic,
) -> None:
    instrument("anthropic")
    fake.enqueue("anthropic.messages", {"stream_error": 4})
    with pytest.raises(anthropic.APIStatusError) as raised:
        with client.messages.stream(model=MODEL, max_tokens=MAX_TOKENS, messages=MESSAGES) as stream:
            stream.get_final_message()

    assert type(raised.value) is anthropic.APIStatusError
    assert raised.value.body["error"]["type"] == "overloaded_error"
    _assert_partial(telemetry, fake, "overloaded_error")


async def test_connection_cut_mid_stream_keeps_partial_usage(
    fake: FakeProvider,
    instrument: Callable[..., list[str]],
    telemetry: Telemetry,
    async_client: anthropic.AsyncAnthropic,
) -> None:
    instrument("anthropic")
    fake.enqueue("anthropic.messages", {"cut_after": 4})
    with pytest.raises(httpx2.TransportError) as raised:
        stream = await async_client.messages.create(
            model=MODEL, max_tokens=MAX_TOKENS, messages=MESSAGES, stream=True
        )
        async for _ in stream:
            pass

    _assert_partial(telemetry, fake, type(raised.value).__qualname__)


def _status_error(cls: type[anthropic.APIStatusError], status: int, error_type: str | None) -> Exception:
    response = httpx2.Response(status, request=httpx2.Request("POST", "http://127.0.0.1/v1/messages"))
    body = {"type": "error", "error": {"type": error_type, "message": "x"}} if error_type else None
    return cls("x", response=response, body=body)


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        # An ``event: error`` mid-stream: generic class, the envelope says what happened.
        (_status_error(anthropic.APIStatusError, 200, "overloaded_error"), "overloaded_error"),
        (_status_error(anthropic.APIStatusError, 418, None), None),
        # HTTP errors have a class per status: the class name is used (None here).
        (_status_error(anthropic.RateLimitError, 429, "rate_limit_error"), None),
        (ValueError("x"), None),
    ],
)
def test_error_type(error: BaseException, expected: str | None) -> None:
    assert adapter.anthropic_error_type(error) == expected


# --- what the application sees ---------------------------------------------------------------------


def _sync_results(client: anthropic.Anthropic) -> dict[str, Any]:
    results: dict[str, Any] = {}
    message = client.messages.create(model=MODEL, max_tokens=MAX_TOKENS, messages=MESSAGES)
    results["create"] = (type(message), message.model_dump(), message._request_id)
    stream = client.messages.create(model=MODEL, max_tokens=MAX_TOKENS, messages=MESSAGES, stream=True)
    results["create_stream"] = [(type(event), event.model_dump()) for event in stream]
    with client.messages.stream(model=MODEL, max_tokens=MAX_TOKENS, messages=MESSAGES) as helper:
        events = [(type(event), event.model_dump()) for event in helper]
        results["helper"] = (type(helper), events, helper.get_final_message().model_dump(), helper.request_id)
    with client.beta.messages.stream(model=MODEL, max_tokens=MAX_TOKENS, messages=MESSAGES) as helper:
        results["beta_helper"] = ("".join(helper.text_stream), helper.get_final_message().model_dump())
    parsed = client.messages.parse(model=MODEL, max_tokens=MAX_TOKENS, messages=MESSAGES)
    results["parse"] = (type(parsed), parsed.model_dump())
    counted = client.messages.count_tokens(model=MODEL, messages=MESSAGES)
    results["count_tokens"] = (type(counted), counted.model_dump())
    raw = client.messages.with_raw_response.create(model=MODEL, max_tokens=MAX_TOKENS, messages=MESSAGES)
    results["raw"] = (type(raw), raw.http_response.content, raw.parse().model_dump())
    raw = client.messages.with_raw_response.create(
        model=MODEL, max_tokens=MAX_TOKENS, messages=MESSAGES, stream=True
    )
    results["raw_stream"] = (
        type(raw),
        raw.headers["request-id"],
        [event.model_dump() for event in raw.parse()],
    )
    return results


def _wire(fake: FakeProvider) -> list[tuple[str, bytes, list[str]]]:
    volatile = {"x-stainless-retry-count", "idempotency-key", "x-stainless-read-timeout", "content-length"}
    return [
        (request.path, request.body, sorted(set(request.headers) - volatile)) for request in fake.requests
    ]


@needs_parse
def test_results_identical_to_uninstrumented(
    fake: FakeProvider, instrument: Callable[..., list[str]], telemetry: Telemetry
) -> None:
    def run() -> dict[str, Any]:
        # A fresh client each time: ``with_raw_response`` binds ``create`` when first used.
        with anthropic.Anthropic(base_url=fake.base_url("anthropic"), api_key="test", max_retries=0) as sdk:
            return _sync_results(sdk)

    plain = run()
    plain_wire = _wire(fake)
    fake.reset()
    instrument("anthropic")
    traced = run()

    assert traced == plain
    assert _wire(fake) == plain_wire
    assert len(telemetry.spans()) == 8


@needs_parse
async def test_async_results_identical_to_uninstrumented(
    fake: FakeProvider,
    instrument: Callable[..., list[str]],
    telemetry: Telemetry,
    async_client: anthropic.AsyncAnthropic,
) -> None:
    async def run() -> list[Any]:
        message = await async_client.messages.create(model=MODEL, max_tokens=MAX_TOKENS, messages=MESSAGES)
        stream = await async_client.messages.create(
            model=MODEL, max_tokens=MAX_TOKENS, messages=MESSAGES, stream=True
        )
        events = [event.model_dump() async for event in stream]
        async with async_client.messages.stream(
            model=MODEL, max_tokens=MAX_TOKENS, messages=MESSAGES
        ) as helper:
            text = [chunk async for chunk in helper.text_stream]
            final = (await helper.get_final_message()).model_dump()
        counted = await async_client.messages.count_tokens(model=MODEL, messages=MESSAGES)
        return [message.model_dump(), events, text, final, counted.model_dump()]

    plain = await run()
    instrument("anthropic")
    assert await run() == plain
    assert len(telemetry.spans()) == 4


# --- where Claude runs -----------------------------------------------------------------------------


def test_vertex_provider(
    fake: FakeProvider,
    instrument: Callable[..., list[str]],
    telemetry: Telemetry,
    span_exporter: InMemorySpanExporter,
) -> None:
    instrument("anthropic")
    vertex = anthropic.AnthropicVertex(
        base_url=fake.url + "/v1", region="us-east5", project_id="proj", access_token="test", max_retries=0
    )
    with vertex.messages.stream(model=MODEL, max_tokens=MAX_TOKENS, messages=MESSAGES) as stream:
        stream.until_done()
    expected = chat_attributes(fake, stream=True, **{"gen_ai.provider.name": "gcp.vertex_ai"})
    assert_span(telemetry.only_span(), expected, streamed=True)
    (point,) = [p for p in telemetry.points(TOKEN_USAGE) if p.attributes["gen_ai.token.type"] == "input"]
    assert point.attributes["gen_ai.provider.name"] == "gcp.vertex_ai"
    span_exporter.clear()

    if not hasattr(vertex.beta.messages, "count_tokens"):
        vertex.close()
        pytest.skip(f"anthropic {anthropic.__version__}: Vertex has no beta.messages.count_tokens")
    vertex.beta.messages.count_tokens(model=MODEL, messages=MESSAGES)
    assert telemetry.only_span().attributes == {
        **request_attributes(fake, operation="count_tokens"),
        "gen_ai.provider.name": "gcp.vertex_ai",
        "gen_ai.usage.input_tokens": 2095,
    }
    vertex.close()


def test_bedrock_provider(instrument: Callable[..., list[str]], telemetry: Telemetry) -> None:
    pytest.importorskip(
        "botocore", reason="AnthropicBedrock signs with botocore (not installed with anthropic)"
    )
    instrument("anthropic")
    bedrock_model = "anthropic.claude-haiku-4-5-20251001-v1:0"
    route = Route("bedrock.invoke", "POST", r"/model/(?P<model>[^/]+)/invoke", fake_anthropic.messages)
    with FakeProvider(routes=[route]) as local:
        local.enqueue("bedrock.invoke", {"model": bedrock_model}, {"model": bedrock_model})
        bedrock = anthropic.AnthropicBedrock(
            aws_access_key="AKIDEXAMPLE",
            aws_secret_key="secret",
            aws_region="us-east-1",
            base_url=local.url,
            max_retries=0,
        )
        bedrock.messages.create(model=bedrock_model, max_tokens=MAX_TOKENS, messages=MESSAGES)
        bedrock.beta.messages.create(model=bedrock_model, max_tokens=MAX_TOKENS, messages=MESSAGES)
        bedrock.close()
        spans = telemetry.spans()
        assert [span.attributes for span in spans] == [
            chat_attributes(
                local,
                **{
                    "gen_ai.provider.name": "aws.bedrock",
                    "gen_ai.request.model": bedrock_model,
                    "gen_ai.response.model": bedrock_model,
                },
            )
        ] * 2
    assert {span.name for span in spans} == {f"chat {bedrock_model}"}


@pytest.mark.parametrize(
    ("client_name", "expected"),
    [
        ("AnthropicBedrock", "aws.bedrock"),
        ("AsyncAnthropicBedrock", "aws.bedrock"),
        ("AnthropicVertex", "gcp.vertex_ai"),
        ("AsyncAnthropicVertex", "gcp.vertex_ai"),
        ("Anthropic", "anthropic"),
        pytest.param(
            "AnthropicFoundry",
            "anthropic",
            marks=pytest.mark.skipif(
                not hasattr(anthropic, "AnthropicFoundry"), reason="no AnthropicFoundry yet"
            ),
        ),
    ],
)
def test_provider_for_client_class(client_name: str, expected: str) -> None:
    client_class = getattr(anthropic, client_name)
    client = object.__new__(client_class)
    assert adapter.provider_for_client(client) == expected


def test_provider_for_older_clients_by_class_name() -> None:
    class AnthropicBedrock:
        pass

    class AnthropicVertex:
        pass

    class Custom(AnthropicVertex):
        pass

    assert adapter.provider_for_client(AnthropicBedrock()) == "aws.bedrock"
    assert adapter.provider_for_client(Custom()) == "gcp.vertex_ai"
    assert adapter.provider_for_client(object()) == "anthropic"
    assert adapter.provider_for_client(None) == "anthropic"


# --- the SDK's built-in spans ----------------------------------------------------------------------


def _scopes(telemetry: Telemetry) -> list[str]:
    return [span.instrumentation_scope.name for span in telemetry.spans() if span.instrumentation_scope]


@needs_sdk_tracing
def test_sdk_spans_handed_off_while_instrumented(
    fake: FakeProvider,
    instrument: Callable[..., list[str]],
    telemetry: Telemetry,
    tracer_provider: TracerProvider,
    span_exporter: InMemorySpanExporter,
) -> None:
    """With a TracerProvider the SDK reaches, it emits its own span; instrumented, only ours remains."""
    sdk = anthropic.Anthropic(
        base_url=fake.base_url("anthropic"),
        api_key="test",
        max_retries=0,
        open_telemetry={"tracer_provider": tracer_provider},
    )
    sdk.messages.create(model=MODEL, max_tokens=MAX_TOKENS, messages=MESSAGES)
    assert _scopes(telemetry) == [SDK_SCOPE]
    span_exporter.clear()

    instrument("anthropic")
    calls: list[Callable[[], Any]] = [
        lambda: sdk.messages.create(model=MODEL, max_tokens=MAX_TOKENS, messages=MESSAGES),
        lambda: list(sdk.messages.create(model=MODEL, max_tokens=MAX_TOKENS, messages=MESSAGES, stream=True)),
        lambda: _stream_text(sdk),
        lambda: sdk.beta.messages.create(model=MODEL, max_tokens=MAX_TOKENS, messages=MESSAGES),
        lambda: sdk.messages.count_tokens(model=MODEL, messages=MESSAGES),
    ]
    for call in calls:
        fake.reset()
        call()
        (span,) = telemetry.spans()
        assert _scopes(telemetry) == ["tokentrace"]
        # The SDK still propagates a trace context, and it is tokentrace's span.
        context = span.get_span_context()
        assert context is not None
        (sent,) = fake.requests
        assert (
            sent.headers["traceparent"]
            == f"00-{context.trace_id:032x}-{context.span_id:016x}-{context.trace_flags:02x}"
        )
        span_exporter.clear()
    assert telemetry.token_usage() == {"input": (4 * 1233, 4), "output": (4 * 12, 4)}

    tokentrace.uninstrument()
    sdk.messages.create(model=MODEL, max_tokens=MAX_TOKENS, messages=MESSAGES)
    assert _scopes(telemetry) == [SDK_SCOPE]
    sdk.close()


def _stream_text(sdk: anthropic.Anthropic) -> str:
    with sdk.messages.stream(model=MODEL, max_tokens=MAX_TOKENS, messages=MESSAGES) as stream:
        return "".join(stream.text_stream)


@needs_sdk_tracing
async def test_sdk_spans_handed_off_async(
    fake: FakeProvider,
    instrument: Callable[..., list[str]],
    telemetry: Telemetry,
    tracer_provider: TracerProvider,
) -> None:
    instrument("anthropic")
    async with anthropic.AsyncAnthropic(
        base_url=fake.base_url("anthropic"),
        api_key="test",
        max_retries=0,
        open_telemetry={"tracer_provider": tracer_provider},
    ) as sdk:
        await sdk.messages.create(model=MODEL, max_tokens=MAX_TOKENS, messages=MESSAGES)
        async with sdk.messages.stream(model=MODEL, max_tokens=MAX_TOKENS, messages=MESSAGES) as stream:
            await stream.until_done()
    assert _scopes(telemetry) == ["tokentrace", "tokentrace"]
    assert all("traceparent" in request.headers for request in fake.requests)


@needs_sdk_tracing
def test_sdk_keeps_other_spans(
    fake: FakeProvider,
    instrument: Callable[..., list[str]],
    telemetry: Telemetry,
    tracer_provider: TracerProvider,
) -> None:
    """Only the inference spans of traced calls are handed off: others, e.g. models.list, stay."""
    instrument("anthropic")
    with anthropic.Anthropic(
        base_url=fake.base_url("anthropic"),
        api_key="test",
        max_retries=0,
        open_telemetry={"tracer_provider": tracer_provider},
    ) as sdk:
        with pytest.raises(anthropic.NotFoundError):
            sdk.models.retrieve("claude-haiku-4-5")
    assert _scopes(telemetry) == [SDK_SCOPE]


@needs_sdk_tracing
def test_nested_under_absorbing_invocation(
    fake: FakeProvider,
    instrument: Callable[..., list[str]],
    telemetry: Telemetry,
    tracer_provider: TracerProvider,
    meter_provider: Any,
) -> None:
    """Under an enclosing tokentrace invocation (LangChain's) there is one span: the enclosing one."""
    instrument("anthropic")
    emitter = Emitter(tracer_provider, meter_provider)
    outer = emitter.start(RequestFacts("chat", "anthropic", MODEL, absorbs_nested=True))
    assert outer.context is not None
    token = otel_context.attach(outer.context)
    try:
        with anthropic.Anthropic(
            base_url=fake.base_url("anthropic"),
            api_key="test",
            max_retries=0,
            open_telemetry={"tracer_provider": tracer_provider},
        ) as sdk:
            sdk.messages.create(model=MODEL, max_tokens=MAX_TOKENS, messages=MESSAGES)
    finally:
        otel_context.detach(token)
    assert telemetry.spans() == []
    emitter.finish(outer)

    span = telemetry.only_span()
    assert span.attributes is not None
    assert span.attributes["gen_ai.usage.input_tokens"] == 1233
    assert span.attributes["gen_ai.usage.cache_write.input_tokens"] == 188
    assert telemetry.token_usage() == {"input": (1233, 1), "output": (12, 1)}


_GLOBAL_PROVIDER_SCRIPT = r"""
import asyncio, json
import anthropic, tokentrace
from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from tokentrace.testing import FakeProvider

M = "claude-haiku-4-5"
msgs = [{"role": "user", "content": "Hello"}]


def stream_helper(client):
    with client.messages.stream(model=M, max_tokens=8, messages=msgs) as stream:
        stream.until_done()


async def async_calls(url):
    async with anthropic.AsyncAnthropic(base_url=url, api_key="t", max_retries=0) as client:
        await client.messages.create(model=M, max_tokens=8, messages=msgs)
        async with client.messages.stream(model=M, max_tokens=8, messages=msgs) as stream:
            await stream.until_done()


def token_points(reader):
    data = reader.get_metrics_data()
    found = {}
    for resource in data.resource_metrics if data else []:
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                if metric.name == "gen_ai.client.token.usage":
                    for point in metric.data.data_points:
                        kind = point.attributes["gen_ai.token.type"]
                        found[kind] = found.get(kind, 0) + point.count
    return found


def phase(fake, with_global_provider):
    exporter, reader = InMemorySpanExporter(), InMemoryMetricReader()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    meter_provider = MeterProvider(metric_readers=[reader])
    if with_global_provider:
        trace.set_tracer_provider(tracer_provider)
        metrics.set_meter_provider(meter_provider)
        tokentrace.instrument(["anthropic"])
    else:
        tokentrace.instrument(["anthropic"], tracer_provider=tracer_provider, meter_provider=meter_provider)
    url = fake.base_url("anthropic")
    client = anthropic.Anthropic(base_url=url, api_key="t", max_retries=0)
    calls = [
        lambda: client.messages.create(model=M, max_tokens=8, messages=msgs),
        lambda: list(client.messages.create(model=M, max_tokens=8, messages=msgs, stream=True)),
        lambda: stream_helper(client),
        lambda: client.beta.messages.create(model=M, max_tokens=8, messages=msgs),
        lambda: client.messages.count_tokens(model=M, messages=msgs),
        lambda: asyncio.run(async_calls(url)),
    ]
    result = {"calls": []}
    for call in calls:
        exporter.clear()
        fake.reset()
        call()
        spans = exporter.get_finished_spans()
        result["calls"].append({
            "spans": [span.instrumentation_scope.name for span in spans],
            "traceparents": [request.headers.get("traceparent") for request in fake.requests],
            "span_ids": [f"{span.context.span_id:016x}" for span in spans],
        })
    result["token_points"] = token_points(reader)
    tokentrace.uninstrument()
    exporter.clear()
    client.messages.create(model=M, max_tokens=8, messages=msgs)
    result["after_uninstrument"] = [span.instrumentation_scope.name for span in exporter.get_finished_spans()]
    return result


with FakeProvider() as fake:
    # The global provider can only be set once per process: the phase without one comes first.
    print(json.dumps({"explicit": phase(fake, False), "global": phase(fake, True)}))
"""


@pytest.mark.slow
@needs_sdk_tracing
def test_one_span_per_call_with_and_without_global_provider() -> None:
    """A global TracerProvider makes the SDK emit spans; it is set once per process, so in a subprocess."""
    env = {**os.environ, "TOKENTRACE_STRICT": "1"}
    env.pop("ANTHROPIC_OPEN_TELEMETRY", None)
    done = subprocess.run(
        [sys.executable, "-c", _GLOBAL_PROVIDER_SCRIPT],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    results = json.loads(done.stdout)
    for mode, result in results.items():
        calls = result["calls"]
        assert [call["spans"] for call in calls] == [["tokentrace"]] * 5 + [["tokentrace", "tokentrace"]], (
            mode
        )
        # Six chat calls (the last call makes two) and one token count: six points per token type.
        assert result["token_points"] == {"input": 6, "output": 6}, mode
        for call in calls:
            if mode == "global":
                # Propagated as the SDK would, carrying tokentrace's span.
                assert [parent.split("-")[2] for parent in call["traceparents"]] == call["span_ids"]
            else:
                # No provider the SDK reaches: it sent no trace context before, and sends none now.
                assert call["traceparents"] == [None] * len(call["span_ids"])
    assert results["explicit"]["after_uninstrument"] == []
    assert results["global"]["after_uninstrument"] == [SDK_SCOPE]


@needs_sdk_tracing
def test_instrument_uninstrument_repeatedly(
    fake: FakeProvider,
    instrument: Callable[..., list[str]],
    telemetry: Telemetry,
    client: anthropic.Anthropic,
) -> None:
    import anthropic._base_client as base_client

    original = vars(base_client)["start_api_call_span"]
    for _ in range(3):
        instrument("anthropic")
        assert vars(base_client)["start_api_call_span"] is not original
        client.messages.create(model=MODEL, max_tokens=MAX_TOKENS, messages=MESSAGES)
        tokentrace.uninstrument()
        # The SDK-span handoff is an ordinary target: put back like every other one.
        assert vars(base_client)["start_api_call_span"] is original
        client.messages.create(model=MODEL, max_tokens=MAX_TOKENS, messages=MESSAGES)
    assert len(telemetry.spans()) == 3


# --- demo ------------------------------------------------------------------------------------------


def test_demo(fake: FakeProvider, instrument: Callable[..., list[str]], telemetry: Telemetry) -> None:
    instrument("anthropic")
    demo.run(fake)
    spans = telemetry.spans()
    assert [span.attributes.get("gen_ai.request.stream") for span in spans if span.attributes] == [
        None,
        True,
        True,
    ]
    assert telemetry.token_usage() == {"input": (3 * 1233, 3), "output": (3 * 12, 3)}


# --- pure normalizers ------------------------------------------------------------------------------

REFERENCE = TokenUsage(input=1233, output=12, cache_read=1024, cache_write=188)


@pytest.mark.parametrize(
    ("usage", "expected"),
    [
        pytest.param(None, None, id="none"),
        # Seed 000 (LangChain response_metadata, ChatAnthropic): no cache fields at all.
        pytest.param(
            {"input_tokens": 17, "output_tokens": 296}, TokenUsage(input=17, output=296), id="seed-langchain"
        ),
        pytest.param(fake_anthropic.USAGE, REFERENCE, id="provider-reference"),
        pytest.param(Usage(**fake_anthropic.USAGE), REFERENCE, id="sdk-object"),
        pytest.param(
            {"input_tokens": 3, "cache_read_input_tokens": 2000, "output_tokens": 5},
            TokenUsage(input=2003, output=5, cache_read=2000),
            id="cache-read-only",
        ),
        pytest.param(
            {
                "input_tokens": 10,
                "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 500},
                "output_tokens": 1,
            },
            TokenUsage(input=510, output=1, cache_write=500),
            id="cache-write-from-split",
        ),
        pytest.param(
            {"input_tokens": 40, "output_tokens": 900, "output_tokens_details": {"thinking_tokens": 850}},
            TokenUsage(input=40, output=900, reasoning=850),
            id="thinking-is-inside-output",
        ),
        pytest.param(
            {
                "input_tokens": 5,
                "output_tokens": 2,
                "cache_creation_input_tokens": None,
                "cache_read_input_tokens": None,
            },
            TokenUsage(input=5, output=2),
            id="explicit-nulls",
        ),
        pytest.param(
            {"output_tokens": 7, "cache_read_input_tokens": 100},
            TokenUsage(output=7, cache_read=100),
            id="no-input-count-is-not-invented",
        ),
        pytest.param(
            Usage.construct(output_tokens=3), TokenUsage(output=3), id="sdk-object-missing-required"
        ),
        pytest.param(
            {"input_tokens": "12", "output_tokens": True, "cache_read_input_tokens": -1, "cache_creation": 5},
            TokenUsage(),
            id="garbage",
        ),
    ],
)
def test_extract_usage(usage: Any, expected: TokenUsage | None) -> None:
    assert adapter.extract_usage(usage) == expected


START = {**fake_anthropic.USAGE, "output_tokens": 1}
DELTA = {
    "input_tokens": 21,
    "cache_creation_input_tokens": 188,
    "cache_read_input_tokens": 1024,
    "output_tokens": 12,
}


@pytest.mark.parametrize(
    ("start", "delta", "expected"),
    [
        pytest.param(None, None, None, id="nothing"),
        pytest.param(START, DELTA, REFERENCE, id="provider-reference"),
        pytest.param(Usage(**START), MessageDeltaUsage(**DELTA), REFERENCE, id="sdk-objects"),
        pytest.param(START, {"output_tokens": 12}, REFERENCE, id="delta-without-input-keeps-start"),
        pytest.param(
            START,
            {"input_tokens": 30, "output_tokens": 40, "cache_read_input_tokens": None},
            TokenUsage(input=30 + 1024 + 188, output=40, cache_read=1024, cache_write=188),
            id="delta-replaces-never-adds",
        ),
        pytest.param(
            START,
            None,
            TokenUsage(input=1233, cache_read=1024, cache_write=188),
            id="cut-before-delta-has-no-output",
        ),
        pytest.param(None, DELTA, REFERENCE, id="delta-only"),
        pytest.param(
            START,
            {**DELTA, "output_tokens": 500, "output_tokens_details": {"thinking_tokens": 480}},
            TokenUsage(input=1233, output=500, cache_read=1024, cache_write=188, reasoning=480),
            id="thinking",
        ),
    ],
)
def test_extract_stream_usage(start: Any, delta: Any, expected: TokenUsage | None) -> None:
    assert adapter.extract_stream_usage(start, delta) == expected


@pytest.mark.parametrize(
    ("usage", "expected"),
    [
        pytest.param(fake_anthropic.USAGE, (188, 0), id="reference"),
        pytest.param({"cache_creation": {"ephemeral_1h_input_tokens": 7}}, (None, 7), id="one-hour-only"),
        pytest.param({"cache_creation": None}, (None, None), id="null"),
        pytest.param(None, (None, None), id="none"),
    ],
)
def test_extract_cache_split(usage: Any, expected: tuple[int | None, int | None]) -> None:
    assert adapter.extract_cache_split(usage) == expected


@pytest.mark.parametrize(
    ("usage", "expected"),
    [
        pytest.param({"iterations": None}, (None, None), id="none"),
        pytest.param(
            {"iterations": [{"type": "message", "input_tokens": 5, "output_tokens": 1}]},
            (None, None),
            id="no-compaction",
        ),
        pytest.param(
            {
                "iterations": [
                    {
                        "type": "compaction",
                        "input_tokens": 100,
                        "cache_read_input_tokens": 20,
                        "cache_creation_input_tokens": 3,
                        "output_tokens": 9,
                    },
                    {"type": "compaction", "input_tokens": 50, "output_tokens": 1},
                    {"type": "message", "input_tokens": 5, "output_tokens": 1},
                ]
            },
            (173, 10),
            id="two-compactions",
        ),
    ],
)
def test_extract_compaction(usage: Any, expected: tuple[int | None, int | None]) -> None:
    assert adapter.extract_compaction(usage) == expected


@pytest.mark.parametrize(
    ("stop_reason", "expected"),
    [("end_turn", ["end_turn"]), ("tool_use", ["tool_use"]), (None, None), ("", None), (3, None)],
)
def test_extract_finish_reasons(stop_reason: Any, expected: list[str] | None) -> None:
    assert adapter.extract_finish_reasons(stop_reason) == expected


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        pytest.param(
            {"model": MODEL, "max_tokens": getattr(anthropic, "omit", anthropic.NOT_GIVEN)}, {}, id="omitted"
        ),
        pytest.param(
            {"max_tokens": 10, "temperature": 1, "top_k": 5, "stop_sequences": ["a", "b"]},
            {
                "gen_ai.request.max_tokens": 10,
                "gen_ai.request.temperature": 1.0,
                "gen_ai.request.top_k": 5,
                "gen_ai.request.stop_sequences": ("a", "b"),
            },
            id="sampling",
        ),
        pytest.param(
            {"output_config": {"effort": "low", "format": {"type": "json_schema", "schema": {}}}},
            {"gen_ai.request.reasoning.level": "low", "gen_ai.output.type": "json"},
            id="output-config",
        ),
        pytest.param({"output_format": City}, {"gen_ai.output.type": "json"}, id="parse-output-format"),
        pytest.param(
            {"thinking": {"type": "adaptive"}, "service_tier": "auto"},
            {"anthropic.thinking.type": "adaptive", "anthropic.request.service_tier": "auto"},
            id="thinking-and-tier",
        ),
    ],
)
def test_request_attributes(params: dict[str, Any], expected: dict[str, Any]) -> None:
    assert adapter.request_attributes(params) == expected


@needs_parse
def test_pending_request(client: anthropic.Anthropic) -> None:
    manager = client.messages.stream(model=MODEL, max_tokens=MAX_TOKENS, messages=MESSAGES)
    pending = adapter.pending_request(manager)
    assert pending is not None
    sdk_client, body = pending
    assert sdk_client is client and body["model"] == MODEL
    assert adapter.pending_request(object()) is None
    assert adapter.pending_request(anthropic.MessageStreamManager(lambda: None, output_format=None)) is None


@needs_parse
async def test_pending_request_async(async_client: anthropic.AsyncAnthropic) -> None:
    manager = async_client.messages.stream(model=MODEL, max_tokens=MAX_TOKENS, messages=MESSAGES)
    pending = adapter.pending_request(manager)
    assert pending is not None and pending[0] is async_client and pending[1]["max_tokens"] == MAX_TOKENS
    async with manager as stream:  # the request is still sent once, by the SDK
        await stream.until_done()


def test_sdk_tracer_liveness() -> None:
    assert adapter._tracer_emits(trace.NoOpTracer()) is False
    assert adapter._tracer_emits(None) is False
    assert adapter._tracer_emits(TracerProvider().get_tracer("x")) is True
