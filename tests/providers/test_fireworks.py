"""Fireworks adapter: the real fireworks-ai client over HTTP to the fake provider, exact telemetry."""

from __future__ import annotations

from typing import Any

import fireworks
import httpx
import pytest
from opentelemetry.trace import SpanKind, StatusCode

from tests.telemetry import Telemetry, assert_attributes, assert_failed_call
from tokentrace._core.usage import TokenUsage
from tokentrace._providers._openai_compatible import extract_finish_reasons
from tokentrace._providers.fireworks import ChatCompletions, extract_usage
from tokentrace.testing import FakeProvider
from tokentrace.testing.fireworks import USAGE

MODEL = "accounts/fireworks/models/llama-v3p3-70b-instruct"
MESSAGES: list[Any] = [{"role": "user", "content": "What's the oldest known example of cuneiform"}]
CHAT_ID = "f3c5b1e2-8a4d-4f6b-9c7e-2d1a0b9c8e7f"
# Fireworks may leave completion_tokens out of its usage.
NO_COMPLETION_TOKENS = {
    "prompt_tokens": 19,
    "total_tokens": 219,
    "prompt_tokens_details": {"cached_tokens": 16},
}


async def chat(fake: FakeProvider, *, is_async: bool, stream: bool, **kwargs: Any) -> Any:
    """One call as the application sees it: the response's or every chunk's ``model_dump()``."""
    base_url = fake.base_url("fireworks")
    if is_async:
        async with fireworks.AsyncFireworks(api_key="test", base_url=base_url, max_retries=0) as aclient:
            result = await aclient.chat.completions.create(
                model=MODEL, messages=MESSAGES, stream=stream, **kwargs
            )
            return [chunk.model_dump() async for chunk in result] if stream else result.model_dump()
    with fireworks.Fireworks(api_key="test", base_url=base_url, max_retries=0) as client:
        result = client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=stream, **kwargs)
        return [chunk.model_dump() for chunk in result] if stream else result.model_dump()


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
async def test_chat_paths(
    fake: FakeProvider, instrument: Any, telemetry: Telemetry, is_async: bool, stream: bool
) -> None:
    plain = await chat(fake, is_async=is_async, stream=stream, max_tokens=64, n=1)
    instrument("fireworks")
    traced = await chat(fake, is_async=is_async, stream=stream, max_tokens=64, n=1)
    assert traced == plain
    assert "stream_options" not in fake.requests_to("fireworks.chat")[-1].json

    span = telemetry.only_span()
    assert (span.name, span.kind, span.status.status_code) == (
        f"chat {MODEL}",
        SpanKind.CLIENT,
        StatusCode.UNSET,
    )
    expected: dict[str, Any] = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "fireworks",
        "gen_ai.request.model": MODEL,
        "gen_ai.request.max_tokens": 64,
        "server.address": "127.0.0.1",
        "server.port": fake.port,
        "gen_ai.response.id": CHAT_ID,
        "gen_ai.response.model": MODEL,
        "gen_ai.response.finish_reasons": ("stop",),
        "gen_ai.usage.input_tokens": 19,
        "gen_ai.usage.output_tokens": 9,
        "gen_ai.usage.cache_read.input_tokens": 0,
    }
    if stream:
        expected["gen_ai.request.stream"] = True
        expected["gen_ai.response.time_to_first_chunk"] = span.attributes[
            "gen_ai.response.time_to_first_chunk"
        ]
    assert_attributes(span, expected)
    assert set(span.attributes) == set(expected)  # n=1 is the default: no choice count

    assert telemetry.token_usage() == {"input": (19, 1), "output": (9, 1)}
    (point,) = telemetry.points("gen_ai.client.operation.duration")
    assert dict(point.attributes) == {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "fireworks",
        "gen_ai.request.model": MODEL,
        "gen_ai.response.model": MODEL,
        "server.address": "127.0.0.1",
        "server.port": fake.port,
    }
    assert telemetry.counter_total("gen_ai.client.inference.usage.output_tokens") == 9
    assert telemetry.counter_total("gen_ai.client.inference.usage.cache_read.input_tokens") == 0
    assert len(telemetry.points("gen_ai.client.operation.time_to_first_chunk")) == int(stream)


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
async def test_absent_completion_tokens_record_no_output(
    fake: FakeProvider, instrument: Any, telemetry: Telemetry, stream: bool
) -> None:
    instrument("fireworks")
    fake.enqueue("fireworks.chat", {"usage": NO_COMPLETION_TOKENS})
    result = await chat(fake, is_async=stream, stream=stream)
    usage = result[-1]["usage"] if stream else result["usage"]
    assert usage["completion_tokens"] is None  # what the application sees, too
    span = telemetry.only_span()
    assert_attributes(span, {"gen_ai.usage.input_tokens": 19, "gen_ai.usage.cache_read.input_tokens": 16})
    assert "gen_ai.usage.output_tokens" not in span.attributes
    assert telemetry.token_usage() == {"input": (19, 1)}
    assert telemetry.points("gen_ai.client.inference.usage.output_tokens") == []
    assert telemetry.counter_total("gen_ai.client.inference.usage.cache_read.input_tokens") == 16


