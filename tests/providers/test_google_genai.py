"""Google Gen AI adapter: the real google-genai client over HTTP to the fake provider, exact telemetry.

Both backends (Gemini API and Vertex AI), sync and async (``client.aio``, which goes through
aiohttp when it is installed), plain and streamed, AFC and automatic continuation, chats, count and
compute tokens, embeddings, errors; then table-driven tests of the pure normalizers with Google's
own published examples (seed 004 and the LangChain response-metadata page).
"""

from __future__ import annotations

import gc
import importlib.util
from collections.abc import Iterator
from typing import Any, TypeVar, get_type_hints

import google.oauth2.credentials
import pytest
from google import genai
from google.genai import errors, types
from opentelemetry import context as otel_context
from opentelemetry.trace import SpanKind, StatusCode

from tests.sdk_versions import release, requires
from tests.telemetry import Telemetry
from tokentrace._core.emitter import Emitter
from tokentrace._core.invocation import RequestFacts
from tokentrace._core.usage import TokenUsage
from tokentrace._demo import google_genai as demo
from tokentrace._providers.google_genai import (
    extract_compute_counts,
    extract_count_usage,
    extract_embed_usage,
    extract_finish_reasons,
    extract_traffic_type,
    extract_usage,
    finish_reason_name,
    provider_of,
    request_attributes,
    role_name,
)
from tokentrace.testing import FakeProvider, Reply
from tokentrace.testing.google_genai import COMPUTE_TOKEN_IDS, COMPUTE_TOKENS

# Newer releases report embeddings usage on the response itself, and send Vertex embeddings to
# ``:embedContent``; their tests skip with older releases (./scripts/test-matrix runs the oldest).
EMBED_USAGE_METADATA = "usage_metadata" in types.EmbedContentResponse.model_fields
needs_embed_usage_metadata = pytest.mark.skipif(
    not EMBED_USAGE_METADATA, reason=f"{release(types)}: EmbedContentResponse has no usage_metadata"
)
needs_thinking_level = requires(types, "ThinkingLevel")
needs_continuation = requires(types.FinishReason, "CONTINUATION")

# google-genai defines its aiohttp session class on first async use; aiohttp deprecates subclassing.
pytestmark = pytest.mark.filterwarnings("ignore:Inheritance class Aiohttp:DeprecationWarning")

MODEL = "gemini-2.5-flash"
GENERATE = "google_genai.generate_content"
STREAM = "google_genai.stream_generate_content"

# The fake's Gemini API default: 1030 prompt tokens (1024 cached), 8 candidate and 58 thinking tokens.
GEMINI_RESPONSE = {
    "gen_ai.response.id": "mGZcaLmHBNaQ1dkP5uTw4Q8",
    "gen_ai.response.model": MODEL,
    "gen_ai.response.finish_reasons": ("stop",),
    "gen_ai.usage.input_tokens": 1030,
    "gen_ai.usage.output_tokens": 66,
    "gen_ai.usage.cache_read.input_tokens": 1024,
    "gen_ai.usage.reasoning.output_tokens": 58,
    "gen_ai.usage.text.input_tokens": 1030,
    "gen_ai.usage.text.cache_read.input_tokens": 1024,
}
# The fake's Vertex AI default, Google's "List and count tokens" example: 6 prompt, 569 candidate
# and 1132 thinking tokens, ON_DEMAND traffic.
VERTEX_RESPONSE = {
    "gen_ai.response.id": "kx8CaOXUG9Oc2PgPtavQ0Ak",
    "gen_ai.response.model": MODEL,
    "gen_ai.response.finish_reasons": ("stop",),
    "gen_ai.usage.input_tokens": 6,
    "gen_ai.usage.output_tokens": 1701,
    "gen_ai.usage.reasoning.output_tokens": 1132,
    "gen_ai.usage.text.input_tokens": 6,
    "gen_ai.usage.text.output_tokens": 569,
    "gcp.gen_ai.usage.traffic_type": "ON_DEMAND",
}
FUNCTION_CALL = {"name": "get_weather", "args": {"city": "Paris"}}
HOP_1_USAGE = {"promptTokenCount": 50, "candidatesTokenCount": 5, "totalTokenCount": 55}
HOP_2_USAGE = {
    "promptTokenCount": 70,
    "candidatesTokenCount": 9,
    "thoughtsTokenCount": 3,
    "totalTokenCount": 82,
}


_F = TypeVar("_F")


def resolved(function: _F) -> _F:
    """The tool with its annotations evaluated: this module's are strings (``from __future__ import
    annotations``), which automatic function calling in releases before 2.x cannot read."""
    function.__annotations__ = get_type_hints(function)  # type: ignore[attr-defined]
    return function


@resolved
def get_weather(city: str) -> str:
    """The weather in a city."""
    return f"sunny in {city}"


def gemini_client(fake: FakeProvider) -> genai.Client:
    return genai.Client(
        api_key="test-key", http_options=types.HttpOptions(base_url=fake.base_url("google_genai"))
    )


def vertex_client(fake: FakeProvider) -> genai.Client:
    return genai.Client(
        vertexai=True,
        project="p",
        location="us-central1",
        credentials=google.oauth2.credentials.Credentials(token="fake"),
        http_options=types.HttpOptions(base_url=fake.base_url("google_genai")),
    )


@pytest.fixture
def gemini(fake: FakeProvider) -> Iterator[genai.Client]:
    client = gemini_client(fake)
    yield client
    client.close()


@pytest.fixture
def vertex(fake: FakeProvider) -> Iterator[genai.Client]:
    client = vertex_client(fake)
    yield client
    client.close()


def request_facts(
    fake: FakeProvider, provider: str, operation: str = "generate_content", model: str = MODEL
) -> dict[str, Any]:
    return {
        "gen_ai.operation.name": operation,
        "gen_ai.provider.name": provider,
        "gen_ai.request.model": model,
        "server.address": "127.0.0.1",
        "server.port": fake.port,
    }


def assert_exact_attributes(span: Any, expected: dict[str, Any], *, first_chunk: bool = True) -> None:
    """Every attribute, with its value and its type (``1 == True`` would hide a wrong type)."""
    actual = dict(span.attributes)
    ttfc = actual.pop("gen_ai.response.time_to_first_chunk", None)
    if expected.get("gen_ai.request.stream") and first_chunk:
        assert isinstance(ttfc, float) and ttfc > 0
    else:
        assert ttfc is None
    assert actual == expected
    assert {key: type(value) for key, value in actual.items()} == {
        key: type(value) for key, value in expected.items()
    }


def assert_no_token_metrics(telemetry: Telemetry) -> None:
    assert telemetry.token_usage() == {}
    for name in ("input_tokens", "output_tokens", "cache_read.input_tokens", "reasoning.output_tokens"):
        assert telemetry.points(f"gen_ai.client.inference.usage.{name}") == []


def dumped(response: Any) -> Any:
    """What the application sees, without the HTTP headers (their ``date`` changes every second)."""
    return response.model_dump(exclude={"sdk_http_response"})


# --- generate_content --------------------------------------------------------------------------------


