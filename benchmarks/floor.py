"""The telemetry floor: the least code that emits what the GenAI conventions ask for, written by hand.

It is the yardstick for every instrumentation in the benchmark, tokentrace included: what the
OpenTelemetry SDK itself costs for the signals, with no generality, no guards and no proxy library.

- Per call: one CLIENT span with 12 attributes, made current around the SDK call; one
  ``gen_ai.client.operation.duration`` point and two ``gen_ai.client.token.usage`` points
  (input, output), recorded with the span's context like a conforming instrumentation does.
- Per stream, on top: a bare iterator (no ``wrapt`` proxy) that reads the clock once per chunk and
  remembers the usage and finish reason; at the end one ``time_to_first_chunk`` point, one
  ``time_per_output_chunk`` point per chunk after the first, and the time-to-first-chunk attribute.

Only ``chat.completions.create`` (sync and async) is patched, by replacing the class attribute.
``Floor(..., chunk_metric=False)`` leaves out the per-chunk points (the clock is still read per chunk):
the difference between the two floors is what the per-chunk metric alone costs in the SDK.

``Floor(..., same_signals=True)`` emits what tokentrace emits for these requests: seven more span
attributes (temperature, ``openai.api.type``, reasoning and audio token counts, service tier, system
fingerprint; 19 in all) and the per-token-type counters, kept as in-process sums behind observable
counters as tokentrace keeps them. Its distance from the floor is what tokentrace's larger signal set
costs in the SDK; tokentrace's distance from it is tokentrace's own code.
"""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Callable, Iterator
from time import perf_counter
from typing import Any

import openai.resources.chat.completions as chat_completions
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.metrics import CallbackOptions, Histogram, MeterProvider, Observation
from opentelemetry.trace import Span, SpanKind, Status, StatusCode, Tracer, TracerProvider

_DURATION_BUCKETS = [0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92]
_TOKEN_BUCKETS = [float(4**i) for i in range(14)]


_COUNTERS = ("input_tokens", "output_tokens", "cache_read.input_tokens", "reasoning.output_tokens")


class _Signals:
    def __init__(
        self,
        tracer_provider: TracerProvider,
        meter_provider: MeterProvider,
        chunk_metric: bool = True,
        same_signals: bool = False,
    ) -> None:
        self.chunk_metric = chunk_metric
        self.same_signals = same_signals
        self.sums: list[dict[tuple[Any, ...], int]] = [{} for _ in _COUNTERS]
        self.sums_lock = threading.Lock()
        self.tracer: Tracer = trace.get_tracer("benchmark.floor", "0", tracer_provider)
        meter = meter_provider.get_meter("benchmark.floor", "0")
        self.duration: Histogram = meter.create_histogram(
            "gen_ai.client.operation.duration",
            unit="s",
            explicit_bucket_boundaries_advisory=_DURATION_BUCKETS,
        )
        self.tokens: Histogram = meter.create_histogram(
            "gen_ai.client.token.usage", unit="{token}", explicit_bucket_boundaries_advisory=_TOKEN_BUCKETS
        )
        self.first_chunk: Histogram = meter.create_histogram(
            "gen_ai.client.operation.time_to_first_chunk",
            unit="s",
            explicit_bucket_boundaries_advisory=_DURATION_BUCKETS,
        )
        self.per_chunk: Histogram = meter.create_histogram(
            "gen_ai.client.operation.time_per_output_chunk",
            unit="s",
            explicit_bucket_boundaries_advisory=_DURATION_BUCKETS,
        )
        if same_signals:
            for index, name in enumerate(_COUNTERS):
                meter.create_observable_counter(
                    f"gen_ai.client.inference.usage.{name}", callbacks=[self._observer(index)], unit="{token}"
                )

    def _observer(self, index: int) -> Callable[[CallbackOptions], list[Observation]]:
        def observe(options: CallbackOptions) -> list[Observation]:
            with self.sums_lock:
                items = list(self.sums[index].items())
            return [Observation(value, dict(key)) for key, value in items]

        return observe

    def count(self, series: tuple[Any, ...], counts: tuple[int | None, ...]) -> None:
        with self.sums_lock:
            for sums, value in zip(self.sums, counts, strict=True):
                if value is not None:
                    sums[series] = sums.get(series, 0) + value


