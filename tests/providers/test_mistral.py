"""Mistral adapter: the real mistralai client over HTTP to the fake provider, exact telemetry assertions."""

from __future__ import annotations

import importlib
from typing import Any

import pytest
from opentelemetry.trace import SpanKind, StatusCode
from pydantic import BaseModel

from tests.sdk_versions import http_library, requires, requires_parameter
from tests.telemetry import Telemetry, assert_attributes
from tokentrace._core.usage import TokenUsage
from tokentrace._providers.mistral import extract_embeddings_usage, extract_usage
from tokentrace.testing import FakeProvider
from tokentrace.testing.mistral import USAGE

# mistralai 3.x lives in ``mistralai.client``; 1.x at the package's top level.
try:
    sdk = importlib.import_module("mistralai.client.sdk")
    from mistralai.client import Mistral
    from mistralai.client.errors import SDKError
    from mistralai.client.models import UsageInfo
except ImportError:
    sdk = importlib.import_module("mistralai.sdk")
    from mistralai import Mistral  # type: ignore[no-redef, attr-defined]
    from mistralai.models import SDKError, UsageInfo  # type: ignore[no-redef]
httpx2 = http_library(sdk)
_chat = importlib.import_module(sdk.__name__.rsplit(".", 1)[0] + ".chat")
_eventstreaming = importlib.import_module(sdk.__name__.rsplit(".", 1)[0] + ".utils.eventstreaming")
# Older releases lack these; their tests skip there (./scripts/test-matrix runs the oldest release).
needs_reasoning_effort = requires_parameter(_chat.Chat.complete, "reasoning_effort")
needs_async_stream_close = requires(_eventstreaming.EventStreamAsync, "close")

MODEL = "mistral-small-latest"
MESSAGES: list[Any] = [{"role": "user", "content": "What's the oldest known example of cuneiform"}]
CHAT_ID = "cf79f7daaee244b1a0ae5c7b1444424a"
CACHED_USAGE = {
    "prompt_tokens": 1300,
    "completion_tokens": 40,
    "total_tokens": 1340,
    "prompt_tokens_details": {"cached_tokens": 1280},
}


def client(fake: FakeProvider) -> Mistral:
    return Mistral(api_key="test-key", server_url=fake.base_url("mistralai"))


async def chat(fake: FakeProvider, *, is_async: bool, stream: bool, **kwargs: Any) -> Any:
    """One call as the application sees it: the response's or every event's ``model_dump()``."""
    if is_async:
        async with client(fake) as aclient:
            if stream:
                events = await aclient.chat.stream_async(model=MODEL, messages=MESSAGES, **kwargs)
                return [event.model_dump() async for event in events]
            response = await aclient.chat.complete_async(model=MODEL, messages=MESSAGES, **kwargs)
            return response.model_dump()
    with client(fake) as sclient:
        if stream:
            return [
                event.model_dump() for event in sclient.chat.stream(model=MODEL, messages=MESSAGES, **kwargs)
            ]
        return sclient.chat.complete(model=MODEL, messages=MESSAGES, **kwargs).model_dump()


@pytest.mark.parametrize("stream", [False, True], ids=["complete", "stream"])
@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
async def test_chat_paths(
    fake: FakeProvider, instrument: Any, telemetry: Telemetry, is_async: bool, stream: bool
) -> None:
    plain = await chat(fake, is_async=is_async, stream=stream)
    instrument("mistralai")
    traced = await chat(fake, is_async=is_async, stream=stream)
    assert traced == plain
    (request,) = fake.requests_to("mistralai.chat")[-1:]
    assert request.json["stream"] is stream and "stream_options" not in request.json

    span = telemetry.only_span()
    assert (span.name, span.kind, span.status.status_code) == (
        f"chat {MODEL}",
        SpanKind.CLIENT,
        StatusCode.UNSET,
    )
    expected: dict[str, Any] = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "mistral_ai",
        "gen_ai.request.model": MODEL,
        "server.address": "127.0.0.1",
        "server.port": fake.port,
        "gen_ai.response.id": CHAT_ID,
        "gen_ai.response.model": MODEL,
        "gen_ai.response.finish_reasons": ("stop",),
        "gen_ai.usage.input_tokens": 10,
        "gen_ai.usage.output_tokens": 9,
        "gen_ai.usage.cache_read.input_tokens": 0,
    }
    if stream:
        expected["gen_ai.request.stream"] = True
        expected["gen_ai.response.time_to_first_chunk"] = span.attributes[
            "gen_ai.response.time_to_first_chunk"
        ]
    assert_attributes(span, expected)
    assert set(span.attributes) == set(expected)

    assert telemetry.token_usage() == {"input": (10, 1), "output": (9, 1)}
    (point,) = telemetry.points("gen_ai.client.operation.duration")
    assert dict(point.attributes) == {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "mistral_ai",
        "gen_ai.request.model": MODEL,
        "gen_ai.response.model": MODEL,
        "server.address": "127.0.0.1",
        "server.port": fake.port,
    }
    assert telemetry.counter_total("gen_ai.client.inference.usage.cache_read.input_tokens") == 0
    assert len(telemetry.points("gen_ai.client.operation.time_to_first_chunk")) == int(stream)
    if stream:
        (per_chunk,) = telemetry.points("gen_ai.client.operation.time_per_output_chunk")
        assert per_chunk.count == len(traced) - 1


