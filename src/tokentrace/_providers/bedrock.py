"""Bedrock Runtime (botocore): ``converse``, ``converse_stream``, ``invoke_model``(+stream), ``count_tokens``.

boto3 builds each client class at run time, so there is no ``BedrockRuntime`` class to import. One
class-level wrapper on ``botocore.client.BaseClient._make_api_call`` sees every call of every
client, including clients created before instrumentation; ``request`` picks the Bedrock Runtime
operations out of them (one tuple lookup and one attribute chain for every other AWS call).
aiobotocore's ``AioBaseClient._make_api_call`` (async) is wrapped too when aiobotocore is installed.

Results are dicts. Streams sit inside them: ``result["stream"]`` (ConverseStream) and
``result["body"]`` (InvokeModelWithResponseStream) are replaced by the proxy. InvokeModel's
``result["body"]`` is a one-shot ``StreamingBody``: usage comes from the response headers, and the
body is read (and put back, byte for byte) only when the headers carry no counts.

Coexistence with ``opentelemetry-instrumentation-botocore``: its Bedrock extension reports the same
calls as GenAI spans with token metrics. While tokentrace's Bedrock instrumentation is active that
extension is put in its generic mode for ``bedrock-runtime`` (a plain ``aws-api`` RPC span, as for
any AWS service without an extension, and no GenAI metrics), whichever was instrumented first.

Sources, botocore 1.44.5: ``botocore/client.py`` (``BaseClient._make_api_call``),
``botocore/data/bedrock-runtime/2023-09-30/service-2.json``, ``botocore/eventstream.py``,
``botocore/response.py``; opentelemetry-instrumentation-botocore 0.66b2 ``extensions/__init__.py``
and ``extensions/bedrock.py``.
"""

from __future__ import annotations

import importlib
import io
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from opentelemetry.util.types import AttributeValue

from tokentrace._core import semconv
from tokentrace._core.config import Settings
from tokentrace._core.guard import guard
from tokentrace._core.invocation import Invocation, RequestFacts
from tokentrace._core.patching import WrapTarget
from tokentrace._core.request import as_float, as_int, as_str, as_str_list
from tokentrace._core.server import server_of
from tokentrace._core.usage import TokenUsage, attr, count_at, parse_count, sum_known, total_of
from tokentrace._core.wrapper import EndpointBase

# Attribute names not yet in ``_core/semconv.py`` (both are registered semantic conventions).

SERVICE_NAME: Final = "bedrock-runtime"

# Bedrock Runtime operations that are traced (all others pass through untouched).
CONVERSE: Final = "Converse"
CONVERSE_STREAM: Final = "ConverseStream"
INVOKE_MODEL: Final = "InvokeModel"
INVOKE_MODEL_STREAM: Final = "InvokeModelWithResponseStream"
COUNT_TOKENS: Final = "CountTokens"
_OPERATIONS: Final = frozenset({CONVERSE, CONVERSE_STREAM, INVOKE_MODEL, INVOKE_MODEL_STREAM, COUNT_TOKENS})
_STREAMED: Final = frozenset({CONVERSE_STREAM, INVOKE_MODEL_STREAM})

# InvokeModel request bodies above this size are not parsed for request attributes (image and
# document payloads): parsing would cost more than the attributes are worth.
_MAX_PARSED_REQUEST_BODY = 64 * 1024

# Response headers of InvokeModel (``ResponseMetadata.HTTPHeaders`` keys are lower-cased). Counts
# are decimal strings; the input count excludes cache reads and writes, as Converse's does.
_INPUT_HEADER = "x-amzn-bedrock-input-token-count"
_OUTPUT_HEADER = "x-amzn-bedrock-output-token-count"
_CACHE_READ_HEADER = "x-amzn-bedrock-cache-read-input-token-count"
_CACHE_WRITE_HEADER = "x-amzn-bedrock-cache-write-input-token-count"

