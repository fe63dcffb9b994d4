"""Shared fixtures: the fake provider, in-memory exporters, and instrumentation set up per test."""

from __future__ import annotations

import os

# Our own bugs must be loud under the test suite (the guard re-raises instead of swallowing).
os.environ["TOKENTRACE_STRICT"] = "1"
# Tests assert exact attribute sets; cost attributes are asserted where they are the subject
# (tests/test_cost.py switches it back on).
os.environ["TOKENTRACE_COST"] = "false"

from collections.abc import Callable, Iterator, Sequence
from typing import Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import tokentrace
from tests.leak_scan import exported_strings, leaks, secrets_of
from tests.telemetry import Telemetry
from tokentrace._core.config import Settings
from tokentrace.testing import FakeProvider


@pytest.fixture(scope="session")
def fake_provider() -> Iterator[FakeProvider]:
    with FakeProvider() as fake:
        yield fake


@pytest.fixture
def fake(fake_provider: FakeProvider) -> FakeProvider:
    # Requests stay recorded after the test: the leak check reads them at teardown.
    fake_provider.reset()
    return fake_provider


CAPTURE_ON = pytest.StashKey[bool]()


def _check_nothing_sensitive(
    request: pytest.FixtureRequest, spans: Sequence[Any], points: Sequence[Any]
) -> None:
    """No key, auth header or content string the fake provider received may have been exported."""
    if request.node.stash.get(CAPTURE_ON, False):
        return
    if "fake_provider" not in request.fixturenames:
        return
    fake: FakeProvider = request.getfixturevalue("fake_provider")
    found = leaks(secrets_of(fake.requests), exported_strings(spans, points))
    assert not found, f"sensitive strings exported: {found[:5]}"


@pytest.fixture
def span_exporter(request: pytest.FixtureRequest) -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    yield exporter
    _check_nothing_sensitive(request, exporter.get_finished_spans(), [])


@pytest.fixture
def tracer_provider(span_exporter: InMemorySpanExporter) -> TracerProvider:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(span_exporter))
    return provider


@pytest.fixture
def metric_reader(request: pytest.FixtureRequest) -> Iterator[InMemoryMetricReader]:
    reader = InMemoryMetricReader()
    yield reader
    data = reader.get_metrics_data()
    points = [
        point
        for resource in (data.resource_metrics if data else ())
        for scope in resource.scope_metrics
        for metric in scope.metrics
        for point in metric.data.data_points
    ]
    _check_nothing_sensitive(request, [], points)


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
    request: pytest.FixtureRequest, tracer_provider: TracerProvider, meter_provider: MeterProvider
) -> Iterator[Callable[..., list[str]]]:
    """``instrument("openai")`` instruments the named SDKs with the test's providers; undone after."""

    def _instrument(*providers: str) -> list[str]:
        # A test that opts in to content capture is exempt from the leak check.
        request.node.stash[CAPTURE_ON] = Settings.from_env().capture_content
        return tokentrace.instrument(
            providers, tracer_provider=tracer_provider, meter_provider=meter_provider
        )

    yield _instrument
    tokentrace.uninstrument()
