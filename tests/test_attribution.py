"""Attribution dimensions on spans and metric points: blocks, decorators, threads, tasks, baggage, the cap."""

from __future__ import annotations

import asyncio
import contextvars
import json
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from openai import AsyncOpenAI, OpenAI
from opentelemetry import baggage
from opentelemetry import context as otel_context

import tokentrace
from tests.export.workload import CHAT_MODEL, CHAT_USAGE, MESSAGES
from tests.telemetry import Telemetry
from tokentrace._core import semconv
from tokentrace._core.attribution import VALUE_LIMIT
from tokentrace._core.cost import reset_pricers
from tokentrace.testing import FakeProvider

# Every metric a chat call records a point on (the stream-only ones aside).
CALL_METRICS = (
    semconv.GEN_AI_CLIENT_OPERATION_DURATION,
    semconv.GEN_AI_CLIENT_TOKEN_USAGE,
    semconv.GEN_AI_CLIENT_OPERATION_COST,
    semconv.GEN_AI_CLIENT_INFERENCE_USAGE_INPUT_TOKENS,
    semconv.GEN_AI_CLIENT_INFERENCE_USAGE_OUTPUT_TOKENS,
    semconv.GEN_AI_CLIENT_INFERENCE_USAGE_CACHE_READ_INPUT_TOKENS,
)