def test_generate_content_gemini_cached_and_thinking(
    fake: FakeProvider, gemini: genai.Client, instrument: Any, telemetry: Telemetry
) -> None:
    instrument("google_genai")
    response = gemini.models.generate_content(model=MODEL, contents="Say hello.")
    assert response.text == "Hello! How can I help?"

    span = telemetry.only_span()
    assert span.name == "generate_content gemini-2.5-flash"
    assert span.kind is SpanKind.CLIENT
    assert span.status.status_code is StatusCode.UNSET
    assert_exact_attributes(span, {**request_facts(fake, "gcp.gemini"), **GEMINI_RESPONSE})

    assert telemetry.token_usage() == {"input": (1030, 1), "output": (66, 1)}
    (point,) = telemetry.points("gen_ai.client.operation.duration")
    assert dict(point.attributes) == {
        **request_facts(fake, "gcp.gemini"),
        "gen_ai.response.model": MODEL,
    }
    total = telemetry.counter_total
    assert total("gen_ai.client.inference.usage.input_tokens", gen_ai__token__modality="text") == 1030
    assert total("gen_ai.client.inference.usage.output_tokens", gen_ai__token__modality="unknown") == 66
    assert (
        total("gen_ai.client.inference.usage.cache_read.input_tokens", gen_ai__token__modality="text") == 1024
    )
    assert total("gen_ai.client.inference.usage.reasoning.output_tokens") == 58
    assert telemetry.points("gen_ai.client.inference.usage.cache_write.input_tokens") == []
    assert telemetry.points("gen_ai.client.operation.time_to_first_chunk") == []


def test_generate_content_vertex_seed_thinking_example(
    fake: FakeProvider, vertex: genai.Client, instrument: Any, telemetry: Telemetry
) -> None:
    instrument("google_genai")
    response = vertex.models.generate_content(model=MODEL, contents="Why is the sky blue?")
    assert response.usage_metadata is not None and response.usage_metadata.thoughts_token_count == 1132
    (request,) = fake.requests_to(GENERATE)
    vertex_path = "/v1beta1/projects/p/locations/us-central1/publishers/google/models/"
    assert request.path == vertex_path + "gemini-2.5-flash:generateContent"

    assert_exact_attributes(
        telemetry.only_span(), {**request_facts(fake, "gcp.vertex_ai"), **VERTEX_RESPONSE}
    )
    assert telemetry.token_usage() == {"input": (6, 1), "output": (1701, 1)}
    total = telemetry.counter_total
    assert total("gen_ai.client.inference.usage.output_tokens", gen_ai__token__modality="text") == 569
    assert total("gen_ai.client.inference.usage.output_tokens", gen_ai__token__modality="unknown") == 1132
    assert total("gen_ai.client.inference.usage.reasoning.output_tokens") == 1132
    assert telemetry.points("gen_ai.client.inference.usage.cache_read.input_tokens") == []


def test_seed_usage_without_thinking_or_cache(
    fake: FakeProvider, vertex: genai.Client, instrument: Any, telemetry: Telemetry
) -> None:
    """Seed 004, Python: ``cached_content_token_count=None, candidates 311, prompt 6, total 317``."""
    instrument("google_genai")
    fake.enqueue(
        GENERATE, {"usage": {"candidatesTokenCount": 311, "promptTokenCount": 6, "totalTokenCount": 317}}
    )
    vertex.models.generate_content(model=MODEL, contents="Why is the sky blue?")
    span = telemetry.only_span()
    assert span.attributes["gen_ai.usage.input_tokens"] == 6
    assert span.attributes["gen_ai.usage.output_tokens"] == 311
    for absent in ("cache_read.input_tokens", "reasoning.output_tokens", "text.input_tokens"):
        assert f"gen_ai.usage.{absent}" not in span.attributes
    assert "gcp.gen_ai.usage.traffic_type" not in span.attributes
    assert telemetry.token_usage() == {"input": (6, 1), "output": (311, 1)}


@needs_thinking_level
def test_request_parameters(
    fake: FakeProvider, gemini: genai.Client, instrument: Any, telemetry: Telemetry
) -> None:
    instrument("google_genai")
    config = types.GenerateContentConfig(
        temperature=0.2,
        top_p=0.9,
        top_k=40,
        max_output_tokens=256,
        stop_sequences=["\n\n"],
        seed=7,
        candidate_count=2,
        presence_penalty=0.5,
        frequency_penalty=0.25,
        response_mime_type="application/json",
        thinking_config=types.ThinkingConfig(thinking_level=types.ThinkingLevel.LOW),
    )
    gemini.models.generate_content(model=MODEL, contents="Say hello.", config=config)
    span = telemetry.only_span()
    assert_exact_attributes(
        span,
        {
            **request_facts(fake, "gcp.gemini"),
            "gen_ai.request.temperature": 0.2,
            "gen_ai.request.top_p": 0.9,
            "gen_ai.request.top_k": 40,
            "gen_ai.request.max_tokens": 256,
            "gen_ai.request.stop_sequences": ("\n\n",),
            "gen_ai.request.seed": 7,
            "gen_ai.request.choice.count": 2,
            "gen_ai.request.presence_penalty": 0.5,
            "gen_ai.request.frequency_penalty": 0.25,
            "gen_ai.output.type": "json",
            "gen_ai.request.reasoning.level": "LOW",
            **GEMINI_RESPONSE,
        },
    )


def test_response_without_usage_records_no_tokens(
    fake: FakeProvider, gemini: genai.Client, instrument: Any, telemetry: Telemetry
) -> None:
    instrument("google_genai")
    fake.enqueue(GENERATE, {"usage": None, "finish_reason": "MAX_TOKENS", "model": "gemini-2.5-flash-001"})
    gemini.models.generate_content(model=MODEL, contents="Say hello.")
    span = telemetry.only_span()
    assert not [key for key in span.attributes if key.startswith("gen_ai.usage.")]
    assert span.attributes["gen_ai.response.finish_reasons"] == ("max_tokens",)
    assert span.attributes["gen_ai.response.model"] == "gemini-2.5-flash-001"
    assert_no_token_metrics(telemetry)
    assert len(telemetry.points("gen_ai.client.operation.duration")) == 1


async def test_async_generate_content(fake: FakeProvider, instrument: Any, telemetry: Telemetry) -> None:
    instrument("google_genai")
    gemini, vertex = gemini_client(fake), vertex_client(fake)
    if importlib.util.find_spec("aiohttp") is not None:
        assert gemini.aio._api_client._use_aiohttp()  # the transport google-genai picks when aiohttp is there
    await gemini.aio.models.generate_content(model=MODEL, contents="Say hello.")
    await vertex.aio.models.generate_content(model=MODEL, contents="Say hello.")
    for client in (gemini, vertex):
        await client.aio.aclose()
        client.close()
    first, second = telemetry.spans()
    assert_exact_attributes(first, {**request_facts(fake, "gcp.gemini"), **GEMINI_RESPONSE})
    assert_exact_attributes(second, {**request_facts(fake, "gcp.vertex_ai"), **VERTEX_RESPONSE})
    assert telemetry.token_usage() == {"input": (1036, 2), "output": (1767, 2)}


# --- generate_content_stream -------------------------------------------------------------------------


def test_stream_last_chunk_wins(
    fake: FakeProvider, gemini: genai.Client, instrument: Any, telemetry: Telemetry
) -> None:
    """Every chunk carries the running totals (1030 prompt tokens each time): never summed."""
    instrument("google_genai")
    chunks = list(gemini.models.generate_content_stream(model=MODEL, contents="Say hello."))
    assert len(chunks) == 5
    assert [chunk.usage_metadata.prompt_token_count for chunk in chunks if chunk.usage_metadata] == [1030] * 5
    (request,) = fake.requests_to(STREAM)
    assert request.query == {"alt": ["sse"]}

    assert_exact_attributes(
        telemetry.only_span(),
        {**request_facts(fake, "gcp.gemini"), "gen_ai.request.stream": True, **GEMINI_RESPONSE},
    )
    assert telemetry.token_usage() == {"input": (1030, 1), "output": (66, 1)}
    assert telemetry.counter_total("gen_ai.client.inference.usage.cache_read.input_tokens") == 1024
    assert telemetry.counter_total("gen_ai.client.inference.usage.reasoning.output_tokens") == 58
    (ttfc,) = telemetry.points("gen_ai.client.operation.time_to_first_chunk")
    assert ttfc.count == 1
    (per_chunk,) = telemetry.points("gen_ai.client.operation.time_per_output_chunk")
    assert per_chunk.count == 4