@pytest.mark.parametrize("stream", [False, True], ids=["complete", "stream"])
async def test_cached_tokens(fake: FakeProvider, instrument: Any, telemetry: Telemetry, stream: bool) -> None:
    instrument("mistralai")
    fake.enqueue("mistralai.chat", {"usage": CACHED_USAGE})
    await chat(fake, is_async=stream, stream=stream)
    assert_attributes(
        telemetry.only_span(),
        {
            "gen_ai.usage.input_tokens": 1300,
            "gen_ai.usage.output_tokens": 40,
            "gen_ai.usage.cache_read.input_tokens": 1280,
        },
    )
    assert telemetry.token_usage() == {"input": (1300, 1), "output": (40, 1)}
    assert telemetry.counter_total("gen_ai.client.inference.usage.cache_read.input_tokens") == 1280


@pytest.mark.parametrize("stream", [False, True], ids=["complete", "stream"])
async def test_counts_the_sdk_defaults_to_zero_are_not_recorded(
    fake: FakeProvider, instrument: Any, telemetry: Telemetry, stream: bool
) -> None:
    """``UsageInfo`` shows 0 for a count Mistral did not send; tokentrace records nothing for it."""
    instrument("mistralai")
    fake.enqueue("mistralai.chat", {"usage": {"prompt_tokens": 19, "total_tokens": 141}})
    result = await chat(fake, is_async=False, stream=stream)
    usage = result[-1]["data"]["usage"] if stream else result["usage"]
    assert usage["completion_tokens"] == 0
    span = telemetry.only_span()
    assert span.attributes["gen_ai.usage.input_tokens"] == 19
    assert "gen_ai.usage.output_tokens" not in span.attributes
    assert "gen_ai.usage.cache_read.input_tokens" not in span.attributes
    assert telemetry.token_usage() == {"input": (19, 1)}


@needs_reasoning_effort
def test_request_attributes(fake: FakeProvider, instrument: Any, telemetry: Telemetry) -> None:
    instrument("mistralai")
    client(fake).chat.complete(
        model=MODEL,
        messages=MESSAGES,
        temperature=0.3,
        top_p=0.95,
        max_tokens=100,
        random_seed=1234,
        stop=["###"],
        presence_penalty=0.5,
        n=2,
        response_format={"type": "json_object"},
        reasoning_effort="high",
    )
    assert_attributes(
        telemetry.only_span(),
        {
            "gen_ai.request.temperature": 0.3,
            "gen_ai.request.top_p": 0.95,
            "gen_ai.request.max_tokens": 100,
            "gen_ai.request.seed": 1234,
            "gen_ai.request.stop_sequences": ("###",),
            "gen_ai.request.presence_penalty": 0.5,
            "gen_ai.request.choice.count": 2,
            "gen_ai.output.type": "json",
            "gen_ai.request.reasoning.level": "high",
            "gen_ai.response.finish_reasons": ("stop", "stop"),
        },
    )


