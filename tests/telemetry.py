"""Reading what the in-memory exporters captured, for exact assertions."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode


def assert_attributes(span: Any, expected: Mapping[str, Any]) -> None:
    """Each expected attribute is on the span with that exact value and type."""
    for key, value in expected.items():
        assert key in span.attributes, key
        actual = span.attributes[key]
        assert actual == value, (key, actual, value)
        assert type(actual) is type(value), (key, type(actual), type(value))


def assert_failed_call(telemetry: Telemetry, error_type: str) -> None:
    """One span, status ERROR with ``error_type``, the duration point with it too, and no token points."""
    span = telemetry.only_span()
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes["error.type"] == error_type
    (point,) = telemetry.points("gen_ai.client.operation.duration")
    assert point.attributes["error.type"] == error_type
    assert telemetry.token_usage() == {}


class Telemetry:
    """Spans and metric points captured during a test."""

    def __init__(self, spans: InMemorySpanExporter, metrics: InMemoryMetricReader) -> None:
        self._spans = spans
        self._metrics = metrics

    def spans(self) -> list[ReadableSpan]:
        return list(self._spans.get_finished_spans())

    def only_span(self) -> ReadableSpan:
        spans = self.spans()
        assert len(spans) == 1, [span.name for span in spans]
        return spans[0]

    def points(self, metric: str) -> list[Any]:
        """Every data point of ``metric`` (histogram or sum), across scopes."""
        return self.collect().get(metric, [])

    def collect(self) -> dict[str, list[Any]]:
        """Every data point by metric name, from one collection (exemplars are handed out only once)."""
        data = self._metrics.get_metrics_data()
        found: dict[str, list[Any]] = {}
        if data is None:
            return found
        for resource in data.resource_metrics:
            for scope in resource.scope_metrics:
                for item in scope.metrics:
                    found.setdefault(item.name, []).extend(item.data.data_points)
        return found

    def metric(self, metric: str) -> Any:
        """The metric object itself (for unit, temporality, monotonicity checks)."""
        data = self._metrics.get_metrics_data()
        assert data is not None
        for resource in data.resource_metrics:
            for scope in resource.scope_metrics:
                for item in scope.metrics:
                    if item.name == metric:
                        return item
        raise AssertionError(f"no metric {metric}")

    def token_usage(self) -> dict[str, tuple[int, int]]:
        """``gen_ai.client.token.usage`` as {token type: (sum, count)} over all points."""
        totals: dict[str, tuple[int, int]] = {}
        for point in self.points("gen_ai.client.token.usage"):
            kind = point.attributes["gen_ai.token.type"]
            total, count = totals.get(kind, (0, 0))
            totals[kind] = (total + int(point.sum), count + point.count)
        return totals

    def counter_total(self, metric: str, **attributes: Any) -> int:
        """The sum of a counter's points whose attributes include ``attributes``."""
        wanted: Mapping[str, Any] = {key.replace("__", "."): value for key, value in attributes.items()}
        return sum(
            int(point.value)
            for point in self.points(metric)
            if all(point.attributes.get(key) == value for key, value in wanted.items())
        )
