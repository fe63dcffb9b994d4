"""A value made current in the OpenTelemetry context for a block: a ``with`` statement or a decorator.

The value lives in the OpenTelemetry context (not a private ``ContextVar``), so it flows wherever the
context does: asyncio tasks and threads started with a copied context, and threads that the
OpenTelemetry threading or executor instrumentations hand the context to.
"""

from __future__ import annotations

import contextvars
import functools
import inspect
from collections.abc import Callable
from typing import Any, TypeVar

from opentelemetry import context as otel_context
from opentelemetry.context import Context

_F = TypeVar("_F", bound=Callable[..., Any])


class ContextScope:
    """Base of ``attributes()`` and ``track()``: what entering does is ``_enter``, leaving ``_leave``."""

    def __init__(self) -> None:
        # Entries of this object, per context: the same object may be entered by many tasks at once.
        self._entries: contextvars.ContextVar[tuple[tuple[object, Any], ...]] = contextvars.ContextVar(
            f"tokentrace.scope.{id(self)}", default=()
        )

    def _enter(self, current: Context) -> tuple[Context, Any]:
        """The context to make current, and what ``_leave`` gets back."""
        raise NotImplementedError

    def _leave(self, entry: Any) -> None:
        """Called after the context is restored."""

    def _result(self, entry: Any) -> Any:
        """What ``with ... as x`` binds."""
        return self

    def _open(self) -> tuple[object, Any]:
        ctx, entry = self._enter(otel_context.get_current())
        return otel_context.attach(ctx), entry

    def _close(self, opened: tuple[object, Any]) -> None:
        token, entry = opened
        otel_context.detach(token)  # type: ignore[arg-type]
        self._leave(entry)

    def __enter__(self) -> Any:
        opened = self._open()
        self._entries.set((*self._entries.get(), opened))
        return self._result(opened[1])

    def __exit__(self, *exc_info: object) -> None:
        entries = self._entries.get()
        self._entries.set(entries[:-1])
        self._close(entries[-1])

    async def __aenter__(self) -> Any:
        return self.__enter__()

    async def __aexit__(self, *exc_info: object) -> None:
        self.__exit__(*exc_info)

    def __call__(self, function: _F) -> _F:
        """Decorate a function (sync or ``async def``): each call runs inside its own entry."""
        if inspect.iscoroutinefunction(function):

            @functools.wraps(function)
            async def run_async(*args: Any, **kwargs: Any) -> Any:
                opened = self._open()
                try:
                    return await function(*args, **kwargs)
                finally:
                    self._close(opened)

            return run_async  # type: ignore[return-value]

        @functools.wraps(function)
        def run(*args: Any, **kwargs: Any) -> Any:
            opened = self._open()
            try:
                return function(*args, **kwargs)
            finally:
                self._close(opened)

        return run  # type: ignore[return-value]