def test_stream_vertex_seed_thinking_example(
    fake: FakeProvider, vertex: genai.Client, instrument: Any, telemetry: Telemetry
) -> None:
    instrument("google_genai")
    for _ in vertex.models.generate_content_stream(model=MODEL, contents="Why is the sky blue?"):
        pass
    assert_exact_attributes(
        telemetry.only_span(),
        {**request_facts(fake, "gcp.vertex_ai"), "gen_ai.request.stream": True, **VERTEX_RESPONSE},
    )
    assert telemetry.token_usage() == {"input": (6, 1), "output": (1701, 1)}


async def test_async_stream_is_awaited_then_iterated(
    fake: FakeProvider, instrument: Any, telemetry: Telemetry
) -> None:
    instrument("google_genai")
    gemini, vertex = gemini_client(fake), vertex_client(fake)
    for client in (gemini, vertex):
        stream = await client.aio.models.generate_content_stream(model=MODEL, contents="Say hello.")
        texts = [chunk.text async for chunk in stream]
        assert "".join(text or "" for text in texts) == "Hello! How can I help?"
        await client.aio.aclose()
        client.close()
    first, second = telemetry.spans()
    streamed = {"gen_ai.request.stream": True}
    assert_exact_attributes(first, {**request_facts(fake, "gcp.gemini"), **streamed, **GEMINI_RESPONSE})
    assert_exact_attributes(second, {**request_facts(fake, "gcp.vertex_ai"), **streamed, **VERTEX_RESPONSE})
    assert telemetry.token_usage() == {"input": (1036, 2), "output": (1767, 2)}


def test_stream_broken_midway_keeps_partial_usage(
    fake: FakeProvider, gemini: genai.Client, instrument: Any, telemetry: Telemetry
) -> None:
    instrument("google_genai")
    fake.enqueue(STREAM, {"cut_after": 2})
    received = []
    with pytest.raises(Exception) as raised:  # the transport's own error (httpx2), unchanged
        for chunk in gemini.models.generate_content_stream(model=MODEL, contents="Say hello."):
            received.append(chunk)
    assert len(received) == 2
    span = telemetry.only_span()
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes["error.type"] == type(raised.value).__qualname__
    # The running totals of the second chunk: the prompt and the thinking so far, no candidates yet.
    assert span.attributes["gen_ai.usage.input_tokens"] == 1030
    assert span.attributes["gen_ai.usage.output_tokens"] == 58
    assert "gen_ai.response.finish_reasons" not in span.attributes
    assert telemetry.token_usage() == {"input": (1030, 1), "output": (58, 1)}
    (point,) = telemetry.points("gen_ai.client.operation.duration")
    assert point.attributes["error.type"] == type(raised.value).__qualname__


async def test_async_stream_broken_midway_keeps_partial_usage(
    fake: FakeProvider, instrument: Any, telemetry: Telemetry
) -> None:
    instrument("google_genai")
    client = gemini_client(fake)
    fake.enqueue(STREAM, {"cut_after": 2})
    with pytest.raises(Exception) as raised:  # aiohttp's own error, unchanged
        async for _ in await client.aio.models.generate_content_stream(model=MODEL, contents="Say hello."):
            pass
    await client.aio.aclose()
    span = telemetry.only_span()
    assert span.attributes["error.type"] == type(raised.value).__qualname__
    assert telemetry.token_usage() == {"input": (1030, 1), "output": (58, 1)}


def test_stream_closed_early_and_abandoned(
    fake: FakeProvider, gemini: genai.Client, instrument: Any, telemetry: Telemetry
) -> None:
    instrument("google_genai")
    stream = gemini.models.generate_content_stream(model=MODEL, contents="Say hello.")
    next(stream)
    stream.close()
    span = telemetry.only_span()
    assert span.status.status_code is StatusCode.UNSET
    assert span.attributes["gen_ai.usage.input_tokens"] == 1030

    abandoned = gemini.models.generate_content_stream(model=MODEL, contents="Say hello.")
    next(abandoned)
    del abandoned
    gc.collect()
    assert len(telemetry.spans()) == 2
    assert telemetry.token_usage() == {"input": (2060, 2), "output": (116, 2)}


async def test_async_stream_closed_early(fake: FakeProvider, instrument: Any, telemetry: Telemetry) -> None:
    instrument("google_genai")
    client = gemini_client(fake)
    stream = await client.aio.models.generate_content_stream(model=MODEL, contents="Say hello.")
    await stream.__anext__()
    await stream.aclose()
    await client.aio.aclose()
    span = telemetry.only_span()
    assert span.attributes["gen_ai.usage.input_tokens"] == 1030
    assert telemetry.token_usage() == {"input": (1030, 1), "output": (58, 1)}


# --- automatic function calling and automatic continuation: several requests, one span --------------


def test_afc_usage_covers_every_hop(
    fake: FakeProvider, gemini: genai.Client, instrument: Any, telemetry: Telemetry
) -> None:
    instrument("google_genai")
    fake.enqueue(GENERATE, {"function_call": FUNCTION_CALL, "usage": HOP_1_USAGE}, {"usage": HOP_2_USAGE})
    response = gemini.models.generate_content(
        model=MODEL, contents="Weather in Paris?", config=types.GenerateContentConfig(tools=[get_weather])
    )
    assert response.text == "Hello! How can I help?"
    # The SDK returns the last hop only: 70 prompt tokens. Two requests were made and paid for.
    assert response.usage_metadata is not None and response.usage_metadata.prompt_token_count == 70
    assert len(fake.requests_to(GENERATE)) == 2
    second = fake.requests_to(GENERATE)[1].json["contents"]
    assert second[-1]["parts"][0]["functionResponse"]["response"] == {"result": "sunny in Paris"}

    assert_exact_attributes(
        telemetry.only_span(),
        {
            **request_facts(fake, "gcp.gemini"),
            "gen_ai.response.id": "mGZcaLmHBNaQ1dkP5uTw4Q8",
            "gen_ai.response.model": MODEL,
            "gen_ai.response.finish_reasons": ("stop",),
            "gen_ai.usage.input_tokens": 120,
            "gen_ai.usage.output_tokens": 17,
            "gen_ai.usage.reasoning.output_tokens": 3,
        },
    )
    assert telemetry.token_usage() == {"input": (120, 1), "output": (17, 1)}
    assert len(telemetry.points("gen_ai.client.operation.duration")) == 1


