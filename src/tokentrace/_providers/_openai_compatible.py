"""What chat-completions-shaped APIs share: the usage reader, request facts and the stream merge.

Groq, Together and Fireworks ship Stainless SDKs whose ``chat.completions.create`` speaks OpenAI's
chat-completions wire format, and Mistral's chat API has the same usage and choice shapes. Each
adapter subclasses ``ChatCompletionsEndpoint`` and overrides only what its provider does
differently (where usage sits in a stream, extra usage fields, provider attributes).
"""

from __future__ import annotations

from typing import Any

from opentelemetry.util.types import AttributeValue

from tokentrace._core import semconv
from tokentrace._core.invocation import Invocation, RequestFacts
from tokentrace._core.request import as_str, sampling_attributes
from tokentrace._core.server import server_of
from tokentrace._core.stream import StreamAccumulator
from tokentrace._core.usage import TokenUsage, as_count, attr
from tokentrace._core.wrapper import EndpointBase
from tokentrace._providers._stainless import is_stream, raw_event_stream, response_body, with_stream_proxy

# --- pure readers ----------------------------------------------------------------------------------


def reported_count(obj: Any, name: str) -> int | None:
    """The count ``name`` of ``obj`` if the provider sent it, else ``None`` (see :func:`reported_counts`)."""
    return reported_counts(obj, (name,))[0]


_DEFAULTED_FIELDS: dict[type, frozenset[str]] = {}


def _defaulted_fields(kind: type) -> frozenset[str]:
    """Fields of a pydantic model type that have a default (empty for anything else), cached per type."""
    names = _DEFAULTED_FIELDS.get(kind)
    if names is None:
        try:
            fields = getattr(kind, "model_fields", None) or {}
            names = frozenset(name for name, info in fields.items() if not info.is_required())
        except Exception:
            names = frozenset()
        _DEFAULTED_FIELDS[kind] = names
    return names


def reported_counts(obj: Any, names: tuple[str, ...]) -> list[int | None]:
    """The counts ``names`` of ``obj`` where the provider sent them; ``None`` where it did not.

    Some SDK models fill a field the payload left out with a default of ``0`` (mistralai's
    ``UsageInfo`` does so for ``prompt_tokens``/``completion_tokens``/``total_tokens``). A pydantic
    model knows which fields the payload set, so a defaulted field is read as "not reported" instead
    of a zero nobody measured. Only a declared field with a default can have been defaulted (a
    required one was sent; an extra key is there only if it was sent); which fields those are is
    looked up once per type. The usage reader runs on every call, so a pydantic model's values,
    fields set and extras are read straight from the instance (what attribute access would do,
    without a function call and a miss through ``__getattr__`` per name).
    """
    if obj is None:
        return [None] * len(names)
    defaulted = _defaulted_fields(type(obj))
    values = getattr(obj, "__dict__", None)
    fields_set = getattr(obj, "__pydantic_fields_set__", None)
    if not isinstance(values, dict) or not isinstance(fields_set, (set, frozenset)):
        # A mapping or another kind of object: read through ``attr``.
        model_fields_set = getattr(obj, "model_fields_set", None) if defaulted else None
        unset = (
            defaulted - model_fields_set if isinstance(model_fields_set, (set, frozenset)) else frozenset()
        )
        return [None if name in unset else as_count(attr(obj, name)) for name in names]
    extra = getattr(obj, "__pydantic_extra__", None)
    counts: list[int | None] = []
    for name in names:
        if name in values:
            value = None if name in defaulted and name not in fields_set else values[name]
        else:
            value = extra.get(name) if isinstance(extra, dict) else None
        counts.append(as_count(value))
    return counts


# Per-modality fields of the details objects, in ``_DETAIL_NAMES`` after the leading count.
_MODALITIES = ("text", "audio", "image")
_PROMPT_DETAIL_NAMES = ("cached_tokens", "cache_write_tokens", "text_tokens", "audio_tokens", "image_tokens")
_COMPLETION_DETAIL_NAMES = ("reasoning_tokens", "text_tokens", "audio_tokens", "image_tokens")


