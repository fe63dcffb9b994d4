"""Metric instruments, created once per meter with the conventions' advised bucket boundaries."""

from __future__ import annotations

from dataclasses import dataclass

from opentelemetry.metrics import Histogram, Meter
from opentelemetry.util.types import AttributeValue

from tokentrace._core import semconv


@dataclass(frozen=True, slots=True)
class Instruments:
    """Every instrument tokentrace records to."""

    token_usage: Histogram
    operation_duration: Histogram
    time_to_first_chunk: Histogram
    time_per_output_chunk: Histogram
    operation_cost: Histogram


def create_instruments(meter: Meter) -> Instruments:
    """Create the histograms on ``meter`` (the token counters live in ``counters``)."""
    durations = list(semconv.DURATION_BUCKETS)
    return Instruments(
        token_usage=meter.create_histogram(
            semconv.GEN_AI_CLIENT_TOKEN_USAGE,
            unit=semconv.TOKEN_UNIT,
            description="Number of input and output tokens used per operation",
            explicit_bucket_boundaries_advisory=[float(b) for b in semconv.TOKEN_USAGE_BUCKETS],
        ),
        operation_duration=meter.create_histogram(
            semconv.GEN_AI_CLIENT_OPERATION_DURATION,
            unit=semconv.SECONDS_UNIT,
            description="GenAI operation duration",
            explicit_bucket_boundaries_advisory=durations,
        ),
        time_to_first_chunk=meter.create_histogram(
            semconv.GEN_AI_CLIENT_OPERATION_TIME_TO_FIRST_CHUNK,
            unit=semconv.SECONDS_UNIT,
            description="Time from the request to the first chunk of a streamed response",
            explicit_bucket_boundaries_advisory=durations,
        ),
        time_per_output_chunk=meter.create_histogram(
            semconv.GEN_AI_CLIENT_OPERATION_TIME_PER_OUTPUT_CHUNK,
            unit=semconv.SECONDS_UNIT,
            description="Time between consecutive chunks of a streamed response",
            explicit_bucket_boundaries_advisory=durations,
        ),
        operation_cost=meter.create_histogram(
            semconv.GEN_AI_CLIENT_OPERATION_COST,
            unit=semconv.COST_UNIT,
            description="Cost of a GenAI operation, computed from its usage and a price list",
            explicit_bucket_boundaries_advisory=list(semconv.COST_BUCKETS),
        ),
    )


# What identifies a metric series: operation, provider, request model, response model, server
# address and port, and the attribution dimensions (sorted pairs, usually none). A tuple, so that
# per-call code can key sums by it without building a dict.
MetricSeries = tuple[
    str, str, str | None, str | None, str | None, int | None, tuple[tuple[str, AttributeValue], ...]
]


def metric_attributes(
    operation: str,
    provider: str,
    request_model: str | None,
    response_model: str | None,
    server_address: str | None,
    server_port: int | None,
    dimensions: tuple[tuple[str, AttributeValue], ...] = (),
) -> dict[str, AttributeValue]:
    """What spans (at their start) and every metric point carry: the attributes sampling and grouping need."""
    attributes: dict[str, AttributeValue] = {
        semconv.GEN_AI_OPERATION_NAME: operation,
        semconv.GEN_AI_PROVIDER_NAME: provider,
    }
    if request_model:
        attributes[semconv.GEN_AI_REQUEST_MODEL] = request_model
    if response_model:
        attributes[semconv.GEN_AI_RESPONSE_MODEL] = response_model
    if server_address:
        attributes[semconv.SERVER_ADDRESS] = server_address
        if server_port is not None:
            attributes[semconv.SERVER_PORT] = server_port
    if dimensions:
        attributes.update(dimensions)
    return attributes
