"""Fake Together API: chat completions, JSON and SSE.

Point the client at ``FakeProvider.base_url("together")`` (``/together``): the SDK posts to
``/together/v1/chat/completions``. Route ``together.chat``. Script overrides
(``fake.enqueue("together.chat", {...})``): ``usage`` (the wire usage object, or ``None`` to send
none), ``text``, ``model`` (response model; default the requested one), ``finish_reason``
(default ``eos``), ``error`` (HTTP status: Together's error body), ``cut_after`` (drop the stream
after N events), ``chunk_delay`` (seconds between events).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tokentrace.testing._chat import ChatWire, chat_reply
from tokentrace.testing._server import FakeRequest, Reply, Route


def error_reply(status: int, message: str = "scripted failure") -> Reply:
    """Together's error body."""
    kind = "invalid_request_error" if status < 500 else "server_error"
    return Reply.json(
        {"error": {"message": message, "type": kind, "param": None, "code": None}}, status=status
    )


# The provider reference example: 49 prompt tokens, Together's own ``cached_tokens`` field.
USAGE: dict[str, Any] = {"prompt_tokens": 49, "completion_tokens": 9, "total_tokens": 58, "cached_tokens": 0}

WIRE = ChatWire(
    id="oBUtaEp-62bZhn-9801a2718d0ed123",
    model="meta-llama/Llama-3.3-70B-Instruct-Turbo",
    usage=USAGE,
    error=error_reply,
    finish_reason="eos",
    response_fields={"prompt": []},
    choice_fields={"seed": 2387155844510162400, "logprobs": None},
    chunk_fields={"system_fingerprint": None},
)


def chat_completions(request: FakeRequest, script: Mapping[str, Any]) -> Reply:
    """POST /together/v1/chat/completions."""
    return chat_reply(WIRE, request, script)


ROUTES = (Route("together.chat", "POST", r"/together/v1/chat/completions", chat_completions),)