def test_parse_is_one_span(fake: FakeProvider, instrument: Any, telemetry: Telemetry) -> None:
    class Tablet(BaseModel):
        name: str

    instrument("mistralai")
    fake.enqueue("mistralai.chat", {"text": '{"name": "Kish tablet"}'})
    parsed = client(fake).chat.parse(Tablet, model=MODEL, messages=MESSAGES)
    assert parsed.choices is not None and parsed.choices[0].message is not None
    assert parsed.choices[0].message.parsed == Tablet(name="Kish tablet")
    span = telemetry.only_span()
    assert_attributes(span, {"gen_ai.output.type": "json", "gen_ai.usage.input_tokens": 10})
    assert telemetry.token_usage() == {"input": (10, 1), "output": (9, 1)}


def test_per_call_server_url(fake: FakeProvider, instrument: Any, telemetry: Telemetry) -> None:
    instrument("mistralai")
    elsewhere = Mistral(api_key="test-key", server_url="http://127.0.0.1:9/unused")
    elsewhere.chat.complete(model=MODEL, messages=MESSAGES, server_url=fake.base_url("mistralai"))
    assert_attributes(telemetry.only_span(), {"server.address": "127.0.0.1", "server.port": fake.port})


# --- embeddings ------------------------------------------------------------------------------------


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
async def test_embeddings(fake: FakeProvider, instrument: Any, telemetry: Telemetry, is_async: bool) -> None:
    async def embed() -> Any:
        kwargs: dict[str, Any] = {"model": "mistral-embed", "inputs": ["a tablet", "a stele"]}
        if is_async:
            async with client(fake) as aclient:
                return (await aclient.embeddings.create_async(**kwargs, encoding_format="float")).model_dump()
        return client(fake).embeddings.create(**kwargs, encoding_format="float").model_dump()

    plain = await embed()
    instrument("mistralai")
    assert await embed() == plain
    span = telemetry.only_span()
    assert span.name == "embeddings mistral-embed"
    expected: dict[str, Any] = {
        "gen_ai.operation.name": "embeddings",
        "gen_ai.provider.name": "mistral_ai",
        "gen_ai.request.model": "mistral-embed",
        "gen_ai.request.encoding_formats": ("float",),
        "server.address": "127.0.0.1",
        "server.port": fake.port,
        "gen_ai.response.id": "embd-aad6fc62b17349b192ef09225058bc45",
        "gen_ai.response.model": "mistral-embed",
        "gen_ai.embeddings.dimension.count": 4,
        "gen_ai.usage.input_tokens": 15,
    }
    assert_attributes(span, expected)
    assert set(span.attributes) == set(expected)  # completion_tokens 0 is not an output count
    assert telemetry.token_usage() == {"input": (15, 1)}
    assert telemetry.points("gen_ai.client.inference.usage.output_tokens") == []


# --- broken streams and errors ---------------------------------------------------------------------


@pytest.mark.parametrize(("cut_after", "expected"), [(5, {}), (7, {"input": (10, 1), "output": (9, 1)})])
async def test_async_stream_broken_midway(
    fake: FakeProvider, instrument: Any, telemetry: Telemetry, cut_after: int, expected: Any
) -> None:
    """8 events: role, 5 words, the final chunk with ``usage``, ``[DONE]``."""
    instrument("mistralai")
    fake.enqueue("mistralai.chat", {"cut_after": cut_after})
    received = []
    async with client(fake) as aclient:
        events = await aclient.chat.stream_async(model=MODEL, messages=MESSAGES)
        with pytest.raises(httpx2.RemoteProtocolError):
            async for event in events:
                received.append(event)
    assert len(received) == cut_after
    span = telemetry.only_span()
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes["error.type"] == "RemoteProtocolError"
    assert telemetry.token_usage() == expected


def test_stream_closed_early(fake: FakeProvider, instrument: Any, telemetry: Telemetry) -> None:
    instrument("mistralai")
    with client(fake).chat.stream(model=MODEL, messages=MESSAGES) as events:
        first = next(events)
    assert first.data.choices[0].delta.role == "assistant"
    span = telemetry.only_span()
    assert span.status.status_code is StatusCode.UNSET
    assert "gen_ai.usage.input_tokens" not in span.attributes
    assert telemetry.token_usage() == {}


