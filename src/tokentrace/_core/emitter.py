"""The only module that touches the Tracer and the Meter: invocations in, spans and metric points out."""

from __future__ import annotations

import weakref
from decimal import Decimal
from itertools import islice
from time import perf_counter

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.metrics import MeterProvider, get_meter
from opentelemetry.trace import SpanKind, Status, StatusCode, TracerProvider
from opentelemetry.util.types import AttributeValue

from tokentrace._core import semconv
from tokentrace._core.attribution import Attribution
from tokentrace._core.config import Settings
from tokentrace._core.cost import cost_attributes, pricer_for
from tokentrace._core.counters import TokenTotals, token_totals
from tokentrace._core.fork import track_meter
from tokentrace._core.instruments import Instruments, MetricSeries, create_instruments, metric_attributes
from tokentrace._core.invocation import Invocation, RequestFacts
from tokentrace._core.rollup import add_to_frames
from tokentrace._core.usage import ModalityCounts, TokenUsage
from tokentrace.version import __version__

_SCOPE = "tokentrace"

# The invocation in flight is kept in the OpenTelemetry context, next to its span, so that a nested
# instrumented call (an SDK under LangChain, a model hop under one user call) finds it. The context
# holds a weak reference: the invocation also holds its context, and a cycle per call would leave
# every call's objects to the garbage collector instead of freeing them at once.
INVOCATION_KEY = otel_context.create_key("tokentrace.invocation")


# Exemplars link the token and duration histograms to the call's trace. Sampling one for every
# chunk interval would repeat that link at ~1.5 µs a point (measured), so those points are
# recorded in a context whose span is invalid, where the trace-based filter samples none. (An
# empty Context would not do: the SDK reads an empty, falsy context as "use the current one".)
_NO_EXEMPLAR = trace.set_span_in_context(trace.INVALID_SPAN, Context())


# Metric attributes of a series, and the same with gen_ai.token.type input / output. The SDK copies
# what it is given, so the dicts are shared between calls without being changed.
_SeriesAttributes = tuple[dict[str, AttributeValue], dict[str, AttributeValue], dict[str, AttributeValue]]
_SERIES_CACHE_LIMIT = 1024


def current_invocation() -> Invocation | None:
    """The tokentrace invocation the current context belongs to, if any."""
    reference = otel_context.get_value(INVOCATION_KEY)
    value = reference() if isinstance(reference, weakref.ref) else None
    return value if isinstance(value, Invocation) else None


def error_type_of(exc: BaseException) -> str:
    """A low-cardinality name for an exception: its class name."""
    return type(exc).__qualname__ or semconv.ERROR_TYPE_OTHER