# Byte strings whose presence makes an InvokeModelWithResponseStream chunk worth parsing: every
# usage or finish-reason field of the model families, and Bedrock's own final metrics. Text deltas
# (most chunks) contain none of them and are never parsed.
_CHUNK_MARKERS: Final = (
    b"invocationMetrics",
    b"usage",
    b"token_count",
    b"TokenCount",
    b"stop_reason",
    b"stopReason",
    b"completionReason",
    b"finish_reason",
)
_INVOCATION_METRICS = "amazon-bedrock-invocationMetrics"


# --- pure readers ----------------------------------------------------------------------------------


def extract_converse_usage(usage: Any) -> TokenUsage | None:
    """Normalize Converse's ``TokenUsage`` (also ConverseStream's ``metadata.usage``).

    ``inputTokens`` excludes the tokens read from and written to the prompt cache, so the
    conventions' input is ``inputTokens + cacheReadInputTokens + cacheWriteInputTokens``
    (https://docs.aws.amazon.com/bedrock/latest/userguide/prompt-caching.html). ``totalTokens`` is
    not used: it is documented only as "input + generated".
    """
    if not isinstance(usage, Mapping):
        return None
    cache_read = count_at(usage, "cacheReadInputTokens")
    cache_write = count_at(usage, "cacheWriteInputTokens")
    return TokenUsage(
        input=total_of(count_at(usage, "inputTokens"), cache_read, cache_write),
        output=count_at(usage, "outputTokens"),
        cache_read=cache_read,
        cache_write=cache_write,
    )


def extract_header_usage(headers: Any) -> TokenUsage | None:
    """InvokeModel's ``X-Amzn-Bedrock-*-Token-Count`` headers; None when neither main count is there.

    Bedrock sets them for every model family that reports counts (AI21 and Cohere models are
    reported not to); the input count excludes cache tokens, as in Converse.
    """
    if not isinstance(headers, Mapping):
        return None
    input_count = parse_count(headers.get(_INPUT_HEADER))
    output_count = parse_count(headers.get(_OUTPUT_HEADER))
    if input_count is None and output_count is None:
        return None
    cache_read = parse_count(headers.get(_CACHE_READ_HEADER))
    cache_write = parse_count(headers.get(_CACHE_WRITE_HEADER))
    return TokenUsage(
        input=total_of(input_count, cache_read, cache_write),
        output=output_count,
        cache_read=cache_read,
        cache_write=cache_write,
    )


def extract_invocation_metrics_usage(metrics: Any) -> TokenUsage | None:
    """``amazon-bedrock-invocationMetrics`` of a response stream's last chunk (every model family).

    Same rule as the headers: ``inputTokenCount`` excludes the cache counts, which are added.
    """
    if not isinstance(metrics, Mapping):
        return None
    cache_read = count_at(metrics, "cacheReadInputTokenCount")
    cache_write = count_at(metrics, "cacheWriteInputTokenCount")
    usage = TokenUsage(
        input=total_of(count_at(metrics, "inputTokenCount"), cache_read, cache_write),
        output=count_at(metrics, "outputTokenCount"),
        cache_read=cache_read,
        cache_write=cache_write,
    )
    return None if usage.input is None and usage.output is None else usage


