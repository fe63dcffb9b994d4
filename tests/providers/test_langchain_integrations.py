"""LangChain adapter through langchain-fireworks (Fireworks SDK) and langchain-mistralai (httpx)."""

from __future__ import annotations

from typing import Any

import pytest
from langchain_fireworks import ChatFireworks
from langchain_mistralai import ChatMistralAI

from tests.telemetry import Telemetry
from tokentrace.testing import FakeProvider

FIREWORKS_MODEL = "accounts/fireworks/models/llama-v3p1-8b-instruct"
SETUPS = {"langchain": ("langchain",), "fireworks": ("fireworks",), "both": ("langchain", "fireworks")}


def chat_fireworks(fake: FakeProvider) -> ChatFireworks:
    return ChatFireworks(
        model=FIREWORKS_MODEL,
        base_url=fake.base_url("fireworks"),
        api_key="fw-test-key",  # type: ignore[arg-type]
        max_retries=0,
    )


def chat_mistral(fake: FakeProvider, **fields: Any) -> ChatMistralAI:
    return ChatMistralAI(
        model="mistral-small-latest",  # type: ignore[call-arg]
        endpoint=fake.base_url("mistralai") + "/v1",
        api_key="mistral-test-key",  # type: ignore[arg-type]
        max_retries=0,
        **fields,
    )


def model_spans(telemetry: Telemetry) -> list[Any]:
    return [span for span in telemetry.spans() if span.name.startswith("chat ")]


@pytest.mark.parametrize("setup", list(SETUPS))
@pytest.mark.parametrize("path", ["invoke", "stream", "batch"])
def test_fireworks_tokens_counted_once(
    fake: FakeProvider, instrument: Any, telemetry: Telemetry, setup: str, path: str
) -> None:
    instrument(*SETUPS[setup])
    chat = chat_fireworks(fake)
    calls = 2 if path == "batch" else 1
    if path == "invoke":
        chat.invoke("Say hello.")
    elif path == "stream":
        for _ in chat.stream("Say hello."):
            pass
    else:
        chat.batch(["one", "two"])
    spans = model_spans(telemetry)
    assert len(spans) == calls
    for span in spans:
        assert span.name == f"chat {FIREWORKS_MODEL}"
        assert span.attributes["gen_ai.provider.name"] == "fireworks"
        assert span.attributes["gen_ai.response.model"] == FIREWORKS_MODEL
        assert span.attributes["gen_ai.response.finish_reasons"] == ("stop",)
        assert span.attributes["gen_ai.usage.input_tokens"] == 19
        assert span.attributes["gen_ai.usage.output_tokens"] == 9
        if setup != "langchain":  # the SDK-level response id is kept
            assert isinstance(span.attributes["gen_ai.response.id"], str)
    assert telemetry.token_usage() == {"input": (19 * calls, calls), "output": (9 * calls, calls)}


async def test_fireworks_async(fake: FakeProvider, instrument: Any, telemetry: Telemetry) -> None:
    instrument("langchain", "fireworks")
    chat = chat_fireworks(fake)
    await chat.ainvoke("Say hello.")
    async for _ in chat.astream("Say hello."):
        pass
    assert len(model_spans(telemetry)) == 2
    assert telemetry.token_usage() == {"input": (2 * 19, 2), "output": (2 * 9, 2)}


@pytest.mark.parametrize("setup", [("langchain",), ("langchain", "mistralai")])
def test_mistral(fake: FakeProvider, instrument: Any, telemetry: Telemetry, setup: tuple[str, ...]) -> None:
    # langchain-mistralai posts with httpx itself: the mistralai SDK is never called under it.
    instrument(*setup)
    chat = chat_mistral(fake, temperature=0.2, max_tokens=100, random_seed=11)
    chat.invoke("Say hello.")
    for _ in chat.stream("Say hello."):
        pass
    spans = model_spans(telemetry)
    assert len(spans) == 2
    for span in spans:
        expected = {
            "gen_ai.provider.name": "mistral_ai",
            "gen_ai.request.model": "mistral-small-latest",
            "gen_ai.request.temperature": 0.2,
            "gen_ai.request.max_tokens": 100,
            "gen_ai.request.seed": 11,
            "server.address": "127.0.0.1",
            "server.port": fake.port,
            "gen_ai.response.model": "mistral-small-latest",
            "gen_ai.response.finish_reasons": ("stop",),
            "gen_ai.usage.input_tokens": 10,
            "gen_ai.usage.output_tokens": 9,
        }
        assert {key: span.attributes.get(key) for key in expected} == expected
    assert telemetry.token_usage() == {"input": (20, 2), "output": (18, 2)}


async def test_mistral_async(fake: FakeProvider, instrument: Any, telemetry: Telemetry) -> None:
    instrument("langchain")
    chat = chat_mistral(fake)
    await chat.ainvoke("Say hello.")
    async for _ in chat.astream("Say hello."):
        pass
    assert len(model_spans(telemetry)) == 2
    assert telemetry.token_usage() == {"input": (20, 2), "output": (18, 2)}
