"""Together adapter: the real together client over HTTP to the fake provider, exact telemetry assertions."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import together
from opentelemetry.trace import SpanKind, StatusCode
from together.types.chat.chat_completion_usage import ChatCompletionUsage

from tests.telemetry import Telemetry, assert_attributes, assert_failed_call
from tokentrace._core.invocation import Invocation, RequestFacts
from tokentrace._core.usage import TokenUsage
from tokentrace._providers._openai_compatible import extract_finish_reasons
from tokentrace._providers.together import ChatCompletions, extract_usage
from tokentrace.testing import FakeProvider
from tokentrace.testing.together import USAGE

MODEL = "meta-llama/Llama-3.3-70B-Instruct-Turbo"
MESSAGES: list[Any] = [{"role": "user", "content": "What's the oldest known example of cuneiform"}]
CHAT_ID = "oBUtaEp-62bZhn-9801a2718d0ed123"
PATHS = [
    pytest.param(False, False, id="sync"),
    pytest.param(True, False, id="async"),
    pytest.param(False, True, id="sync-stream"),
    pytest.param(True, True, id="async-stream"),
]


def together_base_url(fake: FakeProvider) -> str:
    """The fake provider's Together URL as this release expects it: before 2.x's paths named
    ``/v1`` themselves, the base URL carried it (``https://api.together.xyz/v1``)."""
    default = str(together.Together(api_key="test").base_url).rstrip("/")
    return fake.base_url("together") + ("/v1" if default.endswith("/v1") else "")


async def chat(fake: FakeProvider, *, is_async: bool, stream: bool, **kwargs: Any) -> Any:
    """One call as the application sees it: the response's or every chunk's ``model_dump()``."""
    base_url = together_base_url(fake)
    if is_async:
        async with together.AsyncTogether(api_key="test", base_url=base_url, max_retries=0) as aclient:
            result = await aclient.chat.completions.create(
                model=MODEL, messages=MESSAGES, stream=stream, **kwargs
            )
            return [chunk.model_dump() async for chunk in result] if stream else result.model_dump()
    with together.Together(api_key="test", base_url=base_url, max_retries=0) as client:
        result = client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=stream, **kwargs)
        return [chunk.model_dump() for chunk in result] if stream else result.model_dump()


@pytest.mark.parametrize(("is_async", "stream"), PATHS)
async def test_chat_paths(
    fake: FakeProvider, instrument: Any, telemetry: Telemetry, is_async: bool, stream: bool
) -> None:
    plain = await chat(fake, is_async=is_async, stream=stream)
    instrument("together")
    traced = await chat(fake, is_async=is_async, stream=stream)
    assert traced == plain
    if stream:
        assert traced[-1]["usage"]["prompt_tokens"] == 49 and traced[-2]["usage"] is None
    assert "stream_options" not in fake.requests_to("together.chat")[-1].json

    span = telemetry.only_span()
    assert span.name == f"chat {MODEL}"
    assert span.kind is SpanKind.CLIENT
    assert span.status.status_code is StatusCode.UNSET
    expected: dict[str, Any] = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "together",
        "gen_ai.request.model": MODEL,
        "server.address": "127.0.0.1",
        "server.port": fake.port,
        "gen_ai.response.id": CHAT_ID,
        "gen_ai.response.model": MODEL,
        "gen_ai.response.finish_reasons": ("eos",),
        "gen_ai.usage.input_tokens": 49,
        "gen_ai.usage.output_tokens": 9,
        "gen_ai.usage.cache_read.input_tokens": 0,
    }
    if stream:
        expected["gen_ai.request.stream"] = True
    assert_attributes(span, expected)
    ttfc = {"gen_ai.response.time_to_first_chunk"} if stream else set()
    assert set(span.attributes) == set(expected) | ttfc

    assert telemetry.token_usage() == {"input": (49, 1), "output": (9, 1)}
    (point,) = telemetry.points("gen_ai.client.operation.duration")
    assert dict(point.attributes) == {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "together",
        "gen_ai.request.model": MODEL,
        "gen_ai.response.model": MODEL,
        "server.address": "127.0.0.1",
        "server.port": fake.port,
    }
    assert telemetry.counter_total("gen_ai.client.inference.usage.input_tokens") == 49
    assert telemetry.counter_total("gen_ai.client.inference.usage.cache_read.input_tokens") == 0
    assert len(telemetry.points("gen_ai.client.operation.time_to_first_chunk")) == (1 if stream else 0)
    if stream:
        (per_chunk,) = telemetry.points("gen_ai.client.operation.time_per_output_chunk")
        assert per_chunk.count == len(traced) - 1


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
async def test_cached_tokens(fake: FakeProvider, instrument: Any, telemetry: Telemetry, stream: bool) -> None:
    instrument("together")
    usage = {"prompt_tokens": 1200, "completion_tokens": 30, "total_tokens": 1230, "cached_tokens": 1024}
    fake.enqueue("together.chat", {"usage": usage})
    await chat(fake, is_async=True, stream=stream, temperature=0.7, top_k=40, max_tokens=30, seed=3)
    assert_attributes(
        telemetry.only_span(),
        {
            "gen_ai.request.temperature": 0.7,
            "gen_ai.request.top_k": 40,
            "gen_ai.request.max_tokens": 30,
            "gen_ai.request.seed": 3,
            "gen_ai.usage.input_tokens": 1200,
            "gen_ai.usage.output_tokens": 30,
            "gen_ai.usage.cache_read.input_tokens": 1024,
        },
    )
    assert telemetry.token_usage() == {"input": (1200, 1), "output": (30, 1)}
    assert telemetry.counter_total("gen_ai.client.inference.usage.cache_read.input_tokens") == 1024


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
async def test_missing_completion_tokens_records_no_output(
    fake: FakeProvider, instrument: Any, telemetry: Telemetry, stream: bool
) -> None:
    instrument("together")
    fake.enqueue("together.chat", {"usage": {"prompt_tokens": 20, "total_tokens": 228}})
    await chat(fake, is_async=False, stream=stream)
    span = telemetry.only_span()
    assert span.attributes["gen_ai.usage.input_tokens"] == 20
    assert "gen_ai.usage.output_tokens" not in span.attributes
    assert "gen_ai.usage.cache_read.input_tokens" not in span.attributes
    assert telemetry.token_usage() == {"input": (20, 1)}
    assert telemetry.points("gen_ai.client.inference.usage.output_tokens") == []