class _Call:
    """One call in flight: its span, context and the request facts the metrics repeat."""

    __slots__ = ("address", "context", "model", "port", "signals", "span", "started")

    def __init__(self, signals: _Signals, client: Any, kwargs: dict[str, Any]) -> None:
        self.signals = signals
        self.model = kwargs.get("model")
        url = client.base_url
        self.address = url.host
        self.port = url.port or (443 if url.scheme == "https" else 80)
        attributes: dict[str, Any] = {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": "openai",
            "gen_ai.request.model": self.model,
            "gen_ai.request.max_tokens": kwargs.get("max_tokens"),
            "server.address": self.address,
            "server.port": self.port,
        }
        if signals.same_signals:
            attributes["gen_ai.request.temperature"] = kwargs.get("temperature")
            attributes["openai.api.type"] = "chat_completions"
            if kwargs.get("stream"):
                attributes["gen_ai.request.stream"] = True
        self.span: Span = signals.tracer.start_span(
            f"chat {self.model}", kind=SpanKind.CLIENT, attributes=attributes
        )
        self.context = trace.set_span_in_context(self.span)
        self.started = perf_counter()

    def metric_attributes(self, response_model: str | None) -> dict[str, Any]:
        return {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": "openai",
            "gen_ai.request.model": self.model,
            "gen_ai.response.model": response_model,
            "server.address": self.address,
            "server.port": self.port,
        }

    def fail(self, exc: BaseException) -> None:
        error = type(exc).__qualname__
        self.span.set_attribute("error.type", error)
        self.span.set_status(Status(StatusCode.ERROR, error))
        self.span.end()
        attributes = self.metric_attributes(None)
        attributes["error.type"] = error
        self.signals.duration.record(perf_counter() - self.started, attributes, context=self.context)

    def finish(
        self,
        response_id: str | None,
        response_model: str | None,
        finish_reason: str | None,
        usage: Any,
        first_chunk_at: float | None = None,
        chunk_times: list[float] | None = None,
        named_by: Any = None,
    ) -> None:
        ended = perf_counter()
        span = self.span
        signals = self.signals
        attributes: dict[str, Any] = {
            "gen_ai.response.id": response_id,
            "gen_ai.response.model": response_model,
            "gen_ai.response.finish_reasons": (finish_reason,),
        }
        if usage is not None:
            attributes["gen_ai.usage.input_tokens"] = usage.prompt_tokens
            attributes["gen_ai.usage.output_tokens"] = usage.completion_tokens
            details = usage.prompt_tokens_details
            attributes["gen_ai.usage.cache_read.input_tokens"] = details.cached_tokens if details else 0
            if signals.same_signals:
                completion = usage.completion_tokens_details
                attributes["gen_ai.usage.reasoning.output_tokens"] = completion.reasoning_tokens
                attributes["gen_ai.usage.audio.input_tokens"] = details.audio_tokens
                attributes["gen_ai.usage.audio.output_tokens"] = completion.audio_tokens
        if signals.same_signals and named_by is not None:
            attributes["openai.response.service_tier"] = named_by.service_tier
            attributes["openai.response.system_fingerprint"] = named_by.system_fingerprint
        if first_chunk_at is not None:
            attributes["gen_ai.response.time_to_first_chunk"] = first_chunk_at - self.started
        span.set_attributes(attributes)
        span.end()
        ctx = self.context
        metric_attributes = self.metric_attributes(response_model)
        signals.duration.record(ended - self.started, metric_attributes, context=ctx)
        if first_chunk_at is not None:
            signals.first_chunk.record(first_chunk_at - self.started, metric_attributes, context=ctx)
            if signals.chunk_metric:
                previous = first_chunk_at
                per_chunk = signals.per_chunk
                for at in chunk_times or ():
                    per_chunk.record(at - previous, metric_attributes, context=ctx)
                    previous = at
        if usage is not None:
            signals.tokens.record(
                usage.prompt_tokens, {**metric_attributes, "gen_ai.token.type": "input"}, context=ctx
            )
            signals.tokens.record(
                usage.completion_tokens, {**metric_attributes, "gen_ai.token.type": "output"}, context=ctx
            )
            if signals.same_signals:
                series = (*metric_attributes.items(), ("gen_ai.token.modality", "unknown"))
                counts = (
                    usage.prompt_tokens,
                    usage.completion_tokens,
                    attributes["gen_ai.usage.cache_read.input_tokens"],
                    attributes["gen_ai.usage.reasoning.output_tokens"],
                )
                signals.count(series, counts)

    def finish_response(self, result: Any) -> None:
        choices = result.choices
        self.finish(
            result.id,
            result.model,
            choices[0].finish_reason if choices else None,
            result.usage,
            named_by=result,
        )


