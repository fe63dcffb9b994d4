"""Fake AWS Bedrock Runtime: Converse, ConverseStream, InvokeModel (+ response stream), CountTokens.

Point a boto3 client at it: ``boto3.client("bedrock-runtime", region_name="us-east-1",
endpoint_url=fake.url, aws_access_key_id="test", aws_secret_access_key="test")``. JSON bodies for the
plain operations, the AWS binary event-stream (``application/vnd.amazon.eventstream``, encoded here
with the standard library) for the streamed ones.

Routes (the model id is the percent-decoded path segment; ARNs with ``/`` work too):

- ``bedrock.converse``: POST ``/model/{id}/converse``. Script: ``usage`` (the wire ``TokenUsage``,
  ``None`` for none), ``text``, ``stop_reason``, ``request_id``, ``error`` (HTTP status, the AWS
  error shape), ``error_code`` (e.g. ``"ThrottlingException"``).
- ``bedrock.converse_stream``: POST ``/model/{id}/converse-stream``. Script: as ``converse``, plus
  ``stream_error`` (an exception event such as ``"throttlingException"`` sent before the
  ``metadata`` event), ``cut_after`` (drop the connection after N events), ``chunk_delay``.
- ``bedrock.invoke``: POST ``/model/{id}/invoke``. The body follows the model family of the id
  (Anthropic Claude Messages or legacy text completion, Amazon Titan text and embeddings, Amazon
  Nova, Meta Llama, Mistral, Cohere Command R), and so do the ``X-Amzn-Bedrock-*-Token-Count``
  headers (Claude v2: 19 and 371, the seed page's ChatBedrock example; Cohere: none). Script:
  ``body`` (the whole model response: JSON-able, or raw bytes), ``token_headers`` (the count
  headers to send instead, ``None`` for none), ``error``, ``error_code``.
- ``bedrock.invoke_stream``: POST ``/model/{id}/invoke-with-response-stream``: ``chunk`` events whose
  bytes are the model's own stream events (Claude by default). Script: ``events`` (the model JSON
  objects, replacing the default), ``metrics`` (the ``amazon-bedrock-invocationMetrics`` put on the
  last event, ``None`` for none), ``stream_error``, ``cut_after``, ``chunk_delay``, ``error``.
- ``bedrock.count_tokens``: POST ``/model/{id}/count-tokens``. Script: ``input_tokens``, ``error``.
"""

from __future__ import annotations

import base64
import binascii
import json
import struct
from collections.abc import Mapping, Sequence
from typing import Any

from tokentrace.testing._server import FakeRequest, Reply, Route

EVENT_STREAM_CONTENT_TYPE = "application/vnd.amazon.eventstream"
REQUEST_ID = "3c1f0a4e-7b2d-4e8f-9a61-5d0c2b7e9f13"
TEXT = "Hello! How can I help?"

# The provider reference example: 21 fresh input tokens, 1024 read from and 188 written to the cache.
CONVERSE_USAGE: dict[str, Any] = {
    "inputTokens": 21,
    "outputTokens": 12,
    "totalTokens": 1245,
    "cacheReadInputTokens": 1024,
    "cacheWriteInputTokens": 188,
}
# InvokeModel count headers exclude cache tokens, as Converse's inputTokens does.
TOKEN_HEADERS: dict[str, str] = {
    "X-Amzn-Bedrock-Input-Token-Count": "21",
    "X-Amzn-Bedrock-Output-Token-Count": "12",
    "X-Amzn-Bedrock-Cache-Read-Input-Token-Count": "1024",
    "X-Amzn-Bedrock-Cache-Write-Input-Token-Count": "188",
}
INVOCATION_METRICS: dict[str, Any] = {
    "inputTokenCount": 21,
    "outputTokenCount": 12,
    "invocationLatency": 812,
    "firstByteLatency": 356,
    "cacheReadInputTokenCount": 1024,
    "cacheWriteInputTokenCount": 188,
}
CLAUDE_MESSAGE_ID = "msg_bdrk_01XFDUDYJgAACzvnptvVoYEL"
CLAUDE_MODEL = "claude-3-5-sonnet-20241022"

