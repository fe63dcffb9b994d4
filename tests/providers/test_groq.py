"""Groq adapter: the real groq client over HTTP to the fake provider, exact telemetry assertions."""

from __future__ import annotations

from typing import Any

import groq
import httpx
import pytest
from opentelemetry.trace import SpanKind, StatusCode

from tests.telemetry import Telemetry, assert_attributes, assert_failed_call
from tokentrace._core.usage import TokenUsage
from tokentrace._providers.groq import extract_timings, extract_usage
from tokentrace.testing import FakeProvider
from tokentrace.testing.groq import REQUEST_ID, USAGE

MODEL = "llama-3.3-70b-versatile"
MESSAGES: list[Any] = [{"role": "user", "content": "What's the oldest known example of cuneiform"}]
CHAT_ID = "chatcmpl-f51b2cd2-bef7-417e-964e-a08f0b513c22"
TIMINGS = {
    "groq.usage.queue_time": 0.037493756,
    "groq.usage.prompt_time": 0.000680594,
    "groq.usage.completion_time": 0.032727273,
    "groq.usage.total_time": 0.033407867,
}
PATHS = [
    pytest.param(False, False, id="sync"),
    pytest.param(True, False, id="async"),
    pytest.param(False, True, id="sync-stream"),
    pytest.param(True, True, id="async-stream"),
]


async def chat(fake: FakeProvider, *, is_async: bool, stream: bool, **kwargs: Any) -> Any:
    """One call as the application sees it: the response's or every chunk's ``model_dump()``."""
    if is_async:
        async with groq.AsyncGroq(api_key="test", base_url=fake.url, max_retries=0) as aclient:
            result = await aclient.chat.completions.create(
                model=MODEL, messages=MESSAGES, stream=stream, **kwargs
            )
            return [chunk.model_dump() async for chunk in result] if stream else result.model_dump()
    with groq.Groq(api_key="test", base_url=fake.url, max_retries=0) as client:
        result = client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=stream, **kwargs)
        return [chunk.model_dump() for chunk in result] if stream else result.model_dump()


@pytest.mark.parametrize(("is_async", "stream"), PATHS)
async def test_chat_paths(
    fake: FakeProvider, instrument: Any, telemetry: Telemetry, is_async: bool, stream: bool
) -> None:
    plain = await chat(fake, is_async=is_async, stream=stream)
    instrument("groq")
    traced = await chat(fake, is_async=is_async, stream=stream)
    assert traced == plain
    if stream:
        assert traced[-1]["usage"] is None and traced[-1]["x_groq"]["usage"]["prompt_tokens"] == 18
    assert "stream_options" not in fake.requests_to("groq.chat")[-1].json

    span = telemetry.only_span()
    assert span.name == f"chat {MODEL}"
    assert span.kind is SpanKind.CLIENT
    assert span.status.status_code is StatusCode.UNSET
    expected: dict[str, Any] = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "groq",
        "gen_ai.request.model": MODEL,
        "server.address": "127.0.0.1",
        "server.port": fake.port,
        "gen_ai.response.id": CHAT_ID,
        "gen_ai.response.model": MODEL,
        "gen_ai.response.finish_reasons": ("stop",),
        "gen_ai.usage.input_tokens": 18,
        "gen_ai.usage.output_tokens": 9,
        "groq.request_id": REQUEST_ID,
        **TIMINGS,
    }
    if stream:
        expected["gen_ai.request.stream"] = True
    assert_attributes(span, expected)
    ttfc = {"gen_ai.response.time_to_first_chunk"} if stream else set()
    assert set(span.attributes) == set(expected) | ttfc

    assert telemetry.token_usage() == {"input": (18, 1), "output": (9, 1)}
    (point,) = telemetry.points("gen_ai.client.operation.duration")
    assert dict(point.attributes) == {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "groq",
        "gen_ai.request.model": MODEL,
        "gen_ai.response.model": MODEL,
        "server.address": "127.0.0.1",
        "server.port": fake.port,
    }
    assert telemetry.counter_total("gen_ai.client.inference.usage.input_tokens") == 18
    assert telemetry.counter_total("gen_ai.client.inference.usage.output_tokens") == 9
    assert telemetry.points("gen_ai.client.inference.usage.cache_read.input_tokens") == []
    assert telemetry.points("gen_ai.client.inference.usage.reasoning.output_tokens") == []
    assert len(telemetry.points("gen_ai.client.operation.time_to_first_chunk")) == (1 if stream else 0)


