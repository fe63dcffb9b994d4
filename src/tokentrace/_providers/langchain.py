"""LangChain chat models: ``BaseChatModel`` generate-with-cache (sync and async), ``stream``, ``astream``.

No callback handler needs configuring: the four ``BaseChatModel`` methods every chat model inherits
are wrapped (langchain-core 1.7.2, ``langchain_core/language_models/chat_models.py``):

- ``_generate_with_cache`` and ``_agenerate_with_cache`` run once per prompt on every non-streaming
  path: ``invoke``/``ainvoke`` → ``generate_prompt`` → ``generate``/``agenerate`` → here, and
  ``batch``/``abatch`` call ``invoke``/``ainvoke`` per input. One span per prompt: ``generate([m1,
  m2])`` makes two model requests, so it gives two spans, each with its own response.
- ``stream`` and ``astream`` call the model's ``_stream``/``_astream`` directly, never
  ``_generate_with_cache``. They are generator functions: the generator they return is proxied, and
  the invocation's context is made current again for every chunk read, so the SDK call that runs
  inside LangChain's generator body finds it.

Every invocation absorbs nested instrumented SDK calls (ChatOpenAI over openai, ChatAnthropic over
anthropic, ...): one span per model call, whose usage and response facts are the SDK's when the SDK
is instrumented too, and LangChain's ``usage_metadata`` otherwise; tokens are counted once either way.
A chat model called from inside another one's call (``stream`` falling back to ``invoke``, a model
delegating to another) is not traced again: the outer call reads the result.

A response replayed from LangChain's cache (``_generate_with_cache`` returning cached generations,
marked by LangChain with ``usage_metadata["total_cost"] == 0``) consumed no tokens: the span is kept,
marked ``tokentrace.langchain.cache_hit``, and has no usage.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from opentelemetry.util.types import AttributeValue

from tokentrace._core import semconv
from tokentrace._core.config import Settings
from tokentrace._core.emitter import current_invocation
from tokentrace._core.invocation import Invocation, RequestFacts
from tokentrace._core.patching import WrapTarget
from tokentrace._core.request import as_str, sampling_attributes
from tokentrace._core.server import server_of
from tokentrace._core.usage import TokenUsage, as_count, attr, count_at, modality_counts, sum_known, total_of
from tokentrace._core.wrapper import EndpointBase
from tokentrace._providers.anthropic import extract_usage as extract_anthropic_usage
from tokentrace._providers.bedrock import extract_converse_usage
from tokentrace._providers.openai import extract_chat_usage, provider_for_host

_MODULE = "langchain_core.language_models.chat_models"

# ``ls_provider`` values (each integration's ``_get_ls_params``) → ``gen_ai.provider.name``; values
# not listed pass through unchanged (custom values are allowed). The first group follows the
# official OpenTelemetry LangChain instrumentation's map. "azure" differs from it on purpose: in
# langchain-openai 1.7.3 only ``AzureChatOpenAI``/``AzureOpenAI`` report "azure" (``azure.py``), and
# they speak to Azure OpenAI. The AWS-hosted variants (langchain-aws ``ChatAnthropicBedrock``, the
# "mantle" OpenAI/Anthropic-compatible endpoints) are served by Bedrock.
_PROVIDERS: Mapping[str, str] = {
    "amazon_bedrock": semconv.PROVIDER_AWS_BEDROCK,
    "bedrock": semconv.PROVIDER_AWS_BEDROCK,
    "bedrock_converse": semconv.PROVIDER_AWS_BEDROCK,
    "azure_openai": semconv.PROVIDER_AZURE_OPENAI,
    "vertexai": semconv.PROVIDER_GCP_VERTEX_AI,
    "google_vertexai": semconv.PROVIDER_GCP_VERTEX_AI,
    "google_anthropic_vertex": semconv.PROVIDER_GCP_VERTEX_AI,
    "google_genai": semconv.PROVIDER_GCP_GEN_AI,
    "google_generativeai": semconv.PROVIDER_GCP_GEMINI,
    "mistral": semconv.PROVIDER_MISTRAL_AI,
    "mistralai": semconv.PROVIDER_MISTRAL_AI,
    "azure": semconv.PROVIDER_AZURE_OPENAI,
    "azure_ai": semconv.PROVIDER_AZURE_AI_INFERENCE,
    "anthropic-bedrock": semconv.PROVIDER_AWS_BEDROCK,
    "anthropic-mantle": semconv.PROVIDER_AWS_BEDROCK,
    "openai-mantle": semconv.PROVIDER_AWS_BEDROCK,
    "openai-codex": semconv.PROVIDER_OPENAI,
    "xai": semconv.PROVIDER_X_AI,
}
_OPENAI_API_PROVIDERS = (semconv.PROVIDER_OPENAI, semconv.PROVIDER_AZURE_OPENAI)

# Where the integrations keep their endpoint, first match wins: ChatOpenAI's client (it knows
# ``OPENAI_BASE_URL`` too), then ChatOpenAI/AzureChatOpenAI, ChatAnthropic, ChatMistralAI,
# ChatFireworks and ChatBedrock(Converse) fields, then a boto3 client's resolved endpoint.
_BASE_URL_PATHS: tuple[tuple[str, ...], ...] = (
    ("root_client", "base_url"),
    ("openai_api_base",),
    ("azure_endpoint",),
    ("anthropic_api_url",),
    ("endpoint",),
    ("fireworks_api_base",),
    ("endpoint_url",),
    ("client", "meta", "endpoint_url"),
)
# Sampling parameters read from the call's keyword arguments, else from the model's own fields.
_SAMPLING_KEYS = ("top_p", "top_k", "frequency_penalty", "presence_penalty", "seed", "n")
# Keys in response_metadata, by integration.
_FINISH_REASON_KEYS = ("finish_reason", "stop_reason", "stopReason")
_RESPONSE_MODEL_KEYS = ("model_name", "model", "model_id")
# LangChain names messages it has no provider id for "lc_run-<run id>" (``LC_ID_PREFIX``).
_LANGCHAIN_ID_PREFIX = "lc_"


@dataclass(frozen=True, slots=True)
class LangChainRequest(RequestFacts):
    """``RequestFacts`` of a LangChain chat model call: recognisable to a nested chat model call."""


def provider_name(ls_provider: str | None, host: str | None = None) -> str:
    """``gen_ai.provider.name`` for a chat model's ``ls_provider``.

    ChatOpenAI reports ``openai`` whatever its ``base_url`` points at (Together, Groq, a proxy), so
    for it the host decides, exactly as the OpenAI SDK adapter decides.
    """
    if not ls_provider:
        return "langchain"
    name = ls_provider.lower()
    if name == semconv.PROVIDER_OPENAI:
        return provider_for_host(host)
    return _PROVIDERS.get(name, name)


# --- pure readers ----------------------------------------------------------------------------------


def is_cache_replay(usage_metadata: Any) -> bool:
    """True for usage LangChain replayed from its cache.

    ``BaseChatModel._convert_cached_generations`` adds ``"total_cost": 0`` to every cached message's
    ``usage_metadata`` ("We zero out cost on cache hits"); no integration sets that key itself.
    """
    return isinstance(usage_metadata, Mapping) and usage_metadata.get("total_cost") == 0


def _details_sum(details: Any, key: str) -> int | None:
    """``details[key]`` plus every service-tier variant ``<tier>_<key>`` (``priority_cache_read``).

    langchain-openai ``_create_usage_metadata`` renames the detail keys of ``priority`` and ``flex``
    tier responses; the counts still mean the same tokens.
    """
    if not isinstance(details, Mapping):
        return None
    suffix = f"_{key}"
    return sum_known(
        *(as_count(value) for name, value in details.items() if name == key or name.endswith(suffix))
    )


def _cache_write(details: Any) -> int | None:
    """Cache writes: ``cache_creation`` (and tier variants), or the per-TTL ``ephemeral_*`` counts.

    langchain-anthropic and langchain-aws move the count into ``ephemeral_5m_input_tokens`` and
    ``ephemeral_1h_input_tokens`` and set ``cache_creation`` to 0 when the TTL breakdown is known;
    Anthropic's ``cache_creation_input_tokens`` is the sum of that breakdown. Both describe the
    same tokens, so the larger reading is taken, never their sum.
    """
    creation = _details_sum(details, "cache_creation")
    if not isinstance(details, Mapping):
        return creation
    ephemeral = sum_known(
        *(
            as_count(value)
            for name, value in details.items()
            if name.startswith("ephemeral_") and name.endswith("_input_tokens")
        )
    )
    if ephemeral is None:
        return creation
    return ephemeral if creation is None else max(creation, ephemeral)


def extract_usage_metadata(usage_metadata: Any) -> TokenUsage | None:
    """Normalize ``AIMessage.usage_metadata`` (``langchain_core.messages.ai.UsageMetadata``).

    ``input_tokens`` already "is a sum of all input token types" (cache reads and writes included)
    and ``output_tokens`` includes reasoning, as the conventions want. The details are subsets:
    ``cache_read`` (plus tier variants), ``cache_creation`` or the ``ephemeral_*`` TTL counts (see
    ``_cache_write``), ``reasoning`` (plus tier variants), and ``audio`` on either side.
    """
    if not isinstance(usage_metadata, Mapping):
        return None
    input_details = usage_metadata.get("input_token_details")
    output_details = usage_metadata.get("output_token_details")
    usage = TokenUsage(
        input=as_count(usage_metadata.get("input_tokens")),
        output=as_count(usage_metadata.get("output_tokens")),
        cache_read=_details_sum(input_details, "cache_read"),
        cache_write=_cache_write(input_details),
        reasoning=_details_sum(output_details, "reasoning"),
        input_modalities=_audio(input_details),
        output_modalities=_audio(output_details),
    )
    return None if usage.is_empty else usage


def _audio(details: Any) -> tuple[tuple[str, int], ...]:
    if not isinstance(details, Mapping) or "audio" not in details:
        return ()
    return modality_counts((("audio", details["audio"]),))


def extract_bedrock_usage(usage: Any) -> TokenUsage | None:
    """The legacy ChatBedrock ``usage``: ``prompt_tokens``/``completion_tokens`` (the seed's shape).

    For Claude on InvokeModel, langchain-aws adds ``cache_read_input_tokens`` and
    ``cache_write_input_tokens`` next to a ``prompt_tokens`` that excludes them (as Anthropic's
    ``input_tokens`` does; ``chat_models/bedrock.py`` sums the three into ``input_tokens``).
    Without cache fields the shape is the chat-completions one.
    """
    chat = extract_chat_usage(usage)
    cache_read = count_at(usage, "cache_read_input_tokens")
    cache_write = count_at(usage, "cache_write_input_tokens")
    if chat is None or (cache_read is None and cache_write is None):
        return chat
    return TokenUsage(
        input=total_of(chat.input, cache_read, cache_write),
        output=chat.output,
        cache_read=cache_read,
        cache_write=cache_write,
    )


def extract_vertex_usage(usage: Any) -> TokenUsage | None:
    """Gemini ``usage_metadata`` (ChatVertexAI's ``response_metadata``), snake_case as LangChain keeps it.

    ``prompt_token_count`` includes cached tokens; tool-use prompt tokens are input too. Thoughts
    are not inside ``candidates_token_count`` (total = prompt + candidates + tool use + thoughts),
    so output = candidates + thoughts and reasoning = thoughts.
    """
    thoughts = count_at(usage, "thoughts_token_count")
    return TokenUsage(
        input=total_of(count_at(usage, "prompt_token_count"), count_at(usage, "tool_use_prompt_token_count")),
        output=total_of(count_at(usage, "candidates_token_count"), thoughts),
        cache_read=count_at(usage, "cached_content_token_count"),
        reasoning=thoughts,
    )


def extract_metadata_usage(metadata: Any) -> TokenUsage | None:
    """Usage from ``response_metadata`` or ``llm_output``, for messages without ``usage_metadata``.

    The shapes of LangChain's "Response metadata" page: ``token_usage`` holds the chat-completions
    usage (OpenAI, Mistral, Groq, Together, Fireworks); ``usage`` holds Anthropic's usage, the
    legacy ChatBedrock's ``prompt_tokens``/``completion_tokens``, or Bedrock Converse's camelCase
    usage; ``usage_metadata`` holds Gemini's counts (ChatVertexAI).
    """
    if not isinstance(metadata, Mapping):
        return None
    usage: TokenUsage | None = None
    token_usage = metadata.get("token_usage")
    if token_usage is not None:
        usage = extract_chat_usage(token_usage)
    elif (wire := metadata.get("usage")) is not None:
        if attr(wire, "prompt_tokens") is not None or attr(wire, "completion_tokens") is not None:
            usage = extract_bedrock_usage(wire)
        elif attr(wire, "inputTokens") is not None or attr(wire, "outputTokens") is not None:
            usage = extract_converse_usage(wire)
        else:
            usage = extract_anthropic_usage(wire)
    elif (gemini := metadata.get("usage_metadata")) is not None:
        usage = extract_vertex_usage(gemini)
    return None if usage is None or usage.is_empty else usage


def extract_message_usage(message: Any, llm_output: Any = None) -> TokenUsage | None:
    """A message's usage: ``usage_metadata``, else its ``response_metadata``, else the ``llm_output``."""
    return (
        extract_usage_metadata(attr(message, "usage_metadata"))
        or extract_metadata_usage(attr(message, "response_metadata"))
        or extract_metadata_usage(llm_output)
    )


def extract_finish_reason(metadata: Any, generation_info: Any = None) -> str | None:
    """The provider's finish reason, as it sent it (``stop``, ``end_turn``, ``STOP``, ...)."""
    for source in (metadata, generation_info):
        if isinstance(source, Mapping):
            for key in _FINISH_REASON_KEYS:
                reason = as_str(source.get(key))
                if reason:
                    return reason
    return None


def extract_response_model(metadata: Any) -> str | None:
    """The model that answered, as the integration reports it."""
    if isinstance(metadata, Mapping):
        for key in _RESPONSE_MODEL_KEYS:
            model = as_str(metadata.get(key))
            if model:
                return model
    return None


def extract_response_id(message: Any, metadata: Any) -> str | None:
    """The provider's response id: ``response_metadata["id"]``, else a message id not made up by LangChain."""
    if isinstance(metadata, Mapping):
        found = as_str(metadata.get("id"))
        if found:
            return found
    message_id = as_str(attr(message, "id"))
    if message_id and not message_id.startswith(_LANGCHAIN_ID_PREFIX):
        return message_id
    return None


def _sum_usage(parts: Iterable[TokenUsage | None]) -> TokenUsage | None:
    total: TokenUsage | None = None
    for part in parts:
        if part is not None:
            total = part if total is None else total + part
    return total


def apply_response_metadata(invocation: Invocation, message: Any) -> None:
    """Response id, model and, for OpenAI's API, service tier and fingerprint, from one message."""
    metadata = attr(message, "response_metadata")
    invocation.response_id = extract_response_id(message, metadata) or invocation.response_id
    invocation.response_model = extract_response_model(metadata) or invocation.response_model
    _apply_openai_attributes(invocation, metadata)


def _apply_openai_attributes(invocation: Invocation, metadata: Any) -> None:
    if invocation.provider in _OPENAI_API_PROVIDERS and isinstance(metadata, Mapping):
        invocation.set_attribute(semconv.OPENAI_RESPONSE_SERVICE_TIER, as_str(metadata.get("service_tier")))
        invocation.set_attribute(
            semconv.OPENAI_RESPONSE_SYSTEM_FINGERPRINT, as_str(metadata.get("system_fingerprint"))
        )


def apply_chat_result(invocation: Invocation, result: Any) -> None:
    """Facts of a ``ChatResult``: usage from the first generation, one finish reason per generation.

    With ``n > 1`` langchain-openai attaches the whole call's usage to every generation, so only
    the first generation's usage is read.
    """
    generations = attr(result, "generations")
    if not isinstance(generations, list) or not generations:
        return
    message = attr(generations[0], "message")
    apply_response_metadata(invocation, message)
    if is_cache_replay(attr(message, "usage_metadata")):
        invocation.set_attribute(semconv.TOKENTRACE_LANGCHAIN_CACHE_HIT, True)
        invocation.replayed = True
    else:
        invocation.set_usage(extract_message_usage(message, attr(result, "llm_output")))
    reasons = [
        extract_finish_reason(
            attr(attr(generation, "message"), "response_metadata"), attr(generation, "generation_info")
        )
        for generation in generations
    ]
    if any(reasons):
        invocation.finish_reasons = [reason or "error" for reason in reasons]


# --- request facts ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _ModelFields:
    """Which of the fields tokentrace reads a chat model class has, found once per class.

    Reading a field a pydantic model lacks raises (and formats) an ``AttributeError`` inside
    pydantic; at a dozen reads per call that would cost more than the rest of the adapter.
    """

    base_url_paths: tuple[tuple[str, ...], ...]
    sampling: tuple[str, ...]
    random_seed: bool
    reasoning_effort: bool
    streaming: bool


_FIELDS_BY_CLASS: dict[type, _ModelFields] = {}
_MAX_CLASSES = 256


def _fields_of(model: Any) -> _ModelFields:
    cls = type(model)
    found = _FIELDS_BY_CLASS.get(cls)
    if found is not None:
        return found
    declared = getattr(cls, "model_fields", None)
    names = frozenset(declared) if isinstance(declared, Mapping) else frozenset(dir(cls))
    found = _ModelFields(
        base_url_paths=tuple(path for path in _BASE_URL_PATHS if path[0] in names),
        sampling=tuple(key for key in _SAMPLING_KEYS if key in names),
        random_seed="random_seed" in names,
        reasoning_effort="reasoning_effort" in names,
        streaming="streaming" in names,
    )
    if len(_FIELDS_BY_CLASS) >= _MAX_CLASSES:  # classes made on the fly must not grow this forever
        _FIELDS_BY_CLASS.clear()
    _FIELDS_BY_CLASS[cls] = found
    return found


def _base_url(model: Any, fields: _ModelFields) -> Any:
    for path in fields.base_url_paths:
        value: Any = model
        for name in path:
            value = attr(value, name)
            if value is None:
                break
        if value is not None and "://" in str(value):
            return value
    return None


def _ls_params(model: Any, run_manager: Any, stop: Any, call_kwargs: Mapping[str, Any]) -> Mapping[str, Any]:
    """The LangSmith params (``ls_provider``, ``ls_model_name``, ``ls_temperature``, ...) of this call.

    ``generate`` already computed them into the run's metadata; ``stream`` has no run yet, so the
    model's own ``_get_ls_params`` is asked (what LangChain itself calls for tracing).
    """
    metadata = attr(run_manager, "metadata")
    if isinstance(metadata, Mapping) and "ls_provider" in metadata:
        return metadata
    get_ls_params = getattr(model, "_get_ls_params", None)
    if get_ls_params is None:
        return {}
    try:
        params = get_ls_params(stop=stop, **call_kwargs)
    except Exception:  # an integration's own bug or odd kwargs: fall back to what the class tells
        return {}
    return params if isinstance(params, Mapping) else {}


def request_attributes(
    model: Any,
    ls_params: Mapping[str, Any],
    call_kwargs: Mapping[str, Any],
    fields: _ModelFields | None = None,
) -> dict[str, AttributeValue]:
    """``gen_ai.request.*`` from the LangSmith params, then the call's or model's sampling parameters."""
    if fields is None:
        fields = _fields_of(model)
    params: dict[str, Any] = {
        "temperature": ls_params.get("ls_temperature"),
        "max_tokens": ls_params.get("ls_max_tokens"),
        "stop": ls_params.get("ls_stop"),
    }
    for key in fields.sampling:
        params[key] = getattr(model, key, None)
    for key in _SAMPLING_KEYS:
        if key in call_kwargs:
            params[key] = call_kwargs[key]
    if params.get("seed") is None and fields.random_seed:
        params["seed"] = getattr(model, "random_seed", None)  # ChatMistralAI
    attributes = sampling_attributes(params)
    effort = as_str(call_kwargs.get("reasoning_effort"))
    if effort is None and fields.reasoning_effort:
        effort = as_str(getattr(model, "reasoning_effort", None))
    if effort:
        attributes[semconv.GEN_AI_REQUEST_REASONING_LEVEL] = effort
    return attributes


def error_type_of(exc: BaseException) -> str | None:
    """The SDK's exception class for an integration's re-raised wrapper, else None (the class name).

    langchain-openai re-raises SDK errors as its own subclasses (``OpenAIRateLimitError`` from
    ``openai.RateLimitError``, ``OpenAIAPIError`` from ``InternalServerError``): the SDK's name is
    the one the call gets with the SDK instrumented alone, so the same failure reads the same.
    """
    cause = exc.__cause__
    if cause is not None and type(exc).__module__.startswith("langchain"):
        return type(cause).__qualname__ or None
    return None


def _inside_chat_model_call() -> bool:
    current = current_invocation()
    return current is not None and not current.ended and isinstance(current.facts, LangChainRequest)


def request_facts(
    model: Any, run_manager: Any, stop: Any, call_kwargs: Mapping[str, Any], *, stream: bool
) -> LangChainRequest | None:
    """Facts of one chat model call, or None when it runs inside another traced chat model call."""
    if _inside_chat_model_call():
        return None
    ls_params = _ls_params(model, run_manager, stop, call_kwargs)
    fields = _fields_of(model)
    host, port = server_of(_base_url(model, fields))
    return LangChainRequest(
        operation=semconv.OPERATION_CHAT,
        provider=provider_name(as_str(ls_params.get("ls_provider")), host),
        model=as_str(ls_params.get("ls_model_name")),
        server_address=host,
        server_port=port,
        stream=stream,
        attributes=request_attributes(model, ls_params, call_kwargs, fields),
        absorbs_nested=True,
    )


# --- endpoints -------------------------------------------------------------------------------------


class GenerateWithCache(EndpointBase):
    """``_generate_with_cache(messages, stop=None, run_manager=None, **kwargs)`` and its async twin."""

    def __init__(self, name: str) -> None:
        self.name = name

    def request(self, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> RequestFacts | None:
        """Facts from the run's LangSmith params and the model's fields."""
        stop = args[1] if len(args) > 1 else kwargs.get("stop")
        run_manager = args[2] if len(args) > 2 else kwargs.get("run_manager")
        call_kwargs = {key: value for key, value in kwargs.items() if key not in ("stop", "run_manager")}
        streaming = call_kwargs.get("stream") is True or (
            _fields_of(instance).streaming and getattr(instance, "streaming", None) is True
        )
        return request_facts(instance, run_manager, stop, call_kwargs, stream=streaming)

    def on_response(self, invocation: Invocation, result: Any) -> None:
        """Read the ``ChatResult``."""
        apply_chat_result(invocation, result)

    def error_type(self, exc: BaseException) -> str | None:
        """The SDK's exception class under an integration's wrapper."""
        return error_type_of(exc)


class Stream(EndpointBase):
    """``stream(input, config=None, *, stop=None, **kwargs)`` or ``astream``: a generator, proxied.

    LangChain's generator body calls the SDK while it is read, so the invocation's context is made
    current again for every read. ``astream`` is a plain method returning an async generator; the
    core proxies it by what it returns.
    """

    reattach_stream_context = True

    def __init__(self, name: str) -> None:
        self.name = name

    def request(self, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> RequestFacts | None:
        """Facts from the model's ``_get_ls_params`` (the run does not exist before iteration)."""
        call_kwargs = {key: value for key, value in kwargs.items() if key not in ("stop", "config")}
        return request_facts(instance, None, kwargs.get("stop"), call_kwargs, stream=True)

    def stream_of(self, result: Any) -> Any | None:
        """The generator itself."""
        return result

    def new_accumulator(self, invocation: Invocation, sent_kwargs: dict[str, Any]) -> ChatStreamAccumulator:
        """A fresh accumulator."""
        return ChatStreamAccumulator()

    def error_type(self, exc: BaseException) -> str | None:
        """The SDK's exception class under an integration's wrapper."""
        return error_type_of(exc)


class ChatStreamAccumulator:
    """``AIMessageChunk``s: usage arrives as deltas (LangChain's ``add_usage`` sums them), so it is summed."""

    __slots__ = ("usage_parts", "metadata_parts", "response_id")

    def __init__(self) -> None:
        self.usage_parts: list[Mapping[str, Any]] = []
        self.metadata_parts: list[Mapping[str, Any]] = []
        self.response_id: str | None = None

    def on_chunk(self, chunk: Any) -> bool:
        """Keep the chunk's usage delta and response metadata for the end; every chunk stays visible."""
        # BaseChatModel.stream yields message chunks (an AIMessage when it falls back to invoke).
        usage = getattr(chunk, "usage_metadata", None)
        if usage and isinstance(usage, Mapping):
            self.usage_parts.append(usage)
        metadata = getattr(chunk, "response_metadata", None)
        if metadata and isinstance(metadata, Mapping):
            self.metadata_parts.append(metadata)
        if self.response_id is None:
            message_id = getattr(chunk, "id", None)
            if isinstance(message_id, str) and message_id and not message_id.startswith(_LANGCHAIN_ID_PREFIX):
                self.response_id = message_id
        return True

    def finish(self, invocation: Invocation) -> None:
        """Apply the summed usage and the latest response metadata."""
        usage = _sum_usage(extract_usage_metadata(part) for part in self.usage_parts)
        if usage is None:
            # No usage_metadata on any chunk: the last usage shape in the metadata is the call's.
            for metadata in reversed(self.metadata_parts):
                usage = extract_metadata_usage(metadata)
                if usage is not None:
                    break
        invocation.set_usage(usage)
        reason = None
        for metadata in self.metadata_parts:
            invocation.response_id = as_str(metadata.get("id")) or invocation.response_id
            invocation.response_model = extract_response_model(metadata) or invocation.response_model
            reason = extract_finish_reason(metadata) or reason
            _apply_openai_attributes(invocation, metadata)
        if invocation.response_id is None:
            invocation.response_id = self.response_id
        if reason:
            invocation.finish_reasons = [reason]


def targets(settings: Settings) -> Sequence[WrapTarget]:
    """The four ``BaseChatModel`` methods every LangChain chat model inherits.

    ``astream`` is wrapped as a plain method: calling it returns an async generator at once.
    """
    return (
        WrapTarget(_MODULE, "BaseChatModel._generate_with_cache", GenerateWithCache("langchain.chat")),
        WrapTarget(
            _MODULE,
            "BaseChatModel._agenerate_with_cache",
            GenerateWithCache("langchain.chat"),
            is_async=True,
        ),
        WrapTarget(_MODULE, "BaseChatModel.stream", Stream("langchain.chat.stream")),
        WrapTarget(_MODULE, "BaseChatModel.astream", Stream("langchain.chat.astream")),
    )
