"""A forked child's metrics start from zero (tokentrace._core.fork and the counters' fork handler).

Real ``os.fork()``, real SDK providers and the real tokentrace emitter path (an instrumented
OpenAI call to the fake provider); the child reports what its reader collected through a pipe.
"""

from __future__ import annotations

import json
import os
import signal
import threading
from collections.abc import Callable
from typing import Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import AggregationTemporality, InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider

import tokentrace
from tests.export.workload import openai_client
from tokentrace.otlp import clear_in_children
from tokentrace.testing import FakeProvider

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")

USAGE = {"usage": {"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120}}
CHILD_USAGE = {"usage": {"prompt_tokens": 10, "completion_tokens": 2, "total_tokens": 12}}
INPUT = "gen_ai.client.inference.usage.input_tokens"
TOKEN_USAGE = "gen_ai.client.token.usage"


def collected(reader: InMemoryMetricReader) -> dict[str, float]:
    """Per metric: the sum over every point (a histogram's sum; a counter's value)."""
    data = reader.get_metrics_data()
    totals: dict[str, float] = {}
    for resource in data.resource_metrics if data else ():
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                for point in metric.data.data_points:
                    value = getattr(point, "sum", None)
                    value = point.value if value is None else value  # type: ignore[union-attr]
                    totals[metric.name] = totals.get(metric.name, 0) + value
    return totals


def in_child(work: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """Run ``work`` in a forked child; its JSON-able result comes back through a pipe."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        status = 0
        signal.alarm(20)  # a child locked out ends instead of hanging the test
        try:
            os.close(read_end)
            os.write(write_end, json.dumps(work()).encode())
        except BaseException:
            status = 1
        finally:
            os._exit(status)
    os.close(write_end)
    with os.fdopen(read_end) as pipe:
        body = pipe.read()
    _, status = os.waitpid(pid, 0)
    assert status == 0 and body, "the child failed"
    result: dict[str, Any] = json.loads(body)
    return result


@pytest.fixture
def providers() -> Any:
    reader = InMemoryMetricReader()
    delta_reader = InMemoryMetricReader(
        preferred_temporality={cls: AggregationTemporality.DELTA for cls in _instrument_classes()}
    )
    meter_provider = MeterProvider(metric_readers=[reader, delta_reader])
    tracer_provider = TracerProvider()
    tokentrace.instrument(["openai"], tracer_provider=tracer_provider, meter_provider=meter_provider)
    yield meter_provider, reader, delta_reader
    tokentrace.uninstrument()
    meter_provider.shutdown()
    tracer_provider.shutdown()


def _instrument_classes() -> list[type]:
    from opentelemetry.sdk.metrics import Counter, Histogram, ObservableCounter

    return [Counter, Histogram, ObservableCounter]


def test_a_forked_child_reports_only_its_own_tokens(providers: Any, fake: FakeProvider) -> None:
    meter_provider, reader, delta_reader = providers
    app_counter = meter_provider.get_meter("the-app").create_counter("app.requests")
    client = openai_client(fake)
    fake.enqueue("openai.chat", USAGE, CHILD_USAGE)
    client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
    app_counter.add(7)
    assert collected(reader)[INPUT] == 100
    delta_reader.get_metrics_data()  # the delta reader has seen the parent's 100 already

    def child() -> dict[str, Any]:
        client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
        app_counter.add(1)
        return {"cumulative": collected(reader), "delta": collected(delta_reader)}

    seen = in_child(child)
    # tokentrace's metrics: the child's own call only, cumulative and delta alike (a delta
    # computed against the parent's last collection would be negative).
    assert seen["cumulative"][INPUT] == 10
    assert seen["cumulative"][TOKEN_USAGE] == 12  # input 10 + output 2
    assert seen["delta"][INPUT] == 10
    assert seen["delta"][TOKEN_USAGE] == 12
    # The application's own instruments on its own provider are its business: left as they were.
    assert seen["cumulative"]["app.requests"] == 8
    # The parent is untouched.
    assert collected(reader)[INPUT] == 100


def test_clear_in_children_clears_every_instrument_of_a_provider(providers: Any) -> None:
    meter_provider, reader, _ = providers
    app_counter = meter_provider.get_meter("the-app").create_counter("app.requests")
    app_counter.add(7)
    clear_in_children(meter_provider)

    def child() -> dict[str, Any]:
        app_counter.add(1)
        return collected(reader)

    assert in_child(child)["app.requests"] == 1
    assert collected(reader)["app.requests"] == 7


def test_a_child_forked_during_a_collection_is_not_locked_out(providers: Any, fake: FakeProvider) -> None:
    """The SDK's measurement lock held by another thread at the fork stays held in the child."""
    meter_provider, reader, _ = providers
    consumer = meter_provider._measurement_consumer
    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        with consumer._lock:
            held.set()
            release.wait(10)

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert held.wait(10)
        fake.enqueue("openai.chat", CHILD_USAGE)
        client = openai_client(fake)

        def child() -> dict[str, Any]:
            client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
            return collected(reader)

        assert in_child(child)[INPUT] == 10
    finally:
        release.set()
        holder.join()