# HTTP status of each Bedrock Runtime error code (service-2.json).
_ERROR_CODES = {
    400: "ValidationException",
    403: "AccessDeniedException",
    404: "ResourceNotFoundException",
    408: "ModelTimeoutException",
    424: "ModelErrorException",
    429: "ThrottlingException",
    500: "InternalServerException",
    503: "ServiceUnavailableException",
}


# --- the AWS binary event-stream -------------------------------------------------------------------
# A message is: total length (u32), headers length (u32), CRC32 of those 8 bytes (u32), the headers,
# the payload, then CRC32 of everything before it. Every header here is a string (type 7): name
# length (u8), name, 7, value length (u16), value. All integers are big-endian.

_STRING_HEADER = 7


def _encode_headers(headers: Sequence[tuple[str, str]]) -> bytes:
    encoded = bytearray()
    for name, value in headers:
        raw_name, raw_value = name.encode("utf-8"), value.encode("utf-8")
        encoded += struct.pack("!B", len(raw_name)) + raw_name
        encoded += struct.pack("!BH", _STRING_HEADER, len(raw_value)) + raw_value
    return bytes(encoded)


def event_stream_message(headers: Sequence[tuple[str, str]], payload: bytes) -> bytes:
    """One AWS event-stream message with string headers and CRC32 checksums."""
    header_bytes = _encode_headers(headers)
    total_length = 4 + 4 + 4 + len(header_bytes) + len(payload) + 4
    prelude = struct.pack("!II", total_length, len(header_bytes))
    message = prelude + struct.pack("!I", binascii.crc32(prelude)) + header_bytes + payload
    return message + struct.pack("!I", binascii.crc32(message))


def aws_event(event_type: str, payload: Mapping[str, Any]) -> bytes:
    """An ``event`` message whose payload is the member's JSON (``messageStart``, ``chunk``...)."""
    headers = (
        (":event-type", event_type),
        (":content-type", "application/json"),
        (":message-type", "event"),
    )
    return event_stream_message(headers, json.dumps(payload).encode())


def aws_exception(exception_type: str, message: str = "scripted stream failure") -> bytes:
    """An ``exception`` message (``throttlingException``...): botocore raises ``EventStreamError``."""
    headers = (
        (":exception-type", exception_type),
        (":content-type", "application/json"),
        (":message-type", "exception"),
    )
    return event_stream_message(headers, json.dumps({"message": message}).encode())


def chunk_event(model_event: Mapping[str, Any]) -> bytes:
    """An InvokeModelWithResponseStream ``chunk``: the model's own JSON, base64 in ``bytes``."""
    raw = json.dumps(model_event).encode()
    return aws_event("chunk", {"bytes": base64.b64encode(raw).decode("ascii")})


# --- helpers ---------------------------------------------------------------------------------------


def error_reply(status: int, code: str | None = None, message: str = "scripted failure") -> Reply:
    """Bedrock's REST-JSON error: the code in ``x-amzn-ErrorType``, the message in the body."""
    code = code or _ERROR_CODES.get(status, "InternalServerException")
    return Reply.json(
        {"message": message},
        status=status,
        headers={"x-amzn-ErrorType": f"{code}:http://internal.amazon.com/coral/com.amazon.bedrock/"},
    )


def _request_id(script: Mapping[str, Any]) -> dict[str, str]:
    return {"x-amzn-RequestId": str(script.get("request_id", REQUEST_ID))}


def _error_of(script: Mapping[str, Any]) -> Reply | None:
    if "error" not in script:
        return None
    code = script.get("error_code")
    return error_reply(int(script["error"]), str(code) if code else None)


def _streamed(parts: list[bytes], script: Mapping[str, Any]) -> Reply:
    return Reply(
        chunks=parts,
        content_type=EVENT_STREAM_CONTENT_TYPE,
        headers=_request_id(script),
        cut_after=script.get("cut_after"),
        chunk_delay=float(script.get("chunk_delay", 0.0)),
    )