def test_multiple_choices_keep_their_finish_reasons(
    fake: FakeProvider, instrument: Any, telemetry: Telemetry
) -> None:
    instrument("fireworks")
    with fireworks.Fireworks(api_key="test", base_url=fake.base_url("fireworks"), max_retries=0) as client:
        response = client.chat.completions.create(model=MODEL, messages=MESSAGES, n=2, stop="\n\n", top_k=5)
    assert [choice.index for choice in response.choices] == [0, 1]
    assert_attributes(
        telemetry.only_span(),
        {
            "gen_ai.response.finish_reasons": ("stop", "stop"),
            "gen_ai.request.choice.count": 2,
            "gen_ai.request.stop_sequences": ("\n\n",),
            "gen_ai.request.top_k": 5,
        },
    )


def test_default_endpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FIREWORKS_BASE_URL", raising=False)
    facts = ChatCompletions("fireworks.chat").request(
        fireworks.Fireworks(api_key="test").chat.completions, (), {"model": MODEL, "messages": MESSAGES}
    )
    assert facts is not None
    assert (facts.provider, facts.server_address, facts.server_port) == ("fireworks", "api.fireworks.ai", 443)


# --- broken streams and errors ---------------------------------------------------------------------


@pytest.mark.parametrize(("cut_after", "expected"), [(4, {}), (7, {"input": (19, 1), "output": (9, 1)})])
def test_stream_broken_midway(
    fake: FakeProvider, instrument: Any, telemetry: Telemetry, cut_after: int, expected: Any
) -> None:
    instrument("fireworks")
    fake.enqueue("fireworks.chat", {"cut_after": cut_after})
    client = fireworks.Fireworks(api_key="test", base_url=fake.base_url("fireworks"), max_retries=0)
    stream = client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True)
    with pytest.raises(httpx.RemoteProtocolError):
        list(stream)
    span = telemetry.only_span()
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes["error.type"] == "RemoteProtocolError"
    assert telemetry.token_usage() == expected


@pytest.mark.parametrize(
    ("status", "exception"),
    [
        (404, fireworks.NotFoundError),
        (429, fireworks.RateLimitError),
        (500, fireworks.InternalServerError),
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
    fake.enqueue("fireworks.chat", {"error": status})
    with pytest.raises(exception) as plain:
        await chat(fake, is_async=is_async, stream=False)
    instrument("fireworks")
    fake.enqueue("fireworks.chat", {"error": status})
    with pytest.raises(exception) as traced:
        await chat(fake, is_async=is_async, stream=True)
    assert (type(traced.value), str(traced.value)) == (type(plain.value), str(plain.value))
    assert_failed_call(telemetry, exception.__name__)


# --- pure normalizers, including the LangChain "Response metadata" seed ------------------------------

# Seed 000, FireworksAI example: ``response_metadata["token_usage"]`` (finish_reason "length").
SEED_TOKEN_USAGE = {"prompt_tokens": 19, "total_tokens": 219, "completion_tokens": 200}


@pytest.mark.parametrize(
    ("usage", "expected"),
    [
        (SEED_TOKEN_USAGE, TokenUsage(input=19, output=200)),
        (USAGE, TokenUsage(input=19, output=9, cache_read=0)),
        (NO_COMPLETION_TOKENS, TokenUsage(input=19, cache_read=16)),
        (
            {"prompt_tokens": 19, "completion_tokens": None, "prompt_tokens_details": None},
            TokenUsage(input=19),
        ),
        ({"prompt_tokens": 19.0, "completion_tokens": 2.5}, TokenUsage(input=19)),
        (None, None),
    ],
)
def test_extract_usage(usage: Any, expected: TokenUsage | None) -> None:
    assert extract_usage(usage) == expected


def test_seed_example_end_to_end(fake: FakeProvider, instrument: Any, telemetry: Telemetry) -> None:
    model = "accounts/fireworks/models/mixtral-8x7b-instruct"
    assert extract_finish_reasons([{"finish_reason": "length"}]) == ["length"]
    instrument("fireworks")
    fake.enqueue("fireworks.chat", {"usage": SEED_TOKEN_USAGE, "finish_reason": "length"})
    with fireworks.Fireworks(api_key="test", base_url=fake.base_url("fireworks"), max_retries=0) as client:
        list(client.chat.completions.create(model=model, messages=MESSAGES, stream=True))
    span = telemetry.only_span()
    assert_attributes(
        span,
        {
            "gen_ai.response.model": model,
            "gen_ai.response.finish_reasons": ("length",),
            "gen_ai.usage.input_tokens": 19,
            "gen_ai.usage.output_tokens": 200,
        },
    )
    assert telemetry.token_usage() == {"input": (19, 1), "output": (200, 1)}