def test_default_endpoint_is_the_inference_host(monkeypatch: pytest.MonkeyPatch, fake: FakeProvider) -> None:
    """Without a base URL of its own the SDK posts to api-inference.together.ai, not client.base_url."""
    monkeypatch.delenv("TOGETHER_BASE_URL", raising=False)
    endpoint = ChatCompletions("together.chat")
    default = together.Together(api_key="test").chat.completions
    facts = endpoint.request(default, (), {"model": MODEL, "messages": MESSAGES})
    assert facts is not None
    assert (facts.server_address, facts.server_port) == ("api-inference.together.ai", 443)
    local = together.Together(api_key="test", base_url=together_base_url(fake)).chat.completions
    facts = endpoint.request(local, (), {"model": MODEL, "messages": MESSAGES, "stream": True})
    assert facts is not None
    assert (facts.server_address, facts.server_port, facts.stream) == ("127.0.0.1", fake.port, True)


# --- broken streams and errors ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cut_after", "usage"),
    [(2, None), (7, {"input": (49, 1), "output": (9, 1)})],
    ids=["before-usage", "after-usage"],
)
async def test_async_stream_broken_midway(
    fake: FakeProvider, instrument: Any, telemetry: Telemetry, cut_after: int, usage: Any
) -> None:
    """8 events: role, 5 words, the final chunk with ``usage``, ``[DONE]``."""
    instrument("together")
    fake.enqueue("together.chat", {"cut_after": cut_after})
    received = []
    async with together.AsyncTogether(
        api_key="test", base_url=together_base_url(fake), max_retries=0
    ) as aclient:
        stream = await aclient.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True)
        with pytest.raises(httpx.RemoteProtocolError):
            async for chunk in stream:
                received.append(chunk)
    assert len(received) == cut_after
    span = telemetry.only_span()
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes["error.type"] == "RemoteProtocolError"
    assert telemetry.token_usage() == (usage or {})


def test_stream_closed_early(fake: FakeProvider, instrument: Any, telemetry: Telemetry) -> None:
    instrument("together")
    client = together.Together(api_key="test", base_url=together_base_url(fake), max_retries=0)
    with client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True) as stream:
        first = next(stream)
    assert first.choices[0].delta.role == "assistant"
    span = telemetry.only_span()
    assert span.status.status_code is StatusCode.UNSET
    assert "gen_ai.usage.input_tokens" not in span.attributes
    assert telemetry.token_usage() == {}


