"""Fake Anthropic API: messages (JSON and ``event:`` SSE), token counting, and Claude on Vertex AI.

Clients: ``Anthropic(base_url=fake.base_url("anthropic"), api_key="test", max_retries=0)`` (the SDK
adds ``/v1``); ``AnthropicVertex(base_url=fake.url + "/v1", region="us-east5", project_id="p",
access_token="test", max_retries=0)``. Claude on Bedrock speaks the same JSON at
``/model/{model}/invoke``; that path belongs to the Bedrock fake, so tests build their own route
from :func:`messages` for it.

Routes: ``anthropic.messages`` (``POST /v1/messages``, also the beta API's ``?beta=true``),
``anthropic.count_tokens`` (``POST /v1/messages/count_tokens``), ``anthropic.vertex``
(``POST /v1/projects/{p}/locations/{r}/publishers/anthropic/models/{m}:rawPredict`` and
``:streamRawPredict``) and ``anthropic.vertex.count_tokens`` (``.../models/count-tokens:rawPredict``).

Script overrides (``fake.enqueue(route, {...})``):

- ``usage``: the final usage object, as a ``Message`` carries it (``None``: no usage at all);
- ``start_usage`` / ``delta_usage``: the usage of ``message_start`` / ``message_delta`` in a stream
  (default: ``usage`` with the placeholder ``output_tokens: 1`` / ``usage``'s cumulative counts);
- ``text``, ``thinking`` (adds a thinking block), ``model`` (response model), ``stop_reason``;
- ``error``: an HTTP status, answered with Anthropic's error body (``error_type`` overrides its type);
- ``stream_error``: in a stream, an ``event: error`` (``overloaded_error``) after that many events;
- ``cut_after`` (drop the stream after N events), ``chunk_delay`` (seconds between events);
- ``input_tokens``: the count ``count_tokens`` answers.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tokentrace.testing._server import FakeRequest, Reply, Route, sse_event

MESSAGE_ID = "msg_01XFDUDYJgAACzvnptvVoYEL"
REQUEST_ID = "req_011CSHoEeqs5C35K2UUqR7Fy"
TEXT = "Hello! How can I help?"
COUNT_TOKENS = 2095

# The provider reference example: 21 uncached input tokens, 1024 read from the cache, 188 written
# to the 5-minute cache, 12 output tokens.
USAGE: dict[str, Any] = {
    "input_tokens": 21,
    "cache_creation_input_tokens": 188,
    "cache_read_input_tokens": 1024,
    "cache_creation": {"ephemeral_5m_input_tokens": 188, "ephemeral_1h_input_tokens": 0},
    "output_tokens": 12,
    "service_tier": "standard",
    "server_tool_use": None,
}

# message_delta carries the cumulative counts only (no cache breakdown, no service tier).
_DELTA_FIELDS = (
    "input_tokens",
    "cache_creation_input_tokens",
    "cache_read_input_tokens",
    "output_tokens",
    "output_tokens_details",
    "server_tool_use",
    "iterations",
)
_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    529: "overloaded_error",
}
_HEADERS = {"request-id": REQUEST_ID}


def error_body(error_type: str, message: str = "scripted failure") -> dict[str, Any]:
    """Anthropic's error envelope."""
    return {"type": "error", "error": {"type": error_type, "message": message}, "request_id": REQUEST_ID}


def error_reply(status: int, error_type: str | None = None) -> Reply:
    """An HTTP error with Anthropic's body."""
    kind = error_type or _ERROR_TYPES.get(status, "api_error")
    return Reply.json(error_body(kind), status=status, headers=_HEADERS)


def response_model(requested: Any, script: Mapping[str, Any]) -> str:
    """The scripted model, else the requested alias with a snapshot date, as the API answers."""
    model = script.get("model")
    if isinstance(model, str):
        return model
    name = requested if isinstance(requested, str) and requested else "claude-haiku-4-5"
    return name if name[-8:].isdigit() else f"{name}-20251001"


def _words(text: str) -> list[str]:
    words = text.split(" ")
    return [word if index == 0 else f" {word}" for index, word in enumerate(words)]


def message_body(
    model: str, text: str, usage: Any, stop_reason: str | None, thinking: str | None = None
) -> dict[str, Any]:
    """A complete ``Message``."""
    content: list[dict[str, Any]] = []
    if thinking is not None:
        content.append({"type": "thinking", "thinking": thinking, "signature": "c2lnbmF0dXJl"})
    content.append({"type": "text", "text": text, "citations": None})
    body: dict[str, Any] = {
        "id": MESSAGE_ID,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": stop_reason,
        "stop_sequence": None,
    }
    if usage is not None:
        body["usage"] = usage
    return body


