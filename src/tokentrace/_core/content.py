"""Opt-in capture of message content, in the conventions' ``gen_ai.*.messages`` JSON form.

Off unless ``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT`` is ``span_only``, ``span_and_event``
or ``true``: prompts and completions are the most sensitive data an application has. When on, each
attribute is a JSON string (the conventions allow a string where structured values are unsupported)
no longer than the configured limit; text parts are shortened to fit, never cut mid-JSON.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

Part = dict[str, Any]
Message = dict[str, Any]

TRUNCATION_MARK = "…[truncated]"


def text_part(content: str) -> Part:
    """A ``text`` message part."""
    return {"type": "text", "content": content}


def message(role: str, parts: Sequence[Part], finish_reason: str | None = None) -> Message:
    """A message in the conventions' schema (``finish_reason`` only on output messages)."""
    result: Message = {"role": role, "parts": list(parts)}
    if finish_reason is not None:
        result["finish_reason"] = finish_reason
    return result


def encode_messages(messages: Sequence[Message], max_length: int) -> str:
    """JSON for ``messages``, at most ``max_length`` characters, shortening text parts evenly if needed."""
    encoded = json.dumps(messages, ensure_ascii=False, default=str)
    if len(encoded) <= max_length:
        return encoded
    parts = [
        part for item in messages for part in item.get("parts", ()) if isinstance(part.get("content"), str)
    ]
    overflow = len(encoded) - max_length
    budget = max(
        0, sum(len(part["content"]) for part in parts) - overflow - len(TRUNCATION_MARK) * len(parts)
    )
    share = budget // max(len(parts), 1)
    shortened = [
        {**item, "parts": [_shorten(part, share) for part in item.get("parts", ())]} for item in messages
    ]
    encoded = json.dumps(shortened, ensure_ascii=False, default=str)
    if len(encoded) <= max_length:
        return encoded
    # Structure alone is over the limit (many tool calls, say): keep the roles only.
    return json.dumps([{"role": item.get("role"), "parts": []} for item in messages])[:max_length]


def _shorten(part: Part, limit: int) -> Part:
    content = part.get("content")
    if not isinstance(content, str) or len(content) <= limit:
        return part
    return {**part, "content": content[:limit] + TRUNCATION_MARK}
