"""Shared fixtures: the fake provider, in-memory exporters, and instrumentation set up per test."""

from __future__ import annotations

import os

# Our own bugs must be loud under the test suite (the guard re-raises instead of swallowing).
os.environ["TOKENTRACE_STRICT"] = "1"

from collections.abc import Callable, Iterator

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import tokentrace
from tests.telemetry import Telemetry
from tokentrace.testing import FakeProvider


@pytest.fixture(scope="session")
def fake_provider() -> Iterator[FakeProvider]:
    with FakeProvider() as fake:
        yield fake


@pytest.fixture
def fake(fake_provider: FakeProvider) -> Iterator[FakeProvider]:
    fake_provider.reset()
    yield fake_provider
    fake_provider.reset()


@pytest.fixture
def span_exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def tracer_provider(span_exporter: InMemorySpanExporter) -> TracerProvider:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(span_exporter))
    return provider


@pytest.fixture
def metric_reader() -> InMemoryMetricReader:
    return InMemoryMetricReader()


@pytest.fixture
def meter_provider(metric_reader: InMemoryMetricReader) -> Iterator[MeterProvider]:
    provider = MeterProvider(metric_readers=[metric_reader])
    yield provider
    provider.shutdown()


@pytest.fixture
def telemetry(span_exporter: InMemorySpanExporter, metric_reader: InMemoryMetricReader) -> Telemetry:
    return Telemetry(span_exporter, metric_reader)


@pytest.fixture
def instrument(
    tracer_provider: TracerProvider, meter_provider: MeterProvider
) -> Iterator[Callable[..., list[str]]]:
    """``instrument("openai")`` instruments the named SDKs with the test's providers; undone after."""

    def _instrument(*providers: str) -> list[str]:
        return tokentrace.instrument(
            providers, tracer_provider=tracer_provider, meter_provider=meter_provider
        )

    yield _instrument
    tokentrace.uninstrument()