def test_afc_stream_usage_covers_every_hop(
    fake: FakeProvider, gemini: genai.Client, instrument: Any, telemetry: Telemetry
) -> None:
    instrument("google_genai")
    fake.enqueue(STREAM, {"function_call": FUNCTION_CALL, "usage": HOP_1_USAGE}, {"usage": HOP_2_USAGE})
    chunks = list(
        gemini.models.generate_content_stream(
            model=MODEL, contents="Weather in Paris?", config=types.GenerateContentConfig(tools=[get_weather])
        )
    )
    # The SDK's chunks carry each hop's own totals: the last chunk alone would say 70 + 12.
    assert chunks[-1].usage_metadata is not None and chunks[-1].usage_metadata.prompt_token_count == 70
    assert len(fake.requests_to(STREAM)) == 2
    span = telemetry.only_span()
    assert span.attributes["gen_ai.usage.input_tokens"] == 120
    assert span.attributes["gen_ai.usage.output_tokens"] == 17
    assert span.attributes["gen_ai.usage.reasoning.output_tokens"] == 3
    assert telemetry.token_usage() == {"input": (120, 1), "output": (17, 1)}


async def test_async_afc_plain_and_streamed(
    fake: FakeProvider, instrument: Any, telemetry: Telemetry
) -> None:
    instrument("google_genai")
    client = gemini_client(fake)
    config = types.GenerateContentConfig(tools=[get_weather])
    fake.enqueue(GENERATE, {"function_call": FUNCTION_CALL, "usage": HOP_1_USAGE}, {"usage": HOP_2_USAGE})
    await client.aio.models.generate_content(model=MODEL, contents="Weather in Paris?", config=config)
    fake.enqueue(STREAM, {"function_call": FUNCTION_CALL, "usage": HOP_1_USAGE}, {"usage": HOP_2_USAGE})
    async for _ in await client.aio.models.generate_content_stream(
        model=MODEL, contents="Weather?", config=config
    ):
        pass
    await client.aio.aclose()
    spans = telemetry.spans()
    assert len(spans) == 2
    assert [span.attributes["gen_ai.usage.input_tokens"] for span in spans] == [120, 120]
    assert [span.attributes["gen_ai.usage.output_tokens"] for span in spans] == [17, 17]
    assert len(fake.requests_to(GENERATE)) == 2 and len(fake.requests_to(STREAM)) == 2
    assert telemetry.token_usage() == {"input": (240, 2), "output": (34, 2)}


@needs_continuation
def test_automatic_continuation_is_not_double_counted(
    fake: FakeProvider, gemini: genai.Client, instrument: Any, telemetry: Telemetry
) -> None:
    """The SDK merges continuation hops (summing their counts); the hops are summed once, not twice."""
    instrument("google_genai")
    fake.enqueue(GENERATE, {"continuation_token": "resume-1", "usage": HOP_1_USAGE}, {"usage": HOP_2_USAGE})
    response = gemini.models.generate_content(model=MODEL, contents="Write a long story.")
    assert response.usage_metadata is not None and response.usage_metadata.prompt_token_count == 120
    assert len(fake.requests_to(GENERATE)) == 2

    fake.enqueue(STREAM, {"continuation_token": "resume-1", "usage": HOP_1_USAGE}, {"usage": HOP_2_USAGE})
    chunks = list(gemini.models.generate_content_stream(model=MODEL, contents="Write a long story."))
    assert chunks[-1].usage_metadata is not None and chunks[-1].usage_metadata.prompt_token_count == 120

    for span in telemetry.spans():
        assert span.attributes["gen_ai.usage.input_tokens"] == 120
        assert span.attributes["gen_ai.usage.output_tokens"] == 17
        assert span.attributes["gen_ai.response.finish_reasons"] == ("stop",)
    assert telemetry.token_usage() == {"input": (240, 2), "output": (34, 2)}


def test_hop_outside_a_traced_call_is_not_traced(
    fake: FakeProvider, gemini: genai.Client, instrument: Any, telemetry: Telemetry
) -> None:
    instrument("google_genai")
    gemini.models._generate_content(model=MODEL, contents="Say hello.")
    list(gemini.models._generate_content_stream(model=MODEL, contents="Say hello."))
    assert telemetry.spans() == []
    assert telemetry.points("gen_ai.client.operation.duration") == []


def test_count_tokens_in_an_afc_tool_adds_nothing(
    fake: FakeProvider, gemini: genai.Client, instrument: Any, telemetry: Telemetry
) -> None:
    """Counting is not consumption: a count made by a tool during AFC never enters the call's usage."""
    instrument("google_genai")

    @resolved
    def count_words(text: str) -> int:
        """Count the tokens of a text."""
        return gemini.models.count_tokens(model=MODEL, contents=text).total_tokens or 0

    fake.enqueue(
        GENERATE,
        {"function_call": {"name": "count_words", "args": {"text": "hello"}}, "usage": HOP_1_USAGE},
        {"usage": HOP_2_USAGE},
    )
    gemini.models.generate_content(
        model=MODEL, contents="Count.", config=types.GenerateContentConfig(tools=[count_words])
    )
    assert len(fake.requests_to("google_genai.count_tokens")) == 1
    spans = {span.name.split()[0]: span for span in telemetry.spans()}
    assert sorted(spans) == ["count_tokens", "generate_content"]
    # The tool's count is a call of its own, under the Gemini call, and never consumption.
    assert spans["count_tokens"].parent.span_id == spans["generate_content"].context.span_id
    assert spans["generate_content"].attributes["gen_ai.usage.input_tokens"] == 120
    assert telemetry.token_usage() == {"input": (120, 1), "output": (17, 1)}


def test_model_call_made_by_an_afc_tool_is_its_own_span(
    fake: FakeProvider, gemini: genai.Client, instrument: Any, telemetry: Telemetry
) -> None:
    instrument("google_genai")

    @resolved
    def summarize(text: str) -> str:
        """Summarize a text with another model call."""
        return gemini.models.generate_content(model="gemini-2.5-flash-lite", contents=text).text or ""

    fake.enqueue(
        GENERATE,
        {"function_call": {"name": "summarize", "args": {"text": "long"}}, "usage": HOP_1_USAGE},
        {},  # the tool's own call: the default 1030 + 66
        {"usage": HOP_2_USAGE},
    )
    gemini.models.generate_content(
        model=MODEL, contents="Go.", config=types.GenerateContentConfig(tools=[summarize])
    )
    assert len(telemetry.spans()) == 2


def test_calls_nested_in_an_absorbing_invocation_are_counted_once(
    fake: FakeProvider,
    gemini: genai.Client,
    instrument: Any,
    telemetry: Telemetry,
    tracer_provider: Any,
    meter_provider: Any,
) -> None:
    """Under a framework invocation (LangChain) both the call and its hops are nested: count hops only."""
    instrument("google_genai")
    emitter = Emitter(tracer_provider, meter_provider)
    outer = emitter.start(RequestFacts("chat", "gcp.gen_ai", absorbs_nested=True))
    assert outer.context is not None
    token = otel_context.attach(outer.context)
    try:
        fake.enqueue(GENERATE, {"function_call": FUNCTION_CALL, "usage": HOP_1_USAGE}, {"usage": HOP_2_USAGE})
        gemini.models.generate_content(
            model=MODEL, contents="Weather?", config=types.GenerateContentConfig(tools=[get_weather])
        )
        gemini.models.count_tokens(model=MODEL, contents="Weather?")
    finally:
        otel_context.detach(token)
    assert outer.nested_usage == TokenUsage(input=120, output=17, reasoning=3)
    assert outer.provider == "gcp.gemini"
    assert outer.response_id == "mGZcaLmHBNaQ1dkP5uTw4Q8"
    emitter.finish(outer)
    span = telemetry.only_span()
    assert span.attributes["gen_ai.provider.name"] == "gcp.gemini"
    assert span.attributes["gen_ai.usage.input_tokens"] == 120


# --- chats ---------------------------------------------------------------------------------------------


