"""``tokentrace.track()``: per-block totals through real SDK calls (nesting, threads, tasks, failures)."""

from __future__ import annotations

import asyncio
import contextvars
import json
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from anthropic import Anthropic
from openai import AsyncOpenAI, InternalServerError, OpenAI
from opentelemetry.sdk.trace import TracerProvider

import tokentrace
from tests.export.workload import (
    ANTHROPIC_MODEL,
    ANTHROPIC_USAGE,
    CHAT_MODEL,
    CHAT_USAGE,
    MESSAGES,
    REASONING_MODEL,
    RESPONSES_USAGE,
)
from tests.telemetry import Telemetry
from tokentrace._core import semconv
from tokentrace._core.cost import reset_pricers
from tokentrace._core.rollup import Totals
from tokentrace.testing import FakeProvider

MILLION = Decimal(1_000_000)
# The price file the tests write (USD per million tokens), and what each scripted call costs under it.
PRICES = {
    "openai": {CHAT_MODEL: {"input": 0.2, "cached_input": 0.05, "output": 0.8}},
    "anthropic": {ANTHROPIC_MODEL: {"input": 1, "cached_input": 0.1, "cache_write": 1.25, "output": 5}},
}
CHAT_COST = (65 * Decimal("0.2") + 1152 * Decimal("0.05") + 9 * Decimal("0.8")) / MILLION
ANTHROPIC_COST = (100 * 1 + 1000 * Decimal("0.1") + 200 * Decimal("1.25") + 50 * 5) / MILLION