# --- Converse --------------------------------------------------------------------------------------


def converse(request: FakeRequest, script: Mapping[str, Any]) -> Reply:
    """POST /model/{id}/converse."""
    error = _error_of(script)
    if error is not None:
        return error
    text = str(script.get("text", TEXT))
    body: dict[str, Any] = {
        "output": {"message": {"role": "assistant", "content": [{"text": text}]}},
        "stopReason": script.get("stop_reason", "end_turn"),
        "metrics": {"latencyMs": 742},
    }
    usage = script.get("usage", CONVERSE_USAGE)
    if usage is not None:
        body["usage"] = usage
    return Reply.json(body, headers=_request_id(script))


def converse_stream(request: FakeRequest, script: Mapping[str, Any]) -> Reply:
    """POST /model/{id}/converse-stream."""
    error = _error_of(script)
    if error is not None:
        return error
    text = str(script.get("text", TEXT))
    parts = [
        aws_event("messageStart", {"role": "assistant"}),
        *(
            aws_event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": word}})
            for word in _words(text)
        ),
        aws_event("contentBlockStop", {"contentBlockIndex": 0}),
        aws_event("messageStop", {"stopReason": script.get("stop_reason", "end_turn")}),
    ]
    if script.get("stream_error"):
        parts.append(aws_exception(str(script["stream_error"])))
    metadata: dict[str, Any] = {"metrics": {"latencyMs": 742}}
    usage = script.get("usage", CONVERSE_USAGE)
    if usage is not None:
        metadata["usage"] = usage
    parts.append(aws_event("metadata", metadata))
    return _streamed(parts, script)


def _words(text: str) -> list[str]:
    words = text.split(" ")
    return [word if index == 0 else f" {word}" for index, word in enumerate(words)]


# --- InvokeModel -----------------------------------------------------------------------------------


# Claude v2 as LangChain's ChatBedrock reports it (seed page): 19 input and 371 output tokens.
LEGACY_CLAUDE_HEADERS: dict[str, str] = {
    "X-Amzn-Bedrock-Input-Token-Count": "19",
    "X-Amzn-Bedrock-Output-Token-Count": "371",
}
# Families without prompt caching send the two main counts only.
_PLAIN_HEADERS = {key: TOKEN_HEADERS[key] for key in list(TOKEN_HEADERS)[:2]}