def test_chat_message_is_one_span(
    fake: FakeProvider, gemini: genai.Client, instrument: Any, telemetry: Telemetry
) -> None:
    instrument("google_genai")
    chat = gemini.chats.create(model=MODEL)
    chat.send_message("Hello")
    assert_exact_attributes(telemetry.only_span(), {**request_facts(fake, "gcp.gemini"), **GEMINI_RESPONSE})
    for _ in chat.send_message_stream("And again"):
        pass
    assert len(telemetry.spans()) == 2
    assert telemetry.spans()[1].attributes["gen_ai.request.stream"] is True
    assert telemetry.token_usage() == {"input": (2060, 2), "output": (132, 2)}


async def test_async_chat_message_is_one_span(
    fake: FakeProvider, instrument: Any, telemetry: Telemetry
) -> None:
    instrument("google_genai")
    client = vertex_client(fake)
    chat = client.aio.chats.create(model=MODEL)
    await chat.send_message("Hello")
    async for _ in await chat.send_message_stream("And again"):
        pass
    await client.aio.aclose()
    assert len(telemetry.spans()) == 2
    assert telemetry.token_usage() == {"input": (12, 2), "output": (3402, 2)}


# --- count_tokens and compute_tokens: spans, never consumption ----------------------------------------


@pytest.mark.parametrize("backend", ["gemini", "vertex"])
def test_count_tokens(fake: FakeProvider, instrument: Any, telemetry: Telemetry, backend: str) -> None:
    instrument("google_genai")
    client = gemini_client(fake) if backend == "gemini" else vertex_client(fake)
    provider = "gcp.gemini" if backend == "gemini" else "gcp.vertex_ai"
    fake.enqueue("google_genai.count_tokens", {"cached_content_token_count": 24})
    response = client.models.count_tokens(model=MODEL, contents="What's the longest word?")
    assert response.total_tokens == 31
    span = telemetry.only_span()
    assert span.name == "count_tokens gemini-2.5-flash"
    expected = {**request_facts(fake, provider, "count_tokens"), "gen_ai.usage.input_tokens": 31}
    if backend == "gemini":  # the SDK reads no cached count from Vertex AI's answer
        expected["gen_ai.usage.cache_read.input_tokens"] = 24
    assert_exact_attributes(span, expected)
    assert_no_token_metrics(telemetry)
    (point,) = telemetry.points("gen_ai.client.operation.duration")
    assert point.attributes["gen_ai.operation.name"] == "count_tokens"
    client.close()


async def test_async_count_tokens(fake: FakeProvider, instrument: Any, telemetry: Telemetry) -> None:
    instrument("google_genai")
    client = gemini_client(fake)
    await client.aio.models.count_tokens(model=MODEL, contents="hello")
    await client.aio.aclose()
    assert_exact_attributes(
        telemetry.only_span(),
        {**request_facts(fake, "gcp.gemini", "count_tokens"), "gen_ai.usage.input_tokens": 31},
    )
    assert_no_token_metrics(telemetry)


def test_compute_tokens_seed_example(
    fake: FakeProvider, vertex: genai.Client, instrument: Any, telemetry: Telemetry
) -> None:
    """Seed 004: eleven tokens for the user's prompt; their texts and ids are content, never recorded."""
    instrument("google_genai")
    response = vertex.models.compute_tokens(
        model=MODEL, contents="What's the longest word in the English language?"
    )
    assert response.tokens_info is not None
    assert response.tokens_info[0].token_ids == list(COMPUTE_TOKEN_IDS)
    assert response.tokens_info[0].tokens == list(COMPUTE_TOKENS)

    span = telemetry.only_span()
    assert span.name == "compute_tokens gemini-2.5-flash"
    assert_exact_attributes(
        span,
        {
            **request_facts(fake, "gcp.vertex_ai", "compute_tokens"),
            "gen_ai.usage.input_tokens": 11,
            "tokentrace.compute_tokens.user": 11,
        },
    )
    # The server port is random and may contain a token id's digits; nothing else may.
    recorded = repr({key: value for key, value in span.attributes.items() if key != "server.port"})
    for token_id in COMPUTE_TOKEN_IDS:
        assert str(token_id) not in recorded
    assert "longest" not in recorded
    assert_no_token_metrics(telemetry)


async def test_async_compute_tokens_per_role(
    fake: FakeProvider, instrument: Any, telemetry: Telemetry
) -> None:
    instrument("google_genai")
    client = vertex_client(fake)
    fake.enqueue(
        "google_genai.compute_tokens",
        {
            "tokens_info": [
                {"tokens": ["SGVsbG8=", "IHdvcmxk"], "tokenIds": ["9259", "2134"], "role": "user"},
                {"tokens": ["SGk="], "tokenIds": ["1"], "role": "model"},
                {"tokens": ["IQ=="], "tokenIds": ["2"], "role": "user"},
            ]
        },
    )
    await client.aio.models.compute_tokens(model=MODEL, contents="Hello world")
    await client.aio.aclose()
    span = telemetry.only_span()
    assert span.attributes["gen_ai.usage.input_tokens"] == 4
    assert span.attributes["tokentrace.compute_tokens.user"] == 3
    assert span.attributes["tokentrace.compute_tokens.model"] == 1
    assert_no_token_metrics(telemetry)


def test_compute_tokens_on_the_gemini_api_fails_as_without_tokentrace(
    fake: FakeProvider, gemini: genai.Client, instrument: Any, telemetry: Telemetry
) -> None:
    with pytest.raises(ValueError) as plain:
        gemini.models.compute_tokens(model=MODEL, contents="hello")
    instrument("google_genai")
    with pytest.raises(ValueError) as instrumented:
        gemini.models.compute_tokens(model=MODEL, contents="hello")
    assert str(instrumented.value) == str(plain.value)
    span = telemetry.only_span()
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes["error.type"] == "ValueError"
    assert fake.requests_to("google_genai.compute_tokens") == []


# --- embed_content -------------------------------------------------------------------------------------


@needs_embed_usage_metadata
def test_embed_content_gemini_api_reports_no_usage(
    fake: FakeProvider, gemini: genai.Client, instrument: Any, telemetry: Telemetry
) -> None:
    instrument("google_genai")
    response = gemini.models.embed_content(
        model="gemini-embedding-001", contents=["a", "b"], config={"output_dimensionality": 4}
    )
    assert (
        response.usage_metadata is None and response.embeddings is not None and len(response.embeddings) == 2
    )
    (request,) = fake.requests_to("google_genai.embed_content")
    assert request.path.endswith(":batchEmbedContents")
    span = telemetry.only_span()
    assert span.name == "embeddings gemini-embedding-001"
    assert_exact_attributes(
        span,
        {
            **request_facts(fake, "gcp.gemini", "embeddings", "gemini-embedding-001"),
            "gen_ai.embeddings.dimension.count": 4,
        },
    )
    assert_no_token_metrics(telemetry)


