"""Metric instruments, created once per meter with the conventions' advised bucket boundaries."""

from __future__ import annotations

from dataclasses import dataclass

from opentelemetry.metrics import Counter, Histogram, Meter

from tokentrace._core import semconv


@dataclass(frozen=True, slots=True)
class TokenCounters:
    """The monotonic per-token-type counters (proposal genai#374), for rates and cache-hit ratios."""

    input: Counter
    output: Counter
    cache_read: Counter
    cache_write: Counter
    reasoning: Counter


@dataclass(frozen=True, slots=True)
class Instruments:
    """Every instrument tokentrace records to."""

    token_usage: Histogram
    operation_duration: Histogram
    time_to_first_chunk: Histogram
    time_per_output_chunk: Histogram
    counters: TokenCounters | None


def create_instruments(meter: Meter, *, with_counters: bool) -> Instruments:
    """Create the instruments on ``meter``; the counters only when they are switched on."""
    durations = list(semconv.DURATION_BUCKETS)
    counters = None
    if with_counters:
        counters = TokenCounters(
            input=_token_counter(
                meter,
                semconv.GEN_AI_CLIENT_INFERENCE_USAGE_INPUT_TOKENS,
                "Input tokens consumed, cached tokens included",
            ),
            output=_token_counter(
                meter,
                semconv.GEN_AI_CLIENT_INFERENCE_USAGE_OUTPUT_TOKENS,
                "Output tokens produced, reasoning tokens included",
            ),
            cache_read=_token_counter(
                meter,
                semconv.GEN_AI_CLIENT_INFERENCE_USAGE_CACHE_READ_INPUT_TOKENS,
                "Input tokens read from the provider's cache",
            ),
            cache_write=_token_counter(
                meter,
                semconv.GEN_AI_CLIENT_INFERENCE_USAGE_CACHE_WRITE_INPUT_TOKENS,
                "Input tokens written to the provider's cache",
            ),
            reasoning=_token_counter(
                meter,
                semconv.GEN_AI_CLIENT_INFERENCE_USAGE_REASONING_OUTPUT_TOKENS,
                "Output tokens spent on reasoning",
            ),
        )
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
        counters=counters,
    )


def _token_counter(meter: Meter, name: str, description: str) -> Counter:
    return meter.create_counter(name, unit=semconv.TOKEN_UNIT, description=description)
