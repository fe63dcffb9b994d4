"""Fake Groq API: chat completions, JSON and SSE.

Point the client at ``FakeProvider.url`` (the SDK adds ``/openai/v1``): route ``groq.chat`` answers
``/openai/v1/chat/completions``. A stream's usage arrives on its final chunk under ``x_groq.usage``,
as Groq sends it. Script overrides (``fake.enqueue("groq.chat", {...})``): ``usage`` (the wire usage
object with Groq's timings, or ``None`` to send none), ``text``, ``model`` (response model; default
the requested one), ``finish_reason``, ``error`` (HTTP status: Groq's error body), ``cut_after``
(drop the stream after N events), ``chunk_delay`` (seconds between events).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tokentrace.testing._chat import ChatWire, chat_reply
from tokentrace.testing._server import FakeRequest, Reply, Route

REQUEST_ID = "req_01jbd6g2qdfw2adyrt2az8hz4w"

# The provider reference example, timings in seconds.
USAGE: dict[str, Any] = {
    "queue_time": 0.037493756,
    "prompt_tokens": 18,
    "prompt_time": 0.000680594,
    "completion_tokens": 9,
    "completion_time": 0.032727273,
    "total_tokens": 27,
    "total_time": 0.033407867,
}


def error_reply(status: int, message: str = "scripted failure") -> Reply:
    """Groq's error body."""
    kind = "invalid_request_error" if status < 500 else "internal_server_error"
    return Reply.json({"error": {"message": message, "type": kind}}, status=status)


def _put_x_groq_usage(chunk: dict[str, Any], usage: Any) -> None:
    chunk["x_groq"] = {"id": REQUEST_ID, "usage": usage}


WIRE = ChatWire(
    id="chatcmpl-f51b2cd2-bef7-417e-964e-a08f0b513c22",
    model="llama-3.3-70b-versatile",
    usage=USAGE,
    error=error_reply,
    response_fields={
        "usage_breakdown": None,
        "system_fingerprint": "fp_3f3b593e33",
        "x_groq": {"id": REQUEST_ID},
        "service_tier": "on_demand",
    },
    choice_fields={"logprobs": None},
    chunk_fields={"system_fingerprint": "fp_3f3b593e33", "x_groq": {"id": REQUEST_ID}},
    null_usage_on_chunks=False,
    put_usage=_put_x_groq_usage,
)


def chat_completions(request: FakeRequest, script: Mapping[str, Any]) -> Reply:
    """POST /openai/v1/chat/completions."""
    return chat_reply(WIRE, request, script)


ROUTES = (Route("groq.chat", "POST", r"/openai/v1/chat/completions", chat_completions),)