def extract_invoke_body_usage(body: Any) -> TokenUsage | None:
    """Token counts from a model family's own InvokeModel response body, or one of its stream events.

    - Anthropic Claude (Messages API; stream ``message_start.message.usage`` and
      ``message_delta.usage``): ``input_tokens`` excludes cache, so input =
      ``input_tokens + cache_read_input_tokens + cache_creation_input_tokens``.
    - Amazon Nova (``usage``; stream ``metadata.usage``): ``inputTokens`` excludes cache, as in
      Converse, whose schema Nova's Invoke API follows; cache counts are ``cache*InputTokenCount``.
    - OpenAI-style bodies (OpenAI gpt-oss, AI21 Jamba, Mistral chat): ``usage.prompt_tokens``
      already includes cached tokens, ``completion_tokens``.
    - Amazon Titan text: ``inputTextTokenCount`` and ``results[].tokenCount`` (stream:
      ``totalOutputTextTokenCount``); Titan embeddings: ``inputTextTokenCount`` only.
    - Meta Llama: ``prompt_token_count`` and ``generation_token_count``.
    - Cohere: ``meta.billed_units`` when present (billed counts, which the conventions prefer).
    - Mistral text, Claude v2 text completions, DeepSeek: no counts in the body (headers only).
    """
    if not isinstance(body, Mapping):
        return None
    for usage in (
        attr(body, "usage"),
        attr(attr(body, "message"), "usage"),
        attr(attr(body, "metadata"), "usage"),
    ):
        if isinstance(usage, Mapping):
            found = _usage_object(usage)
            if found is not None:
                return found
    if "inputTextTokenCount" in body or "results" in body or "totalOutputTextTokenCount" in body:
        results = body.get("results")
        output = (
            sum_known(*(count_at(result, "tokenCount") for result in results))
            if isinstance(results, list)
            else count_at(body, "totalOutputTextTokenCount")
        )
        return _known(TokenUsage(input=count_at(body, "inputTextTokenCount"), output=output))
    if "prompt_token_count" in body or "generation_token_count" in body:
        return _known(
            TokenUsage(
                input=count_at(body, "prompt_token_count"), output=count_at(body, "generation_token_count")
            )
        )
    billed = attr(attr(body, "meta"), "billed_units")
    if isinstance(billed, Mapping):
        return _known(
            TokenUsage(input=count_at(billed, "input_tokens"), output=count_at(billed, "output_tokens"))
        )
    return None


def _usage_object(usage: Mapping[str, Any]) -> TokenUsage | None:
    if "input_tokens" in usage or "output_tokens" in usage:
        cache_read = count_at(usage, "cache_read_input_tokens")
        cache_write = count_at(usage, "cache_creation_input_tokens")
        return _known(
            TokenUsage(
                input=total_of(count_at(usage, "input_tokens"), cache_read, cache_write),
                output=count_at(usage, "output_tokens"),
                cache_read=cache_read,
                cache_write=cache_write,
            )
        )
    if "inputTokens" in usage or "outputTokens" in usage:
        cache_read = count_at(usage, "cacheReadInputTokenCount")
        cache_write = count_at(usage, "cacheWriteInputTokenCount")
        return _known(
            TokenUsage(
                input=total_of(count_at(usage, "inputTokens"), cache_read, cache_write),
                output=count_at(usage, "outputTokens"),
                cache_read=cache_read,
                cache_write=cache_write,
            )
        )
    if "prompt_tokens" in usage or "completion_tokens" in usage:
        return _known(
            TokenUsage(
                input=count_at(usage, "prompt_tokens"),
                output=count_at(usage, "completion_tokens"),
                cache_read=count_at(usage, "prompt_tokens_details", "cached_tokens"),
                reasoning=count_at(usage, "completion_tokens_details", "reasoning_tokens"),
            )
        )
    return None


def _known(usage: TokenUsage) -> TokenUsage | None:
    return None if usage.is_empty else usage


def extract_invoke_finish_reasons(body: Any) -> list[str] | None:
    """Finish reasons of a model family's InvokeModel body or stream event, one per output, in order.

    Claude ``stop_reason`` (stream: ``message_delta.delta.stop_reason``), Nova ``stopReason`` (stream:
    ``messageStop.stopReason``), Llama ``stop_reason``, Cohere ``finish_reason``, Titan
    ``results[].completionReason`` (stream: ``completionReason``), Mistral ``outputs[].stop_reason``,
    OpenAI-style ``choices[].finish_reason``, Cohere ``generations[].finish_reason``.
    """
    if not isinstance(body, Mapping):
        return None
    for key in ("stop_reason", "stopReason", "finish_reason", "completionReason"):
        reason = as_str(body.get(key))
        if reason:
            return [reason]
    for holder, key in (("delta", "stop_reason"), ("messageStop", "stopReason")):
        reason = as_str(attr(body.get(holder), key))
        if reason:
            return [reason]
    for items, key in (
        ("results", "completionReason"),
        ("outputs", "stop_reason"),
        ("choices", "finish_reason"),
        ("choices", "stop_reason"),
        ("generations", "finish_reason"),
    ):
        listed = body.get(items)
        if isinstance(listed, list) and listed:
            reasons = [as_str(attr(item, key)) for item in listed]
            if any(reasons):
                return [reason or "error" for reason in reasons]
    return None