CACHED_REASONING_USAGE = {
    "queue_time": None,
    "prompt_tokens": 2048,
    "prompt_time": 0.05,
    "completion_tokens": 420,
    "completion_time": 1,
    "total_tokens": 2468,
    "total_time": 1.05,
    "prompt_tokens_details": {"cached_tokens": 1536},
    "completion_tokens_details": {"reasoning_tokens": 300},
}


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
async def test_cached_and_reasoning_tokens(
    fake: FakeProvider, instrument: Any, telemetry: Telemetry, stream: bool
) -> None:
    instrument("groq")
    fake.enqueue("groq.chat", {"usage": CACHED_REASONING_USAGE})
    await chat(fake, is_async=False, stream=stream, reasoning_effort="high")
    span = telemetry.only_span()
    assert_attributes(
        span,
        {
            "gen_ai.request.reasoning.level": "high",
            "gen_ai.usage.input_tokens": 2048,
            "gen_ai.usage.output_tokens": 420,
            "gen_ai.usage.cache_read.input_tokens": 1536,
            "gen_ai.usage.reasoning.output_tokens": 300,
            "groq.usage.prompt_time": 0.05,
            "groq.usage.completion_time": 1.0,
            "groq.usage.total_time": 1.05,
        },
    )
    assert "groq.usage.queue_time" not in span.attributes  # Groq sent null: nothing recorded
    assert telemetry.token_usage() == {"input": (2048, 1), "output": (420, 1)}
    assert telemetry.counter_total("gen_ai.client.inference.usage.cache_read.input_tokens") == 1536
    assert telemetry.counter_total("gen_ai.client.inference.usage.reasoning.output_tokens") == 300


def test_request_attributes(fake: FakeProvider, instrument: Any, telemetry: Telemetry) -> None:
    instrument("groq")
    groq.Groq(api_key="test", base_url=fake.url, max_retries=0).chat.completions.create(
        model=MODEL,
        messages=MESSAGES,
        temperature=0.5,
        top_p=0.9,
        max_completion_tokens=256,
        seed=42,
        stop=["END"],
        frequency_penalty=0.1,
        presence_penalty=0.2,
        response_format={"type": "json_object"},
    )
    assert_attributes(
        telemetry.only_span(),
        {
            "gen_ai.request.temperature": 0.5,
            "gen_ai.request.top_p": 0.9,
            "gen_ai.request.max_tokens": 256,
            "gen_ai.request.seed": 42,
            "gen_ai.request.stop_sequences": ("END",),
            "gen_ai.request.frequency_penalty": 0.1,
            "gen_ai.request.presence_penalty": 0.2,
            "gen_ai.output.type": "json",
        },
    )


async def test_response_without_usage_records_no_tokens(
    fake: FakeProvider, instrument: Any, telemetry: Telemetry
) -> None:
    instrument("groq")
    fake.enqueue("groq.chat", {"usage": None}, {"usage": None})
    await chat(fake, is_async=False, stream=False)
    await chat(fake, is_async=True, stream=True)
    for span in telemetry.spans():
        assert not any(key.startswith(("gen_ai.usage.", "groq.usage.")) for key in span.attributes)
    assert telemetry.token_usage() == {}
    assert len(telemetry.spans()) == 2
    assert sum(point.count for point in telemetry.points("gen_ai.client.operation.duration")) == 2


# --- broken streams and errors ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cut_after", "usage"),
    [(3, None), (7, {"input": (18, 1), "output": (9, 1)})],
    ids=["before-usage", "after-usage"],
)
def test_stream_broken_midway(
    fake: FakeProvider, instrument: Any, telemetry: Telemetry, cut_after: int, usage: Any
) -> None:
    """8 events: role, 5 words, the final chunk with ``x_groq.usage``, ``[DONE]``."""
    instrument("groq")
    fake.enqueue("groq.chat", {"cut_after": cut_after})
    client = groq.Groq(api_key="test", base_url=fake.url, max_retries=0)
    received = []
    with pytest.raises(httpx.RemoteProtocolError):
        for chunk in client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True):
            received.append(chunk)
    assert len(received) == cut_after
    span = telemetry.only_span()
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes["error.type"] == "RemoteProtocolError"
    assert telemetry.token_usage() == (usage or {})
    assert ("gen_ai.usage.input_tokens" in span.attributes) is (usage is not None)


