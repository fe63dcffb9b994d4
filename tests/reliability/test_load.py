"""Item 3, load: threads and hundreds of concurrent tasks, every call counted once and exactly.

Each call asks for a model named after the usage it must get back (``load-<input>-<output>``); a
custom fake server derives the reply's usage from that name, so concurrent calls (and streams in
flight together) each have their own distinct usage. Afterwards: exactly one span per call, parented
to the application span that made it, with that call's own counts; one token point per call and
token type; sums exact to the token; the application's current span the same object before, inside
and after every call.
"""

from __future__ import annotations

import asyncio
import re
import threading
from collections.abc import Callable
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider

from tests.reliability.cases import PROVIDERS, ProviderCase, dump, fixed_usage_handler
from tests.reliability.conftest import EndCounter
from tests.telemetry import Telemetry
from tokentrace.testing import FakeProvider, FakeRequest, Route

THREADS = 8
CALLS_PER_THREAD = 25
TASKS = 200
_MODEL = re.compile(r"load-(\d+)-(\d+)")


def model_for(index: int) -> tuple[str, int, int]:
    """A distinct (model, input, output) per call."""
    input_tokens, output_tokens = 1000 + 7 * index, 1 + index
    return f"load-{input_tokens}-{output_tokens}", input_tokens, output_tokens


def load_fake(case: ProviderCase, custom_fake: Callable[..., FakeProvider]) -> FakeProvider:
    def usage_of(request: FakeRequest) -> Any:
        match = _MODEL.fullmatch(case.model_of(request))
        assert match is not None, case.model_of(request)
        return case.wire_usage(int(match[1]), int(match[2]))

    handler = fixed_usage_handler(case, usage_of)

    def with_delay(request: FakeRequest, script: Any) -> Any:
        # A short pause between chunks keeps many streams in flight at once.
        return handler(request, {**script, "chunk_delay": 0.002})

    return custom_fake([Route(case.route, "POST", case.pattern, with_delay)])