@pytest.mark.parametrize(
    ("model", "contents", "method", "input_tokens"),
    [
        pytest.param(  # usageMetadata.promptTokenCount
            "gemini-embedding-001", ["a"], "embedContent", 8, marks=needs_embed_usage_metadata
        ),
        pytest.param(
            "gemini-embedding-001", ["a", "b"], "batchEmbedContents", 8, marks=needs_embed_usage_metadata
        ),
        ("text-embedding-005", ["a", "b"], "predict", 16),  # statistics.token_count, per embedding
    ],
)
def test_embed_content_vertex(
    fake: FakeProvider,
    vertex: genai.Client,
    instrument: Any,
    telemetry: Telemetry,
    model: str,
    contents: list[str],
    method: str,
    input_tokens: int,
) -> None:
    instrument("google_genai")
    vertex.models.embed_content(model=model, contents=contents)  # type: ignore[arg-type]
    (request,) = fake.requests_to("google_genai.embed_content")
    assert request.path.endswith(f":{method}")
    assert_exact_attributes(
        telemetry.only_span(),
        {
            **request_facts(fake, "gcp.vertex_ai", "embeddings", model),
            "gen_ai.usage.input_tokens": input_tokens,
            "gen_ai.embeddings.dimension.count": 4,
        },
    )
    assert telemetry.token_usage() == {"input": (input_tokens, 1)}


async def test_async_embed_content(fake: FakeProvider, instrument: Any, telemetry: Telemetry) -> None:
    instrument("google_genai")
    client = vertex_client(fake)
    await client.aio.models.embed_content(model="text-embedding-005", contents=["a"])
    await client.aio.aclose()
    assert telemetry.only_span().attributes["gen_ai.usage.input_tokens"] == 8
    assert telemetry.token_usage() == {"input": (8, 1)}


# --- errors ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "exception", "error_type"),
    [
        (400, errors.ClientError, "INVALID_ARGUMENT"),
        (429, errors.ClientError, "RESOURCE_EXHAUSTED"),
        (500, errors.ServerError, "INTERNAL"),
        (503, errors.ServerError, "UNAVAILABLE"),
    ],
)
def test_sdk_errors_propagate_unchanged(
    fake: FakeProvider,
    gemini: genai.Client,
    instrument: Any,
    telemetry: Telemetry,
    status: int,
    exception: type[Exception],
    error_type: str,
) -> None:
    fake.enqueue(GENERATE, {"error": status})
    with pytest.raises(exception) as plain:
        gemini.models.generate_content(model=MODEL, contents="Say hello.")
    instrument("google_genai")
    fake.enqueue(GENERATE, {"error": status})
    with pytest.raises(exception) as instrumented:
        gemini.models.generate_content(model=MODEL, contents="Say hello.")
    assert type(instrumented.value) is type(plain.value)
    assert str(instrumented.value) == str(plain.value)
    assert instrumented.value.code == status  # type: ignore[attr-defined]

    span = telemetry.only_span()
    assert span.status.status_code is StatusCode.ERROR
    assert_exact_attributes(span, {**request_facts(fake, "gcp.gemini"), "error.type": error_type})
    (point,) = telemetry.points("gen_ai.client.operation.duration")
    assert dict(point.attributes) == {**request_facts(fake, "gcp.gemini"), "error.type": error_type}
    assert_no_token_metrics(telemetry)


async def test_async_sdk_error(fake: FakeProvider, instrument: Any, telemetry: Telemetry) -> None:
    instrument("google_genai")
    client = vertex_client(fake)
    fake.enqueue(GENERATE, {"error": 429})
    with pytest.raises(errors.ClientError):
        await client.aio.models.generate_content(model=MODEL, contents="Say hello.")
    fake.enqueue("google_genai.count_tokens", {"error": 403})
    with pytest.raises(errors.ClientError):
        await client.aio.models.count_tokens(model=MODEL, contents="Say hello.")
    await client.aio.aclose()
    assert [span.attributes["error.type"] for span in telemetry.spans()] == [
        "RESOURCE_EXHAUSTED",
        "PERMISSION_DENIED",
    ]
    assert_no_token_metrics(telemetry)


def test_stream_error_propagates(
    fake: FakeProvider, gemini: genai.Client, instrument: Any, telemetry: Telemetry
) -> None:
    """The request of a stream is sent on the first read, so its error arrives through the stream."""
    fake.enqueue(STREAM, {"error": 429})
    with pytest.raises(errors.ClientError) as plain:
        list(gemini.models.generate_content_stream(model=MODEL, contents="Say hello."))
    instrument("google_genai")
    fake.enqueue(STREAM, {"error": 429})
    with pytest.raises(errors.ClientError) as instrumented:
        for _ in gemini.models.generate_content_stream(model=MODEL, contents="Say hello."):
            pass
    assert str(instrumented.value) == str(plain.value)
    span = telemetry.only_span()
    assert span.status.status_code is StatusCode.ERROR
    assert_exact_attributes(
        span,
        {
            **request_facts(fake, "gcp.gemini"),
            "gen_ai.request.stream": True,
            "error.type": "RESOURCE_EXHAUSTED",
        },
        first_chunk=False,
    )
    (point,) = telemetry.points("gen_ai.client.operation.duration")
    assert point.attributes["error.type"] == "RESOURCE_EXHAUSTED"
    assert_no_token_metrics(telemetry)


async def test_async_stream_error_propagates(
    fake: FakeProvider, instrument: Any, telemetry: Telemetry
) -> None:
    instrument("google_genai")
    client = vertex_client(fake)
    fake.enqueue(STREAM, {"error": 500})
    with pytest.raises(errors.ServerError):
        async for _ in await client.aio.models.generate_content_stream(model=MODEL, contents="Say hello."):
            pass
    await client.aio.aclose()
    span = telemetry.only_span()
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes["error.type"] == "INTERNAL"
    assert_no_token_metrics(telemetry)


def test_timeout_propagates(fake: FakeProvider, instrument: Any, telemetry: Telemetry) -> None:
    instrument("google_genai")
    client = genai.Client(
        api_key="test-key",
        http_options=types.HttpOptions(base_url=fake.base_url("google_genai"), timeout=200),
    )
    fake.enqueue(GENERATE, Reply(delay=1.0, body=b"{}"))
    with pytest.raises(Exception) as raised:
        client.models.generate_content(model=MODEL, contents="Say hello.")
    span = telemetry.only_span()
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes["error.type"] == type(raised.value).__qualname__
    client.close()


# --- the application sees exactly what it would without tokentrace -------------------------------------


def _run_everything(fake: FakeProvider) -> list[Any]:
    gemini, vertex = gemini_client(fake), vertex_client(fake)
    config = types.GenerateContentConfig(tools=[get_weather])
    fake.enqueue(GENERATE, {"function_call": FUNCTION_CALL, "usage": HOP_1_USAGE}, {"usage": HOP_2_USAGE})
    seen: list[Any] = [
        dumped(gemini.models.generate_content(model=MODEL, contents="Weather?", config=config))
    ]
    fake.enqueue(STREAM, {"function_call": FUNCTION_CALL, "usage": HOP_1_USAGE}, {"usage": HOP_2_USAGE})
    seen += [
        dumped(chunk)
        for chunk in gemini.models.generate_content_stream(model=MODEL, contents="W?", config=config)
    ]
    seen += [dumped(chunk) for chunk in vertex.models.generate_content_stream(model=MODEL, contents="Hi")]
    seen.append(dumped(vertex.models.generate_content(model=MODEL, contents="Hi")))
    seen.append(dumped(gemini.chats.create(model=MODEL).send_message("Hi")))
    seen.append(dumped(vertex.models.count_tokens(model=MODEL, contents="Hi")))
    seen.append(dumped(vertex.models.compute_tokens(model=MODEL, contents="Hi")))
    seen.append(dumped(vertex.models.embed_content(model="text-embedding-005", contents=["a", "b"])))
    seen.append(dumped(gemini.models.embed_content(model="gemini-embedding-001", contents=["a"])))
    response = vertex.models.generate_content(model=MODEL, contents="Hi")
    seen.append(sorted(key for key in (response.sdk_http_response.headers or {}) if key != "date"))  # type: ignore[union-attr]
    gemini.close()
    vertex.close()
    return seen