class Emitter:
    """Starts spans for invocations and, at their end, writes attributes and records metrics."""

    def __init__(
        self,
        tracer_provider: TracerProvider | None = None,
        meter_provider: MeterProvider | None = None,
        settings: Settings | None = None,
    ) -> None:
        self.settings = settings or Settings.from_env()
        self._tracer = trace.get_tracer(_SCOPE, __version__, tracer_provider)
        meter = get_meter(_SCOPE, __version__, meter_provider)
        track_meter(meter)  # a forked child reports its own tokens only
        self._instruments: Instruments = create_instruments(meter)
        self._totals: TokenTotals | None = token_totals(meter) if self.settings.token_counters else None
        self._series_attributes: dict[MetricSeries, _SeriesAttributes] = {}
        self._attribution = Attribution(self.settings.baggage_keys, self.settings.attribute_value_limit)
        self._pricer = pricer_for(self.settings)

    def start(self, facts: RequestFacts, parent: Invocation | None = None) -> Invocation:
        """Begin an invocation; nested under ``parent`` it gets no span of its own."""
        if parent is not None:
            return Invocation(facts, None, None, perf_counter(), parent=parent)
        attributes = metric_attributes(
            facts.operation, facts.provider, facts.model, None, facts.server_address, facts.server_port
        )
        if facts.stream:
            attributes[semconv.GEN_AI_REQUEST_STREAM] = True
        if facts.attributes:
            attributes.update(facts.attributes)
        scope = self._attribution.capture()
        if scope is not None:
            attributes.update(scope.span_attributes)
        name = f"{facts.operation} {facts.model}" if facts.model else facts.operation
        span = self._tracer.start_span(name, kind=SpanKind.CLIENT, attributes=attributes)
        invocation = Invocation(facts, span, None, perf_counter())
        invocation.scope = scope
        invocation.context = otel_context.set_value(
            INVOCATION_KEY, weakref.ref(invocation), trace.set_span_in_context(span)
        )
        return invocation

    def finish(self, invocation: Invocation, error: BaseException | None = None) -> None:
        """End the invocation once: span attributes, status, end, then the metric points."""
        if invocation.ended:
            return
        invocation.ended = True
        if error is not None and invocation.error_type is None:
            invocation.error_type = error_type_of(error)
        parent = invocation.parent
        if parent is not None:
            if not parent.ended:
                parent.absorb(invocation)
            return
        ended_at = perf_counter()
        usage = invocation.effective_usage
        cost = self._account(invocation, usage)
        span = invocation.span
        if span is not None and span.is_recording():
            attributes = self._response_attributes(invocation, usage)
            if cost is not None:
                attributes.update(cost_attributes(cost))
            span.set_attributes(attributes)
            if invocation.error_type is not None:
                span.set_status(Status(StatusCode.ERROR, invocation.error_type))
        if span is not None:
            span.end()
        if not invocation.replayed:
            self._record_metrics(invocation, usage, ended_at, cost)

    def _account(self, invocation: Invocation, usage: TokenUsage | None) -> Decimal | None:
        """The call's cost, and its count in the ``track()`` blocks it started in: consumption only.

        Token-counting calls and answers replayed from a cache consumed nothing.
        """
        if not invocation.facts.records_usage_metrics or invocation.replayed:
            return None
        cost = None
        if self._pricer is not None and usage is not None:
            models = (invocation.response_model, invocation.facts.model)
            cost = self._pricer.cost(invocation.provider, *models, usage)
        scope = invocation.scope
        if scope is not None and scope.frames:
            add_to_frames(scope.frames, usage, cost, failed=invocation.error_type is not None)
        return cost

    def _response_attributes(
        self, invocation: Invocation, usage: TokenUsage | None
    ) -> dict[str, AttributeValue]:
        attributes: dict[str, AttributeValue] = {}
        if invocation.response_id:
            attributes[semconv.GEN_AI_RESPONSE_ID] = invocation.response_id
        if invocation.response_model:
            attributes[semconv.GEN_AI_RESPONSE_MODEL] = invocation.response_model
        if invocation.finish_reasons:
            attributes[semconv.GEN_AI_RESPONSE_FINISH_REASONS] = tuple(invocation.finish_reasons)
        if invocation.first_chunk_at is not None:
            attributes[semconv.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK] = (
                invocation.first_chunk_at - invocation.started_at
            )
        if invocation.provider != invocation.facts.provider:
            attributes[semconv.GEN_AI_PROVIDER_NAME] = invocation.provider
        if invocation.server_address and invocation.server_address != invocation.facts.server_address:
            attributes[semconv.SERVER_ADDRESS] = invocation.server_address
            if invocation.server_port is not None:
                attributes[semconv.SERVER_PORT] = invocation.server_port
        if usage is not None:
            _put(attributes, semconv.GEN_AI_USAGE_INPUT_TOKENS, usage.input)
            _put(attributes, semconv.GEN_AI_USAGE_OUTPUT_TOKENS, usage.output)
            _put(attributes, semconv.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS, usage.cache_read)
            _put(attributes, semconv.GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS, usage.cache_write)
            _put(attributes, semconv.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS, usage.reasoning)
            _put_modalities(attributes, usage.input_modalities, semconv.usage_input_tokens_for)
            _put_modalities(attributes, usage.output_modalities, semconv.usage_output_tokens_for)
            _put_modalities(attributes, usage.cache_read_modalities, semconv.usage_cache_read_tokens_for)
        if invocation.attributes:
            attributes.update(invocation.attributes)
        if invocation.error_type is not None:
            attributes[semconv.ERROR_TYPE] = invocation.error_type
        return attributes

    def _attributes_of(self, series: MetricSeries) -> _SeriesAttributes:
        """The metric attribute sets of a series, built once: every call of a series records the same ones."""
        cached = self._series_attributes.get(series)
        if cached is None:
            base = metric_attributes(*series)
            cached = (
                base,
                {**base, semconv.GEN_AI_TOKEN_TYPE: semconv.TOKEN_TYPE_INPUT},
                {**base, semconv.GEN_AI_TOKEN_TYPE: semconv.TOKEN_TYPE_OUTPUT},
            )
            if len(self._series_attributes) >= _SERIES_CACHE_LIMIT:
                self._series_attributes.clear()  # bounded; a miss only rebuilds three small dicts
            self._series_attributes[series] = cached
        return cached

    def _record_metrics(
        self, invocation: Invocation, usage: TokenUsage | None, ended_at: float, cost: Decimal | None
    ) -> None:
        facts = invocation.facts
        series: MetricSeries = (
            facts.operation,
            invocation.provider,
            facts.model,
            invocation.response_model,
            invocation.server_address,
            invocation.server_port,
            invocation.scope.metric_dimensions if invocation.scope is not None else (),
        )
        attributes, input_attributes, output_attributes = self._attributes_of(series)
        ctx = invocation.context
        instruments = self._instruments
        if invocation.error_type is not None:
            instruments.operation_duration.record(
                ended_at - invocation.started_at,
                {**attributes, semconv.ERROR_TYPE: invocation.error_type},
                context=ctx,
            )
        else:
            instruments.operation_duration.record(ended_at - invocation.started_at, attributes, context=ctx)
        chunk_times = invocation.chunk_times
        if chunk_times:
            previous = chunk_times[0]
            instruments.time_to_first_chunk.record(previous - invocation.started_at, attributes, context=ctx)
            per_chunk = instruments.time_per_output_chunk
            for at in islice(chunk_times, 1, None):
                per_chunk.record(at - previous, attributes, context=_NO_EXEMPLAR)
                previous = at
        if cost is not None:
            instruments.operation_cost.record(float(cost), attributes, context=ctx)
        if usage is None or not facts.records_usage_metrics:
            return
        token_usage = instruments.token_usage
        if usage.input is not None:
            token_usage.record(usage.input, input_attributes, context=ctx)
        if usage.output is not None:
            token_usage.record(usage.output, output_attributes, context=ctx)
        if self._totals is not None:
            self._totals.add(series, usage)


def _put(attributes: dict[str, AttributeValue], key: str, value: int | None) -> None:
    if value is not None:
        attributes[key] = value


def _put_modalities(attributes: dict[str, AttributeValue], counts: ModalityCounts, name_for: object) -> None:
    for modality, value in counts:
        if modality in semconv.MODALITIES:
            attributes[name_for(modality)] = value  # type: ignore[operator]