@pytest.fixture(autouse=True)
def priced(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Cost on, from a price file (so cost points exist for every call), and a fresh value cap."""
    path = tmp_path / "prices.json"
    path.write_text(json.dumps({"openai": {CHAT_MODEL: {"input": 1, "output": 2}}}))
    monkeypatch.setenv("TOKENTRACE_COST", "true")
    monkeypatch.setenv("TOKENTRACE_PRICES_FILE", str(path))
    reset_pricers()
    VALUE_LIMIT.clear()
    yield
    reset_pricers()
    VALUE_LIMIT.clear()


def chat(fake: FakeProvider) -> None:
    fake.enqueue("openai.chat", {"usage": CHAT_USAGE})
    client = OpenAI(base_url=fake.base_url("openai"), api_key="test", max_retries=0)
    client.chat.completions.create(model=CHAT_MODEL, messages=MESSAGES)  # type: ignore[arg-type]


async def achat(fake: FakeProvider, client: AsyncOpenAI) -> None:
    await client.chat.completions.create(model=CHAT_MODEL, messages=MESSAGES)  # type: ignore[arg-type]


def dimensions_of(attributes: Any, keys: tuple[str, ...] = ("tenant", "feature")) -> dict[str, Any]:
    return {key: attributes[key] for key in keys if key in attributes}


def metric_dimensions(telemetry: Telemetry) -> dict[str, list[dict[str, Any]]]:
    """Per metric, the attribution dimensions of each point."""
    collected = telemetry.collect()
    return {
        name: [dimensions_of(point.attributes) for point in collected.get(name, [])] for name in CALL_METRICS
    }


def test_block_puts_dimensions_on_the_span_and_every_point(
    instrument: Callable[..., Any], fake: FakeProvider, telemetry: Telemetry
) -> None:
    instrument("openai")
    with tokentrace.attributes(feature="search", tenant="acme"):
        chat(fake)
    chat(fake)  # outside: no dimensions
    inside, outside = sorted(telemetry.spans(), key=lambda span: span.start_time or 0)
    assert dimensions_of(inside.attributes) == {"feature": "search", "tenant": "acme"}
    assert dimensions_of(outside.attributes) == {}
    for name, points in metric_dimensions(telemetry).items():
        per_series = sorted(points, key=len)
        # Token usage: one input and one output series per call shape.
        expected = [{}, {"feature": "search", "tenant": "acme"}]
        if name == semconv.GEN_AI_CLIENT_TOKEN_USAGE:
            expected = [
                {},
                {},
                {"feature": "search", "tenant": "acme"},
                {"feature": "search", "tenant": "acme"},
            ]
        assert per_series == expected, name


def test_inner_blocks_add_and_override(
    instrument: Callable[..., Any], fake: FakeProvider, telemetry: Telemetry
) -> None:
    instrument("openai")
    with tokentrace.attributes(tenant="acme", feature="search"), tokentrace.attributes(feature="summarize"):
        chat(fake)
    assert dimensions_of(telemetry.only_span().attributes) == {"tenant": "acme", "feature": "summarize"}


def test_decorator_sync_and_async(
    instrument: Callable[..., Any], fake: FakeProvider, telemetry: Telemetry
) -> None:
    instrument("openai")

    @tokentrace.attributes(feature="sync")
    def handler() -> str:
        chat(fake)
        return "done"

    @tokentrace.attributes(feature="async")
    async def async_handler() -> str:
        fake.enqueue("openai.chat", {"usage": CHAT_USAGE})
        async with AsyncOpenAI(base_url=fake.base_url("openai"), api_key="test", max_retries=0) as client:
            await achat(fake, client)
        return "done"

    assert handler() == "done"
    assert asyncio.run(async_handler()) == "done"
    features = sorted(span.attributes["feature"] for span in telemetry.spans())  # type: ignore[index]
    assert features == ["async", "sync"]


def test_threads_that_copy_the_context_carry_the_dimensions(
    instrument: Callable[..., Any], fake: FakeProvider, telemetry: Telemetry
) -> None:
    instrument("openai")
    with tokentrace.attributes(tenant="acme"), ThreadPoolExecutor(max_workers=4) as pool:
        copied = [pool.submit(contextvars.copy_context().run, chat, fake) for _ in range(4)]
        for future in copied:
            future.result()
        # A plain thread starts from an empty context: nothing to attribute to.
        bare = threading.Thread(target=chat, args=(fake,))
        bare.start()
        bare.join()
    tenants = sorted(str(span.attributes.get("tenant")) for span in telemetry.spans())  # type: ignore[union-attr]
    assert tenants == ["None", "acme", "acme", "acme", "acme"]


def test_asyncio_tasks_carry_the_dimensions(
    instrument: Callable[..., Any], fake: FakeProvider, telemetry: Telemetry
) -> None:
    instrument("openai")

    async def main() -> None:
        async with AsyncOpenAI(base_url=fake.base_url("openai"), api_key="test", max_retries=0) as client:
            for _ in range(6):
                fake.enqueue("openai.chat", {"usage": CHAT_USAGE})
            with tokentrace.attributes(tenant="acme"):
                await asyncio.gather(*(achat(fake, client) for _ in range(3)))
            async with tokentrace.attributes(tenant="globex"):
                tasks = [asyncio.create_task(achat(fake, client)) for _ in range(3)]
            await asyncio.gather(*tasks)  # tasks keep the context they were created in

    asyncio.run(main())
    tenants = sorted(span.attributes["tenant"] for span in telemetry.spans())  # type: ignore[index]
    assert tenants == ["acme"] * 3 + ["globex"] * 3


def test_stream_read_after_the_block_keeps_the_dimensions_of_its_start(
    instrument: Callable[..., Any], fake: FakeProvider, telemetry: Telemetry
) -> None:
    instrument("openai")
    fake.enqueue("openai.chat", {"usage": CHAT_USAGE})
    client = OpenAI(base_url=fake.base_url("openai"), api_key="test", max_retries=0)
    with tokentrace.attributes(tenant="acme"):
        stream = client.chat.completions.create(model=CHAT_MODEL, messages=MESSAGES, stream=True)  # type: ignore[call-overload]
    for _ in stream:
        pass
    assert telemetry.only_span().attributes["tenant"] == "acme"  # type: ignore[index]
    (cost,) = telemetry.points(semconv.GEN_AI_CLIENT_OPERATION_COST)
    assert cost.attributes["tenant"] == "acme"


def test_baggage_keys(
    monkeypatch: pytest.MonkeyPatch, instrument: Callable[..., Any], fake: FakeProvider, telemetry: Telemetry
) -> None:
    monkeypatch.setenv("TOKENTRACE_BAGGAGE_KEYS", "tenant, feature")
    instrument("openai")
    ctx = baggage.set_baggage("tenant", "acme")
    ctx = baggage.set_baggage("feature", "search", ctx)
    ctx = baggage.set_baggage("user.id", "u-123", ctx)  # not listed: never copied
    token = otel_context.attach(ctx)
    try:
        chat(fake)
        with tokentrace.attributes(feature="override"):  # code wins over the incoming baggage
            chat(fake)
    finally:
        otel_context.detach(token)
    first, second = sorted(telemetry.spans(), key=lambda span: span.start_time or 0)
    assert dimensions_of(first.attributes) == {"tenant": "acme", "feature": "search"}
    assert dimensions_of(second.attributes) == {"tenant": "acme", "feature": "override"}
    assert "user.id" not in first.attributes  # type: ignore[operator]
    durations = telemetry.points(semconv.GEN_AI_CLIENT_OPERATION_DURATION)
    assert sorted(point.attributes["feature"] for point in durations) == ["override", "search"]


def test_baggage_keys_unset_reads_no_baggage(
    instrument: Callable[..., Any], fake: FakeProvider, telemetry: Telemetry
) -> None:
    instrument("openai")
    token = otel_context.attach(baggage.set_baggage("tenant", "acme"))
    try:
        chat(fake)
    finally:
        otel_context.detach(token)
    assert "tenant" not in telemetry.only_span().attributes  # type: ignore[operator]


def test_cardinality_cap_records_later_values_as_other_on_metrics_only(
    monkeypatch: pytest.MonkeyPatch, instrument: Callable[..., Any], fake: FakeProvider, telemetry: Telemetry
) -> None:
    monkeypatch.setenv("TOKENTRACE_ATTRIBUTE_VALUE_LIMIT", "2")
    instrument("openai")
    for tenant in ("a", "b", "c", "d", "a"):
        with tokentrace.attributes(tenant=tenant, feature="search"):
            chat(fake)
    span_tenants = sorted(span.attributes["tenant"] for span in telemetry.spans())  # type: ignore[index]
    assert span_tenants == ["a", "a", "b", "c", "d"]  # spans keep the real value
    calls = {
        point.attributes["tenant"]: point.count
        for point in telemetry.points(semconv.GEN_AI_CLIENT_OPERATION_DURATION)
    }
    assert calls == {"a": 2, "b": 1, "_other": 2}
    for name in CALL_METRICS:
        tenants = {point["tenant"] for point in metric_dimensions(telemetry)[name]}
        assert tenants == {"a", "b", "_other"}, name
    # The cap is per dimension: "feature" kept its single value.
    assert {
        point["feature"] for point in metric_dimensions(telemetry)[semconv.GEN_AI_CLIENT_TOKEN_USAGE]
    } == {"search"}


@pytest.mark.parametrize("key", ["gen_ai.request.model", "server.address", "error.type", "tokentrace.x", ""])
def test_reserved_keys_are_refused(key: str) -> None:
    with pytest.raises(ValueError, match="reserved"):
        tokentrace.attributes(**{key: "x"})


def test_values_must_be_attribute_values() -> None:
    with pytest.raises(TypeError, match="tenant"):
        tokentrace.attributes(tenant=["a", "b"])  # type: ignore[arg-type]