def stream_events(
    model: str,
    text: str,
    start_usage: Any,
    delta_usage: Any,
    stop_reason: str | None,
    thinking: str | None = None,
) -> list[tuple[str, dict[str, Any]]]:
    """The events of a streamed ``Message``, as ``(event name, data)``."""
    start = message_body(model, "", start_usage, None)
    start["content"] = []
    events: list[tuple[str, dict[str, Any]]] = [
        ("message_start", {"type": "message_start", "message": start})
    ]
    index = 0
    if thinking is not None:
        events += [
            (
                "content_block_start",
                {
                    "type": "content_block_start",
                    "index": index,
                    "content_block": {"type": "thinking", "thinking": "", "signature": ""},
                },
            ),
            (
                "content_block_delta",
                {
                    "type": "content_block_delta",
                    "index": index,
                    "delta": {"type": "thinking_delta", "thinking": thinking},
                },
            ),
            (
                "content_block_delta",
                {
                    "type": "content_block_delta",
                    "index": index,
                    "delta": {"type": "signature_delta", "signature": "c2lnbmF0dXJl"},
                },
            ),
            ("content_block_stop", {"type": "content_block_stop", "index": index}),
        ]
        index += 1
    events.append(
        (
            "content_block_start",
            {"type": "content_block_start", "index": index, "content_block": {"type": "text", "text": ""}},
        )
    )
    events.append(("ping", {"type": "ping"}))
    events += [
        (
            "content_block_delta",
            {"type": "content_block_delta", "index": index, "delta": {"type": "text_delta", "text": word}},
        )
        for word in _words(text)
    ]
    events.append(("content_block_stop", {"type": "content_block_stop", "index": index}))
    delta: dict[str, Any] = {
        "type": "message_delta",
        "delta": {"stop_reason": stop_reason, "stop_sequence": None},
    }
    if delta_usage is not None:
        delta["usage"] = delta_usage
    events.append(("message_delta", delta))
    events.append(("message_stop", {"type": "message_stop"}))
    return events


def _stream_usages(script: Mapping[str, Any], usage: Any) -> tuple[Any, Any]:
    start = script.get("start_usage", _start_usage(usage))
    delta = script.get("delta_usage", _delta_usage(usage))
    return start, delta


def _start_usage(usage: Any) -> Any:
    if not isinstance(usage, Mapping):
        return usage
    start = {key: value for key, value in usage.items() if key not in ("output_tokens_details", "iterations")}
    start["output_tokens"] = 1
    return start


def _delta_usage(usage: Any) -> Any:
    if not isinstance(usage, Mapping):
        return usage
    return {key: usage[key] for key in _DELTA_FIELDS if key in usage}


def messages(request: FakeRequest, script: Mapping[str, Any]) -> Reply:
    """POST /v1/messages (and Vertex's rawPredict/streamRawPredict, Bedrock's invoke)."""
    if "error" in script:
        return error_reply(int(script["error"]), script.get("error_type"))
    body = request.json
    model = response_model(body.get("model") or request.match.get("model"), script)
    text = str(script.get("text", TEXT))
    thinking = script.get("thinking")
    usage = script.get("usage", USAGE)
    stop_reason = script.get("stop_reason", "end_turn")
    streamed = body.get("stream") is True or request.match.get("specifier") == "streamRawPredict"
    if not streamed:
        return Reply.json(message_body(model, text, usage, stop_reason, thinking), headers=_HEADERS)
    start_usage, delta_usage = _stream_usages(script, usage)
    events = stream_events(model, text, start_usage, delta_usage, stop_reason, thinking)
    parts = [sse_event(data, event=name) for name, data in events]
    failing_at = script.get("stream_error")
    if failing_at is not None:
        failure = error_body("overloaded_error", "Overloaded")
        parts = [*parts[: int(failing_at)], sse_event(failure, event="error")]
    return Reply(
        chunks=parts,
        content_type="text/event-stream",
        headers=_HEADERS,
        cut_after=script.get("cut_after"),
        chunk_delay=float(script.get("chunk_delay", 0.0)),
    )


def count_tokens(request: FakeRequest, script: Mapping[str, Any]) -> Reply:
    """POST /v1/messages/count_tokens."""
    if "error" in script:
        return error_reply(int(script["error"]), script.get("error_type"))
    return Reply.json({"input_tokens": script.get("input_tokens", COUNT_TOKENS)}, headers=_HEADERS)


_VERTEX = r"/v1/projects/(?P<project>[^/]+)/locations/(?P<region>[^/]+)/publishers/anthropic/models/"

ROUTES = (
    Route("anthropic.messages", "POST", r"/v1/messages", messages),
    Route("anthropic.count_tokens", "POST", r"/v1/messages/count_tokens", count_tokens),
    Route("anthropic.vertex.count_tokens", "POST", _VERTEX + r"count-tokens:rawPredict", count_tokens),
    Route(
        "anthropic.vertex",
        "POST",
        _VERTEX + r"(?P<model>[^/:]+):(?P<specifier>rawPredict|streamRawPredict)",
        messages,
    ),
)
