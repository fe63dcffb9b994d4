"""``tokentrace.track()``: the sum of every inference call made inside a block, readable during and after it.

Each entry of a tracker is a frame in the OpenTelemetry context; a call captures the frames current
when it starts and adds its usage to them when it ends, so a stream read after the block still counts
in it, and nested blocks each count the calls inside them.
"""

from __future__ import annotations

import threading
from decimal import Decimal
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.util.types import AttributeValue

from tokentrace._core import semconv
from tokentrace._core.scope import ContextScope
from tokentrace._core.usage import TokenUsage

FRAMES_KEY = otel_context.create_key("tokentrace.rollup")


class Totals:
    """Running sums of inference calls (one lock: calls end in many threads and tasks)."""

    __slots__ = (
        "_lock",
        "calls",
        "failed_calls",
        "unpriced_calls",
        "input_tokens",
        "output_tokens",
        "cache_read_tokens",
        "cache_write_tokens",
        "reasoning_tokens",
        "cost",
    )

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.calls = 0
        self.failed_calls = 0
        self.unpriced_calls = 0
        self.input_tokens = 0
        self.output_tokens = 0
        self.cache_read_tokens = 0
        self.cache_write_tokens = 0
        self.reasoning_tokens = 0
        # None until a call inside was priced: "nothing was priced" is not "it cost nothing".
        self.cost: Decimal | None = None

    def add(self, usage: TokenUsage | None, cost: Decimal | None, failed: bool) -> None:
        """Count one call: its reported counts, its cost, whether it failed or could not be priced."""
        with self._lock:
            self.calls += 1
            if failed:
                self.failed_calls += 1
            if usage is not None:
                self.input_tokens += usage.input or 0
                self.output_tokens += usage.output or 0
                self.cache_read_tokens += usage.cache_read or 0
                self.cache_write_tokens += usage.cache_write or 0
                self.reasoning_tokens += usage.reasoning or 0
                if cost is None:
                    self.unpriced_calls += 1
            if cost is not None:
                self.cost = cost if self.cost is None else self.cost + cost

    def span_attributes(self) -> dict[str, AttributeValue]:
        """The totals under tokentrace's aggregate namespace (never ``gen_ai.usage.*``)."""
        with self._lock:
            attributes: dict[str, AttributeValue] = {
                semconv.TOKENTRACE_ROLLUP_CALLS: self.calls,
                semconv.TOKENTRACE_ROLLUP_FAILED_CALLS: self.failed_calls,
                semconv.TOKENTRACE_ROLLUP_UNPRICED_CALLS: self.unpriced_calls,
                semconv.TOKENTRACE_ROLLUP_INPUT_TOKENS: self.input_tokens,
                semconv.TOKENTRACE_ROLLUP_OUTPUT_TOKENS: self.output_tokens,
                semconv.TOKENTRACE_ROLLUP_CACHE_READ_INPUT_TOKENS: self.cache_read_tokens,
                semconv.TOKENTRACE_ROLLUP_CACHE_WRITE_INPUT_TOKENS: self.cache_write_tokens,
                semconv.TOKENTRACE_ROLLUP_REASONING_OUTPUT_TOKENS: self.reasoning_tokens,
            }
            if self.cost is not None:
                attributes[semconv.TOKENTRACE_ROLLUP_COST_AMOUNT] = float(self.cost)
                attributes[semconv.TOKENTRACE_ROLLUP_COST_CURRENCY] = semconv.CURRENCY_USD
        return attributes


class _Frame:
    """One entry of a tracker: its own sums only when they go on a span at the end."""

    __slots__ = ("tracker", "totals")

    def __init__(self, tracker: Tracker, totals: Totals | None) -> None:
        self.tracker = tracker
        self.totals = totals


Frames = tuple[_Frame, ...]


class Tracker(ContextScope):
    """What ``tokentrace.track()`` returns: a context manager and decorator, and the running totals.

    As a decorator every call of the function counts into the same tracker; with
    ``record_on_span=True`` each block (or call) puts its own totals on the span current at its end.
    """

    def __init__(self, *, record_on_span: bool = False) -> None:
        super().__init__()
        self._record_on_span = record_on_span
        self._totals = Totals()

    def _enter(self, current: Context) -> tuple[Context, Any]:
        frame = _Frame(self, Totals() if self._record_on_span else None)
        frames = current.get(FRAMES_KEY) or ()
        return otel_context.set_value(FRAMES_KEY, (*frames, frame), current), frame  # type: ignore[misc]

    def _leave(self, entry: Any) -> None:
        frame: _Frame = entry
        if frame.totals is None:
            return
        span = trace.get_current_span()
        if span.is_recording():
            span.set_attributes(frame.totals.span_attributes())

    @property
    def calls(self) -> int:
        """Inference calls that ended inside (failed ones included; token counting excluded)."""
        return self._totals.calls

    @property
    def failed_calls(self) -> int:
        """Calls inside that ended in an error."""
        return self._totals.failed_calls

    @property
    def unpriced_calls(self) -> int:
        """Calls that reported usage but could not be priced (unknown model, or cost switched off)."""
        return self._totals.unpriced_calls

    @property
    def input_tokens(self) -> int:
        """Input tokens, cached ones included."""
        return self._totals.input_tokens

    @property
    def output_tokens(self) -> int:
        """Output tokens, reasoning included."""
        return self._totals.output_tokens

    @property
    def cache_read_tokens(self) -> int:
        """Input tokens read from a provider cache."""
        return self._totals.cache_read_tokens

    @property
    def cache_write_tokens(self) -> int:
        """Input tokens written to a provider cache."""
        return self._totals.cache_write_tokens

    @property
    def reasoning_tokens(self) -> int:
        """Output tokens spent on reasoning."""
        return self._totals.reasoning_tokens

    @property
    def cost(self) -> Decimal | None:
        """The summed cost in USD of the priced calls; None when none was priced."""
        return self._totals.cost

    def __repr__(self) -> str:
        return (
            f"Tracker(calls={self.calls}, input_tokens={self.input_tokens}, "
            f"output_tokens={self.output_tokens}, cost={self.cost}, unpriced_calls={self.unpriced_calls})"
        )


def track(*, record_on_span: bool = False) -> Tracker:
    """Sum every inference call made inside a block: ``with tokentrace.track() as t: ...; t.cost``.

    Works as ``with``, ``async with`` and as a decorator of sync and ``async def`` functions, and
    counts calls made in asyncio tasks and in threads that copy the context. With
    ``record_on_span=True`` the totals go on the span current at the block's end, as
    ``tokentrace.rollup.*`` attributes.
    """
    return Tracker(record_on_span=record_on_span)


def add_to_frames(frames: Frames, usage: TokenUsage | None, cost: Decimal | None, failed: bool) -> None:
    """Count one ended call in every block it started in: each tracker once, each frame's own sums."""
    seen: list[Tracker] = []
    for frame in frames:
        if frame.totals is not None:
            frame.totals.add(usage, cost, failed)
        if not any(tracker is frame.tracker for tracker in seen):
            seen.append(frame.tracker)
            frame.tracker._totals.add(usage, cost, failed)