@needs_async_stream_close
async def test_async_stream_close(fake: FakeProvider, instrument: Any, telemetry: Telemetry) -> None:
    instrument("mistralai")
    async with client(fake) as aclient:
        events = await aclient.chat.stream_async(model=MODEL, messages=MESSAGES)
        await events.__anext__()
        await events.close()
    assert telemetry.only_span().end_time is not None
    assert telemetry.token_usage() == {}


@pytest.mark.parametrize("status", [400, 429, 500])
@pytest.mark.parametrize(
    ("is_async", "stream"), [(False, False), (True, True)], ids=["complete", "stream_async"]
)
async def test_http_errors_propagate_unchanged(
    fake: FakeProvider, instrument: Any, telemetry: Telemetry, status: int, is_async: bool, stream: bool
) -> None:
    fake.enqueue("mistralai.chat", {"error": status})
    with pytest.raises(SDKError) as plain:
        await chat(fake, is_async=is_async, stream=stream)
    instrument("mistralai")
    fake.enqueue("mistralai.chat", {"error": status})
    with pytest.raises(SDKError) as traced:
        await chat(fake, is_async=is_async, stream=stream)
    assert (traced.value.status_code, str(traced.value)) == (status, str(plain.value))
    span = telemetry.only_span()
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes["error.type"] == str(status)  # the catch-all SDKError's HTTP status
    (point,) = telemetry.points("gen_ai.client.operation.duration")
    assert point.attributes["error.type"] == str(status)
    assert telemetry.token_usage() == {}


def test_embeddings_error(fake: FakeProvider, instrument: Any, telemetry: Telemetry) -> None:
    instrument("mistralai")
    fake.enqueue("mistralai.embeddings", {"error": 401})
    with pytest.raises(SDKError):
        client(fake).embeddings.create(model="mistral-embed", inputs=["a tablet"])
    span = telemetry.only_span()
    assert (span.attributes["error.type"], span.status.status_code) == ("401", StatusCode.ERROR)
    assert telemetry.token_usage() == {}


# --- pure normalizers, including the LangChain "Response metadata" seed ------------------------------

# Seed 000, MistralAI example: ``response_metadata["token_usage"]``.
SEED_TOKEN_USAGE = {"prompt_tokens": 19, "total_tokens": 141, "completion_tokens": 122}


@pytest.mark.parametrize(
    ("usage", "expected"),
    [
        (SEED_TOKEN_USAGE, TokenUsage(input=19, output=122)),
        (UsageInfo.model_validate(SEED_TOKEN_USAGE), TokenUsage(input=19, output=122)),
        (USAGE, TokenUsage(input=10, output=9, cache_read=0)),
        (UsageInfo.model_validate(CACHED_USAGE), TokenUsage(input=1300, output=40, cache_read=1280)),
        (UsageInfo.model_validate({"prompt_tokens": 19}), TokenUsage(input=19)),
        (UsageInfo(), TokenUsage()),
        ({"prompt_tokens": 19, "prompt_tokens_details": {"cached_tokens": None}}, TokenUsage(input=19)),
        (None, None),
    ],
)
def test_extract_usage(usage: Any, expected: TokenUsage | None) -> None:
    assert extract_usage(usage) == expected


def test_extract_embeddings_usage() -> None:
    assert extract_embeddings_usage({"prompt_tokens": 15, "completion_tokens": 0}) == TokenUsage(input=15)
    assert extract_embeddings_usage(UsageInfo()) == TokenUsage()
    assert extract_embeddings_usage(None) is None


def test_seed_example_end_to_end(fake: FakeProvider, instrument: Any, telemetry: Telemetry) -> None:
    instrument("mistralai")
    fake.enqueue("mistralai.chat", {"usage": SEED_TOKEN_USAGE, "model": "mistral-small"})
    client(fake).chat.complete(model="mistral-small", messages=MESSAGES)
    span = telemetry.only_span()
    assert_attributes(
        span,
        {
            "gen_ai.response.model": "mistral-small",
            "gen_ai.response.finish_reasons": ("stop",),
            "gen_ai.usage.input_tokens": 19,
            "gen_ai.usage.output_tokens": 122,
        },
    )
    assert "gen_ai.usage.cache_read.input_tokens" not in span.attributes
    assert telemetry.token_usage() == {"input": (19, 1), "output": (122, 1)}
