"""Fake OpenAI API: chat completions, Responses, embeddings and legacy completions, JSON and SSE.

Point the client at ``FakeProvider.url + "/v1"``. Script overrides (``fake.enqueue(route, {...})``):
``usage`` (the wire usage object, or ``None`` for none), ``text``, ``model`` (response model),
``finish_reason``, ``status`` (Responses: ``completed``/``incomplete``/``failed``), ``error``
(HTTP status: the provider's error body), ``cut_after`` (drop the stream after N events),
``chunk_delay`` (seconds between events).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tokentrace.testing._server import FakeRequest, Reply, Route, sse_event

CREATED = 1767225600
CHAT_ID = "chatcmpl-CbXq3ZyGvJ8hB0mQp2sT4uV6wX8yZ"
RESPONSE_ID = "resp_0a1b2c3d4e5f"
FINGERPRINT = "fp_560af6e559"
TEXT = "Hello! How can I help you today?"

# Usage of the provider reference example: 1217 prompt tokens of which 1152 cached.
CHAT_USAGE: dict[str, Any] = {
    "prompt_tokens": 1217,
    "completion_tokens": 9,
    "total_tokens": 1226,
    "prompt_tokens_details": {"cached_tokens": 1152, "audio_tokens": 0},
    "completion_tokens_details": {
        "reasoning_tokens": 0,
        "audio_tokens": 0,
        "accepted_prediction_tokens": 0,
        "rejected_prediction_tokens": 0,
    },
}
# An o-series Responses call: 128 of the 151 output tokens are reasoning.
RESPONSES_USAGE: dict[str, Any] = {
    "input_tokens": 14,
    "input_tokens_details": {"cached_tokens": 0},
    "output_tokens": 151,
    "output_tokens_details": {"reasoning_tokens": 128},
    "total_tokens": 165,
}
EMBEDDINGS_USAGE: dict[str, Any] = {"prompt_tokens": 8, "total_tokens": 8}


def error_reply(status: int, message: str = "scripted failure") -> Reply:
    """OpenAI's error body."""
    kind = {400: "invalid_request_error", 401: "authentication_error", 429: "rate_limit_exceeded"}
    return Reply.json(
        {
            "error": {
                "message": message,
                "type": kind.get(status, "server_error"),
                "param": None,
                "code": None,
            }
        },
        status=status,
    )


def _response_model(request: FakeRequest, script: Mapping[str, Any]) -> str:
    model = script.get("model")
    if isinstance(model, str):
        return model
    requested = request.json.get("model") or "gpt-4o-mini"
    return f"{requested}-2024-07-18"


def _words(text: str) -> list[str]:
    words = text.split(" ")
    return [word if index == 0 else f" {word}" for index, word in enumerate(words)]


def _streamed(parts: list[bytes], script: Mapping[str, Any]) -> Reply:
    return Reply(
        chunks=parts,
        content_type="text/event-stream",
        cut_after=script.get("cut_after"),
        chunk_delay=float(script.get("chunk_delay", 0.0)),
    )


def chat_completions(request: FakeRequest, script: Mapping[str, Any]) -> Reply:
    """POST /v1/chat/completions."""
    if "error" in script:
        return error_reply(int(script["error"]))
    body = request.json
    model = _response_model(request, script)
    text = str(script.get("text", TEXT))
    usage = script.get("usage", CHAT_USAGE)
    finish_reason = script.get("finish_reason", "stop")
    choices_n = int(body.get("n") or 1)
    common = {
        "id": CHAT_ID,
        "created": CREATED,
        "model": model,
        "service_tier": "default",
        "system_fingerprint": FINGERPRINT,
    }
    if not body.get("stream"):
        message: dict[str, Any] = {"role": "assistant", "content": text, "refusal": None, "annotations": []}
        choices = [
            {"index": i, "message": message, "logprobs": None, "finish_reason": finish_reason}
            for i in range(choices_n)
        ]
        return Reply.json({**common, "object": "chat.completion", "choices": choices, "usage": usage})
    chunk = {**common, "object": "chat.completion.chunk", "usage": None}
    parts = [
        sse_event(
            {
                **chunk,
                "choices": [
                    {
                        "index": 0,
                        "delta": {"role": "assistant", "content": "", "refusal": None},
                        "logprobs": None,
                        "finish_reason": None,
                    }
                ],
            }
        )
    ]
    parts += [
        sse_event(
            {
                **chunk,
                "choices": [
                    {"index": 0, "delta": {"content": word}, "logprobs": None, "finish_reason": None}
                ],
            }
        )
        for word in _words(text)
    ]
    parts.append(
        sse_event(
            {
                **chunk,
                "choices": [{"index": 0, "delta": {}, "logprobs": None, "finish_reason": finish_reason}],
            }
        )
    )
    if (body.get("stream_options") or {}).get("include_usage") and usage is not None:
        parts.append(sse_event({**chunk, "choices": [], "usage": usage}))
    parts.append(sse_event("[DONE]"))
    return _streamed(parts, script)


