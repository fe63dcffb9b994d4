"""Fake Google Gen AI API: the Gemini API and Vertex AI backends, camelCase JSON and SSE.

Point the client at the server root (``fake.base_url("google_genai")``)::

    genai.Client(api_key="test", http_options=types.HttpOptions(base_url=fake.url))
    genai.Client(vertexai=True, project="p", location="us-central1",
                 credentials=google.oauth2.credentials.Credentials(token="fake"),
                 http_options=types.HttpOptions(base_url=fake.url))

The Gemini API posts to ``/{version}/models/{model}:{method}``; Vertex AI to
``/{version}/projects/{p}/locations/{l}/publishers/google/models/{model}:{method}`` (or, in express
mode, ``/{version}/publishers/google/models/{model}:{method}``). The backend is told from the path,
and each answers in its own shape (Vertex adds ``createTime``, ``trafficType`` and per-modality
candidate details).

Routes:

- ``google_genai.generate_content``: ``:generateContent``.
- ``google_genai.stream_generate_content``: ``:streamGenerateContent?alt=sse``; every event carries
  the hop's running usage totals, the last one (with ``finishReason``) the final counts.
- ``google_genai.count_tokens``: ``:countTokens``.
- ``google_genai.compute_tokens``: ``:computeTokens`` (Vertex AI only).
- ``google_genai.embed_content``: ``:batchEmbedContents`` (Gemini API; Vertex for several
  contents), ``:embedContent`` (Vertex, Gemini embedding models), ``:predict`` (Vertex, others).

Script overrides (``fake.enqueue(route, {...})``):

- generate and stream: ``usage`` (the wire ``usageMetadata``, ``None`` for none), ``text``,
  ``model`` (``modelVersion``), ``response_id``, ``finish_reason``, ``function_call``
  (``{"name": ..., "args": {...}}``: answer with a function call part instead of text),
  ``continuation_token`` (a string: the answer is cut off and can be resumed with it; the finish
  reason defaults to ``CONTINUATION``), ``error`` (HTTP status: Google's error body),
  ``cut_after`` (drop the stream after N events), ``chunk_delay`` (seconds between events).
- count_tokens: ``total_tokens``, ``cached_content_token_count``, ``error``.
- compute_tokens: ``tokens_info`` (the wire list), ``error``.
- embed_content: ``usage`` (Vertex ``usageMetadata``), ``token_count`` (Vertex ``:predict``
  per-embedding statistics, ``None`` for none), ``error``.
"""

from __future__ import annotations

import base64
import copy
from collections.abc import Mapping
from typing import Any

from tokentrace.testing._server import FakeRequest, Reply, Route, sse_event

TEXT = "Hello! How can I help?"
GEMINI_RESPONSE_ID = "mGZcaLmHBNaQ1dkP5uTw4Q8"
VERTEX_RESPONSE_ID = "kx8CaOXUG9Oc2PgPtavQ0Ak"
CREATE_TIME = "2026-01-01T00:00:00.000000Z"
EMBEDDING = [0.0123, -0.0456, 0.0789, -0.0012]

# The Gemini API reference example: a cached prompt (1024 of 1030 tokens) and 58 thinking tokens.
GEMINI_USAGE: dict[str, Any] = {
    "promptTokenCount": 1030,
    "candidatesTokenCount": 8,
    "totalTokenCount": 1096,
    "cachedContentTokenCount": 1024,
    "thoughtsTokenCount": 58,
    "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 1030}],
    "cacheTokensDetails": [{"modality": "TEXT", "tokenCount": 1024}],
}
# Google's "List and count tokens" example (Vertex AI, a thinking model).
VERTEX_USAGE: dict[str, Any] = {
    "promptTokenCount": 6,
    "candidatesTokenCount": 569,
    "thoughtsTokenCount": 1132,
    "totalTokenCount": 1707,
    "trafficType": "ON_DEMAND",
    "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 6}],
    "candidatesTokensDetails": [{"modality": "TEXT", "tokenCount": 569}],
}
COUNT_TOTAL_TOKENS = 31
# Google's compute_tokens example: "What's the longest word in the English language?".
COMPUTE_TOKEN_IDS = (1841, 235303, 235256, 573, 32514, 2204, 575, 573, 4645, 5255, 235336)
COMPUTE_TOKENS: tuple[bytes, ...] = (b"What", b"'", b"s", b" the", b" longest", b" word", b" in")
COMPUTE_TOKENS += (b" the", b" English", b" language", b"?")
TOKENS_INFO: list[dict[str, Any]] = [
    {
        "tokens": [base64.b64encode(token).decode() for token in COMPUTE_TOKENS],
        "tokenIds": [str(token_id) for token_id in COMPUTE_TOKEN_IDS],
        "role": "user",
    }
]
EMBED_USAGE: dict[str, Any] = {"promptTokenCount": 8, "totalTokenCount": 8}
EMBED_TOKEN_COUNT = 8

_STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}

_RESOURCE = (
    r"/(?P<version>v1(?:alpha|beta1?)?)/"
    r"(?P<scope>(?:projects/[^/]+/locations/[^/]+/)?(?:publishers/[^/]+/)?)"
    r"(?:models|tunedModels)/(?P<model>[^/:]+)"
)


def error_reply(status: int, message: str = "scripted failure") -> Reply:
    """Google's error body."""
    name = _STATUS_NAMES.get(status, "UNKNOWN")
    return Reply.json({"error": {"code": status, "message": message, "status": name}}, status=status)


def is_vertex(request: FakeRequest) -> bool:
    """Vertex AI paths name a publisher (and usually a project and location)."""
    return "publishers/" in request.match.get("scope", "")


def _model_version(request: FakeRequest, script: Mapping[str, Any]) -> str:
    model = script.get("model")
    return model if isinstance(model, str) else request.match.get("model", "gemini-2.5-flash")


def _final_usage(request: FakeRequest, script: Mapping[str, Any]) -> Any:
    usage = script.get("usage", VERTEX_USAGE if is_vertex(request) else GEMINI_USAGE)
    return copy.deepcopy(usage)


def _running_usage(usage: Mapping[str, Any]) -> dict[str, Any]:
    """The usage an event before the last reports: prompt and thinking so far, no candidates yet.

    Gemini leaves zero counts out of its JSON, so a hop's early events have no candidate count.
    """
    running = {
        key: value
        for key, value in usage.items()
        if key not in ("candidatesTokenCount", "candidatesTokensDetails")
    }
    total = usage.get("totalTokenCount")
    candidates = usage.get("candidatesTokenCount")
    if isinstance(total, int) and isinstance(candidates, int):
        running["totalTokenCount"] = total - candidates
    return running


def _parts(script: Mapping[str, Any]) -> list[dict[str, Any]]:
    call = script.get("function_call")
    if isinstance(call, Mapping):
        return [{"functionCall": {"name": call.get("name"), "args": dict(call.get("args") or {})}}]
    return [{"text": str(script.get("text", TEXT))}]


def _response(
    request: FakeRequest,
    script: Mapping[str, Any],
    parts: list[dict[str, Any]],
    usage: Any,
    finish_reason: str | None,
) -> dict[str, Any]:
    vertex = is_vertex(request)
    candidate: dict[str, Any] = {"content": {"parts": parts, "role": "model"}}
    if finish_reason:
        candidate["finishReason"] = finish_reason
        token = script.get("continuation_token")
        if isinstance(token, str):
            candidate["continuationToken"] = base64.b64encode(token.encode()).decode()
    if not vertex:
        candidate["index"] = 0
    body: dict[str, Any] = {"candidates": [candidate]}
    if usage is not None:
        body["usageMetadata"] = usage
    body["modelVersion"] = _model_version(request, script)
    if vertex:
        body["createTime"] = CREATE_TIME
    body["responseId"] = str(script.get("response_id", VERTEX_RESPONSE_ID if vertex else GEMINI_RESPONSE_ID))
    return body


def _finish_reason(script: Mapping[str, Any]) -> str:
    default = "CONTINUATION" if "continuation_token" in script else "STOP"
    return str(script.get("finish_reason", default))


def generate_content(request: FakeRequest, script: Mapping[str, Any]) -> Reply:
    """POST ...:generateContent."""
    if "error" in script:
        return error_reply(int(script["error"]))
    finish_reason = _finish_reason(script)
    return Reply.json(
        _response(request, script, _parts(script), _final_usage(request, script), finish_reason)
    )