class _StreamState:
    __slots__ = (
        "call",
        "done",
        "finish_reason",
        "first_at",
        "response_id",
        "response_model",
        "times",
        "usage",
        "first",
    )

    def __init__(self, call: _Call) -> None:
        self.call = call
        self.times: list[float] = []
        self.first_at: float | None = None
        self.usage: Any = None
        self.response_id: str | None = None
        self.response_model: str | None = None
        self.finish_reason: str | None = None
        self.first: Any = None
        self.done = False

    def observe(self, chunk: Any) -> None:
        at = perf_counter()
        if self.first_at is None:
            self.first_at = at
            self.first = chunk
            self.response_id, self.response_model = chunk.id, chunk.model
        else:
            self.times.append(at)
        if chunk.usage is not None:
            self.usage = chunk.usage
        choices = chunk.choices
        if choices and choices[0].finish_reason is not None:
            self.finish_reason = choices[0].finish_reason

    def end(self, exc: BaseException | None = None) -> None:
        if self.done:
            return
        self.done = True
        if exc is not None:
            self.call.fail(exc)
            return
        self.call.finish(
            self.response_id,
            self.response_model,
            self.finish_reason,
            self.usage,
            self.first_at,
            self.times,
            named_by=self.first,
        )


class _FloorStream:
    def __init__(self, stream: Iterator[Any], call: _Call) -> None:
        self._iterator = iter(stream)
        self._state = _StreamState(call)

    def __iter__(self) -> _FloorStream:
        return self

    def __next__(self) -> Any:
        try:
            chunk = next(self._iterator)
        except StopIteration:
            self._state.end()
            raise
        except BaseException as exc:
            self._state.end(exc)
            raise
        self._state.observe(chunk)
        return chunk


class _AsyncFloorStream:
    def __init__(self, stream: AsyncIterator[Any], call: _Call) -> None:
        self._iterator = stream.__aiter__()
        self._state = _StreamState(call)

    def __aiter__(self) -> _AsyncFloorStream:
        return self

    async def __anext__(self) -> Any:
        try:
            chunk = await self._iterator.__anext__()
        except StopAsyncIteration:
            self._state.end()
            raise
        except BaseException as exc:
            self._state.end(exc)
            raise
        self._state.observe(chunk)
        return chunk


def _sync_create(original: Callable[..., Any], signals: _Signals) -> Callable[..., Any]:
    def create(self: Any, *args: Any, **kwargs: Any) -> Any:
        call = _Call(signals, self._client, kwargs)
        token = otel_context.attach(call.context)
        try:
            result = original(self, *args, **kwargs)
        except BaseException as exc:
            otel_context.detach(token)
            call.fail(exc)
            raise
        otel_context.detach(token)
        if kwargs.get("stream"):
            return _FloorStream(result, call)
        call.finish_response(result)
        return result

    return create


def _async_create(original: Callable[..., Any], signals: _Signals) -> Callable[..., Any]:
    async def create(self: Any, *args: Any, **kwargs: Any) -> Any:
        call = _Call(signals, self._client, kwargs)
        token = otel_context.attach(call.context)
        try:
            result = await original(self, *args, **kwargs)
        except BaseException as exc:
            otel_context.detach(token)
            call.fail(exc)
            raise
        otel_context.detach(token)
        if kwargs.get("stream"):
            return _AsyncFloorStream(result, call)
        call.finish_response(result)
        return result

    return create


class Floor:
    """Switches the hand-written instrumentation on and off (class attribute swap)."""

    def __init__(
        self,
        tracer_provider: TracerProvider,
        meter_provider: MeterProvider,
        chunk_metric: bool = True,
        same_signals: bool = False,
    ) -> None:
        signals = _Signals(tracer_provider, meter_provider, chunk_metric, same_signals)
        self._originals = (chat_completions.Completions.create, chat_completions.AsyncCompletions.create)
        self._patched = (
            _sync_create(self._originals[0], signals),
            _async_create(self._originals[1], signals),
        )

    def instrument(self) -> None:
        chat_completions.Completions.create = self._patched[0]  # type: ignore[method-assign]
        chat_completions.AsyncCompletions.create = self._patched[1]  # type: ignore[method-assign]

    def uninstrument(self) -> None:
        chat_completions.Completions.create = self._originals[0]  # type: ignore[method-assign]
        chat_completions.AsyncCompletions.create = self._originals[1]  # type: ignore[method-assign]