def completions(request: FakeRequest, script: Mapping[str, Any]) -> Reply:
    """POST /v1/completions (legacy)."""
    if "error" in script:
        return error_reply(int(script["error"]))
    body = request.json
    model = script.get("model", body.get("model") or "gpt-3.5-turbo-instruct")
    text = str(script.get("text", TEXT))
    usage = script.get("usage", {"prompt_tokens": 5, "completion_tokens": 9, "total_tokens": 14})
    common = {
        "id": "cmpl-9a8b7c",
        "object": "text_completion",
        "created": CREATED,
        "model": model,
        "system_fingerprint": FINGERPRINT,
    }
    if not body.get("stream"):
        choice = {"index": 0, "text": text, "logprobs": None, "finish_reason": "stop"}
        return Reply.json({**common, "choices": [choice], "usage": usage})
    parts = [
        sse_event(
            {
                **common,
                "choices": [{"index": 0, "text": word, "logprobs": None, "finish_reason": None}],
                "usage": None,
            }
        )
        for word in _words(text)
    ]
    parts.append(
        sse_event(
            {
                **common,
                "choices": [{"index": 0, "text": "", "logprobs": None, "finish_reason": "stop"}],
                "usage": None,
            }
        )
    )
    if (body.get("stream_options") or {}).get("include_usage") and usage is not None:
        parts.append(sse_event({**common, "choices": [], "usage": usage}))
    parts.append(sse_event("[DONE]"))
    return _streamed(parts, script)


def _response_object(model: str, status: str, text: str, usage: Any, *, final: bool) -> dict[str, Any]:
    output: list[dict[str, Any]] = []
    if final:
        output = [
            {"id": "rs_0a1b2c", "type": "reasoning", "summary": []},
            {
                "id": "msg_0a1b2c",
                "type": "message",
                "status": "completed",
                "role": "assistant",
                "content": [{"type": "output_text", "annotations": [], "logprobs": [], "text": text}],
            },
        ]
    response: dict[str, Any] = {
        "id": RESPONSE_ID,
        "object": "response",
        "created_at": CREATED,
        "status": status,
        "model": model,
        "output": output,
        "service_tier": "default",
        "text": {"format": {"type": "text"}},
        "tool_choice": "auto",
        "tools": [],
        "parallel_tool_calls": True,
        "error": None,
        "incomplete_details": {"reason": "max_output_tokens"} if status == "incomplete" and final else None,
        "usage": usage if final else None,
    }
    return response


def responses(request: FakeRequest, script: Mapping[str, Any]) -> Reply:
    """POST /v1/responses."""
    if "error" in script:
        return error_reply(int(script["error"]))
    body = request.json
    model = str(script.get("model", f"{body.get('model') or 'o4-mini'}-2025-04-16"))
    text = str(script.get("text", "Paris."))
    usage = script.get("usage", RESPONSES_USAGE)
    status = str(script.get("status", "completed"))
    if not body.get("stream"):
        return Reply.json(_response_object(model, status, text, usage, final=True))
    started = _response_object(model, "in_progress", text, None, final=False)
    item = {
        "id": "msg_0a1b2c",
        "type": "message",
        "status": "in_progress",
        "role": "assistant",
        "content": [],
    }
    part = {"type": "output_text", "annotations": [], "logprobs": [], "text": ""}
    done_part = {**part, "text": text}
    done_item = {**item, "status": "completed", "content": [done_part]}
    ids = {"item_id": "msg_0a1b2c", "output_index": 0, "content_index": 0}
    events: list[tuple[str, dict[str, Any]]] = [
        ("response.created", {"response": started}),
        ("response.in_progress", {"response": started}),
        ("response.output_item.added", {"output_index": 0, "item": item}),
        ("response.content_part.added", {**ids, "part": part}),
        ("response.output_text.delta", {**ids, "delta": text, "logprobs": []}),
        ("response.output_text.done", {**ids, "text": text, "logprobs": []}),
        ("response.content_part.done", {**ids, "part": done_part}),
        ("response.output_item.done", {"output_index": 0, "item": done_item}),
        (f"response.{status}", {"response": _response_object(model, status, text, usage, final=True)}),
    ]
    parts = [
        sse_event({"type": kind, "sequence_number": number, **payload}, event=kind)
        for number, (kind, payload) in enumerate(events)
    ]
    return _streamed(parts, script)


def embeddings(request: FakeRequest, script: Mapping[str, Any]) -> Reply:
    """POST /v1/embeddings."""
    if "error" in script:
        return error_reply(int(script["error"]))
    body = request.json
    inputs = body.get("input")
    count = len(inputs) if isinstance(inputs, list) and inputs and not isinstance(inputs[0], int) else 1
    data = [
        {"object": "embedding", "index": i, "embedding": [0.0023, -0.0091, 0.0152, 0.0007]}
        for i in range(count)
    ]
    model = script.get("model", body.get("model") or "text-embedding-3-small")
    return Reply.json(
        {"object": "list", "data": data, "model": model, "usage": script.get("usage", EMBEDDINGS_USAGE)}
    )


ROUTES = (
    Route("openai.chat", "POST", r"/v1/chat/completions", chat_completions),
    Route("openai.azure_chat", "POST", r"/openai/deployments/[^/]+/chat/completions", chat_completions),
    Route("openai.responses", "POST", r"/v1/responses", responses),
    Route("openai.embeddings", "POST", r"/v1/embeddings", embeddings),
    Route("openai.completions", "POST", r"/v1/completions", completions),
)
