"""Fake Mistral API: chat completions (JSON and SSE) and embeddings.

Point the client at ``FakeProvider.base_url("mistralai")`` (``/mistral``): the SDK posts to
``/mistral/v1/chat/completions`` (route ``mistralai.chat``; ``chat.stream`` too, with
``"stream": true``) and ``/mistral/v1/embeddings`` (route ``mistralai.embeddings``). Script overrides
(``fake.enqueue(route, {...})``): ``usage`` (the wire usage object; cached tokens go in
``prompt_tokens_details.cached_tokens``), ``text``, ``model`` (response model; default the requested
one), ``finish_reason``, ``error`` (HTTP status: Mistral's error body), ``cut_after`` (drop the
stream after N events), ``chunk_delay`` (seconds between events).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tokentrace.testing._chat import ChatWire, chat_reply
from tokentrace.testing._server import FakeRequest, Reply, Route

# The provider reference example (Mistral reports cached tokens outside the SDK's declared fields).
USAGE: dict[str, Any] = {
    "prompt_tokens": 10,
    "completion_tokens": 9,
    "total_tokens": 19,
    "prompt_tokens_details": {"cached_tokens": 0},
}
EMBEDDINGS_USAGE: dict[str, Any] = {"prompt_tokens": 15, "total_tokens": 15, "completion_tokens": 0}


def error_reply(status: int, message: str = "scripted failure") -> Reply:
    """Mistral's error body."""
    kind = "invalid_request_error" if status < 500 else "internal_server_error"
    return Reply.json(
        {"object": "error", "message": message, "type": kind, "param": None, "code": None}, status=status
    )


WIRE = ChatWire(
    id="cf79f7daaee244b1a0ae5c7b1444424a",
    model="mistral-small-latest",
    usage=USAGE,
    error=error_reply,
    null_usage_on_chunks=False,
)


def chat_completions(request: FakeRequest, script: Mapping[str, Any]) -> Reply:
    """POST /mistral/v1/chat/completions."""
    return chat_reply(WIRE, request, script)


def embeddings(request: FakeRequest, script: Mapping[str, Any]) -> Reply:
    """POST /mistral/v1/embeddings."""
    if "error" in script:
        return error_reply(int(script["error"]))
    body = request.json
    inputs = body.get("inputs")
    count = len(inputs) if isinstance(inputs, list) else 1
    data = [
        {"object": "embedding", "index": i, "embedding": [-0.0165, 0.0710, 0.0311, -0.0042]}
        for i in range(count)
    ]
    return Reply.json(
        {
            "id": "embd-aad6fc62b17349b192ef09225058bc45",
            "object": "list",
            "model": script.get("model") or body.get("model") or "mistral-embed",
            "data": data,
            "usage": script.get("usage", EMBEDDINGS_USAGE),
        }
    )


ROUTES = (
    Route("mistralai.chat", "POST", r"/mistral/v1/chat/completions", chat_completions),
    Route("mistralai.embeddings", "POST", r"/mistral/v1/embeddings", embeddings),
)
