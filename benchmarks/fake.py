"""An OpenAI endpoint that lives inside the process: canned bodies served by an httpx2 mock transport.

The real ``openai.OpenAI`` client does everything it does against the network (request building,
header handling, JSON and SSE parsing, pydantic models) except the socket I/O, so the benchmark
prices telemetry against the SDK's own CPU cost and nothing else. Bodies are built once at import:
the handler only picks one, so its cost is a constant shared by every implementation.
Wire formats follow shared/docs/providers.md section 1 (chat completions, ``include_usage`` streams).
"""

from __future__ import annotations

import json
from typing import Any

import httpx2
import openai

MODEL = "gpt-4o-mini"
RESPONSE_MODEL = "gpt-4o-mini-2024-07-18"
BASE_URL = "http://bench.local/v1"
STREAM_CHUNKS = 200
# The memory test mixes in short streams so that stream bookkeeping is covered without spending
# most of its time in 200-chunk SSE parsing.
SHORT_STREAM_CHUNKS = 5
SHORT_STREAM_MODEL = "gpt-4o-mini-short"

_USAGE: dict[str, Any] = {
    "prompt_tokens": 1217,
    "completion_tokens": 200,
    "total_tokens": 1417,
    "prompt_tokens_details": {"cached_tokens": 1152, "audio_tokens": 0},
    "completion_tokens_details": {
        "reasoning_tokens": 0,
        "audio_tokens": 0,
        "accepted_prediction_tokens": 0,
        "rejected_prediction_tokens": 0,
    },
}
_COMMON: dict[str, Any] = {
    "id": "chatcmpl-CbXq3ZyGvJ8hB0mQp2sT4uV6wX8yZ",
    "created": 1767225600,
    "model": RESPONSE_MODEL,
    "service_tier": "default",
    "system_fingerprint": "fp_560af6e559",
}

COMPLETION_BODY = json.dumps(
    {
        **_COMMON,
        "object": "chat.completion",
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": "Hello! How can I help you today?",
                    "refusal": None,
                    "annotations": [],
                },
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": _USAGE,
    }
).encode()


def _sse(payload: dict[str, Any]) -> bytes:
    return b"data: " + json.dumps(payload).encode() + b"\n\n"


def stream_body(chunks: int, include_usage: bool) -> bytes:
    """An SSE body of ``chunks`` content chunks (the last one carries finish_reason), then usage."""
    parts = []
    for index in range(chunks):
        delta: dict[str, Any] = {"content": f"tok{index} "}
        if index == 0:
            delta = {"role": "assistant", "content": "", "refusal": None}
        last = index == chunks - 1
        parts.append(
            _sse(
                {
                    **_COMMON,
                    "object": "chat.completion.chunk",
                    "choices": [
                        {
                            "index": 0,
                            "delta": {} if last else delta,
                            "logprobs": None,
                            "finish_reason": "stop" if last else None,
                        }
                    ],
                    "usage": None,
                }
            )
        )
    if include_usage:
        usage = {**_USAGE, "completion_tokens": chunks, "total_tokens": _USAGE["prompt_tokens"] + chunks}
        parts.append(_sse({**_COMMON, "object": "chat.completion.chunk", "choices": [], "usage": usage}))
    parts.append(b"data: [DONE]\n\n")
    return b"".join(parts)


_BODIES = {
    (False, False): stream_body(STREAM_CHUNKS, include_usage=False),
    (False, True): stream_body(STREAM_CHUNKS, include_usage=True),
    (True, False): stream_body(SHORT_STREAM_CHUNKS, include_usage=False),
    (True, True): stream_body(SHORT_STREAM_CHUNKS, include_usage=True),
}
_JSON_HEADERS = {"content-type": "application/json"}
_SSE_HEADERS = {"content-type": "text/event-stream"}


def handler(request: httpx2.Request) -> httpx2.Response:
    """Answer a chat completion request at once, as the real API would shape it."""
    body = request.content
    # Byte searches instead of json.loads: the SDK writes these keys itself, and a cheap handler
    # keeps the bare-SDK denominator close to what the SDK alone costs.
    if b'"stream": true' not in body and b'"stream":true' not in body:
        return httpx2.Response(200, headers=_JSON_HEADERS, content=COMPLETION_BODY)
    key = (SHORT_STREAM_MODEL.encode() in body, b"include_usage" in body)
    return httpx2.Response(200, headers=_SSE_HEADERS, content=_BODIES[key])


def sync_client() -> openai.OpenAI:
    """The real client, sending through the in-process transport."""
    http_client = openai.DefaultHttpxClient(transport=httpx2.MockTransport(handler))
    return openai.OpenAI(api_key="test", base_url=BASE_URL, max_retries=0, http_client=http_client)


def async_client() -> openai.AsyncOpenAI:
    """The real async client, sending through the in-process transport."""
    http_client = openai.DefaultAsyncHttpxClient(transport=httpx2.MockTransport(handler))
    return openai.AsyncOpenAI(api_key="test", base_url=BASE_URL, max_retries=0, http_client=http_client)


MESSAGES = [
    {"role": "system", "content": "You are a terse assistant."},
    {"role": "user", "content": "Say hello."},
]
# Every implementation is asked for the same thing. The stream sets include_usage itself, so all of
# them see the usage chunk (tokentrace would otherwise inject the option and hide that chunk).
CALL_KWARGS: dict[str, Any] = {"model": MODEL, "messages": MESSAGES, "max_tokens": 256, "temperature": 0.2}
STREAM_KWARGS: dict[str, Any] = {**CALL_KWARGS, "stream": True, "stream_options": {"include_usage": True}}
SHORT_STREAM_KWARGS: dict[str, Any] = {**STREAM_KWARGS, "model": SHORT_STREAM_MODEL}
