"""The normalized token usage of one call, and the pure helpers adapters build it with.

Semantics (semconv section 1.4): ``input`` includes every input token, cached reads and cache
writes among them; ``output`` includes reasoning tokens. ``cache_read``, ``cache_write`` and
``reasoning`` are subsets reported alongside. ``None`` always means "the provider did not say": it
is never replaced by zero, so nothing is recorded for it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

# OTLP carries integer attributes and data points as int64; larger values cannot be exported.
_MAX_COUNT = 2**63 - 1
_MISSING = object()

ModalityCounts = tuple[tuple[str, int], ...]


def as_count(value: Any) -> int | None:
    """Read a token count the provider reported, or ``None`` where it is not a usable count.

    Accepts non-negative ints and integral floats; rejects bools, negatives, NaN, strings and
    anything larger than int64, so a malformed payload never becomes a wrong number.
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if 0 <= value <= _MAX_COUNT else None
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return as_count(int(value))
    return None


def parse_count(value: Any) -> int | None:
    """Like :func:`as_count`, but also reads decimal strings (HTTP headers carry counts as text)."""
    if isinstance(value, str):
        text = value.strip()
        # ASCII digits only (``"²".isdigit()`` is true, and int() refuses it), and no longer than
        # int64 can be: int() also refuses strings past a few thousand digits.
        return as_count(int(text)) if text.isascii() and text.isdigit() and len(text) <= 19 else None
    return as_count(value)


def total_of(base: int | None, *parts: int | None) -> int | None:
    """``base`` plus the parts that are known; ``None`` when ``base`` itself is unknown.

    Used where a provider reports a count that excludes its cache tokens: adding the known cache
    parts to an unknown base would turn a missing figure into a too-small one.
    """
    if base is None:
        return None
    total = base + sum(part for part in parts if part is not None)
    return total if total <= _MAX_COUNT else None


def sum_known(*values: int | None) -> int | None:
    """The sum of the known values, or ``None`` when none is known."""
    known = [value for value in values if value is not None]
    if not known:
        return None
    total = sum(known)
    return total if total <= _MAX_COUNT else None


def attr(obj: Any, name: str) -> Any:
    """Read ``name`` from an SDK object or a plain mapping; ``None`` when absent."""
    if obj is None:
        return None
    if isinstance(obj, dict):
        return obj.get(name)
    try:
        # SDK models first: ``isinstance(obj, Mapping)`` is an ABC check that costs more than the read.
        value = getattr(obj, name, _MISSING)
    except Exception:
        return None
    if value is _MISSING:
        return obj.get(name) if isinstance(obj, Mapping) else None
    return value


def count_at(obj: Any, *path: str) -> int | None:
    """Follow ``path`` through objects or mappings and read the count found there."""
    for name in path:
        obj = attr(obj, name)
        if obj is None:
            return None
    return as_count(obj)


def modality_counts(pairs: Iterable[tuple[Any, Any]]) -> ModalityCounts:
    """Normalize ``(modality, count)`` pairs: lower-cased names, summed per name, unreadable pairs dropped."""
    totals: dict[str, int] = {}
    for modality, count in pairs:
        value = as_count(count)
        name = modality_name(modality)
        if value is None or name is None:
            continue
        totals[name] = totals.get(name, 0) + value
    return tuple(totals.items())


def modality_name(modality: Any) -> str | None:
    """``"TEXT"``, ``MediaModality.TEXT`` or ``"text"`` all become ``"text"``."""
    raw = getattr(modality, "value", modality)
    if not isinstance(raw, str) or not raw:
        return None
    return raw.lower()


@dataclass(frozen=True, slots=True)
class TokenUsage:
    """Token counts of one call, already normalized to the conventions' meaning."""

    input: int | None = None
    output: int | None = None
    cache_read: int | None = None
    cache_write: int | None = None
    reasoning: int | None = None
    input_modalities: ModalityCounts = field(default=())
    output_modalities: ModalityCounts = field(default=())
    cache_read_modalities: ModalityCounts = field(default=())

    @property
    def is_empty(self) -> bool:
        """True when no count at all is known."""
        return (
            self.input is None
            and self.output is None
            and self.cache_read is None
            and self.cache_write is None
            and self.reasoning is None
        )

    def __add__(self, other: TokenUsage) -> TokenUsage:
        """Combine two calls' usage (model hops of one operation): known counts add up."""
        return TokenUsage(
            input=sum_known(self.input, other.input),
            output=sum_known(self.output, other.output),
            cache_read=sum_known(self.cache_read, other.cache_read),
            cache_write=sum_known(self.cache_write, other.cache_write),
            reasoning=sum_known(self.reasoning, other.reasoning),
            input_modalities=_add_modalities(self.input_modalities, other.input_modalities),
            output_modalities=_add_modalities(self.output_modalities, other.output_modalities),
            cache_read_modalities=_add_modalities(self.cache_read_modalities, other.cache_read_modalities),
        )

    def overlaid_with(self, newer: TokenUsage) -> TokenUsage:
        """Counts from ``newer`` where it has them, else ours: for cumulative stream updates."""
        return replace(
            self,
            input=_newer(newer.input, self.input),
            output=_newer(newer.output, self.output),
            cache_read=_newer(newer.cache_read, self.cache_read),
            cache_write=_newer(newer.cache_write, self.cache_write),
            reasoning=_newer(newer.reasoning, self.reasoning),
            input_modalities=newer.input_modalities or self.input_modalities,
            output_modalities=newer.output_modalities or self.output_modalities,
            cache_read_modalities=newer.cache_read_modalities or self.cache_read_modalities,
        )


def _newer(newer: int | None, older: int | None) -> int | None:
    return older if newer is None else newer


def _add_modalities(left: ModalityCounts, right: ModalityCounts) -> ModalityCounts:
    if not right:
        return left
    if not left:
        return right
    return modality_counts([*left, *right])