def _invoke_body(model_id: str, request_body: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """The model family's own response body for ``model_id``, and the count headers Bedrock adds."""
    if "anthropic." in model_id:
        if "messages" not in request_body and "prompt" in request_body:
            # Claude v2 text completions: no counts in the body, only in the headers.
            legacy = {"completion": " " + TEXT, "stop_reason": "stop_sequence", "stop": "\n\nHuman:"}
            return legacy, LEGACY_CLAUDE_HEADERS
        message = {
            "id": CLAUDE_MESSAGE_ID,
            "type": "message",
            "role": "assistant",
            "model": CLAUDE_MODEL,
            "content": [{"type": "text", "text": TEXT}],
            "stop_reason": "end_turn",
            "stop_sequence": None,
            "usage": {
                "input_tokens": 21,
                "cache_creation_input_tokens": 188,
                "cache_read_input_tokens": 1024,
                "output_tokens": 12,
            },
        }
        return message, TOKEN_HEADERS
    if "amazon.titan-embed" in model_id:
        embedding = {"embedding": [0.0123, -0.0456, 0.0789], "inputTextTokenCount": 8}
        return embedding, {"X-Amzn-Bedrock-Input-Token-Count": "8", "X-Amzn-Bedrock-Output-Token-Count": "0"}
    if "amazon.titan" in model_id:
        titan = {
            "inputTextTokenCount": 21,
            "results": [{"tokenCount": 12, "outputText": TEXT, "completionReason": "FINISH"}],
        }
        return titan, _PLAIN_HEADERS
    if "amazon.nova" in model_id:
        nova = {
            "output": {"message": {"role": "assistant", "content": [{"text": TEXT}]}},
            "stopReason": "end_turn",
            "usage": {
                "inputTokens": 21,
                "outputTokens": 12,
                "totalTokens": 1245,
                "cacheReadInputTokenCount": 1024,
                "cacheWriteInputTokenCount": 188,
            },
        }
        return nova, TOKEN_HEADERS
    if "meta.llama" in model_id:
        llama = {
            "generation": TEXT,
            "prompt_token_count": 21,
            "generation_token_count": 12,
            "stop_reason": "stop",
        }
        return llama, _PLAIN_HEADERS
    if "mistral." in model_id:
        return {"outputs": [{"text": TEXT, "stop_reason": "stop"}]}, _PLAIN_HEADERS
    if "cohere." in model_id:
        # Cohere models are reported not to send the count headers.
        cohere = {
            "response_id": "c4b2e6f0-3a1d-4c5e-8f9a-0b1c2d3e4f5a",
            "text": TEXT,
            "generation_id": "9e8d7c6b-5a4f-3e2d-1c0b-a9f8e7d6c5b4",
            "chat_history": [],
            "finish_reason": "COMPLETE",
        }
        return cohere, {}
    return {"output": TEXT}, _PLAIN_HEADERS


def invoke(request: FakeRequest, script: Mapping[str, Any]) -> Reply:
    """POST /model/{id}/invoke."""
    error = _error_of(script)
    if error is not None:
        return error
    body, token_headers = _invoke_body(request.match.get("model", ""), request.json)
    if "body" in script:
        body = script["body"]
    headers = _request_id(script)
    headers.update(script.get("token_headers", token_headers) or {})
    headers["X-Amzn-Bedrock-Invocation-Latency"] = "812"
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return Reply(body=raw, headers=headers)


def _claude_stream_events() -> list[dict[str, Any]]:
    return [
        {
            "type": "message_start",
            "message": {
                "id": CLAUDE_MESSAGE_ID,
                "type": "message",
                "role": "assistant",
                "model": CLAUDE_MODEL,
                "content": [],
                "stop_reason": None,
                "stop_sequence": None,
                "usage": {
                    "input_tokens": 21,
                    "cache_creation_input_tokens": 188,
                    "cache_read_input_tokens": 1024,
                    "output_tokens": 1,
                },
            },
        },
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        *(
            {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": word}}
            for word in _words(TEXT)
        ),
        {"type": "content_block_stop", "index": 0},
        {
            "type": "message_delta",
            "delta": {"stop_reason": "end_turn", "stop_sequence": None},
            "usage": {"output_tokens": 12},
        },
        {"type": "message_stop"},
    ]


def invoke_stream(request: FakeRequest, script: Mapping[str, Any]) -> Reply:
    """POST /model/{id}/invoke-with-response-stream."""
    error = _error_of(script)
    if error is not None:
        return error
    events = [dict(event) for event in script.get("events") or _claude_stream_events()]
    metrics = script.get("metrics", INVOCATION_METRICS)
    if metrics is not None and events:
        events[-1]["amazon-bedrock-invocationMetrics"] = metrics
    parts = [chunk_event(event) for event in events]
    if script.get("stream_error"):
        parts.insert(len(parts) - 1, aws_exception(str(script["stream_error"])))
    return _streamed(parts, script)


def count_tokens(request: FakeRequest, script: Mapping[str, Any]) -> Reply:
    """POST /model/{id}/count-tokens."""
    error = _error_of(script)
    if error is not None:
        return error
    return Reply.json({"inputTokens": int(script.get("input_tokens", 21))}, headers=_request_id(script))


_MODEL = r"/model/(?P<model>.+)"

ROUTES = (
    Route("bedrock.converse", "POST", _MODEL + r"/converse", converse),
    Route("bedrock.converse_stream", "POST", _MODEL + r"/converse-stream", converse_stream),
    Route("bedrock.invoke", "POST", _MODEL + r"/invoke", invoke),
    Route("bedrock.invoke_stream", "POST", _MODEL + r"/invoke-with-response-stream", invoke_stream),
    Route("bedrock.count_tokens", "POST", _MODEL + r"/count-tokens", count_tokens),
)