def extract_invoke_response_id(body: Any) -> str | None:
    """The model's own response id.

    Claude ``id`` (stream: ``message_start.message.id``), Cohere ``response_id``, OpenAI-style ``id``.
    """
    if not isinstance(body, Mapping):
        return None
    return (
        as_str(body.get("id")) or as_str(body.get("response_id")) or as_str(attr(body.get("message"), "id"))
    )


def extract_invoke_response_model(body: Any) -> str | None:
    """The answering model a body names (Claude ``model``, stream ``message_start.message.model``)."""
    if not isinstance(body, Mapping):
        return None
    return as_str(body.get("model")) or as_str(attr(body.get("message"), "model"))


def extract_request_id(result: Any) -> str | None:
    """``ResponseMetadata.RequestId`` (the ``x-amzn-RequestId`` header) of a botocore result."""
    metadata = attr(result, "ResponseMetadata")
    return as_str(attr(metadata, "RequestId")) or as_str(
        attr(attr(metadata, "HTTPHeaders"), "x-amzn-requestid")
    )


def invoke_operation_name(model_id: str | None, body: Any) -> str:
    """``gen_ai.operation.name`` of an InvokeModel call, from the model id and the request body.

    Embedding models by id; then the body's shape: ``messages`` (Claude Messages, Nova, Mistral
    chat) or ``message`` (Cohere Command R) is chat, a bare ``prompt``/``inputText`` (Claude v2,
    Llama, Mistral text, Titan text) is a text completion. Byte-level key checks: a JSON key
    ``"messages"`` cannot appear inside a string value, whose quotes are escaped.
    """
    if model_id and "embed" in model_id:
        return semconv.OPERATION_EMBEDDINGS
    if isinstance(body, str):
        body = body.encode("utf-8", "replace")
    if isinstance(body, (bytes, bytearray)):
        if b'"messages"' in body or b'"message"' in body:
            return semconv.OPERATION_CHAT
        if b'"prompt"' in body or b'"inputText"' in body:
            return semconv.OPERATION_TEXT_COMPLETION
    return semconv.OPERATION_CHAT


# Request parameter names of the model families, per semantic convention attribute.
_MAX_TOKENS_KEYS = (
    "max_tokens",
    "max_tokens_to_sample",
    "max_gen_len",
    "maxTokenCount",
    "max_new_tokens",
    "maxTokens",
)
_TOP_P_KEYS = ("top_p", "topP", "p")
_TOP_K_KEYS = ("top_k", "topK", "k")
_STOP_KEYS = ("stop_sequences", "stopSequences", "stop")


def invoke_request_attributes(body: Any) -> dict[str, AttributeValue]:
    """Sampling attributes from an InvokeModel JSON request body.

    Read at the top level, and in Titan's ``textGenerationConfig`` and Nova's ``inferenceConfig``.
    """
    attributes: dict[str, AttributeValue] = {}
    if not isinstance(body, Mapping):
        return attributes
    for params in (body, body.get("textGenerationConfig"), body.get("inferenceConfig")):
        if isinstance(params, Mapping):
            _sampling(params, attributes)
    return attributes


def converse_request_attributes(params: Mapping[str, Any]) -> dict[str, AttributeValue]:
    """Converse ``inferenceConfig`` (plus ``top_k`` in ``additionalModelRequestFields``) and guardrail."""
    attributes: dict[str, AttributeValue] = {}
    config = params.get("inferenceConfig")
    if isinstance(config, Mapping):
        _sampling(config, attributes)
    extra = params.get("additionalModelRequestFields")
    if isinstance(extra, Mapping):
        top_k = _first(extra, _TOP_K_KEYS, as_int)
        if top_k is not None:
            attributes[semconv.GEN_AI_REQUEST_TOP_K] = top_k
    guardrail = as_str(attr(params.get("guardrailConfig"), "guardrailIdentifier"))
    if guardrail:
        attributes[semconv.AWS_BEDROCK_GUARDRAIL_ID] = guardrail
    return attributes


