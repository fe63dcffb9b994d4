"""LangChain adapter through langchain-anthropic: LangChain alone, the Anthropic SDK alone, both."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import anthropic
import pytest
from langchain_anthropic import ChatAnthropic
from langchain_anthropic import _client_utils as anthropic_client_utils
from opentelemetry.trace import StatusCode

from tests.telemetry import Telemetry
from tokentrace.testing import FakeProvider

MODEL = "claude-haiku-4-5"
SETUPS = {"langchain": ("langchain",), "anthropic": ("anthropic",), "both": ("langchain", "anthropic")}
# The fake's reference usage: 21 uncached input tokens, 1024 read from the cache, 188 written.
USAGE_ATTRIBUTES: dict[str, Any] = {
    "gen_ai.usage.input_tokens": 1233,
    "gen_ai.usage.output_tokens": 12,
    "gen_ai.usage.cache_read.input_tokens": 1024,
    "gen_ai.usage.cache_write.input_tokens": 188,
}
CALLS = {"invoke": 1, "stream": 1, "batch": 2, "ainvoke": 1, "astream": 1, "abatch": 2}


def chat_anthropic(fake: FakeProvider, **fields: Any) -> ChatAnthropic:
    return ChatAnthropic(
        model=MODEL,  # type: ignore[call-arg]
        anthropic_api_url=fake.url,
        api_key="sk-ant-test-key",  # type: ignore[arg-type]
        max_retries=0,
        **fields,
    )


@pytest.fixture
def model(fake: FakeProvider) -> Callable[..., ChatAnthropic]:
    return lambda **fields: chat_anthropic(fake, **fields)


@pytest.fixture
async def amodel(fake: FakeProvider) -> AsyncIterator[Callable[..., ChatAnthropic]]:
    """ChatAnthropic models whose async client is closed on the test's event loop.

    langchain-anthropic caches one async HTTP client per base URL for the process; its pooled
    connections die with each test's loop, so the cache is emptied after closing it.
    """
    made: list[ChatAnthropic] = []

    def make(**fields: Any) -> ChatAnthropic:
        made.append(chat_anthropic(fake, **fields))
        return made[-1]

    yield make
    for chat in made:
        if "_async_client" in chat.__dict__:
            await chat._async_client.close()
    anthropic_client_utils._get_default_async_httpx_client.cache_clear()


def model_spans(telemetry: Telemetry) -> list[Any]:
    return [span for span in telemetry.spans() if span.name.startswith("chat ")]


def assert_counted_once(telemetry: Telemetry, path: str) -> None:
    calls = CALLS[path]
    spans = model_spans(telemetry)
    assert len(spans) == calls, [span.name for span in spans]
    assert telemetry.token_usage() == {"input": (1233 * calls, calls), "output": (12 * calls, calls)}
    assert telemetry.counter_total("gen_ai.client.inference.usage.cache_read.input_tokens") == 1024 * calls
    assert telemetry.counter_total("gen_ai.client.inference.usage.cache_write.input_tokens") == 188 * calls
    for span in spans:
        assert span.name == f"chat {MODEL}"
        assert span.attributes["gen_ai.provider.name"] == "anthropic"
        assert span.attributes["gen_ai.response.model"] == "claude-haiku-4-5-20251001"
        assert span.attributes["gen_ai.response.finish_reasons"] == ("end_turn",)
        for key, value in USAGE_ATTRIBUTES.items():
            assert span.attributes[key] == value, key


def cases(paths: tuple[str, ...]) -> list[Any]:
    # langchain-anthropic calls messages.with_raw_response.create (stream=True too): the Anthropic
    # adapter reads those raw responses, so the SDK alone counts the same tokens.
    return [pytest.param(setup, path, id=f"{setup}-{path}") for path in paths for setup in SETUPS]


@pytest.mark.parametrize(("setup", "path"), cases(("invoke", "stream", "batch")))
def test_tokens_counted_once(
    fake: FakeProvider,
    instrument: Any,
    telemetry: Telemetry,
    model: Callable[..., ChatAnthropic],
    setup: str,
    path: str,
) -> None:
    instrument(*SETUPS[setup])
    chat = model()
    if path == "invoke":
        chat.invoke("Say hello.")
    elif path == "stream":
        for _ in chat.stream("Say hello."):
            pass
    else:
        chat.batch(["one", "two"])
    assert_counted_once(telemetry, path)


@pytest.mark.parametrize(("setup", "path"), cases(("ainvoke", "astream", "abatch")))
async def test_tokens_counted_once_async(
    fake: FakeProvider,
    instrument: Any,
    telemetry: Telemetry,
    amodel: Callable[..., ChatAnthropic],
    setup: str,
    path: str,
) -> None:
    instrument(*SETUPS[setup])
    chat = amodel()
    if path == "ainvoke":
        await chat.ainvoke("Say hello.")
    elif path == "astream":
        async for _ in chat.astream("Say hello."):
            pass
    else:
        await chat.abatch(["one", "two"])
    assert_counted_once(telemetry, path)


def test_invoke_attributes(
    fake: FakeProvider, instrument: Any, telemetry: Telemetry, model: Callable[..., ChatAnthropic]
) -> None:
    instrument("langchain")
    model(temperature=0.3, max_tokens=256, top_k=5).invoke("Say hello.", stop=["\n\nHuman:"])
    span = telemetry.only_span()
    expected: dict[str, Any] = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "anthropic",
        "gen_ai.request.model": MODEL,
        "gen_ai.request.temperature": 0.3,
        "gen_ai.request.max_tokens": 256,
        "gen_ai.request.top_k": 5,
        "gen_ai.request.stop_sequences": ("\n\nHuman:",),
        "server.address": "127.0.0.1",
        "server.port": fake.port,
        "gen_ai.response.id": "msg_01XFDUDYJgAACzvnptvVoYEL",
        **USAGE_ATTRIBUTES,
    }
    assert {key: span.attributes.get(key) for key in expected} == expected
    assert "gen_ai.usage.reasoning.output_tokens" not in span.attributes


def test_both_instrumented_keeps_the_sdk_facts(
    fake: FakeProvider, instrument: Any, telemetry: Telemetry, model: Callable[..., ChatAnthropic]
) -> None:
    instrument("langchain", "anthropic")
    model().invoke("Say hello.")
    span = telemetry.only_span()
    sdk_only = {key for key in span.attributes if key.startswith("anthropic.")}
    assert sdk_only, "the Anthropic adapter's own attributes are absorbed into the one span"


@pytest.mark.parametrize("setup", ["langchain", "both"])
def test_error(
    fake: FakeProvider,
    instrument: Any,
    telemetry: Telemetry,
    model: Callable[..., ChatAnthropic],
    setup: str,
) -> None:
    instrument(*SETUPS[setup])
    fake.enqueue("anthropic.messages", {"error": 429})
    with pytest.raises(anthropic.RateLimitError):
        model().invoke("fail")
    span = telemetry.only_span()
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes["error.type"] == "RateLimitError"
    assert telemetry.token_usage() == {}


def test_thinking_tokens_are_reasoning(
    fake: FakeProvider,
    instrument: Any,
    telemetry: Telemetry,
    model: Callable[..., ChatAnthropic],
) -> None:
    instrument("langchain")
    usage = {
        "input_tokens": 40,
        "output_tokens": 300,
        "cache_read_input_tokens": 0,
        "cache_creation_input_tokens": 0,
        "output_tokens_details": {"thinking_tokens": 250},
    }
    fake.enqueue("anthropic.messages", {"usage": usage})
    model().invoke("Think first.")
    span = telemetry.only_span()
    assert span.attributes["gen_ai.usage.input_tokens"] == 40
    assert span.attributes["gen_ai.usage.output_tokens"] == 300
    assert span.attributes["gen_ai.usage.reasoning.output_tokens"] == 250