def extract_chat_usage(usage: Any) -> TokenUsage | None:
    """Normalize a chat-completions ``usage`` object or mapping.

    ``prompt_tokens`` already includes cached tokens and ``completion_tokens`` includes reasoning
    tokens, which is what the conventions ask for
    (https://platform.openai.com/docs/api-reference/chat/object#chat/object-usage; Groq, Fireworks
    and Mistral document the same fields). Cached reads come from
    ``prompt_tokens_details.cached_tokens``, cache writes from ``prompt_tokens_details.cache_write_tokens``,
    reasoning from ``completion_tokens_details.reasoning_tokens``, per-modality counts from the
    details' ``text_tokens``/``audio_tokens``/``image_tokens``. A count the provider left out stays
    ``None``: Fireworks' ``completion_tokens`` is optional, and it is never derived from
    ``total_tokens``.
    """
    if usage is None:
        return None
    prompt_tokens, completion_tokens = reported_counts(usage, ("prompt_tokens", "completion_tokens"))
    cached, cache_write, *prompt_modalities = reported_counts(
        attr(usage, "prompt_tokens_details"), _PROMPT_DETAIL_NAMES
    )
    reasoning, *completion_modalities = reported_counts(
        attr(usage, "completion_tokens_details"), _COMPLETION_DETAIL_NAMES
    )
    return TokenUsage(
        input=prompt_tokens,
        output=completion_tokens,
        cache_read=cached,
        cache_write=cache_write,
        reasoning=reasoning,
        input_modalities=_modalities(prompt_modalities),
        output_modalities=_modalities(completion_modalities),
    )


def _modalities(counts: list[int | None]) -> tuple[tuple[str, int], ...]:
    return tuple(
        [(modality, count) for modality, count in zip(_MODALITIES, counts, strict=True) if count is not None]
    )


def extract_embeddings_usage(usage: Any) -> TokenUsage | None:
    """Embeddings report input tokens only; there is no output count to record."""
    if usage is None:
        return None
    return TokenUsage(input=reported_count(usage, "prompt_tokens"))


def apply_embeddings_response(invocation: Invocation, body: Any) -> None:
    """Id, model, usage and vector length of an OpenAI-shaped embeddings response (OpenAI, Mistral)."""
    invocation.response_id = as_str(attr(body, "id"))
    invocation.response_model = as_str(attr(body, "model"))
    invocation.set_usage(extract_embeddings_usage(attr(body, "usage")))
    data = attr(body, "data")
    if isinstance(data, list) and data:
        vector = attr(data[0], "embedding")
        if isinstance(vector, list):
            invocation.set_attribute(semconv.GEN_AI_EMBEDDINGS_DIMENSION_COUNT, len(vector))


def extract_finish_reasons(choices: Any) -> list[str] | None:
    """One finish reason per choice, in choice order; a choice without one reports ``error``."""
    if not isinstance(choices, list) or not choices:
        return None
    reasons = [as_str(attr(choice, "finish_reason")) for choice in choices]
    return [reason or "error" for reason in reasons] if any(reasons) else None


def output_type(response_format: Any) -> str | None:
    """``gen_ai.output.type`` from an OpenAI-style ``response_format`` (mapping or SDK model)."""
    kind = as_str(attr(response_format, "type"))
    if kind in ("json_schema", "json_object"):
        return "json"
    if kind == "text":
        return "text"
    if isinstance(response_format, type):  # parse(response_format=SomePydanticModel)
        return "json"
    return None


def chat_request_attributes(kwargs: dict[str, Any]) -> dict[str, AttributeValue]:
    """Sampling parameters, output type and reasoning effort of a chat request."""
    attributes = sampling_attributes(kwargs)
    kind = output_type(kwargs.get("response_format"))
    if kind:
        attributes[semconv.GEN_AI_OUTPUT_TYPE] = kind
    effort = as_str(kwargs.get("reasoning_effort"))
    if effort:
        attributes[semconv.GEN_AI_REQUEST_REASONING_LEVEL] = effort
    return attributes


# --- endpoint --------------------------------------------------------------------------------------