def _sampling(params: Mapping[str, Any], attributes: dict[str, AttributeValue]) -> None:
    max_tokens = _first(params, _MAX_TOKENS_KEYS, as_int)
    if max_tokens is not None:
        attributes[semconv.GEN_AI_REQUEST_MAX_TOKENS] = max_tokens
    temperature = as_float(params.get("temperature"))
    if temperature is not None:
        attributes[semconv.GEN_AI_REQUEST_TEMPERATURE] = temperature
    top_p = _first(params, _TOP_P_KEYS, as_float)
    if top_p is not None:
        attributes[semconv.GEN_AI_REQUEST_TOP_P] = top_p
    top_k = _first(params, _TOP_K_KEYS, as_int)
    if top_k is not None:
        attributes[semconv.GEN_AI_REQUEST_TOP_K] = top_k
    stop = _first(params, _STOP_KEYS, as_str_list)
    if stop is not None:
        attributes[semconv.GEN_AI_REQUEST_STOP_SEQUENCES] = stop


def _first(params: Mapping[str, Any], keys: Sequence[str], read: Callable[[Any], Any]) -> Any:
    for key in keys:
        value = read(params.get(key))
        if value is not None:
            return value
    return None


def _parse_small_json(body: Any) -> Any:
    if isinstance(body, (bytes, bytearray, str)) and len(body) <= _MAX_PARSED_REQUEST_BODY:
        try:
            return json.loads(body)
        except (ValueError, RecursionError):
            return None
    return None


# --- endpoint --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BedrockFacts(RequestFacts):
    """Request facts plus the Bedrock operation, which decides how the result is read."""

    api_operation: str = ""


