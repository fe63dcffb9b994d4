"""The per-token-type counters (proposal genai#374), summed in process and reported at collection.

A synchronous ``Counter.add`` costs the OpenTelemetry SDK 5 to 8 µs a point, because it cleans and
hashes the attribute set on every call, and one call adds up to a dozen points (five counters, split
by modality): measured, that was the largest single cost per call. Here a call only adds integers to
a dictionary keyed by a tuple; asynchronous counters report the running sums when a reader collects.
The exported data is the same: a monotonic sum per attribute set (the SDK derives deltas for a delta
reader). What is lost is exemplars, which these counters never sampled.
"""

from __future__ import annotations

import os
import threading
import weakref
from collections.abc import Callable, Iterable

from opentelemetry.metrics import CallbackOptions, Meter, Observation
from opentelemetry.util.types import AttributeValue

from tokentrace._core import semconv
from tokentrace._core.instruments import MetricSeries, metric_attributes
from tokentrace._core.usage import ModalityCounts, TokenUsage

# Counter names in the order of ``TokenTotals._sums``.
_COUNTERS = (
    (semconv.GEN_AI_CLIENT_INFERENCE_USAGE_INPUT_TOKENS, "Input tokens consumed, cached tokens included"),
    (
        semconv.GEN_AI_CLIENT_INFERENCE_USAGE_OUTPUT_TOKENS,
        "Output tokens produced, reasoning tokens included",
    ),
    (
        semconv.GEN_AI_CLIENT_INFERENCE_USAGE_CACHE_READ_INPUT_TOKENS,
        "Input tokens read from the provider's cache",
    ),
    (
        semconv.GEN_AI_CLIENT_INFERENCE_USAGE_CACHE_WRITE_INPUT_TOKENS,
        "Input tokens written to the provider's cache",
    ),
    (semconv.GEN_AI_CLIENT_INFERENCE_USAGE_REASONING_OUTPUT_TOKENS, "Output tokens spent on reasoning"),
)
_INPUT, _OUTPUT, _CACHE_READ, _CACHE_WRITE, _REASONING = range(len(_COUNTERS))

# Distinct attribute sets kept per counter, as the SDK's default cardinality limit; later new sets
# are summed under one ``otel.metric.overflow`` set, as the SDK does, so memory stays bounded.
CARDINALITY_LIMIT = 2000
_OVERFLOW: tuple[MetricSeries, str] | None = None
_OVERFLOW_ATTRIBUTES: dict[str, AttributeValue] = {"otel.metric.overflow": True}

_SeriesKey = tuple[MetricSeries, str] | None


# One lock for every meter's sums: it is held for a few dictionary updates at a time.
_lock = threading.Lock()


class TokenTotals:
    """Running token sums per counter and attribute set, reported by five asynchronous counters."""

    def __init__(self, meter: Meter) -> None:
        self._sums: tuple[dict[_SeriesKey, int], ...] = tuple({} for _ in _COUNTERS)
        self._attributes: dict[_SeriesKey, dict[str, AttributeValue]] = {_OVERFLOW: _OVERFLOW_ATTRIBUTES}
        for index, (name, description) in enumerate(_COUNTERS):
            meter.create_observable_counter(
                name,
                callbacks=[self._observer(index)],
                unit=semconv.TOKEN_UNIT,
                description=description,
            )

    def add(self, series: MetricSeries, usage: TokenUsage) -> None:
        """Count one call's usage: each reported count, split by modality, under ``series``."""
        sums = self._sums
        with _lock:
            if usage.input is not None:
                self._add(sums[_INPUT], series, usage.input, usage.input_modalities)
            if usage.output is not None:
                self._add(sums[_OUTPUT], series, usage.output, usage.output_modalities)
            if usage.cache_read is not None:
                self._add(sums[_CACHE_READ], series, usage.cache_read, usage.cache_read_modalities)
            if usage.cache_write is not None:
                self._add(sums[_CACHE_WRITE], series, usage.cache_write, ())
            if usage.reasoning is not None:
                self._add(sums[_REASONING], series, usage.reasoning, ())

    @staticmethod
    def _add(sums: dict[_SeriesKey, int], series: MetricSeries, total: int, counts: ModalityCounts) -> None:
        for modality, value in split_by_modality(total, counts):
            key = (series, modality)
            if key in sums:
                sums[key] += value
            elif len(sums) < CARDINALITY_LIMIT:
                sums[key] = value
            else:
                sums[_OVERFLOW] = sums.get(_OVERFLOW, 0) + value

    def _observer(self, index: int) -> Callable[[CallbackOptions], Iterable[Observation]]:
        def observe(options: CallbackOptions) -> Iterable[Observation]:
            return self.observe(index)

        return observe

    def clear(self) -> None:
        """Forget every sum: the counters start again from zero (a forked child's own tokens only)."""
        with _lock:
            for sums in self._sums:
                sums.clear()

    def observe(self, index: int) -> list[Observation]:
        """The current sums of one counter (called by the SDK at collection)."""
        with _lock:
            items = list(self._sums[index].items())
        return [Observation(value, self._attributes_of(key)) for key, value in items]

    def _attributes_of(self, key: _SeriesKey) -> dict[str, AttributeValue]:
        attributes = self._attributes.get(key)
        if attributes is None:
            assert key is not None  # the overflow set is pre-filled
            series, modality = key
            attributes = metric_attributes(*series)
            attributes[semconv.GEN_AI_TOKEN_MODALITY] = modality
            self._attributes[key] = attributes
        return attributes


def split_by_modality(total: int, counts: ModalityCounts) -> list[tuple[str, int]]:
    """Split ``total`` into per-modality parts, the unexplained rest under ``unknown``.

    A breakdown that does not fit inside the total is not trusted: all of it goes to ``unknown``.
    """
    # Most calls have no breakdown, or one of zeros (OpenAI's ``audio_tokens: 0``): all of it is unknown.
    if not counts or not any(value for _, value in counts):
        return [(semconv.MODALITY_UNKNOWN, total)]
    known = [(modality, value) for modality, value in counts if modality in semconv.MODALITIES and value]
    rest = total - sum(value for _, value in known)
    if rest < 0:
        return [(semconv.MODALITY_UNKNOWN, total)]
    if rest or not known:
        known.append((semconv.MODALITY_UNKNOWN, rest))
    return known


_TOTALS: weakref.WeakKeyDictionary[Meter, TokenTotals] = weakref.WeakKeyDictionary()
_TOTALS_LOCK = threading.Lock()


def token_totals(meter: Meter) -> TokenTotals:
    """The totals of ``meter``, created with its counters on first use.

    One per meter because a meter hands back the first-registered instrument (with its callbacks)
    when a name is registered again: after uninstrument() and instrument() the counters must keep
    reading the same sums.
    """
    with _TOTALS_LOCK:
        totals = _TOTALS.get(meter)
        if totals is None:
            totals = TokenTotals(meter)
            _TOTALS[meter] = totals
        return totals


def _after_fork_in_child() -> None:
    # A fork taken while another thread held the lock must not leave the child locked out.
    global _lock, _TOTALS_LOCK
    _lock = threading.Lock()
    _TOTALS_LOCK = threading.Lock()
    # The child inherits the parent's sums; reported again under the child's own service.instance.id
    # they would count the parent's tokens once more per child (issue 17: 620 reported for 220 used).
    # The SDK's copy of these counters is dropped with them (tokentrace._core.fork).
    for totals in list(_TOTALS.values()):
        totals.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
