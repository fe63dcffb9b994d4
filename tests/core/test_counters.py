from __future__ import annotations

import threading
from typing import Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider, ObservableCounter
from opentelemetry.sdk.metrics.export import AggregationTemporality, InMemoryMetricReader

from tokentrace._core import counters
from tokentrace._core.counters import TokenTotals, split_by_modality, token_totals
from tokentrace._core.instruments import MetricSeries
from tokentrace._core.usage import TokenUsage

INPUT = "gen_ai.client.inference.usage.input_tokens"
OUTPUT = "gen_ai.client.inference.usage.output_tokens"
CACHE_READ = "gen_ai.client.inference.usage.cache_read.input_tokens"
CACHE_WRITE = "gen_ai.client.inference.usage.cache_write.input_tokens"
REASONING = "gen_ai.client.inference.usage.reasoning.output_tokens"

CHAT: MetricSeries = ("chat", "openai", "gpt-4o", "gpt-4o-2024-08-06", "api.openai.com", 443)
EMBED: MetricSeries = ("embeddings", "openai", "text-embedding-3-small", None, None, None)


@pytest.mark.parametrize(
    ("total", "counts", "expected"),
    [
        (100, (), [("unknown", 100)]),
        (0, (), [("unknown", 0)]),
        (300, (("text", 100), ("image", 200)), [("text", 100), ("image", 200)]),
        (300, (("text", 100),), [("text", 100), ("unknown", 200)]),
        (100, (("text", 150),), [("unknown", 100)]),  # a breakdown larger than the total is not trusted
        (50, (("video", 50),), [("unknown", 50)]),  # no convention for video: counted, as unknown
        (10, (("text", 0), ("audio", 10)), [("audio", 10)]),
    ],
)
def test_split_by_modality(total: int, counts: Any, expected: list[tuple[str, int]]) -> None:
    assert split_by_modality(total, counts) == expected


def _sums(reader: InMemoryMetricReader) -> dict[tuple[str, frozenset[tuple[str, Any]]], int]:
    """Every counter point as {(metric, attributes): value}, checking each metric is a monotonic sum."""
    data = reader.get_metrics_data()
    found: dict[tuple[str, frozenset[tuple[str, Any]]], int] = {}
    if data is None:
        return found
    for resource in data.resource_metrics:
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                assert metric.unit == "{token}"
                assert metric.data.is_monotonic
                for point in metric.data.data_points:
                    found[(metric.name, frozenset(point.attributes.items()))] = int(point.value)
    return found


def _key(metric: str, series: MetricSeries, modality: str) -> tuple[str, frozenset[tuple[str, Any]]]:
    names = (
        "gen_ai.operation.name",
        "gen_ai.provider.name",
        "gen_ai.request.model",
        "gen_ai.response.model",
        "server.address",
        "server.port",
    )
    attributes = {name: value for name, value in zip(names, series, strict=True) if value is not None}
    attributes["gen_ai.token.modality"] = modality
    return metric, frozenset(attributes.items())


def test_sums_are_reported_per_counter_series_and_modality() -> None:
    reader = InMemoryMetricReader()
    totals = TokenTotals(MeterProvider(metric_readers=[reader]).get_meter("test"))
    totals.add(
        CHAT,
        TokenUsage(
            input=1000,
            output=300,
            cache_read=600,
            cache_write=None,
            reasoning=200,
            input_modalities=(("text", 900), ("audio", 100)),
        ),
    )
    totals.add(CHAT, TokenUsage(input=10, output=5, cache_read=0))
    totals.add(EMBED, TokenUsage(input=7))
    assert _sums(reader) == {
        _key(INPUT, CHAT, "text"): 900,
        _key(INPUT, CHAT, "audio"): 100,
        _key(INPUT, CHAT, "unknown"): 10,
        _key(OUTPUT, CHAT, "unknown"): 305,
        _key(CACHE_READ, CHAT, "unknown"): 600,
        _key(REASONING, CHAT, "unknown"): 200,
        _key(INPUT, EMBED, "unknown"): 7,
    }
    # No cache write was reported, so none is counted: not even a zero.
    assert all(metric != CACHE_WRITE for metric, _ in _sums(reader))


def test_sums_are_cumulative_across_collections_and_delta_readers_get_differences() -> None:
    cumulative = InMemoryMetricReader()
    delta = InMemoryMetricReader(preferred_temporality={ObservableCounter: AggregationTemporality.DELTA})
    totals = TokenTotals(MeterProvider(metric_readers=[cumulative, delta]).get_meter("test"))
    totals.add(EMBED, TokenUsage(input=7))
    assert _sums(cumulative)[_key(INPUT, EMBED, "unknown")] == 7
    assert _sums(delta)[_key(INPUT, EMBED, "unknown")] == 7
    totals.add(EMBED, TokenUsage(input=5))
    assert _sums(cumulative)[_key(INPUT, EMBED, "unknown")] == 12
    assert _sums(delta)[_key(INPUT, EMBED, "unknown")] == 5


def test_new_attribute_sets_beyond_the_limit_are_summed_as_overflow(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(counters, "CARDINALITY_LIMIT", 3)
    reader = InMemoryMetricReader()
    totals = TokenTotals(MeterProvider(metric_readers=[reader]).get_meter("test"))
    for index in range(5):
        totals.add(("chat", "openai", f"model-{index}", None, None, None), TokenUsage(input=10 + index))
    totals.add(("chat", "openai", "model-0", None, None, None), TokenUsage(input=100))
    inputs = {attributes: value for (metric, attributes), value in _sums(reader).items() if metric == INPUT}
    assert len(inputs) == 4
    assert inputs[frozenset({("otel.metric.overflow", True)})] == 13 + 14
    assert inputs[_key(INPUT, ("chat", "openai", "model-0", None, None, None), "unknown")[1]] == 110


def test_one_set_of_totals_per_meter_survives_reinstrumentation() -> None:
    reader = InMemoryMetricReader()
    meter = MeterProvider(metric_readers=[reader]).get_meter("test")
    first = token_totals(meter)
    first.add(EMBED, TokenUsage(input=7))
    # The meter keeps the first counters (and their callbacks) when the names are registered again.
    second = token_totals(meter)
    assert second is first
    second.add(EMBED, TokenUsage(input=5))
    assert _sums(reader)[_key(INPUT, EMBED, "unknown")] == 12
    other_meter = MeterProvider(metric_readers=[InMemoryMetricReader()]).get_meter("test")
    assert token_totals(other_meter) is not first


def test_concurrent_adds_are_all_counted() -> None:
    reader = InMemoryMetricReader()
    totals = TokenTotals(MeterProvider(metric_readers=[reader]).get_meter("test"))

    def work() -> None:
        for _ in range(2000):
            totals.add(CHAT, TokenUsage(input=3, output=1))

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    sums = _sums(reader)
    assert sums[_key(INPUT, CHAT, "unknown")] == 8 * 2000 * 3
    assert sums[_key(OUTPUT, CHAT, "unknown")] == 8 * 2000