class MakeApiCall(EndpointBase):
    """``BaseClient._make_api_call(operation_name, api_params)`` for the Bedrock Runtime operations."""

    def __init__(self, name: str, *, is_async: bool = False) -> None:
        self.name = name
        # aiobotocore's response body is read with ``await``: never read it from here.
        self.is_async = is_async

    def request(self, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> RequestFacts | None:
        """Facts of a Bedrock Runtime call; None (untraced) for every other AWS call."""
        operation = args[0] if args else kwargs.get("operation_name")
        if operation not in _OPERATIONS:
            return None
        meta = instance.meta
        if meta.service_model.service_name != SERVICE_NAME:
            return None
        params = args[1] if len(args) > 1 else kwargs.get("api_params")
        if not isinstance(params, Mapping):
            params = {}
        model = as_str(params.get("modelId"))
        host, port = server_of(attr(meta, "endpoint_url"))
        records_usage = True
        if operation in (CONVERSE, CONVERSE_STREAM):
            gen_ai_operation = semconv.OPERATION_CHAT
            attributes = converse_request_attributes(params)
        elif operation == COUNT_TOKENS:
            gen_ai_operation = semconv.OPERATION_COUNT_TOKENS
            attributes = {}
            records_usage = False
        else:
            body = params.get("body")
            gen_ai_operation = invoke_operation_name(model, body)
            attributes = invoke_request_attributes(_parse_small_json(body))
            guardrail = as_str(params.get("guardrailIdentifier"))
            if guardrail:
                attributes[semconv.AWS_BEDROCK_GUARDRAIL_ID] = guardrail
        return BedrockFacts(
            operation=gen_ai_operation,
            provider=semconv.PROVIDER_AWS_BEDROCK,
            model=model,
            server_address=host,
            server_port=port,
            stream=operation in _STREAMED,
            attributes=attributes,
            records_usage_metrics=records_usage,
            api_operation=operation,
        )

    def stream_of(self, result: Any) -> Any | None:
        """ConverseStream's ``stream`` and InvokeModelWithResponseStream's ``body`` event streams."""
        if not isinstance(result, dict):
            return None
        stream = result.get("stream")
        if stream is not None and _is_event_stream(stream):
            return stream
        body = result.get("body")
        if body is not None and _is_event_stream(body):
            return body
        return None

    def with_stream(self, result: Any, proxy: Any) -> Any:
        """Put the proxy where the stream was; the dict itself is still the SDK's."""
        key = "stream" if "stream" in result and _is_event_stream(result["stream"]) else "body"
        result[key] = proxy
        return result

    def on_stream_start(self, invocation: Invocation, result: Any) -> None:
        """The request id (from the response headers) names the call until the stream says more."""
        request_id = extract_request_id(result)
        invocation.set_attribute(semconv.AWS_REQUEST_ID, request_id)
        invocation.response_id = request_id

    def on_response(self, invocation: Invocation, result: Any) -> None:
        """Read a complete Converse, InvokeModel or CountTokens result."""
        facts = invocation.facts
        operation = facts.api_operation if isinstance(facts, BedrockFacts) else None
        request_id = extract_request_id(result)
        invocation.set_attribute(semconv.AWS_REQUEST_ID, request_id)
        invocation.response_id = request_id
        if operation == CONVERSE:
            invocation.set_usage(extract_converse_usage(attr(result, "usage")))
            reason = as_str(attr(result, "stopReason"))
            if reason:
                invocation.finish_reasons = [reason]
        elif operation == INVOKE_MODEL:
            self._apply_invoke(invocation, result)
        elif operation == COUNT_TOKENS:
            invocation.set_usage(_known(TokenUsage(input=count_at(result, "inputTokens"))))

    def _apply_invoke(self, invocation: Invocation, result: Any) -> None:
        usage = extract_header_usage(attr(attr(result, "ResponseMetadata"), "HTTPHeaders"))
        if usage is not None:
            invocation.set_usage(self._embeddings_input_only(invocation, usage))
            return
        if self.is_async:
            return
        body = _read_body(result)
        if body is None:
            return
        invocation.set_usage(self._embeddings_input_only(invocation, extract_invoke_body_usage(body)))
        invocation.finish_reasons = extract_invoke_finish_reasons(body)
        invocation.response_id = extract_invoke_response_id(body) or invocation.response_id
        invocation.response_model = extract_invoke_response_model(body)

    @staticmethod
    def _embeddings_input_only(invocation: Invocation, usage: TokenUsage | None) -> TokenUsage | None:
        # Embeddings have input tokens only (semconv section 3): an output header of "0" is not kept.
        if usage is None or invocation.facts.operation != semconv.OPERATION_EMBEDDINGS:
            return usage
        return _known(TokenUsage(input=usage.input))

    def new_accumulator(self, invocation: Invocation, sent_kwargs: dict[str, Any]) -> _StreamAccumulator:
        """One accumulator per stream kind."""
        facts = invocation.facts
        if isinstance(facts, BedrockFacts) and facts.api_operation == CONVERSE_STREAM:
            return ConverseStreamAccumulator()
        return InvokeStreamAccumulator()

    def error_type(self, exc: BaseException) -> str | None:
        """The AWS error code of a ``ClientError`` (``ThrottlingException``...), else the class name."""
        return as_str(attr(attr(getattr(exc, "response", None), "Error"), "Code"))


def _is_event_stream(value: Any) -> bool:
    # botocore's EventStream and aiobotocore's AioEventStream; the InvokeModel StreamingBody is not one.
    return any(cls.__name__.endswith("EventStream") for cls in type(value).__mro__)


def _read_body(result: dict[str, Any]) -> Any:
    """Read InvokeModel's one-shot body and put an identical one back; the parsed JSON, or None.

    The caller then reads the very same bytes from a fresh ``StreamingBody``. If reading fails,
    the caller's body raises that same error when read, as the original would have.
    """
    # botocore ships no type information: imported as a module, its classes are ``Any``.
    StreamingBody = importlib.import_module("botocore.response").StreamingBody  # noqa: N806

    body = result.get("body")
    if not isinstance(body, StreamingBody):
        return None
    try:
        data = body.read()
    except Exception as exc:
        result["body"] = StreamingBody(_FailedRead(exc), None)
        return None
    result["body"] = StreamingBody(io.BytesIO(data), len(data))
    try:
        return json.loads(data)
    except (ValueError, RecursionError):
        return None


class _FailedRead(io.RawIOBase):
    """A raw stream whose reads raise the error the original body raised."""

    def __init__(self, error: Exception) -> None:
        self._error = error

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        raise self._error

    def readinto(self, buffer: Any) -> int:
        raise self._error


class _StreamAccumulator:
    """What both stream kinds share (the request id was applied when the stream started)."""

    __slots__ = ()

    def on_chunk(self, chunk: Any) -> bool:
        """Read one event (never hidden: tokentrace adds nothing to Bedrock streams)."""
        return True

    def finish(self, invocation: Invocation) -> None:
        """Nothing shared to apply."""


class ConverseStreamAccumulator(_StreamAccumulator):
    """ConverseStream events: ``messageStop`` has the stop reason, the last ``metadata`` the usage."""

    __slots__ = ("usage", "stop_reason")

    def __init__(self) -> None:
        super().__init__()
        self.usage: Any = None
        self.stop_reason: str | None = None

    def on_chunk(self, chunk: Any) -> bool:
        """Keep the usage and stop reason."""
        if type(chunk) is dict:
            metadata = chunk.get("metadata")
            if metadata is not None:
                self.usage = attr(metadata, "usage") or self.usage
            else:
                stop = chunk.get("messageStop")
                if stop is not None:
                    self.stop_reason = as_str(attr(stop, "stopReason")) or self.stop_reason
        return True

    def finish(self, invocation: Invocation) -> None:
        """Apply usage, stop reason and request id."""
        super().finish(invocation)
        invocation.set_usage(extract_converse_usage(self.usage))
        if self.stop_reason:
            invocation.finish_reasons = [self.stop_reason]


class InvokeStreamAccumulator(_StreamAccumulator):
    """InvokeModelWithResponseStream ``chunk`` events: the model's own JSON in ``bytes``.

    Bedrock's ``amazon-bedrock-invocationMetrics`` on the last chunk is the usage for every model
    family. Counts the model's own events carry (Claude's ``message_start``/``message_delta``,
    Titan's and Llama's running counts) are kept as they arrive, so a stream cut before its end
    still reports what had arrived.
    """

    __slots__ = ("metrics_usage", "body_usage", "reasons", "response_id", "response_model")

    def __init__(self) -> None:
        super().__init__()
        self.metrics_usage: TokenUsage | None = None
        self.body_usage: TokenUsage | None = None
        self.reasons: list[str] | None = None
        self.response_id: str | None = None
        self.response_model: str | None = None

    def on_chunk(self, chunk: Any) -> bool:
        """Parse only the chunks that can carry usage or a finish reason."""
        data = attr(attr(chunk, "chunk"), "bytes")
        if not isinstance(data, (bytes, bytearray)):
            return True
        for marker in _CHUNK_MARKERS:
            if marker in data:
                break
        else:
            return True
        try:
            event = json.loads(data)
        except (ValueError, RecursionError):
            return True
        if not isinstance(event, dict):
            return True
        metrics = extract_invocation_metrics_usage(event.get(_INVOCATION_METRICS))
        if metrics is not None:
            self.metrics_usage = metrics
        usage = extract_invoke_body_usage(event)
        if usage is not None:
            # Stream counts are running totals: a later event's counts replace the earlier ones.
            self.body_usage = usage if self.body_usage is None else self.body_usage.overlaid_with(usage)
        reasons = extract_invoke_finish_reasons(event)
        if reasons:
            self.reasons = reasons
        if self.response_id is None and event.get("type") == "message_start":
            self.response_id = extract_invoke_response_id(event)
            self.response_model = extract_invoke_response_model(event)
        return True

    def finish(self, invocation: Invocation) -> None:
        """Bedrock's invocation metrics, else the model's own counts."""
        super().finish(invocation)
        invocation.set_usage(self.metrics_usage or self.body_usage)
        if self.reasons:
            invocation.finish_reasons = self.reasons
        if self.response_id:
            invocation.response_id = self.response_id
        if self.response_model:
            invocation.response_model = self.response_model


# --- coexistence with opentelemetry-instrumentation-botocore ---------------------------------------

_BOTOCORE_EXTENSIONS_MODULE = "opentelemetry.instrumentation.botocore.extensions"
_hook_registered = False


def _tokentrace_bedrock_active() -> bool:
    from tokentrace.instrumentor import BedrockInstrumentor

    return bool(BedrockInstrumentor().is_instrumented_by_opentelemetry)


def _quiet_extension_class(real: type[Any], generic: type[Any]) -> type[Any]:
    """``real`` (botocore's Bedrock extension) behaving as the generic extension for each call.

    The per-call hooks come from the generic ``_AwsSdkExtension``: the span is a plain ``aws-api``
    RPC span, no GenAI attributes, no stream wrapping, no GenAI metrics. ``setup_metrics`` stays
    ``real``'s, so instruments the registry caches once are still right after tokentrace leaves.
    """
    hooks = ("extract_attributes", "before_service_call", "on_success", "on_error", "should_end_span_on_exit")
    namespace: dict[str, Any] = {name: getattr(generic, name) for name in hooks if hasattr(generic, name)}
    namespace["__doc__"] = "botocore's Bedrock extension, quiet while tokentrace reports Bedrock calls."
    return type("TokentraceQuietBedrockExtension", (real,), namespace)


def _coexisting_loader(original: Callable[[], Any], generic: type[Any]) -> Callable[[], Any]:
    quiet_classes: dict[type[Any], type[Any]] = {}

    def loader() -> Any:
        real = original()
        if real is None:
            return None

        def extension(call_context: Any) -> Any:
            active = False
            with guard("bedrock.coexistence"):
                active = _tokentrace_bedrock_active()
            if not active:
                return real(call_context)
            quiet = quiet_classes.get(real)
            if quiet is None:
                quiet = quiet_classes[real] = _quiet_extension_class(real, generic)
            return quiet(call_context)

        return extension

    loader.tokentrace_original = original  # type: ignore[attr-defined]
    return loader


def _install_coexistence(module: Any) -> None:
    """Route botocore instrumentation's ``bedrock-runtime`` extension lookups through tokentrace.

    Its registries keep a reference to these module-level dicts (0.66b2) or read them per call
    (earlier versions), so this reaches instrumentors created before and after tokentrace.
    """
    with guard("bedrock.coexistence.install"):
        generic = importlib.import_module(_BOTOCORE_EXTENSIONS_MODULE + ".types")._AwsSdkExtension
        for registry_name in ("_BOTOCORE_EXTENSIONS", "_AIOBOTOCORE_EXTENSIONS"):
            registry = getattr(module, registry_name, None)
            if not isinstance(registry, dict):
                continue
            original = registry.get(SERVICE_NAME)
            if original is None or hasattr(original, "tokentrace_original"):
                continue
            registry[SERVICE_NAME] = _coexisting_loader(original, generic)


def _register_coexistence_hook() -> None:
    """Install the coexistence shim when botocore instrumentation's extensions are imported (or now).

    Installed once per process and left in place: it only changes anything while tokentrace's
    Bedrock instrumentation is active, and costs nothing if that package is never imported.
    """
    global _hook_registered
    if _hook_registered:
        return
    import wrapt

    wrapt.register_post_import_hook(_install_coexistence, _BOTOCORE_EXTENSIONS_MODULE)
    _hook_registered = True


def targets(settings: Settings) -> Sequence[WrapTarget]:
    """The wrapped methods: botocore's ``_make_api_call``, and aiobotocore's when installed."""
    _register_coexistence_hook()
    return (
        WrapTarget("botocore.client", "BaseClient._make_api_call", MakeApiCall("bedrock")),
        WrapTarget(
            "aiobotocore.client",
            "AioBaseClient._make_api_call",
            MakeApiCall("bedrock.async", is_async=True),
            is_async=True,
        ),
    )
