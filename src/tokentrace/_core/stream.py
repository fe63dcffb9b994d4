"""Transparent proxies for streamed responses: every chunk passes through untouched, telemetry ends once.

The proxy finalizes its invocation exactly once: when the stream is exhausted, when reading it
raises, when it is closed or its context manager exits, and when an abandoned stream is garbage
collected. Per-chunk work is one clock read, one list append and the adapter's accumulator; the
per-chunk timing metric is recorded in bulk when the stream ends, off the chunk path.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from time import perf_counter
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol

import wrapt
from opentelemetry import context as otel_context

from tokentrace._core.guard import guard, report_internal_error, strict_mode
from tokentrace._core.invocation import Invocation

if TYPE_CHECKING:
    from tokentrace._core.emitter import Emitter


class StreamAccumulator(Protocol):
    """Provider logic for one stream: reads each chunk, then applies the merged facts at the end."""

    def on_chunk(self, chunk: Any) -> bool:
        """Read one chunk; return False to hide it from the caller (only chunks tokentrace caused)."""
        ...

    def finish(self, invocation: Invocation) -> None:
        """Apply what the chunks said (usage, response id, finish reasons) to the invocation."""
        ...


class _StreamTelemetry(wrapt.ObjectProxy):  # type: ignore[type-arg]
    """State and finalization shared by the sync and async proxies (kept in ``_self_*`` attributes)."""

    def __init__(
        self,
        wrapped: Any,
        invocation: Invocation,
        accumulator: StreamAccumulator,
        emitter: Emitter,
        *,
        error_type: Callable[[BaseException], str | None] | None = None,
    ) -> None:
        super().__init__(wrapped)
        self._self_invocation = invocation
        self._self_accumulator = accumulator
        self._self_emitter = emitter
        self._self_error_type = error_type
        self._self_done = False
        # Arrival time of every chunk the caller sees, appended per chunk and read when the stream ends.
        invocation.chunk_times = []
        self._self_mark = invocation.chunk_times.append

    def _self_observe(self, chunk: Any) -> bool:
        """Time and read one chunk; False when the accumulator hides it from the caller."""
        arrived_at = perf_counter()
        try:
            visible = self._self_accumulator.on_chunk(chunk)
        except Exception:
            if strict_mode():
                raise
            report_internal_error("stream.on_chunk")
            visible = True
        if visible is False:
            return False
        self._self_mark(arrived_at)
        return True

    def _self_finalize(self, error: BaseException | None) -> None:
        if self._self_done:
            return
        self._self_done = True
        invocation = self._self_invocation
        if error is not None and self._self_error_type is not None:
            with guard("stream.error_type"):
                invocation.error_type = self._self_error_type(error)
        with guard("stream.accumulator.finish"):
            self._self_accumulator.finish(invocation)
        with guard("stream.finish"):
            self._self_emitter.finish(invocation, error)

    def __del__(self) -> None:
        # An abandoned stream: end the span with whatever usage had arrived.
        if not getattr(self, "_self_done", True):
            with guard("stream.abandoned"):
                self._self_finalize(None)

    def __reduce_ex__(self, protocol: Any) -> Any:
        return self.__wrapped__.__reduce_ex__(protocol)


def is_async_stream(stream: Any, *, called_async: bool) -> bool:
    """Whether ``stream`` is read with ``async for``.

    A stream may come from a plain ``def`` (LangChain's ``astream``), so its type decides; only an
    object that speaks both protocols (another instrumentation's proxy) follows how it was called.
    """
    kind = type(stream)
    speaks_async = hasattr(kind, "__anext__") or hasattr(kind, "__aiter__")
    speaks_sync = hasattr(kind, "__next__") or hasattr(kind, "__iter__")
    return called_async if speaks_async and speaks_sync else speaks_async


class SyncStreamWrapper(_StreamTelemetry):
    """Proxy for a synchronous stream (iterator, context manager, ``close()``)."""

    def __init__(self, wrapped: Any, *args: Any, **kwargs: Any) -> None:
        super().__init__(wrapped, *args, **kwargs)
        # Some streams are iterators (``__next__``); others are only iterable (generator-backed).
        self._self_iterator: Iterator[Any] | None = wrapped if hasattr(type(wrapped), "__next__") else None

    def __iter__(self) -> SyncStreamWrapper:
        return self

    def __next__(self) -> Any:
        iterator = self._self_iterator
        if iterator is None:
            iterator = self._self_iterator = iter(self.__wrapped__)
        while True:
            try:
                chunk = next(iterator)
            except StopIteration:
                self._self_finalize(None)
                raise
            except BaseException as exc:
                self._self_finalize(exc)
                raise
            if self._self_done or self._self_observe(chunk):
                return chunk

    def __enter__(self) -> SyncStreamWrapper:
        self.__wrapped__.__enter__()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> Any:
        try:
            return self.__wrapped__.__exit__(exc_type, exc, traceback)
        finally:
            self._self_finalize(None)

    def close(self) -> Any:
        """Close the underlying stream, then end the telemetry."""
        close = self.__wrapped__.close
        try:
            return close()
        finally:
            self._self_finalize(None)


class AsyncStreamWrapper(_StreamTelemetry):
    """Proxy for an asynchronous stream (async iterator, async context manager, ``close``/``aclose``)."""

    def __init__(self, wrapped: Any, *args: Any, **kwargs: Any) -> None:
        super().__init__(wrapped, *args, **kwargs)
        # Always through ``__aiter__``: some SDKs' ``__anext__`` is itself an async generator
        # function (aiobotocore), so only the iterator ``__aiter__`` returns can be advanced.
        self._self_iterator: AsyncIterator[Any] | None = None

    def __aiter__(self) -> AsyncStreamWrapper:
        return self

    async def __anext__(self) -> Any:
        iterator = self._self_iterator
        if iterator is None:
            iterator = self._self_iterator = self.__wrapped__.__aiter__()
        while True:
            try:
                chunk = await iterator.__anext__()
            except StopAsyncIteration:
                self._self_finalize(None)
                raise
            except BaseException as exc:
                self._self_finalize(exc)
                raise
            if self._self_done or self._self_observe(chunk):
                return chunk

    async def __aenter__(self) -> AsyncStreamWrapper:
        await self.__wrapped__.__aenter__()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> Any:
        try:
            return await self.__wrapped__.__aexit__(exc_type, exc, traceback)
        finally:
            self._self_finalize(None)

    def close(self) -> Any:
        """Close the underlying stream (awaitable when the SDK's ``close`` is), then end the telemetry."""
        # openai and anthropic streams have ``async def close``; others a plain ``close``.
        result = self.__wrapped__.close()
        if inspect.isawaitable(result):
            return self._self_then_finalize(result)
        self._self_finalize(None)
        return result

    async def aclose(self) -> Any:
        """Close the underlying async generator, then end the telemetry."""
        try:
            return await self.__wrapped__.aclose()
        finally:
            self._self_finalize(None)

    async def _self_then_finalize(self, pending: Awaitable[Any]) -> Any:
        try:
            return await pending
        finally:
            self._self_finalize(None)


# Frameworks whose own code runs while the stream is read (LangChain) need the invocation's context
# current during each read, so nested SDK calls find it; other streams skip that per chunk.


class _ReattachingSyncStreamWrapper(SyncStreamWrapper):
    def __next__(self) -> Any:
        token = otel_context.attach(self._self_invocation.context)  # type: ignore[arg-type]
        try:
            return super().__next__()
        finally:
            otel_context.detach(token)


class _ReattachingAsyncStreamWrapper(AsyncStreamWrapper):
    async def __anext__(self) -> Any:
        token = otel_context.attach(self._self_invocation.context)  # type: ignore[arg-type]
        try:
            return await super().__anext__()
        finally:
            otel_context.detach(token)


def stream_proxy(
    stream: Any,
    invocation: Invocation,
    accumulator: StreamAccumulator,
    emitter: Emitter,
    *,
    called_async: bool,
    reattach_context: bool = False,
    error_type: Callable[[BaseException], str | None] | None = None,
) -> SyncStreamWrapper | AsyncStreamWrapper:
    """The proxy for ``stream``: sync or async as the stream speaks, re-attaching context if asked."""
    reattach = reattach_context and invocation.context is not None
    if is_async_stream(stream, called_async=called_async):
        kind: type[SyncStreamWrapper | AsyncStreamWrapper] = (
            _ReattachingAsyncStreamWrapper if reattach else AsyncStreamWrapper
        )
    else:
        kind = _ReattachingSyncStreamWrapper if reattach else SyncStreamWrapper
    return kind(stream, invocation, accumulator, emitter, error_type=error_type)