@pytest.fixture(autouse=True)
def priced(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    path = tmp_path / "prices.json"
    path.write_text(json.dumps(PRICES))
    monkeypatch.setenv("TOKENTRACE_COST", "true")
    monkeypatch.setenv("TOKENTRACE_PRICES_FILE", str(path))
    # genai-prices must not price the unlisted model of these tests: only the file is consulted here.
    monkeypatch.setattr("tokentrace._core.cost._Library", _no_library)
    reset_pricers()
    yield
    reset_pricers()


def _no_library() -> None:
    raise ImportError("genai-prices left out of these tests")


def openai_client(fake: FakeProvider) -> OpenAI:
    return OpenAI(base_url=fake.base_url("openai"), api_key="test", max_retries=0)


def chat(fake: FakeProvider) -> None:
    fake.enqueue("openai.chat", {"usage": CHAT_USAGE})
    openai_client(fake).chat.completions.create(model=CHAT_MODEL, messages=MESSAGES)  # type: ignore[arg-type]


def claude(fake: FakeProvider) -> None:
    fake.enqueue("anthropic.messages", {"usage": ANTHROPIC_USAGE})
    Anthropic(base_url=fake.base_url("anthropic"), api_key="test", max_retries=0).messages.create(
        model=ANTHROPIC_MODEL,
        max_tokens=64,
        messages=MESSAGES,  # type: ignore[arg-type]
    )


def reasoning(fake: FakeProvider) -> None:
    """A call to a model the price file does not list: counted, but unpriced."""
    fake.enqueue("openai.responses", {"usage": RESPONSES_USAGE})
    openai_client(fake).responses.create(model=REASONING_MODEL, input="Capital of France?")


def totals(t: tokentrace.Tracker) -> dict[str, Any]:
    """Every total the tracker exposes (the same names as its sums)."""
    return {name: getattr(t, name) for name in Totals.__slots__ if not name.startswith("_")}


def test_sums_every_call_and_is_readable_during_the_block(
    instrument: Callable[..., Any], fake: FakeProvider
) -> None:
    instrument("openai", "anthropic")
    with tokentrace.track() as t:
        chat(fake)
        assert (t.calls, t.input_tokens, t.cost) == (1, 1217, CHAT_COST)
        claude(fake)
        reasoning(fake)
    chat(fake)  # after the block: not counted
    assert totals(t) == {
        "calls": 3,
        "failed_calls": 0,
        "unpriced_calls": 1,
        "input_tokens": 1217 + 1300 + 14,
        "output_tokens": 9 + 50 + 151,
        "cache_read_tokens": 1152 + 1000,
        "cache_write_tokens": 200,
        "reasoning_tokens": 0 + 128,
        "cost": CHAT_COST + ANTHROPIC_COST,
    }
    assert isinstance(t.cost, Decimal)


def test_nothing_priced_is_none_not_zero(instrument: Callable[..., Any], fake: FakeProvider) -> None:
    instrument("openai")
    with tokentrace.track() as t:
        reasoning(fake)
    assert (t.calls, t.unpriced_calls, t.cost) == (1, 1, None)
    with tokentrace.track() as empty:
        pass
    assert totals(empty)["cost"] is None and empty.calls == 0


def test_nested_blocks_each_count(instrument: Callable[..., Any], fake: FakeProvider) -> None:
    instrument("openai", "anthropic")
    with tokentrace.track() as outer:
        chat(fake)
        with tokentrace.track() as inner:
            claude(fake)
            with tokentrace.track() as innermost:
                chat(fake)
        chat(fake)
    assert (outer.calls, inner.calls, innermost.calls) == (4, 2, 1)
    assert outer.cost == 3 * CHAT_COST + ANTHROPIC_COST
    assert inner.cost == ANTHROPIC_COST + CHAT_COST
    assert innermost.cost == CHAT_COST
    assert inner.cache_write_tokens == 200 and innermost.cache_write_tokens == 0


def test_failed_call_inside_a_block(instrument: Callable[..., Any], fake: FakeProvider) -> None:
    instrument("openai")
    with tokentrace.track() as t:
        chat(fake)
        fake.enqueue("openai.chat", {"error": 500})
        with pytest.raises(InternalServerError):
            openai_client(fake).chat.completions.create(model=CHAT_MODEL, messages=MESSAGES)  # type: ignore[arg-type]
    assert totals(t) == {
        "calls": 2,
        "failed_calls": 1,
        "unpriced_calls": 0,  # the failure reported no usage: there was nothing to price
        "input_tokens": 1217,
        "output_tokens": 9,
        "cache_read_tokens": 1152,
        "cache_write_tokens": 0,
        "reasoning_tokens": 0,
        "cost": CHAT_COST,
    }


def test_an_exception_in_the_block_still_closes_it(
    instrument: Callable[..., Any], fake: FakeProvider
) -> None:
    instrument("openai")
    with pytest.raises(RuntimeError), tokentrace.track() as t:
        chat(fake)
        raise RuntimeError("application error")
    chat(fake)
    assert t.calls == 1


def test_token_counting_is_not_consumption(instrument: Callable[..., Any], fake: FakeProvider) -> None:
    instrument("anthropic")
    with tokentrace.track() as t:
        fake.enqueue("anthropic.count_tokens", {"input_tokens": 5000})
        Anthropic(base_url=fake.base_url("anthropic"), api_key="test", max_retries=0).messages.count_tokens(
            model=ANTHROPIC_MODEL,
            messages=MESSAGES,  # type: ignore[arg-type]
        )
        claude(fake)
    assert (t.calls, t.input_tokens) == (1, 1300)


def test_threads_that_copy_the_context_count(instrument: Callable[..., Any], fake: FakeProvider) -> None:
    instrument("openai")
    with tokentrace.track() as t, ThreadPoolExecutor(max_workers=4) as pool:
        futures = [pool.submit(contextvars.copy_context().run, chat, fake) for _ in range(8)]
        for future in futures:
            future.result()
    assert (t.calls, t.input_tokens, t.cost) == (8, 8 * 1217, 8 * CHAT_COST)


def test_asyncio_tasks_count(instrument: Callable[..., Any], fake: FakeProvider) -> None:
    instrument("openai")

    async def main() -> tokentrace.Tracker:
        for _ in range(5):
            fake.enqueue("openai.chat", {"usage": CHAT_USAGE})
        async with AsyncOpenAI(base_url=fake.base_url("openai"), api_key="test", max_retries=0) as client:
            async with tokentrace.track() as t:
                await asyncio.gather(
                    *(client.chat.completions.create(model=CHAT_MODEL, messages=MESSAGES) for _ in range(5))  # type: ignore[call-overload]
                )
        return t

    t = asyncio.run(main())
    assert (t.calls, t.output_tokens, t.cost) == (5, 45, 5 * CHAT_COST)


def test_decorator_counts_every_call_sync_and_async(
    instrument: Callable[..., Any], fake: FakeProvider
) -> None:
    instrument("openai")
    per_request = tokentrace.track()

    @per_request
    def handle() -> int:
        chat(fake)
        return 7

    @per_request
    async def ahandle() -> int:
        fake.enqueue("openai.chat", {"usage": CHAT_USAGE})
        async with AsyncOpenAI(base_url=fake.base_url("openai"), api_key="test", max_retries=0) as client:
            await client.chat.completions.create(model=CHAT_MODEL, messages=MESSAGES)  # type: ignore[arg-type]
        return 8

    assert handle() == 7 and handle() == 7
    assert asyncio.run(ahandle()) == 8
    assert (per_request.calls, per_request.cost) == (3, 3 * CHAT_COST)


def test_record_on_span_puts_totals_in_their_own_namespace(
    instrument: Callable[..., Any], fake: FakeProvider, tracer_provider: TracerProvider, telemetry: Telemetry
) -> None:
    instrument("openai", "anthropic")
    tracer = tracer_provider.get_tracer("app")
    with tracer.start_as_current_span("handle request") as request_span:
        with tokentrace.track(record_on_span=True) as t:
            chat(fake)
            claude(fake)
        assert t.calls == 2
    (request,) = [span for span in telemetry.spans() if span.name == "handle request"]
    assert request.context.span_id == request_span.get_span_context().span_id
    attributes = dict(request.attributes or {})
    assert attributes == {
        "tokentrace.rollup.calls": 2,
        "tokentrace.rollup.failed_calls": 0,
        "tokentrace.rollup.unpriced_calls": 0,
        "tokentrace.rollup.input_tokens": 1217 + 1300,
        "tokentrace.rollup.output_tokens": 59,
        "tokentrace.rollup.cache_read.input_tokens": 2152,
        "tokentrace.rollup.cache_write.input_tokens": 200,
        "tokentrace.rollup.reasoning.output_tokens": 0,
        "tokentrace.rollup.cost.amount": float(CHAT_COST + ANTHROPIC_COST),
        "tokentrace.rollup.cost.currency": "USD",
    }
    assert not any(key.startswith("gen_ai.usage.") for key in attributes)
    # The inference spans keep their own usage, so a backend summing gen_ai.usage.* counts each once.
    inference = [span for span in telemetry.spans() if span.name != "handle request"]
    assert sum(span.attributes[semconv.GEN_AI_USAGE_INPUT_TOKENS] for span in inference) == 2517  # type: ignore[index,misc]


def test_record_on_span_decorator_records_each_call_on_its_own_span(
    instrument: Callable[..., Any], fake: FakeProvider, tracer_provider: TracerProvider, telemetry: Telemetry
) -> None:
    instrument("openai")
    tracer = tracer_provider.get_tracer("app")
    tracked = tokentrace.track(record_on_span=True)

    @tracked
    def handle(calls: int) -> None:
        for _ in range(calls):
            chat(fake)

    for calls in (1, 2):
        with tracer.start_as_current_span(f"request {calls}"):
            handle(calls)
    recorded = {
        span.name: span.attributes["tokentrace.rollup.calls"]  # type: ignore[index]
        for span in telemetry.spans()
        if span.name.startswith("request")
    }
    assert recorded == {"request 1": 1, "request 2": 2}
    assert tracked.calls == 3


def test_stream_read_after_the_block_counts_in_it(instrument: Callable[..., Any], fake: FakeProvider) -> None:
    instrument("openai")
    fake.enqueue("openai.chat", {"usage": CHAT_USAGE})
    with tokentrace.track() as t:
        stream = openai_client(fake).chat.completions.create(model=CHAT_MODEL, messages=MESSAGES, stream=True)  # type: ignore[call-overload]
    assert t.calls == 0  # still streaming
    for _ in stream:
        pass
    assert (t.calls, t.input_tokens) == (1, 1217)


def test_langchain_over_the_instrumented_sdk_counts_each_call_once(
    instrument: Callable[..., Any], fake: FakeProvider, telemetry: Telemetry
) -> None:
    from langchain_openai import ChatOpenAI

    instrument("openai", "langchain")
    chat_model = ChatOpenAI(
        model=CHAT_MODEL,
        base_url=fake.base_url("openai"),
        api_key="sk-test",  # type: ignore[arg-type]
        max_retries=0,
    )
    with tokentrace.attributes(feature="rag"), tokentrace.track() as t:
        for _ in range(2):
            fake.enqueue("openai.chat", {"usage": CHAT_USAGE})
            chat_model.invoke("Say hello.")
    assert (t.calls, t.input_tokens, t.cost) == (2, 2 * 1217, 2 * CHAT_COST)
    spans = telemetry.spans()
    assert len(spans) == 2  # one span per model call: LangChain absorbs the SDK call below it
    assert all(span.attributes["feature"] == "rag" for span in spans)  # type: ignore[index]
    (cost,) = telemetry.points(semconv.GEN_AI_CLIENT_OPERATION_COST)
    assert cost.count == 2 and cost.sum == pytest.approx(float(2 * CHAT_COST))
