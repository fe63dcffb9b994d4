"""The chat-completions wire shape shared by the OpenAI-compatible fakes (Together, Groq, Fireworks, Mistral).

``ChatWire`` says how one provider's replies differ; ``chat_reply`` builds a complete chat completion
(``n`` choices) or its SSE stream for ``"stream": true``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from tokentrace.testing._server import FakeRequest, Reply, sse_event

CREATED = 1767225600
TEXT = "Hello! How can I help?"


def _put_usage(chunk: dict[str, Any], usage: Any) -> None:
    chunk["usage"] = usage


@dataclass(frozen=True, slots=True)
class ChatWire:
    """How one provider's chat-completions replies look (defaults: OpenAI's shape)."""

    id: str
    model: str
    usage: Mapping[str, Any]
    error: Callable[[int], Reply]
    finish_reason: str = "stop"
    text: str = TEXT
    # Extra top-level fields of a complete response, of each of its choices, and of every chunk.
    response_fields: Mapping[str, Any] = field(default_factory=dict)
    choice_fields: Mapping[str, Any] = field(default_factory=dict)
    chunk_fields: Mapping[str, Any] = field(default_factory=dict)
    # Whether chunks before the last say ``"usage": null`` (Together, Fireworks) or nothing.
    null_usage_on_chunks: bool = True
    # Puts the usage onto the final chunk (Groq nests it under ``x_groq``).
    put_usage: Callable[[dict[str, Any], Any], None] = _put_usage


def _words(text: str) -> list[str]:
    words = text.split(" ")
    return [word if index == 0 else f" {word}" for index, word in enumerate(words)]


def chat_reply(wire: ChatWire, request: FakeRequest, script: Mapping[str, Any]) -> Reply:
    """A complete chat completion (``n`` choices), or its SSE stream for ``"stream": true``."""
    if "error" in script:
        return wire.error(int(script["error"]))
    body = request.json
    model = str(script.get("model") or body.get("model") or wire.model)
    text = str(script.get("text", wire.text))
    usage = script.get("usage", wire.usage)
    finish_reason = script.get("finish_reason", wire.finish_reason)
    if not body.get("stream"):
        choices = [
            {
                "index": index,
                "message": {"role": "assistant", "content": text},
                "finish_reason": finish_reason,
                **wire.choice_fields,
            }
            for index in range(int(body.get("n") or 1))
        ]
        payload: dict[str, Any] = {
            "id": wire.id,
            "object": "chat.completion",
            "created": CREATED,
            "model": model,
            "choices": choices,
            **wire.response_fields,
        }
        if usage is not None:
            payload["usage"] = usage
        return Reply.json(payload)
    common: dict[str, Any] = {
        "id": wire.id,
        "object": "chat.completion.chunk",
        "created": CREATED,
        "model": model,
        **wire.chunk_fields,
    }
    if wire.null_usage_on_chunks:
        common["usage"] = None
    deltas = [{"role": "assistant", "content": ""}] + [{"content": word} for word in _words(text)]
    parts = [
        sse_event({**common, "choices": [{"index": 0, "delta": delta, "finish_reason": None}]})
        for delta in deltas
    ]
    final = {**common, "choices": [{"index": 0, "delta": {"content": ""}, "finish_reason": finish_reason}]}
    if usage is not None:
        wire.put_usage(final, usage)
    parts += [sse_event(final), sse_event("[DONE]")]
    return Reply(
        chunks=parts,
        content_type="text/event-stream",
        cut_after=script.get("cut_after"),
        chunk_delay=float(script.get("chunk_delay", 0.0)),
    )