@pytest.mark.parametrize(
    ("status", "exception"),
    [
        (400, together.BadRequestError),
        (401, together.AuthenticationError),
        (503, together.InternalServerError),
    ],
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
    fake.enqueue("together.chat", {"error": status})
    with pytest.raises(exception) as plain:
        await chat(fake, is_async=is_async, stream=True)
    instrument("together")
    fake.enqueue("together.chat", {"error": status})
    with pytest.raises(exception) as traced:
        await chat(fake, is_async=is_async, stream=False)
    assert type(traced.value) is type(plain.value)
    assert str(traced.value) == str(plain.value)
    assert_failed_call(telemetry, exception.__name__)


# --- pure normalizers, including the LangChain "Response metadata" seed ------------------------------

# Seed 000, TogetherAI example (through ChatOpenAI): ``response_metadata["token_usage"]``.
SEED_TOKEN_USAGE = {"completion_tokens": 208, "prompt_tokens": 20, "total_tokens": 228}


@pytest.mark.parametrize(
    ("usage", "expected"),
    [
        (SEED_TOKEN_USAGE, TokenUsage(input=20, output=208)),
        (USAGE, TokenUsage(input=49, output=9, cache_read=0)),
        ({"prompt_tokens": 50, "completion_tokens": 5, "cached_tokens": 48}, TokenUsage(50, 5, 48)),
        (
            {"prompt_tokens": 50, "completion_tokens": 5, "prompt_tokens_details": {"cached_tokens": 16}},
            TokenUsage(input=50, output=5, cache_read=16),
        ),
        ({"prompt_tokens": 20, "total_tokens": 228}, TokenUsage(input=20)),
        # An extra key on an SDK model built without it in ``model_fields_set`` still counts.
        (
            ChatCompletionUsage.construct(prompt_tokens=20, total_tokens=228, cached_tokens=3),
            TokenUsage(input=20, cache_read=3),
        ),
        ({"prompt_tokens": 20, "completion_tokens": None, "cached_tokens": "3"}, TokenUsage(input=20)),
        (None, None),
    ],
)
def test_extract_usage(usage: Any, expected: TokenUsage | None) -> None:
    assert extract_usage(usage) == expected


def test_seed_finish_reason() -> None:
    assert extract_finish_reasons([{"finish_reason": "eos", "index": None}]) == ["eos"]


def test_seed_example_end_to_end(fake: FakeProvider, instrument: Any, telemetry: Telemetry) -> None:
    model = "mistralai/Mixtral-8x7B-Instruct-v0.1"
    instrument("together")
    fake.enqueue("together.chat", {"usage": SEED_TOKEN_USAGE, "finish_reason": "eos"})
    together.Together(
        api_key="test", base_url=together_base_url(fake), max_retries=0
    ).chat.completions.create(model=model, messages=MESSAGES)
    span = telemetry.only_span()
    assert_attributes(
        span,
        {
            "gen_ai.request.model": model,
            "gen_ai.response.model": model,
            "gen_ai.response.finish_reasons": ("eos",),
            "gen_ai.usage.input_tokens": 20,
            "gen_ai.usage.output_tokens": 208,
        },
    )
    assert "gen_ai.usage.cache_read.input_tokens" not in span.attributes
    assert telemetry.token_usage() == {"input": (20, 1), "output": (208, 1)}


class Odd:
    """A chunk whose fields hold whatever a broken payload put there."""

    def __init__(self, **fields: Any) -> None:
        self.__dict__.update(fields)


@pytest.mark.parametrize(
    "chunks",
    [
        [Odd(choices=5, usage="n/a"), Odd()],
        [Odd(choices=[Odd(finish_reason={"x": 1}, index="0")], usage=Odd(prompt_tokens=-1))],
        [Odd(choices="stop", usage=[1, 2]), None],
    ],
)
def test_accumulator_tolerates_odd_chunks(chunks: list[Any]) -> None:
    """Under strict mode a raise here would fail the test: odd chunks give no facts, never an error."""
    invocation = Invocation(RequestFacts("chat", "together"), None, None, 0.0)
    accumulator = ChatCompletions("together.chat").new_accumulator(invocation, {})
    assert all(accumulator.on_chunk(chunk) for chunk in chunks)
    accumulator.finish(invocation)
    assert invocation.usage is None
    assert invocation.finish_reasons in (None, ["error"])