class ChatCompletionsEndpoint(EndpointBase):
    """``chat.completions.create`` of a Stainless SDK (``instance._client`` has the base URL)."""

    provider: str = ""
    # Where the SDK posts when the client's base URL was not overridden (Together and Fireworks
    # then use an absolute URL on another host than ``client.base_url``).
    default_url: str | None = None

    def __init__(self, name: str) -> None:
        self.name = name

    def request(self, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> RequestFacts | None:
        """Facts from the client's base URL and the keyword arguments."""
        host, port = self.server(attr(instance, "_client"))
        return RequestFacts(
            operation=semconv.OPERATION_CHAT,
            provider=self.provider,
            model=as_str(kwargs.get("model")),
            server_address=host,
            server_port=port,
            stream=kwargs.get("stream") is True,
            attributes=self.request_attributes(kwargs),
        )

    def server(self, client: Any) -> tuple[str | None, int | None]:
        """The host and port the SDK sends the request to."""
        if self.default_url is not None and attr(client, "_base_url_overridden") is False:
            return server_of(self.default_url)
        return server_of(attr(client, "base_url"))

    def request_attributes(self, kwargs: dict[str, Any]) -> dict[str, AttributeValue]:
        """OpenAI-style chat parameters."""
        return chat_request_attributes(kwargs)

    def stream_of(self, result: Any) -> Any | None:
        """Streams are proxied, also one inside a raw response; complete responses are read at once."""
        return result if is_stream(result) else raw_event_stream(result)

    def with_stream(self, result: Any, proxy: Any) -> Any:
        """The proxy replaces a stream; a raw response returns it from ``parse()``."""
        return with_stream_proxy(result, proxy)

    def apply_common(self, invocation: Invocation, response: Any) -> None:
        """Response id and model, from a complete response or a stream's first chunk."""
        invocation.response_id = as_str(attr(response, "id"))
        invocation.response_model = as_str(attr(response, "model"))

    def apply_usage(self, invocation: Invocation, usage: Any) -> None:
        """Normalize the provider's usage object onto the invocation."""
        invocation.set_usage(extract_chat_usage(usage))

    def chunk_usage(self, chunk: Any) -> Any:
        """The usage a stream chunk carries (``None`` on all but the last, as a rule)."""
        return getattr(chunk, "usage", None)

    def on_response(self, invocation: Invocation, result: Any) -> None:
        """Read a complete chat completion (or a raw response's JSON body)."""
        body = response_body(result)
        if body is None:
            return
        self.apply_common(invocation, body)
        self.apply_usage(invocation, attr(body, "usage"))
        invocation.finish_reasons = extract_finish_reasons(attr(body, "choices"))

    def new_accumulator(self, invocation: Invocation, sent_kwargs: dict[str, Any]) -> StreamAccumulator:
        """These providers send usage on their own: no chunk was caused by tokentrace."""
        return ChatStreamAccumulator(self)


class ChatStreamAccumulator:
    """Chunks of a chat-completions stream: usage arrives once, on the final chunk.

    The first chunk names the response (id, model); finish reasons are kept per choice index; the
    last usage seen wins (providers send it once, so there is nothing to add up). A stream cut
    before its final chunk has no usage, and none is recorded.
    """

    __slots__ = ("endpoint", "hide_usage_chunk", "first", "usage", "reasons", "usage_of")

    def __init__(self, endpoint: ChatCompletionsEndpoint, *, hide_usage_chunk: bool = False) -> None:
        self.endpoint = endpoint
        # Where a chunk's usage is, for providers that keep it elsewhere (Groq); None: ``chunk.usage``,
        # read inline because this runs for every chunk.
        self.usage_of = (
            None
            if type(endpoint).chunk_usage is ChatCompletionsEndpoint.chunk_usage
            else endpoint.chunk_usage
        )
        # Only for a usage-only chunk (no choices) that tokentrace itself asked for.
        self.hide_usage_chunk = hide_usage_chunk
        self.first: Any = None
        self.usage: Any = None
        self.reasons: dict[int, str] = {}

    def on_chunk(self, chunk: Any) -> bool:
        """Note the first chunk, finish reasons and usage."""
        if self.first is None:
            self.first = chunk
        choices = getattr(chunk, "choices", None)
        if isinstance(choices, list):
            for position, choice in enumerate(choices):
                reason = getattr(choice, "finish_reason", None)
                if reason:
                    index = getattr(choice, "index", None)
                    self.reasons[index if isinstance(index, int) else position] = reason
        usage = getattr(chunk, "usage", None) if self.usage_of is None else self.usage_of(chunk)
        if usage is not None:
            self.usage = usage
            if not choices and self.hide_usage_chunk:
                return False
        return True

    def finish(self, invocation: Invocation) -> None:
        """Apply the merged facts."""
        if self.first is not None:
            self.endpoint.apply_common(invocation, self.first)
        self.endpoint.apply_usage(invocation, self.usage)
        if self.reasons:
            invocation.finish_reasons = [
                as_str(self.reasons[index]) or "error" for index in sorted(self.reasons)
            ]