@pytest.mark.parametrize(
    ("status", "exception"),
    [(400, groq.BadRequestError), (429, groq.RateLimitError), (500, groq.InternalServerError)],
)
@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
async def test_http_errors_propagate_unchanged(
    fake: FakeProvider,
    instrument: Any,
    telemetry: Telemetry,
    status: int,
    exception: type[Exception],
    is_async: bool,
) -> None:
    fake.enqueue("groq.chat", {"error": status})
    with pytest.raises(exception) as plain:
        await chat(fake, is_async=is_async, stream=False)
    instrument("groq")
    fake.enqueue("groq.chat", {"error": status})
    with pytest.raises(exception) as traced:
        await chat(fake, is_async=is_async, stream=True)
    assert type(traced.value) is type(plain.value)
    assert str(traced.value) == str(plain.value)
    assert_failed_call(telemetry, exception.__name__)


# --- pure normalizers, including the LangChain "Response metadata" seed ------------------------------

# Seed 000, Groq example: ``response_metadata["token_usage"]``.
SEED_TOKEN_USAGE = {
    "completion_time": 0.243,
    "completion_tokens": 132,
    "prompt_time": 0.022,
    "prompt_tokens": 22,
    "queue_time": None,
    "total_time": 0.265,
    "total_tokens": 154,
}


@pytest.mark.parametrize(
    ("usage", "expected"),
    [
        (SEED_TOKEN_USAGE, TokenUsage(input=22, output=132)),
        (USAGE, TokenUsage(input=18, output=9)),
        (CACHED_REASONING_USAGE, TokenUsage(input=2048, output=420, cache_read=1536, reasoning=300)),
        (
            {"prompt_tokens": 7, "prompt_tokens_details": None, "completion_tokens_details": None},
            TokenUsage(input=7),
        ),
        ({"prompt_tokens": True, "completion_tokens": -3}, TokenUsage()),
        (None, None),
    ],
)
def test_extract_usage(usage: Any, expected: TokenUsage | None) -> None:
    assert extract_usage(usage) == expected


@pytest.mark.parametrize(
    ("usage", "expected"),
    [
        (
            SEED_TOKEN_USAGE,
            {
                "groq.usage.completion_time": 0.243,
                "groq.usage.prompt_time": 0.022,
                "groq.usage.total_time": 0.265,
            },
        ),
        (USAGE, TIMINGS),
        ({"queue_time": 0, "total_time": "0.5"}, {"groq.usage.queue_time": 0.0}),
        (None, {}),
    ],
)
def test_extract_timings(usage: Any, expected: dict[str, float]) -> None:
    timings = extract_timings(usage)
    assert timings == expected
    assert all(type(value) is float for value in timings.values())


def test_seed_example_end_to_end(fake: FakeProvider, instrument: Any, telemetry: Telemetry) -> None:
    instrument("groq")
    fake.enqueue("groq.chat", {"usage": SEED_TOKEN_USAGE, "model": "mixtral-8x7b-32768"})
    groq.Groq(api_key="test", base_url=fake.url, max_retries=0).chat.completions.create(
        model="mixtral-8x7b-32768", messages=MESSAGES
    )
    span = telemetry.only_span()
    assert_attributes(
        span,
        {
            "gen_ai.response.model": "mixtral-8x7b-32768",
            "gen_ai.response.finish_reasons": ("stop",),
            "gen_ai.usage.input_tokens": 22,
            "gen_ai.usage.output_tokens": 132,
            "groq.usage.completion_time": 0.243,
            "groq.usage.prompt_time": 0.022,
            "groq.usage.total_time": 0.265,
        },
    )
    assert "groq.usage.queue_time" not in span.attributes
    assert telemetry.token_usage() == {"input": (22, 1), "output": (132, 1)}
