"""Together SDK: ``chat.completions.create``, sync and async, streamed and not.

Wrapped: ``together.resources.chat.completions.CompletionsResource.create`` and
``AsyncCompletionsResource.create`` (together 3.1: ``together/resources/chat/completions.py``,
``together/types/chat/chat_completion_usage.py``). There is no ``stream_options``: usage comes on
the stream's final chunk (the one with ``finish_reason``), so nothing is added to the request.
The provider name ``together`` is not registered in the conventions (custom values are allowed).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from tokentrace._core import semconv
from tokentrace._core.config import Settings
from tokentrace._core.invocation import Invocation
from tokentrace._core.patching import WrapTarget
from tokentrace._core.usage import TokenUsage
from tokentrace._providers._openai_compatible import (
    ChatCompletionsEndpoint,
    extract_chat_usage,
    reported_count,
)

# Without a base URL of its own the SDK posts to this absolute URL, not to ``client.base_url``.
_DEFAULT_CHAT_URL = "https://api-inference.together.ai/v1/chat/completions"


def extract_usage(usage: Any) -> TokenUsage | None:
    """Normalize Together's ``ChatCompletionUsage``.

    ``prompt_tokens`` and ``completion_tokens`` as in OpenAI's chat usage. Together's API also
    sends a top-level ``cached_tokens`` (outside the SDK's declared fields; it survives as an extra
    attribute): the cached part of ``prompt_tokens``, so it becomes ``cache_read`` whenever Together
    reports it, zero included. An OpenAI-style ``prompt_tokens_details.cached_tokens`` is read too.
    """
    normalized = extract_chat_usage(usage)
    if normalized is None:
        return None
    cached = reported_count(usage, "cached_tokens")
    if cached is None:
        return normalized
    return replace(normalized, cache_read=cached)


class ChatCompletions(ChatCompletionsEndpoint):
    """``chat.completions.create``."""

    provider = semconv.PROVIDER_TOGETHER
    default_url = _DEFAULT_CHAT_URL

    def apply_usage(self, invocation: Invocation, usage: Any) -> None:
        """Token counts, with Together's ``cached_tokens``."""
        invocation.set_usage(extract_usage(usage))


def targets(settings: Settings) -> Sequence[WrapTarget]:
    """Every Together method tokentrace wraps."""
    module = "together.resources.chat.completions"
    return (
        WrapTarget(module, "CompletionsResource.create", ChatCompletions("together.chat")),
        WrapTarget(
            module, "AsyncCompletionsResource.create", ChatCompletions("together.chat"), is_async=True
        ),
    )
