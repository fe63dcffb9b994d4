"""Attribution: dimensions (tenant, feature, ...) on every inference span and metric point made in a block.

``with tokentrace.attributes(tenant="acme"):`` makes them current in the OpenTelemetry context; with
``TOKENTRACE_BAGGAGE_KEYS`` they are also read from OpenTelemetry baggage. A call captures them (and
the ``track()`` frames) once, when it starts.

Metrics carry a bounded number of values per dimension: the first ``TOKENTRACE_ATTRIBUTE_VALUE_LIMIT``
distinct values a dimension takes in the process are kept, later ones are recorded as ``_other`` (spans
keep the real value). Every distinct value is a series in the metrics backend, so an id per user or
request would grow it without bound.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from opentelemetry import baggage
from opentelemetry import context as otel_context
from opentelemetry.context import Context
from opentelemetry.util.types import AttributeValue

from tokentrace._core import semconv
from tokentrace._core.rollup import FRAMES_KEY, Frames
from tokentrace._core.scope import ContextScope

ATTRIBUTES_KEY = otel_context.create_key("tokentrace.attributes")

# Metric dimensions of a call, sorted by key: part of the key its points are summed under.
Dimensions = tuple[tuple[str, AttributeValue], ...]

_VALUE_TYPES = (str, bool, int, float)


class Attributes(ContextScope):
    """What ``tokentrace.attributes()`` returns: a context manager and decorator."""

    def __init__(self, dimensions: Mapping[str, AttributeValue]) -> None:
        super().__init__()
        for key, value in dimensions.items():
            if not key or key.startswith(semconv.RESERVED_ATTRIBUTE_PREFIXES):
                raise ValueError(f"tokentrace.attributes: {key!r} is reserved; use a name of your own")
            if not isinstance(value, _VALUE_TYPES):
                raise TypeError(f"tokentrace.attributes: {key}={value!r} must be a str, bool, int or float")
        self._dimensions = dict(dimensions)

    def _enter(self, current: Context) -> tuple[Context, Any]:
        outer = current.get(ATTRIBUTES_KEY)
        merged = {**outer, **self._dimensions} if isinstance(outer, Mapping) else self._dimensions
        return otel_context.set_value(ATTRIBUTES_KEY, MappingProxyType(merged), current), None


def attributes(**dimensions: AttributeValue) -> Attributes:
    """Attribute every inference call made inside a block: ``with tokentrace.attributes(tenant="acme"):``.

    The dimensions go on each inference span and on each token, duration and cost point; inner blocks
    add to (and override) outer ones. Works as ``with``, ``async with`` and as a decorator of sync and
    ``async def`` functions, and follows asyncio tasks and threads that copy the context.
    """
    return Attributes(dimensions)


class _ValueLimit:
    """The distinct values each dimension has taken on metrics in this process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._seen: dict[str, set[AttributeValue]] = {}

    def dimensions(self, values: Mapping[str, AttributeValue], limit: int) -> Dimensions:
        with self._lock:
            capped = []
            for key in sorted(values):
                value = values[key]
                seen = self._seen.setdefault(key, set())
                if value not in seen:
                    if len(seen) >= limit:
                        value = semconv.ATTRIBUTE_VALUE_OTHER
                    else:
                        seen.add(value)
                capped.append((key, value))
            return tuple(capped)

    def clear(self) -> None:
        with self._lock:
            self._seen.clear()

    def after_fork(self) -> None:
        # A fork taken while another thread held the lock must not leave the child locked out.
        self._lock = threading.Lock()


VALUE_LIMIT = _ValueLimit()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=VALUE_LIMIT.after_fork)


@dataclass(frozen=True, slots=True)
class Scope:
    """What was current when a call started: its dimensions and the ``track()`` blocks it counts in."""

    span_attributes: Mapping[str, AttributeValue]
    metric_dimensions: Dimensions
    frames: Frames


class Attribution:
    """Captures the scope of a call at its start (one per emitter, from its settings)."""

    def __init__(self, baggage_keys: tuple[str, ...], value_limit: int) -> None:
        self._baggage_keys = tuple(
            key for key in baggage_keys if not key.startswith(semconv.RESERVED_ATTRIBUTE_PREFIXES)
        )
        self._value_limit = value_limit

    def capture(self) -> Scope | None:
        """The current scope, or None when no dimension and no tracker is current (the common case)."""
        current = otel_context.get_current()
        explicit = current.get(ATTRIBUTES_KEY)
        frames: Frames = current.get(FRAMES_KEY) or ()  # type: ignore[assignment]
        dimensions: Mapping[str, AttributeValue] = explicit if isinstance(explicit, Mapping) else {}
        if self._baggage_keys:
            entries = baggage.get_all(current)
            # Values set in code win over what arrived with the request.
            keys = [key for key in self._baggage_keys if key in entries and key not in dimensions]
            found = {key: str(entries[key]) for key in keys}
            if found:
                dimensions = {**dimensions, **found}
        if not dimensions and not frames:
            return None
        metric_dimensions = VALUE_LIMIT.dimensions(dimensions, self._value_limit) if dimensions else ()
        return Scope(dimensions, metric_dimensions, frames)
