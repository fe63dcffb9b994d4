"""Fake Fireworks API: chat completions, JSON and SSE.

Point the client at ``FakeProvider.base_url("fireworks")`` (``/fireworks``): the SDK posts to
``/fireworks/v1/chat/completions``. Route ``fireworks.chat``. Script overrides
(``fake.enqueue("fireworks.chat", {...})``): ``usage`` (the wire usage object, or ``None`` to send
none; ``completion_tokens`` may be left out, as Fireworks may), ``text``, ``model`` (response
model; default the requested one), ``finish_reason``, ``error`` (HTTP status: Fireworks' error
body), ``cut_after`` (drop the stream after N events), ``chunk_delay`` (seconds between events).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tokentrace.testing._chat import ChatWire, chat_reply
from tokentrace.testing._server import FakeRequest, Reply, Route

# The provider reference example.
USAGE: dict[str, Any] = {
    "prompt_tokens": 19,
    "total_tokens": 28,
    "completion_tokens": 9,
    "prompt_tokens_details": {"cached_tokens": 0},
}


def error_reply(status: int, message: str = "scripted failure") -> Reply:
    """Fireworks' error body."""
    kind = "invalid_request_error" if status < 500 else "internal_server_error"
    return Reply.json(
        {"error": {"object": "error", "type": kind, "code": kind, "message": message}}, status=status
    )


WIRE = ChatWire(
    id="f3c5b1e2-8a4d-4f6b-9c7e-2d1a0b9c8e7f",
    model="accounts/fireworks/models/llama-v3p3-70b-instruct",
    usage=USAGE,
    error=error_reply,
)


def chat_completions(request: FakeRequest, script: Mapping[str, Any]) -> Reply:
    """POST /fireworks/v1/chat/completions."""
    return chat_reply(WIRE, request, script)


ROUTES = (Route("fireworks.chat", "POST", r"/fireworks/v1/chat/completions", chat_completions),)
