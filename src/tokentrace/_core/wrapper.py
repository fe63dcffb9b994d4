"""The one wrapper every patched SDK method runs through, written once for all providers.

The SDK method is called exactly once, outside every guard, with the caller's arguments (plus, where
an adapter asks for it, the usage-reporting option a stream needs). The caller gets the SDK's own
return value, or a transparent proxy around a stream, and the SDK's own exceptions, unchanged.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any, Protocol

from opentelemetry import context as otel_context
from opentelemetry.instrumentation.utils import is_instrumentation_enabled

from tokentrace._core.emitter import Emitter, current_invocation, error_type_of
from tokentrace._core.guard import guard, swallow
from tokentrace._core.invocation import Invocation, RequestFacts
from tokentrace._core.stream import StreamAccumulator, stream_proxy

Wrapped = Callable[..., Any]
SyncWrapper = Callable[[Wrapped, Any, tuple[Any, ...], dict[str, Any]], Any]
AsyncWrapper = Callable[[Wrapped, Any, tuple[Any, ...], dict[str, Any]], Coroutine[Any, Any, Any]]


class Endpoint(Protocol):
    """How one SDK method is observed; adapters implement it (see ``EndpointBase`` for defaults)."""

    name: str
    # Whether the call's context is made current again while its stream is read: for SDKs and
    # frameworks whose nested, instrumented calls run during iteration (model hops, LangChain).
    reattach_stream_context: bool

    def request(self, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> RequestFacts | None:
        """Facts of the request, or None to leave this call alone."""
        ...

    def prepare(self, facts: RequestFacts, instance: Any, kwargs: dict[str, Any]) -> dict[str, Any]:
        """The keyword arguments to call the SDK with (the caller's, unless a stream needs usage)."""
        ...

    def stream_of(self, result: Any) -> Any | None:
        """The stream inside ``result`` that needs a proxy, or None for a complete response."""
        ...

    def with_stream(self, result: Any, proxy: Any) -> Any:
        """``result`` with its stream replaced by ``proxy`` (usually ``proxy`` itself)."""
        ...

    def on_response(self, invocation: Invocation, result: Any) -> None:
        """Apply a complete response's facts (usage, id, model, finish reasons) to the invocation."""
        ...

    def on_stream_start(self, invocation: Invocation, result: Any) -> None:
        """Apply what the result says before its stream is read (headers, request ids)."""
        ...

    def new_accumulator(self, invocation: Invocation, sent_kwargs: dict[str, Any]) -> StreamAccumulator:
        """A fresh accumulator for a stream this call returned."""
        ...

    def error_type(self, exc: BaseException) -> str | None:
        """A provider-specific ``error.type`` for ``exc``, or None for the exception's class name."""
        ...


class EndpointBase:
    """Defaults for an ``Endpoint``: no kwargs changes, no streams, nothing read from responses."""

    name = "endpoint"
    reattach_stream_context = False

    def prepare(self, facts: RequestFacts, instance: Any, kwargs: dict[str, Any]) -> dict[str, Any]:
        """Send the caller's arguments unchanged."""
        return kwargs

    def stream_of(self, result: Any) -> Any | None:
        """No stream by default."""
        return None

    def with_stream(self, result: Any, proxy: Any) -> Any:
        """The proxy replaces the result."""
        return proxy

    def on_response(self, invocation: Invocation, result: Any) -> None:
        """Nothing to read by default."""

    def on_stream_start(self, invocation: Invocation, result: Any) -> None:
        """Nothing to read by default."""

    def new_accumulator(self, invocation: Invocation, sent_kwargs: dict[str, Any]) -> StreamAccumulator:
        """Endpoints whose ``stream_of`` finds streams must say how to read them."""
        raise NotImplementedError(f"{self.name} returned a stream but reads none")

    def error_type(self, exc: BaseException) -> str | None:
        """Use the exception's class name."""
        return None


@dataclass(slots=True)
class Switch:
    """Turns a set of wrappers off at once.

    Wrappers captured elsewhere (``with_raw_response``, another instrumentation wrapping ours) keep
    existing after uninstrument and must pass through.
    """

    active: bool = True


# What ``_start`` hands the wrapper: the invocation, the kwargs to send, the context token.
_Started = tuple[Invocation, dict[str, Any], object | None]


def _start(
    endpoint: Endpoint, emitter: Emitter, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> _Started | None:
    try:
        current = current_invocation()
        parent = None
        if current is not None and not current.ended:
            if not current.facts.absorbs_nested:
                # An SDK method called from inside another instrumented one: already observed.
                return None
            only = current.facts.absorbs_only
            if only is None or endpoint.name in only:
                parent = current
        facts = endpoint.request(instance, args, kwargs)
        if facts is None:
            return None
        invocation = emitter.start(facts, parent)
    except Exception:
        swallow(f"{endpoint.name}.request")
        return None
    send = kwargs
    try:
        send = endpoint.prepare(facts, instance, kwargs)
    except Exception:
        swallow(f"{endpoint.name}.prepare")
    token = None
    if invocation.context is not None:
        try:
            token = otel_context.attach(invocation.context)
        except Exception:
            swallow("context.attach")
    return invocation, send, token


def _detach(token: object | None) -> None:
    if token is not None:
        try:
            otel_context.detach(token)  # type: ignore[arg-type]
        except Exception:
            swallow("context.detach")


def _fail(endpoint: Endpoint, emitter: Emitter, invocation: Invocation, exc: BaseException) -> None:
    with guard(f"{endpoint.name}.error"):
        invocation.error_type = endpoint.error_type(exc) or error_type_of(exc)
        emitter.finish(invocation, exc)


def _complete(
    endpoint: Endpoint,
    emitter: Emitter,
    invocation: Invocation,
    sent_kwargs: dict[str, Any],
    result: Any,
    called_async: bool,
) -> Any:
    stream = None
    try:
        stream = endpoint.stream_of(result)
    except Exception:
        swallow(f"{endpoint.name}.stream_of")
    if stream is not None:
        try:
            endpoint.on_stream_start(invocation, result)
            accumulator = endpoint.new_accumulator(invocation, sent_kwargs)
            proxy = stream_proxy(
                stream,
                invocation,
                accumulator,
                emitter,
                called_async=called_async,
                reattach_context=endpoint.reattach_stream_context,
                error_type=endpoint.error_type,
            )
            return endpoint.with_stream(result, proxy)
        except Exception:
            swallow(f"{endpoint.name}.stream")
            with guard(f"{endpoint.name}.finish"):
                emitter.finish(invocation)
            return result
    try:
        endpoint.on_response(invocation, result)
    except Exception:
        swallow(f"{endpoint.name}.response")
    try:
        emitter.finish(invocation)
    except Exception:
        swallow(f"{endpoint.name}.finish")
    return result


def traced(endpoint: Endpoint, emitter: Emitter, switch: Switch) -> SyncWrapper:
    """A wrapt wrapper for a synchronous SDK method."""

    def wrapper(wrapped: Wrapped, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if not switch.active or not is_instrumentation_enabled():
            return wrapped(*args, **kwargs)
        started = _start(endpoint, emitter, instance, args, kwargs)
        if started is None:
            return wrapped(*args, **kwargs)
        invocation, send, token = started
        try:
            result = wrapped(*args, **send)
        except BaseException as exc:
            _detach(token)
            _fail(endpoint, emitter, invocation, exc)
            raise
        _detach(token)
        return _complete(endpoint, emitter, invocation, send, result, called_async=False)

    return wrapper


def async_traced(endpoint: Endpoint, emitter: Emitter, switch: Switch) -> AsyncWrapper:
    """A wrapt wrapper for an ``async def`` SDK method."""

    async def wrapper(wrapped: Wrapped, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if not switch.active or not is_instrumentation_enabled():
            return await wrapped(*args, **kwargs)
        started = _start(endpoint, emitter, instance, args, kwargs)
        if started is None:
            return await wrapped(*args, **kwargs)
        invocation, send, token = started
        try:
            result = await wrapped(*args, **send)
        except BaseException as exc:
            _detach(token)
            _fail(endpoint, emitter, invocation, exc)
            raise
        _detach(token)
        return _complete(endpoint, emitter, invocation, send, result, called_async=True)

    return wrapper