def test_results_identical_to_an_uninstrumented_run(
    fake: FakeProvider, instrument: Any, telemetry: Telemetry
) -> None:
    plain = _run_everything(fake)
    plain_requests = [(request.path, request.body) for request in fake.requests]
    fake.reset()
    instrument("google_genai")
    instrumented = _run_everything(fake)
    assert instrumented == plain
    # tokentrace never changes what is sent either.
    assert [(request.path, request.body) for request in fake.requests] == plain_requests
    assert len(telemetry.spans()) == 10


async def test_async_results_identical_to_an_uninstrumented_run(
    fake: FakeProvider, instrument: Any, telemetry: Telemetry
) -> None:
    async def run() -> list[Any]:
        client = vertex_client(fake)
        config = types.GenerateContentConfig(tools=[get_weather])
        fake.enqueue(GENERATE, {"function_call": FUNCTION_CALL, "usage": HOP_1_USAGE}, {"usage": HOP_2_USAGE})
        seen = [dumped(await client.aio.models.generate_content(model=MODEL, contents="W?", config=config))]
        stream = await client.aio.models.generate_content_stream(model=MODEL, contents="Hi")
        seen += [dumped(chunk) async for chunk in stream]
        seen.append(dumped(await client.aio.models.compute_tokens(model=MODEL, contents="Hi")))
        await client.aio.aclose()
        return seen

    plain = await run()
    instrument("google_genai")
    assert await run() == plain
    assert len(telemetry.spans()) == 3


def test_uninstrument_restores_the_sdk(
    fake: FakeProvider, gemini: genai.Client, instrument: Any, telemetry: Telemetry
) -> None:
    originals = {name: vars(genai.models.Models)[name] for name in ("generate_content", "_generate_content")}
    instrument("google_genai")
    assert vars(genai.models.Models)["generate_content"] is not originals["generate_content"]
    import tokentrace

    tokentrace.uninstrument()
    assert {name: vars(genai.models.Models)[name] for name in originals} == originals
    gemini.models.generate_content(model=MODEL, contents="Say hello.")
    assert telemetry.spans() == []


def test_demo_makes_real_calls(fake: FakeProvider, instrument: Any, telemetry: Telemetry) -> None:
    instrument("google_genai")
    demo.run(fake)
    operations = sorted(
        (span.attributes["gen_ai.provider.name"], span.attributes["gen_ai.operation.name"])
        for span in telemetry.spans()
    )
    assert operations == [
        ("gcp.gemini", "count_tokens"),
        ("gcp.gemini", "generate_content"),
        ("gcp.gemini", "generate_content"),
        ("gcp.vertex_ai", "compute_tokens"),
        ("gcp.vertex_ai", "generate_content"),
        ("gcp.vertex_ai", "generate_content"),
    ]


# --- provider and server ---------------------------------------------------------------------------------


def test_provider_and_server_from_the_client() -> None:
    from tokentrace._providers.google_genai import _server

    gemini = genai.Client(api_key="test-key")
    vertex = genai.Client(
        vertexai=True,
        project="p",
        location="europe-west4",
        credentials=google.oauth2.credentials.Credentials(token="fake"),
    )
    assert provider_of(gemini.models) == "gcp.gemini"
    assert provider_of(gemini.aio.models) == "gcp.gemini"
    assert provider_of(vertex.models) == "gcp.vertex_ai"
    assert provider_of(object()) == "gcp.gen_ai"
    assert _server(gemini.models) == ("generativelanguage.googleapis.com", 443)
    assert _server(vertex.aio.models) == ("europe-west4-aiplatform.googleapis.com", 443)
    assert _server(object()) == (None, None)


# --- pure normalizers -------------------------------------------------------------------------------------


def wire_usage(payload: dict[str, Any]) -> types.GenerateContentResponseUsageMetadata:
    """Google's camelCase JSON, parsed by the SDK as it parses a response."""
    return types.GenerateContentResponseUsageMetadata.model_validate(payload)


@pytest.mark.parametrize(
    ("usage", "expected"),
    [
        pytest.param(None, None, id="none"),
        pytest.param(
            types.GenerateContentResponseUsageMetadata(
                cached_content_token_count=None,
                candidates_token_count=311,
                prompt_token_count=6,
                total_token_count=317,
            ),
            TokenUsage(input=6, output=311),
            id="seed-004-python",
        ),
        pytest.param(
            wire_usage({"candidatesTokenCount": 339, "promptTokenCount": 6, "totalTokenCount": 345}),
            TokenUsage(input=6, output=339),
            id="seed-004-go-json",
        ),
        pytest.param(
            wire_usage(
                {
                    "candidatesTokenCount": 569,
                    "candidatesTokensDetails": [{"modality": "TEXT", "tokenCount": 569}],
                    "promptTokenCount": 6,
                    "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 6}],
                    "thoughtsTokenCount": 1132,
                    "totalTokenCount": 1707,
                    "trafficType": "ON_DEMAND",
                }
            ),
            TokenUsage(
                input=6,
                output=1701,
                reasoning=1132,
                input_modalities=(("text", 6),),
                output_modalities=(("text", 569),),
            ),
            id="seed-004-java-thinking",
        ),
        pytest.param(
            {"prompt_token_count": 10, "candidates_token_count": 30, "total_token_count": 40},
            TokenUsage(input=10, output=30),
            id="seed-000-langchain-vertexai-dict",
        ),
        pytest.param(
            wire_usage(
                {
                    "promptTokenCount": 1030,
                    "candidatesTokenCount": 8,
                    "totalTokenCount": 1096,
                    "cachedContentTokenCount": 1024,
                    "thoughtsTokenCount": 58,
                    "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 1030}],
                    "cacheTokensDetails": [{"modality": "TEXT", "tokenCount": 1024}],
                }
            ),
            TokenUsage(
                input=1030,
                output=66,
                cache_read=1024,
                reasoning=58,
                input_modalities=(("text", 1030),),
                cache_read_modalities=(("text", 1024),),
            ),
            id="gemini-cached-and-thinking",
        ),
        pytest.param(
            wire_usage(
                {
                    "promptTokenCount": 1030,
                    "totalTokenCount": 1088,
                    "cachedContentTokenCount": 1024,
                    "thoughtsTokenCount": 58,
                }
            ),
            TokenUsage(input=1030, output=58, cache_read=1024, reasoning=58),
            id="stream-chunk-before-candidates",
        ),
        pytest.param(
            wire_usage(
                {
                    "promptTokenCount": 100,
                    "toolUsePromptTokenCount": 20,
                    "candidatesTokenCount": 5,
                    "totalTokenCount": 125,
                    "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 100}],
                    "toolUsePromptTokensDetails": [{"modality": "TEXT", "tokenCount": 20}],
                }
            ),
            TokenUsage(input=120, output=5, input_modalities=(("text", 120),)),
            id="tool-use-prompt-is-input",
        ),
        pytest.param(
            wire_usage({"promptTokenCount": 12, "totalTokenCount": 12}),
            TokenUsage(input=12, output=0),
            id="zero-output-left-out-of-the-json",
        ),
        pytest.param(
            wire_usage({"promptTokenCount": 12, "toolUsePromptTokenCount": 3, "totalTokenCount": 10}),
            TokenUsage(input=15),
            id="inconsistent-total-derives-nothing",
        ),
        pytest.param(
            wire_usage({"totalTokenCount": 40}),
            TokenUsage(),
            id="total-only",
        ),
        pytest.param(
            wire_usage(
                {
                    "promptTokenCount": 1400,
                    "candidatesTokenCount": 20,
                    "totalTokenCount": 1420,
                    "promptTokensDetails": [
                        {"modality": "TEXT", "tokenCount": 12},
                        {"modality": "IMAGE", "tokenCount": 258},
                        {"modality": "AUDIO", "tokenCount": 830},
                        {"modality": "VIDEO", "tokenCount": 300},
                    ],
                    "candidatesTokensDetails": [{"modality": "AUDIO", "tokenCount": 20}],
                }
            ),
            TokenUsage(
                input=1400,
                output=20,
                input_modalities=(("text", 12), ("image", 258), ("audio", 830), ("video", 300)),
                output_modalities=(("audio", 20),),
            ),
            id="multimodal",
        ),
        pytest.param(
            {"prompt_token_count": "12", "candidates_token_count": -1, "thoughts_token_count": True},
            TokenUsage(),
            id="malformed-counts-are-unknown",
        ),
        pytest.param(
            {
                "prompt_tokens_details": "TEXT",
                "cache_tokens_details": [None, {"modality": None, "token_count": 3}],
            },
            TokenUsage(),
            id="malformed-details",
        ),
    ],
)
def test_extract_usage(usage: Any, expected: TokenUsage | None) -> None:
    assert extract_usage(usage) == expected