def _stream_parts(script: Mapping[str, Any]) -> list[list[dict[str, Any]]]:
    if isinstance(script.get("function_call"), Mapping):
        return [_parts(script)]
    text = str(script.get("text", TEXT))
    words = text.split(" ")
    pieces = [word if index == 0 else f" {word}" for index, word in enumerate(words)]
    return [[{"text": piece}] for piece in pieces]


def stream_generate_content(request: FakeRequest, script: Mapping[str, Any]) -> Reply:
    """POST ...:streamGenerateContent?alt=sse: data-only SSE with CRLF framing and no terminator."""
    if "error" in script:
        return error_reply(int(script["error"]))
    usage = _final_usage(request, script)
    finish_reason = _finish_reason(script)
    pieces = _stream_parts(script)
    events = []
    for index, parts in enumerate(pieces):
        last = index == len(pieces) - 1
        chunk_usage = _running_usage(usage) if not last and isinstance(usage, Mapping) else usage
        body = _response(request, script, parts, chunk_usage, finish_reason if last else None)
        events.append(sse_event(body, newline="\r\n"))
    return Reply(
        chunks=events,
        content_type="text/event-stream",
        cut_after=script.get("cut_after"),
        chunk_delay=float(script.get("chunk_delay", 0.0)),
    )


def count_tokens(request: FakeRequest, script: Mapping[str, Any]) -> Reply:
    """POST ...:countTokens."""
    if "error" in script:
        return error_reply(int(script["error"]))
    total = script.get("total_tokens", COUNT_TOTAL_TOKENS)
    body: dict[str, Any] = {"totalTokens": total}
    cached = script.get("cached_content_token_count")
    if cached is not None:
        body["cachedContentTokenCount"] = cached
    if isinstance(total, int):
        body["promptTokensDetails"] = [{"modality": "TEXT", "tokenCount": total}]
    if is_vertex(request) and isinstance(total, int):
        body["totalBillableCharacters"] = total * 4
    return Reply.json(body)


def compute_tokens(request: FakeRequest, script: Mapping[str, Any]) -> Reply:
    """POST ...:computeTokens (Vertex AI): token texts base64, token ids int64-as-string."""
    if "error" in script:
        return error_reply(int(script["error"]))
    return Reply.json({"tokensInfo": copy.deepcopy(script.get("tokens_info", TOKENS_INFO))})


def embed_content(request: FakeRequest, script: Mapping[str, Any]) -> Reply:
    """POST ...:batchEmbedContents, :embedContent or :predict, each in its backend's shape."""
    if "error" in script:
        return error_reply(int(script["error"]))
    method = request.match.get("method")
    body = request.json
    usage = copy.deepcopy(script.get("usage", EMBED_USAGE))
    if method == "predict":
        token_count = script.get("token_count", EMBED_TOKEN_COUNT)
        predictions = []
        for _ in body.get("instances") or [{}]:
            embeddings: dict[str, Any] = {"values": list(EMBEDDING)}
            if token_count is not None:
                embeddings["statistics"] = {"token_count": token_count, "truncated": False}
            predictions.append({"embeddings": embeddings})
        return Reply.json({"predictions": predictions, "metadata": {"billableCharacterCount": 30}})
    if method == "embedContent":
        reply: dict[str, Any] = {"embedding": {"values": list(EMBEDDING)}, "truncated": False}
        if usage is not None:
            reply["usageMetadata"] = usage
        return Reply.json(reply)
    count = len(body.get("requests") or []) or 1
    batch: dict[str, Any] = {"embeddings": [{"values": list(EMBEDDING)} for _ in range(count)]}
    if is_vertex(request) and usage is not None:
        batch["usageMetadata"] = usage
    return Reply.json(batch)


ROUTES = (
    Route("google_genai.generate_content", "POST", _RESOURCE + r":generateContent", generate_content),
    Route(
        "google_genai.stream_generate_content",
        "POST",
        _RESOURCE + r":streamGenerateContent",
        stream_generate_content,
    ),
    Route("google_genai.count_tokens", "POST", _RESOURCE + r":countTokens", count_tokens),
    Route("google_genai.compute_tokens", "POST", _RESOURCE + r":computeTokens", compute_tokens),
    Route(
        "google_genai.embed_content",
        "POST",
        _RESOURCE + r":(?P<method>batchEmbedContents|embedContent|predict)",
        embed_content,
    ),
)