class Ledger:
    """What the application did: per model name, the app span that made the call."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.calls: dict[str, tuple[int, int, int]] = {}  # model -> (input, output, app span id)
        self.context_errors: list[str] = []

    def add(self, model: str, input_tokens: int, output_tokens: int, app_span: trace.Span) -> None:
        with self.lock:
            self.calls[model] = (input_tokens, output_tokens, app_span.get_span_context().span_id)

    def check_current(self, app_span: trace.Span, where: str) -> None:
        if trace.get_current_span() is not app_span:
            with self.lock:
                self.context_errors.append(where)


def assert_exact(telemetry: Telemetry, ledger: Ledger, span_ends: EndCounter) -> None:
    assert ledger.context_errors == []
    ours = [span for span in telemetry.spans() if not span.name.startswith("app")]
    assert len(ours) == len(ledger.calls)
    seen: set[str] = set()
    for span in ours:
        attributes = span.attributes or {}
        model = str(attributes["gen_ai.request.model"])
        assert model not in seen
        seen.add(model)
        input_tokens, output_tokens, app_span_id = ledger.calls[model]
        assert attributes["gen_ai.usage.input_tokens"] == input_tokens, model
        assert attributes["gen_ai.usage.output_tokens"] == output_tokens, model
        assert span.parent is not None and span.parent.span_id == app_span_id, model
        assert "error.type" not in attributes
    assert all(count == 1 for count in span_ends.ends.values())
    n = len(ledger.calls)
    total_input = sum(call[0] for call in ledger.calls.values())
    total_output = sum(call[1] for call in ledger.calls.values())
    assert telemetry.token_usage() == {"input": (total_input, n), "output": (total_output, n)}
    assert telemetry.counter_total("gen_ai.client.inference.usage.input_tokens") == total_input
    assert telemetry.counter_total("gen_ai.client.inference.usage.output_tokens") == total_output
    durations = telemetry.points("gen_ai.client.operation.duration")
    assert sum(point.count for point in durations) == n


@pytest.mark.parametrize("case", PROVIDERS)
def test_threads(
    case: ProviderCase,
    custom_fake: Callable[..., FakeProvider],
    instrument: Any,
    telemetry: Telemetry,
    tracer_provider: TracerProvider,
    span_ends: EndCounter,
) -> None:
    fake = load_fake(case, custom_fake)
    instrument(case.provider)
    tracer = tracer_provider.get_tracer("app")
    ledger = Ledger()
    failures: list[BaseException] = []
    start = threading.Barrier(THREADS)

    def worker(number: int) -> None:
        try:
            with case.client(fake.base_url(case.base), None) as client:
                start.wait()
                with tracer.start_as_current_span(f"app-thread-{number}") as app_span:
                    for call in range(CALLS_PER_THREAD):
                        index = number * CALLS_PER_THREAD + call
                        model, input_tokens, output_tokens = model_for(index)
                        ledger.add(model, input_tokens, output_tokens, app_span)
                        stream = index % 2 == 0
                        result = case.create(client, model, stream)
                        ledger.check_current(app_span, "after create")
                        if stream:
                            for chunk in result:
                                ledger.check_current(app_span, "inside stream")
                                dump(chunk)
                        ledger.check_current(app_span, "after call")
        except BaseException as exc:  # surfaced in the main thread below
            failures.append(exc)

    before = trace.get_current_span()
    threads = [threading.Thread(target=worker, args=(number,)) for number in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert trace.get_current_span() is before
    assert failures == []
    assert len(ledger.calls) == THREADS * CALLS_PER_THREAD
    assert_exact(telemetry, ledger, span_ends)
    assert len(fake.requests_to(case.route)) == THREADS * CALLS_PER_THREAD


@pytest.mark.parametrize("case", PROVIDERS)
async def test_concurrent_tasks(
    case: ProviderCase,
    custom_fake: Callable[..., FakeProvider],
    instrument: Any,
    telemetry: Telemetry,
    tracer_provider: TracerProvider,
    span_ends: EndCounter,
) -> None:
    fake = load_fake(case, custom_fake)
    instrument(case.provider)
    tracer = tracer_provider.get_tracer("app")
    ledger = Ledger()
    gate = asyncio.Event()

    async def task(index: int, client: Any) -> None:
        model, input_tokens, output_tokens = model_for(index)
        with tracer.start_as_current_span(f"app-task-{index}") as app_span:
            ledger.add(model, input_tokens, output_tokens, app_span)
            await gate.wait()
            stream = index % 2 == 0
            result = await case.acreate(client, model, stream)
            ledger.check_current(app_span, "after create")
            if stream:
                async for chunk in result:
                    ledger.check_current(app_span, "inside stream")
                    dump(chunk)
                    await asyncio.sleep(0)
            ledger.check_current(app_span, "after call")

    before = trace.get_current_span()
    async with case.async_client(fake.base_url(case.base), None) as client:
        tasks = [asyncio.create_task(task(index, client)) for index in range(TASKS)]
        await asyncio.sleep(0)
        gate.set()
        await asyncio.wait_for(asyncio.gather(*tasks), 120)
    assert trace.get_current_span() is before
    assert len(ledger.calls) == TASKS
    assert_exact(telemetry, ledger, span_ends)


@pytest.mark.parametrize("case", PROVIDERS)
def test_streams_interleaved_in_one_context(
    case: ProviderCase,
    custom_fake: Callable[..., FakeProvider],
    instrument: Any,
    telemetry: Telemetry,
    tracer_provider: TracerProvider,
    span_ends: EndCounter,
) -> None:
    """Several streams open at once in one thread, read in turns: each keeps its own usage and parent."""
    fake = load_fake(case, custom_fake)
    instrument(case.provider)
    ledger = Ledger()
    with case.client(fake.base_url(case.base), None) as client:
        with tracer_provider.get_tracer("app").start_as_current_span("app-interleaved") as app_span:
            iterators = []
            for index in range(5):
                model, input_tokens, output_tokens = model_for(index)
                ledger.add(model, input_tokens, output_tokens, app_span)
                iterators.append(iter(case.create(client, model, True)))
                ledger.check_current(app_span, "after create")
            while iterators:
                for iterator in list(iterators):
                    try:
                        next(iterator)
                    except StopIteration:
                        iterators.remove(iterator)
                    ledger.check_current(app_span, "between streams")
    assert_exact(telemetry, ledger, span_ends)