def test_extract_traffic_type() -> None:
    assert (
        extract_traffic_type(wire_usage({"trafficType": "PROVISIONED_THROUGHPUT"}))
        == "PROVISIONED_THROUGHPUT"
    )
    assert extract_traffic_type(wire_usage({"trafficType": "ON_DEMAND"})) == "ON_DEMAND"
    assert extract_traffic_type(wire_usage({})) is None
    assert extract_traffic_type(None) is None


@pytest.mark.parametrize(
    ("candidates", "expected"),
    [
        ([types.Candidate(finish_reason=types.FinishReason.STOP)], ["stop"]),
        ([types.Candidate(finish_reason=types.FinishReason.MAX_TOKENS)], ["max_tokens"]),
        (
            [types.Candidate(finish_reason=types.FinishReason.SAFETY), types.Candidate()],
            ["safety", "error"],
        ),
        ([{"finish_reason": "MALFORMED_FUNCTION_CALL"}], ["malformed_function_call"]),
        ([types.Candidate()], None),
        ([], None),
        (None, None),
    ],
)
def test_extract_finish_reasons(candidates: Any, expected: list[str] | None) -> None:
    assert extract_finish_reasons(candidates) == expected


def test_finish_reason_name() -> None:
    assert finish_reason_name(types.FinishReason.STOP) == "stop"
    assert finish_reason_name("RECITATION") == "recitation"
    assert finish_reason_name(None) is None
    assert finish_reason_name(3) is None


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        (types.CountTokensResponse(total_tokens=31), TokenUsage(input=31)),
        (
            types.CountTokensResponse(total_tokens=31, cached_content_token_count=24),
            TokenUsage(input=31, cache_read=24),
        ),
        (types.CountTokensResponse(), TokenUsage()),
        (None, None),
    ],
)
def test_extract_count_usage(response: Any, expected: TokenUsage | None) -> None:
    assert extract_count_usage(response) == expected


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        pytest.param(
            types.ComputeTokensResponse(
                tokens_info=[
                    types.TokensInfo(
                        role="user", token_ids=list(COMPUTE_TOKEN_IDS), tokens=list(COMPUTE_TOKENS)
                    )
                ]
            ),
            (11, {"user": 11}),
            id="seed-004",
        ),
        pytest.param(
            types.ComputeTokensResponse(
                tokens_info=[
                    types.TokensInfo(role="user", token_ids=[1, 2]),
                    types.TokensInfo(role="model", tokens=[b"a", b"b", b"c"]),
                    types.TokensInfo(token_ids=[4]),
                    types.TokensInfo(role="User-2", token_ids=[5]),
                    types.TokensInfo(role="user"),
                ]
            ),
            (7, {"user": 2, "model": 3, "unknown": 1, "user_2": 1}),
            id="roles-ids-or-tokens",
        ),
        pytest.param(types.ComputeTokensResponse(tokens_info=[]), (0, {}), id="nothing-listed"),
        pytest.param(types.ComputeTokensResponse(), (None, {}), id="no-tokens-info"),
        pytest.param(None, (None, {}), id="none"),
    ],
)
def test_extract_compute_counts(response: Any, expected: tuple[int | None, dict[str, int]]) -> None:
    assert extract_compute_counts(response) == expected


def test_role_name() -> None:
    assert role_name("user") == "user"
    assert role_name("MODEL") == "model"
    assert role_name("a b.c") == "a_b_c"
    assert role_name("!!!") == "unknown"
    assert role_name(None) == "unknown"


def _embedding(token_count: float | None = None) -> types.ContentEmbedding:
    statistics = None if token_count is None else types.ContentEmbeddingStatistics(token_count=token_count)
    return types.ContentEmbedding(values=[0.1], statistics=statistics)


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        pytest.param(
            types.EmbedContentResponse(embeddings=[_embedding(), _embedding()]), None, id="gemini-api"
        ),
        pytest.param(
            types.EmbedContentResponse(
                embeddings=[_embedding(8.0)], usage_metadata=types.UsageMetadata(prompt_token_count=9)
            )
            if EMBED_USAGE_METADATA
            else None,
            TokenUsage(input=9),
            id="vertex-usage-metadata-wins",
            marks=pytest.mark.skipif(
                not EMBED_USAGE_METADATA,
                reason=f"{release(types)}: EmbedContentResponse has no usage_metadata",
            ),
        ),
        pytest.param(
            types.EmbedContentResponse(embeddings=[_embedding(8.0), _embedding(5.0)]),
            TokenUsage(input=13),
            id="vertex-predict-statistics",
        ),
        pytest.param(
            types.EmbedContentResponse(embeddings=[_embedding(8.0), _embedding()]),
            None,
            id="partial-statistics-are-no-total",
        ),
        pytest.param(types.EmbedContentResponse(), None, id="empty"),
        pytest.param(None, None, id="none"),
    ],
)
def test_extract_embed_usage(response: Any, expected: TokenUsage | None) -> None:
    assert extract_embed_usage(response) == expected


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        (None, {}),
        ({}, {}),
        (
            {
                "temperature": 1,
                "top_k": 40.0,
                "max_output_tokens": 10,
                "candidate_count": 1,
                "response_mime_type": "text/plain",
            },
            {
                "gen_ai.request.temperature": 1.0,
                "gen_ai.request.top_k": 40,
                "gen_ai.request.max_tokens": 10,
                "gen_ai.output.type": "text",
            },
        ),
        (
            types.GenerateContentConfig(top_k=2.5, stop_sequences=["x"], response_mime_type="text/x.enum"),
            {"gen_ai.request.stop_sequences": ("x",), "gen_ai.output.type": "text"},
        ),
        (
            {"thinking_config": {"thinking_budget": 1024, "thinking_level": "HIGH"}, "seed": True},
            {"gen_ai.request.reasoning.level": "HIGH"},
        ),
    ],
)
def test_request_attributes(config: Any, expected: dict[str, Any]) -> None:
    actual = request_attributes(config)
    assert actual == expected
    assert {key: type(value) for key, value in actual.items()} == {
        key: type(value) for key, value in expected.items()
    }
