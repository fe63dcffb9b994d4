"""The facts of one instrumented call: what was asked (``RequestFacts``) and what came back (``Invocation``).

Adapters fill these; only the emitter turns them into attributes and metric points.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING

from opentelemetry.util.types import AttributeValue

from tokentrace._core.usage import TokenUsage

if TYPE_CHECKING:
    from opentelemetry.context import Context
    from opentelemetry.trace import Span

    from tokentrace._core.attribution import Scope

_NO_ATTRIBUTES: Mapping[str, AttributeValue] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class RequestFacts:
    """What the application asked for, known before the SDK is called."""

    operation: str
    provider: str
    model: str | None = None
    server_address: str | None = None
    server_port: int | None = None
    stream: bool = False
    # Request parameters (temperature, max tokens, ...) and provider-specific request attributes.
    attributes: Mapping[str, AttributeValue] = field(default_factory=lambda: _NO_ATTRIBUTES)
    # Token-counting calls (count_tokens, compute_tokens) are not consumption: no usage metrics.
    records_usage_metrics: bool = True
    # An invocation that absorbs nested calls takes their usage instead of letting them emit their
    # own span: LangChain over an instrumented SDK, or one user call that makes several model hops.
    absorbs_nested: bool = False
    # Which nested calls (by endpoint name) are absorbed; ``None`` means all of them. Others get
    # their own span under this one: a model call an AFC tool makes is not part of the Gemini call.
    absorbs_only: frozenset[str] | None = None


class Invocation:
    """One call in flight: its span and the response facts as they arrive."""

    __slots__ = (
        "facts",
        "provider",
        "server_address",
        "server_port",
        "span",
        "context",
        "started_at",
        "usage",
        "response_id",
        "response_model",
        "finish_reasons",
        "attributes",
        "chunk_times",
        "error_type",
        "ended",
        "parent",
        "nested_usage",
        "replayed",
        "scope",
        "__weakref__",
    )

    def __init__(
        self,
        facts: RequestFacts,
        span: Span | None,
        context: Context | None,
        started_at: float,
        parent: Invocation | None = None,
    ) -> None:
        self.facts = facts
        # Nested SDK-level calls know the endpoint better than an outer framework does.
        self.provider = facts.provider
        self.server_address = facts.server_address
        self.server_port = facts.server_port
        self.span = span
        self.context = context
        self.started_at = started_at
        self.usage: TokenUsage | None = None
        self.response_id: str | None = None
        self.response_model: str | None = None
        self.finish_reasons: list[str] | None = None
        self.attributes: dict[str, AttributeValue] = {}
        # Arrival time of each chunk of a streamed response (``perf_counter``), first to last.
        self.chunk_times: list[float] | None = None
        self.error_type: str | None = None
        self.ended = False
        # Set when this invocation was absorbed by an enclosing one and emits nothing itself.
        self.parent = parent
        # Usage that nested, absorbed calls reported; it wins over what this layer reads itself.
        self.nested_usage: TokenUsage | None = None
        # Answered from a cache without calling the provider (LangChain's cache): the span stays,
        # but there was no provider operation to time and no consumption to count.
        self.replayed = False
        # Attribution dimensions and track() blocks current when the call started (None: neither).
        self.scope: Scope | None = None

    def set_usage(self, usage: TokenUsage | None) -> None:
        """Record the call's usage (a later report replaces an earlier one)."""
        if usage is not None and not usage.is_empty:
            self.usage = usage

    def set_attribute(self, key: str, value: AttributeValue | None) -> None:
        """Keep a response-side attribute, skipping values the provider did not give."""
        if value is not None and value != "":
            self.attributes[key] = value

    def absorb(self, nested: Invocation) -> None:
        """Take a nested call's facts: its usage adds up, its request and response facts win.

        The nested call is the SDK call that really went out, so what it knows (request attributes
        such as ``openai.api.type``, the error it met) is the more precise (last writer wins).
        """
        usage = nested.effective_usage
        if usage is not None:
            self.nested_usage = usage if self.nested_usage is None else self.nested_usage + usage
        self.attributes.update(nested.facts.attributes)
        if nested.error_type is not None:
            self.error_type = nested.error_type
        if nested.response_id is not None:
            self.response_id = nested.response_id
        if nested.response_model is not None:
            self.response_model = nested.response_model
        if nested.finish_reasons:
            self.finish_reasons = nested.finish_reasons
        self.attributes.update(nested.attributes)
        self.provider = nested.provider
        if nested.server_address is not None:
            self.server_address = nested.server_address
            self.server_port = nested.server_port

    @property
    def first_chunk_at(self) -> float | None:
        """When the first chunk of a streamed response arrived."""
        return self.chunk_times[0] if self.chunk_times else None

    @property
    def effective_usage(self) -> TokenUsage | None:
        """The usage to report: what nested SDK calls reported, else what this layer read."""
        return self.nested_usage if self.nested_usage is not None else self.usage
