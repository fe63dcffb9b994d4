"""Groq SDK: ``chat.completions.create``, sync and async, streamed and not.

Wrapped: ``groq.resources.chat.completions.Completions.create`` and ``AsyncCompletions.create``
(groq 1.7: ``groq/resources/chat/completions.py``, ``groq/types/completion_usage.py``,
``groq/types/chat/chat_completion_chunk.py``). The SDK has no ``stream_options``: a stream's usage
arrives on its final chunk under ``x_groq.usage`` (the chunk's own ``usage`` stays ``None``), so
nothing is added to the request. Groq's server-side timings (queue, prompt, completion and total
time, in seconds) become ``groq.usage.*`` span attributes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

from tokentrace._core import semconv
from tokentrace._core.config import Settings
from tokentrace._core.invocation import Invocation
from tokentrace._core.patching import WrapTarget
from tokentrace._core.request import as_float, as_str
from tokentrace._core.usage import attr
from tokentrace._providers._openai_compatible import ChatCompletionsEndpoint, extract_chat_usage

# Span attributes of Groq's own (not in the conventions); seconds, as doubles.
# Groq's request id (``x_groq.id``, ``req_...``), which Groq support asks for.

_TIMINGS: Final = (
    ("queue_time", semconv.GROQ_USAGE_QUEUE_TIME),
    ("prompt_time", semconv.GROQ_USAGE_PROMPT_TIME),
    ("completion_time", semconv.GROQ_USAGE_COMPLETION_TIME),
    ("total_time", semconv.GROQ_USAGE_TOTAL_TIME),
)

# Usage: chat-completions fields; prompt_tokens includes prompt_tokens_details.cached_tokens and
# completion_tokens includes completion_tokens_details.reasoning_tokens (Groq's docs).
extract_usage = extract_chat_usage


def extract_timings(usage: Any) -> dict[str, float]:
    """Groq's timings in seconds, keyed by attribute name; a timing Groq did not give is left out."""
    timings: dict[str, float] = {}
    if usage is None:
        return timings
    for field, name in _TIMINGS:
        seconds = as_float(attr(usage, field))
        if seconds is not None:
            timings[name] = seconds
    return timings


class ChatCompletions(ChatCompletionsEndpoint):
    """``chat.completions.create``: usage in ``usage``, or in a stream's final ``x_groq.usage``."""

    provider = semconv.PROVIDER_GROQ

    def apply_common(self, invocation: Invocation, response: Any) -> None:
        """Response id and model, and Groq's request id."""
        super().apply_common(invocation, response)
        invocation.set_attribute(semconv.GROQ_REQUEST_ID, as_str(attr(attr(response, "x_groq"), "id")))

    def apply_usage(self, invocation: Invocation, usage: Any) -> None:
        """Token counts and Groq's timings."""
        invocation.set_usage(extract_usage(usage))
        for name, seconds in extract_timings(usage).items():
            invocation.set_attribute(name, seconds)

    def chunk_usage(self, chunk: Any) -> Any:
        """``chunk.usage`` if Groq ever fills it, else ``x_groq.usage`` (where Groq streams put it).

        On a complete response ``x_groq.usage`` is a different object (DRAM/SRAM cache counts), so
        this is read on stream chunks only.
        """
        usage = getattr(chunk, "usage", None)
        if usage is not None:
            return usage
        x_groq = getattr(chunk, "x_groq", None)
        return None if x_groq is None else getattr(x_groq, "usage", None)


def targets(settings: Settings) -> Sequence[WrapTarget]:
    """Every Groq method tokentrace wraps."""
    module = "groq.resources.chat.completions"
    return (
        WrapTarget(module, "Completions.create", ChatCompletions("groq.chat")),
        WrapTarget(module, "AsyncCompletions.create", ChatCompletions("groq.chat"), is_async=True),
    )
