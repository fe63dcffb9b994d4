"""Fireworks SDK (``fireworks-ai`` 1.x): ``chat.completions.create``, sync and async, streamed and not.

Wrapped: ``fireworks.resources.chat.completions.CompletionsResource.create`` and
``AsyncCompletionsResource.create`` (fireworks-ai 1.2: ``fireworks/resources/chat/completions.py``,
``fireworks/types/shared/usage_info.py``). There is no ``stream_options``: usage comes on the
stream's final chunk, so nothing is added to the request. The provider name ``fireworks`` is not
registered in the conventions (custom values are allowed).
"""

from __future__ import annotations

from collections.abc import Sequence

from tokentrace._core import semconv
from tokentrace._core.config import Settings
from tokentrace._core.patching import WrapTarget
from tokentrace._providers._openai_compatible import ChatCompletionsEndpoint, extract_chat_usage

# Without a base URL of its own the SDK posts to this absolute URL, not to ``client.base_url``.
_DEFAULT_CHAT_URL = "https://api.fireworks.ai/inference/v1/chat/completions"

# ``UsageInfo``: prompt_tokens (includes prompt_tokens_details.cached_tokens), total_tokens, and an
# optional completion_tokens. When Fireworks leaves completion_tokens out, no output count is
# recorded: it is neither zero nor derived from total_tokens.
extract_usage = extract_chat_usage


class ChatCompletions(ChatCompletionsEndpoint):
    """``chat.completions.create``."""

    provider = semconv.PROVIDER_FIREWORKS
    default_url = _DEFAULT_CHAT_URL


def targets(settings: Settings) -> Sequence[WrapTarget]:
    """Every Fireworks method tokentrace wraps."""
    module = "fireworks.resources.chat.completions"
    return (
        WrapTarget(module, "CompletionsResource.create", ChatCompletions("fireworks.chat")),
        WrapTarget(
            module, "AsyncCompletionsResource.create", ChatCompletions("fireworks.chat"), is_async=True
        ),
    )
