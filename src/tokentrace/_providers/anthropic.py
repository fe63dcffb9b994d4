"""Anthropic SDK: messages create (plain and streamed), the ``stream()`` helpers, parse and count_tokens.

Wrapped, stable and beta alike (``anthropic.resources.messages.messages`` and
``anthropic.resources.beta.messages.messages``; the Bedrock and Vertex beta resources copy those
functions into their own classes, so they are wrapped there too): ``Messages.create``, ``parse`` and
``count_tokens`` and their ``AsyncMessages`` twins; and the stream helpers. ``messages.stream()``
sends nothing and does not call ``create``: it returns a manager whose ``__enter__``/``__aenter__``
posts the request and wraps the raw event stream in a ``MessageStream``. So the managers'
``__enter__``/``__aenter__`` are wrapped (``anthropic.lib.streaming._messages`` and
``_beta_messages``): the span starts when the request is sent, and the raw event stream inside the
``MessageStream`` is proxied, so iteration, ``text_stream``, ``until_done()`` and
``get_final_message()`` all feed the same accumulator and end the same span.

``AnthropicBedrock``/``AnthropicVertex`` use the same resource classes; the provider name comes from
the client class. Sources, anthropic 2.12: ``anthropic/resources/messages/messages.py``,
``anthropic/lib/streaming/_messages.py``, ``anthropic/types/usage.py``,
``anthropic/types/message_delta_usage.py``, ``anthropic/_tracing.py``.

The SDK's built-in spans: the SDK emits its own ``anthropic.messages.create`` span whenever a real
``TracerProvider`` is reachable. While tokentrace instruments anthropic, the calls it traces get no
SDK span: the SDK is handed a non-recording stand-in for its span that carries tokentrace's span
context, so the request still propagates a trace context exactly when the SDK would have sent one
(see :func:`sdk_span_handoff`).
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from opentelemetry import trace
from opentelemetry.util.types import AttributeValue

from tokentrace._core import semconv
from tokentrace._core.config import Settings
from tokentrace._core.emitter import current_invocation
from tokentrace._core.guard import guard
from tokentrace._core.invocation import Invocation, RequestFacts
from tokentrace._core.patching import WrapTarget
from tokentrace._core.request import as_int, as_str, sampling_attributes
from tokentrace._core.server import server_of
from tokentrace._core.usage import TokenUsage, attr, count_at, sum_known, total_of
from tokentrace._core.wrapper import EndpointBase
from tokentrace._providers._stainless import is_stream, raw_event_stream, response_body, with_stream_proxy

# Provider-specific attribute names (the SDK's own spans use the same ones).

# Clients of older SDKs lack ``_gen_ai_provider_name``; their class names still say where Claude runs.
_PROVIDER_BY_CLIENT_NAME: tuple[tuple[str, str], ...] = (
    ("Bedrock", semconv.PROVIDER_AWS_BEDROCK),
    ("Vertex", semconv.PROVIDER_GCP_VERTEX_AI),
)


def provider_for_client(client: Any) -> str:
    """The ``gen_ai.provider.name`` for a client: Claude on Bedrock, on Vertex AI, or Anthropic's API.

    The SDK names it on the client class (``_gen_ai_provider_name``: ``aws.bedrock`` for
    ``AnthropicBedrock``, ``gcp.vertex_ai`` for ``AnthropicVertex``); older SDKs are told apart by
    the client class name.
    """
    if client is None:
        return semconv.PROVIDER_ANTHROPIC
    kind = type(client)
    named = as_str(attr(kind, "_gen_ai_provider_name"))
    if named:
        return named
    for cls in kind.__mro__:
        for marker, provider in _PROVIDER_BY_CLIENT_NAME:
            if marker in cls.__name__:
                return provider
    return semconv.PROVIDER_ANTHROPIC


# --- pure readers ----------------------------------------------------------------------------------


def extract_usage(usage: Any) -> TokenUsage | None:
    """Normalize a ``Usage``/``BetaUsage`` (an SDK object or the decoded JSON).

    Anthropic's ``input_tokens`` excludes the tokens read from and written to the prompt cache, so
    input = input_tokens + cache_read_input_tokens + cache_creation_input_tokens, as the conventions
    ask (``docs/gen-ai/anthropic.md``; https://docs.anthropic.com/en/docs/build-with-claude/prompt-caching).
    ``output_tokens`` already includes thinking tokens; ``output_tokens_details.thinking_tokens`` is
    reported as the reasoning subset.
    """
    if usage is None:
        return None
    cache_read = count_at(usage, "cache_read_input_tokens")
    cache_write = extract_cache_write(usage)
    return TokenUsage(
        input=total_of(count_at(usage, "input_tokens"), cache_read, cache_write),
        output=count_at(usage, "output_tokens"),
        cache_read=cache_read,
        cache_write=cache_write,
        reasoning=count_at(usage, "output_tokens_details", "thinking_tokens"),
    )


def extract_cache_write(usage: Any) -> int | None:
    """``cache_creation_input_tokens``; without it, the sum of its 5-minute/1-hour breakdown."""
    total = count_at(usage, "cache_creation_input_tokens")
    if total is not None:
        return total
    split = attr(usage, "cache_creation")
    return sum_known(
        count_at(split, "ephemeral_5m_input_tokens"), count_at(split, "ephemeral_1h_input_tokens")
    )


# Fields a ``message_delta`` may repeat: input and cache counts are cumulative totals there.
_INPUT_FIELDS = ("input_tokens", "cache_read_input_tokens", "cache_creation_input_tokens")


def extract_stream_usage(start: Any, delta: Any) -> TokenUsage | None:
    """The usage of a stream from its ``message_start`` usage and its last ``message_delta`` usage.

    Every count in ``message_delta`` is a cumulative total, so the latest report of a field wins
    and nothing is ever added up (the SDK's own accumulator overwrites the same way). Input and
    cache counts come from ``message_delta`` when it repeats them, else from ``message_start``.
    Output counts come from ``message_delta`` only: ``message_start`` holds a placeholder
    (``output_tokens: 1``), so a stream cut off before ``message_delta`` has no output count.
    """
    if start is None and delta is None:
        return None
    merged: dict[str, Any] = {field: _latest_count(delta, start, field) for field in _INPUT_FIELDS}
    merged["cache_creation"] = attr(delta, "cache_creation") or attr(start, "cache_creation")
    merged["output_tokens"] = attr(delta, "output_tokens")
    merged["output_tokens_details"] = attr(delta, "output_tokens_details")
    return extract_usage(merged)


def _latest_count(newer: Any, older: Any, field: str) -> int | None:
    count = count_at(newer, field)
    return count if count is not None else count_at(older, field)


def extract_cache_split(usage: Any) -> tuple[int | None, int | None]:
    """The cache writes by lifetime: (5-minute, 1-hour) ``ephemeral_*_input_tokens``, where given."""
    split = attr(usage, "cache_creation")
    return count_at(split, "ephemeral_5m_input_tokens"), count_at(split, "ephemeral_1h_input_tokens")


def extract_compaction(usage: Any) -> tuple[int | None, int | None]:
    """Input (cache included) and output tokens of the server-side compactions in ``usage.iterations``.

    The beta API reports compactions as ``iterations`` entries whose tokens are *not* in the
    top-level counts; they are kept apart (``anthropic.usage.compaction.*``) rather than folded in.
    """
    entries = attr(usage, "iterations")
    if not isinstance(entries, list):
        return None, None
    compactions = [entry for entry in entries if attr(entry, "type") == "compaction"]
    if not compactions:
        return None, None
    input_tokens = sum_known(
        *(
            total_of(
                count_at(entry, "input_tokens"),
                count_at(entry, "cache_read_input_tokens"),
                count_at(entry, "cache_creation_input_tokens"),
            )
            for entry in compactions
        )
    )
    output_tokens = sum_known(*(count_at(entry, "output_tokens") for entry in compactions))
    return input_tokens, output_tokens


def extract_finish_reasons(stop_reason: Any) -> list[str] | None:
    """A message has one choice: its ``stop_reason`` (``end_turn``, ``max_tokens``, ``tool_use``...)."""
    reason = as_str(stop_reason)
    return [reason] if reason else None


def request_attributes(params: Mapping[str, Any]) -> dict[str, AttributeValue]:
    """Request attributes from ``create``-style parameters (keyword arguments, or a helper's body)."""
    attributes = sampling_attributes(params, max_tokens_keys=("max_tokens",), stop_key="stop_sequences")
    output_config = params.get("output_config")
    effort = as_str(attr(output_config, "effort"))
    if effort:
        attributes[semconv.GEN_AI_REQUEST_REASONING_LEVEL] = effort
    if _asks_for_json(output_config, params.get("output_format")):
        attributes[semconv.GEN_AI_OUTPUT_TYPE] = "json"
    thinking = params.get("thinking")
    thinking_type = as_str(attr(thinking, "type"))
    if thinking_type:
        attributes[semconv.ANTHROPIC_THINKING_TYPE] = thinking_type
    budget = as_int(attr(thinking, "budget_tokens"))
    if budget is not None:
        attributes[semconv.ANTHROPIC_THINKING_BUDGET_TOKENS] = budget
    tier = as_str(params.get("service_tier"))
    if tier:
        attributes[semconv.ANTHROPIC_REQUEST_SERVICE_TIER] = tier
    return attributes


def _asks_for_json(output_config: Any, output_format: Any) -> bool:
    # ``parse``/``stream`` take a type for ``output_format``; the beta API also took a schema dict.
    if isinstance(output_format, type):
        return True
    for fmt in (attr(output_config, "format"), output_format):
        if as_str(attr(fmt, "type")) == "json_schema":
            return True
    return False


def pending_request(manager: Any) -> tuple[Any, Mapping[str, Any]] | None:
    """The client and the request body that a ``stream()`` helper's manager sends when entered.

    The manager holds the request unsent: a ``functools.partial`` of the client's ``post`` (sync)
    or the un-awaited ``post(...)`` coroutine (async). Anything else, such as a message thread's
    manager whose request is an inner ``create()`` call, gives None: that inner call is traced.
    """
    try:
        state = vars(manager)
    except TypeError:
        return None
    request = next((value for key, value in state.items() if key.endswith("__api_request")), None)
    if isinstance(request, functools.partial) and getattr(request.func, "__name__", None) == "post":
        client = getattr(request.func, "__self__", None)
        body = request.keywords.get("body")
    elif (
        inspect.iscoroutine(request)
        and request.cr_code.co_name == "post"
        and inspect.getcoroutinestate(request) == inspect.CORO_CREATED
    ):
        # Not started yet: its frame holds the arguments of ``post`` and nothing else.
        arguments = request.cr_frame.f_locals if request.cr_frame is not None else {}
        client, body = arguments.get("self"), arguments.get("body")
    else:
        return None
    if client is None or not isinstance(body, Mapping):
        return None
    return client, body


def request_facts(
    operation: str,
    client: Any,
    params: Mapping[str, Any],
    *,
    stream: bool,
    records_usage_metrics: bool = True,
) -> RequestFacts:
    """Facts of a messages request made through ``client``."""
    host, port = server_of(attr(client, "base_url"))
    return RequestFacts(
        operation=operation,
        provider=provider_for_client(client),
        model=as_str(params.get("model")),
        server_address=host,
        server_port=port,
        stream=stream,
        attributes=request_attributes(params),
        records_usage_metrics=records_usage_metrics,
    )


def apply_message(invocation: Invocation, message: Any) -> None:
    """Facts of a complete ``Message``/``BetaMessage`` (or its decoded JSON)."""
    invocation.response_id = as_str(attr(message, "id"))
    invocation.response_model = as_str(attr(message, "model"))
    usage = attr(message, "usage")
    invocation.set_usage(extract_usage(usage))
    apply_usage_details(invocation, usage, usage)
    invocation.finish_reasons = extract_finish_reasons(attr(message, "stop_reason"))


def apply_usage_details(invocation: Invocation, usage: Any, final_usage: Any) -> None:
    """Service tier, the cache-write split by lifetime, and compactions (from the final usage only)."""
    invocation.set_attribute(semconv.ANTHROPIC_RESPONSE_SERVICE_TIER, as_str(attr(usage, "service_tier")))
    five_minutes, one_hour = extract_cache_split(usage)
    invocation.set_attribute(semconv.ANTHROPIC_USAGE_CACHE_CREATION_5M_INPUT_TOKENS, five_minutes)
    invocation.set_attribute(semconv.ANTHROPIC_USAGE_CACHE_CREATION_1H_INPUT_TOKENS, one_hour)
    compaction_input, compaction_output = extract_compaction(final_usage)
    invocation.set_attribute(semconv.ANTHROPIC_USAGE_COMPACTION_INPUT_TOKENS, compaction_input)
    invocation.set_attribute(semconv.ANTHROPIC_USAGE_COMPACTION_OUTPUT_TOKENS, compaction_output)


# --- endpoints -------------------------------------------------------------------------------------


def anthropic_error_type(exc: BaseException) -> str | None:
    """``error.type`` for an SDK error: its class name, which names the HTTP status's error type.

    An ``event: error`` in the middle of a stream raises the generic ``APIStatusError`` (the
    response's status was 200); there the error type of Anthropic's envelope (``overloaded_error``)
    is the one that says what happened. Releases before ``APIStatusError.type`` keep the envelope in
    ``body`` only.
    """
    kind = type(exc)
    if kind.__name__ != "APIStatusError" or not kind.__module__.startswith("anthropic"):
        return None
    return as_str(getattr(exc, "type", None)) or as_str(
        attr(attr(getattr(exc, "body", None), "error"), "type")
    )


class _AnthropicEndpoint(EndpointBase):
    def __init__(self, name: str) -> None:
        self.name = name

    def error_type(self, exc: BaseException) -> str | None:
        """The class name, or the envelope's type for a generic ``APIStatusError``."""
        return anthropic_error_type(exc)


class Messages(_AnthropicEndpoint):
    """``messages.create`` (plain or ``stream=True``) and ``messages.parse``, stable and beta."""

    def request(self, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> RequestFacts | None:
        """Facts from the resource's client and the keyword arguments."""
        return request_facts(
            semconv.OPERATION_CHAT, attr(instance, "_client"), kwargs, stream=kwargs.get("stream") is True
        )

    def stream_of(self, result: Any) -> Any | None:
        """Raw event streams are proxied (also one inside a raw response); messages are read at once."""
        if is_stream(result):
            return result
        return raw_event_stream(result)

    def with_stream(self, result: Any, proxy: Any) -> Any:
        """The proxy replaces a stream; a raw response keeps it as what its ``parse()`` returns."""
        return with_stream_proxy(result, proxy)

    def on_response(self, invocation: Invocation, result: Any) -> None:
        """Read a ``Message`` (or a raw response's JSON body)."""
        message = response_body(result)
        if message is not None:
            apply_message(invocation, message)

    def new_accumulator(
        self, invocation: Invocation, sent_kwargs: dict[str, Any]
    ) -> MessageStreamAccumulator:
        """Raw message events, as ``create(stream=True)`` and the stream helpers read them."""
        return MessageStreamAccumulator()


class StreamHelper(Messages):
    """Entering a ``messages.stream()`` manager: the request is sent, a ``MessageStream`` comes back.

    The span starts here and covers the stream: the ``MessageStream``'s raw event stream is replaced
    by the proxy, so every way of reading the helper passes the events through it.
    """

    def request(self, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> RequestFacts | None:
        """Facts from the request the manager holds; None when it holds none we can read."""
        pending = pending_request(instance)
        if pending is None:
            return None
        client, body = pending
        return request_facts(semconv.OPERATION_CHAT, client, body, stream=True)

    def stream_of(self, result: Any) -> Any | None:
        """The raw event stream inside the ``MessageStream``."""
        raw = getattr(result, "_raw_stream", None)
        return raw if raw is not None and is_stream(raw) else None

    def with_stream(self, result: Any, proxy: Any) -> Any:
        """The caller keeps the SDK's own ``MessageStream``, now reading through the proxy."""
        result._raw_stream = proxy
        return result


class CountTokens(_AnthropicEndpoint):
    """``messages.count_tokens``: the count is the span's input tokens; no usage metrics are recorded."""

    def request(self, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> RequestFacts | None:
        """Facts from the resource's client and the keyword arguments."""
        return request_facts(
            semconv.OPERATION_COUNT_TOKENS,
            attr(instance, "_client"),
            kwargs,
            stream=False,
            records_usage_metrics=False,
        )

    def on_response(self, invocation: Invocation, result: Any) -> None:
        """Read ``MessageTokensCount.input_tokens``."""
        body = response_body(result)
        invocation.set_usage(TokenUsage(input=count_at(body, "input_tokens")))


class MessageStreamAccumulator:
    """Raw events of a message stream: ``message_start`` names it, ``message_delta`` has the totals."""

    __slots__ = ("message", "delta_usage", "stop_reason")

    def __init__(self) -> None:
        self.message: Any = None
        self.delta_usage: Any = None
        self.stop_reason: Any = None

    def on_chunk(self, chunk: Any) -> bool:
        """Keep ``message_start``'s message and the latest ``message_delta`` usage and stop reason."""
        kind = getattr(chunk, "type", None)
        if kind == "message_delta":
            usage = getattr(chunk, "usage", None)
            if usage is not None:
                self.delta_usage = usage
            reason = getattr(getattr(chunk, "delta", None), "stop_reason", None)
            if reason is not None:
                self.stop_reason = reason
        elif kind == "message_start":
            self.message = getattr(chunk, "message", None)
        return True

    def finish(self, invocation: Invocation) -> None:
        """Apply the merged facts."""
        message = self.message
        start_usage = attr(message, "usage")
        if message is not None:
            invocation.response_id = as_str(attr(message, "id"))
            invocation.response_model = as_str(attr(message, "model"))
        invocation.set_usage(extract_stream_usage(start_usage, self.delta_usage))
        apply_usage_details(invocation, start_usage, self.delta_usage)
        invocation.finish_reasons = extract_finish_reasons(self.stop_reason)


# --- the SDK's built-in spans ----------------------------------------------------------------------

# The SDK spans of the calls tokentrace traces (``SPAN_ATTRIBUTES`` in ``anthropic/_tracing.py``).
_SDK_INFERENCE_SPANS = frozenset({"anthropic.messages.create", "anthropic.messages.count_tokens"})
_PASS = object()


def sdk_span_handoff(is_active: Callable[[], bool]) -> Callable[..., Any]:
    """A wrapper for ``anthropic._base_client.start_api_call_span`` that keeps one span per call.

    While ``is_active()`` and a tokentrace invocation is current (the call is one tokentrace
    traces, or one an enclosing tokentrace invocation such as LangChain's covers), the SDK gets a
    non-recording stand-in instead of its own inference span: it records nothing and ends nothing,
    and the SDK propagates the stand-in's context, tokentrace's span, to the API. Where the SDK
    would have had no span at all (no ``TracerProvider`` reachable), it gets none here either, so
    what is sent over the wire does not change. Every other SDK span is left alone.
    """

    def wrapper(
        wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        stand_in: Any = _PASS
        with guard("anthropic.sdk_span_handoff"):
            invocation = current_invocation()
            if invocation is not None and not invocation.ended:
                options = args[2] if len(args) > 2 else kwargs.get("options")
                if getattr(options, "span_name", None) in _SDK_INFERENCE_SPANS and is_active():
                    stand_in = _stand_in_span(args[0] if args else kwargs.get("tracer"))
        if stand_in is _PASS:
            return wrapped(*args, **kwargs)
        return stand_in

    return wrapper


def _stand_in_span(tracer: Any) -> trace.Span | None:
    span_context = trace.get_current_span().get_span_context()
    if not span_context.is_valid or not _tracer_emits(tracer):
        return None
    return trace.NonRecordingSpan(span_context)


def _tracer_emits(tracer: Any) -> bool:
    """Whether the SDK's tracer makes real spans (a ``ProxyTracer`` does once a global provider is set)."""
    if tracer is None or isinstance(tracer, trace.NoOpTracer):
        return False
    if isinstance(tracer, trace.ProxyTracer):
        provider = trace.get_tracer_provider()
        return not isinstance(provider, (trace.ProxyTracerProvider, trace.NoOpTracerProvider))
    return True


def targets(settings: Settings) -> Sequence[WrapTarget]:
    """Every Anthropic method tokentrace wraps."""
    # ``messages`` became a package (``messages/messages.py``) in 0.4x; before, the module itself held
    # the classes. The package re-exports them, so both paths are named and each class is wrapped once.
    stable = ("anthropic.resources.messages.messages", "anthropic.resources.messages")
    beta = "anthropic.resources.beta.messages.messages"
    # These copy the beta functions into their own classes at import time.
    platform_betas = ("anthropic.lib.bedrock._beta_messages", "anthropic.lib.vertex._beta_messages")
    found: list[WrapTarget] = []
    modules = (
        *((name, "stable") for name in stable),
        (beta, "beta"),
        *((name, "beta") for name in platform_betas),
    )
    for module, kind in modules:
        prefix = f"anthropic.{kind}"
        for cls, is_async in (("Messages", False), ("AsyncMessages", True)):
            found += [
                WrapTarget(module, f"{cls}.create", Messages(f"{prefix}.create"), is_async=is_async),
                WrapTarget(module, f"{cls}.parse", Messages(f"{prefix}.parse"), is_async=is_async),
                WrapTarget(
                    module, f"{cls}.count_tokens", CountTokens(f"{prefix}.count_tokens"), is_async=is_async
                ),
            ]
    for module, sync_manager, async_manager in (
        ("anthropic.lib.streaming._messages", "MessageStreamManager", "AsyncMessageStreamManager"),
        (
            "anthropic.lib.streaming._beta_messages",
            "BetaMessageStreamManager",
            "BetaAsyncMessageStreamManager",
        ),
    ):
        found += [
            WrapTarget(module, f"{sync_manager}.__enter__", StreamHelper("anthropic.stream")),
            WrapTarget(
                module, f"{async_manager}.__aenter__", StreamHelper("anthropic.stream"), is_async=True
            ),
        ]
    # The SDK's own inference spans give way to tokentrace's while the instrumentation is on.
    found.append(
        WrapTarget(
            "anthropic._base_client",
            "start_api_call_span",
            factory=lambda emitter, switch: sdk_span_handoff(lambda: switch.active),
        )
    )
    return found
