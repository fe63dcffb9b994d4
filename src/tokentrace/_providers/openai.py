"""OpenAI SDK: chat completions, Responses, embeddings and legacy completions (sync, async, streamed).

Wrapped: ``chat.completions.create``/``parse``, ``responses.create``/``parse``, ``embeddings.create``
and legacy ``completions.create``.
The ``.stream()`` helpers of chat completions and Responses call ``create`` internally, so only
``create`` and ``parse`` are wrapped: one span per user call. Sources, openai 3.54:
``openai/resources/chat/completions/completions.py``, ``openai/resources/responses/responses.py``,
``openai/types/completion_usage.py``, ``openai/types/responses/response_usage.py``.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Sequence
from typing import Any

from opentelemetry.util.types import AttributeValue

from tokentrace._core import semconv
from tokentrace._core.config import Settings
from tokentrace._core.content import Message, Part, encode_messages, message, text_part
from tokentrace._core.invocation import Invocation, RequestFacts
from tokentrace._core.patching import WrapTarget
from tokentrace._core.request import as_int, as_str, is_given, sampling_attributes
from tokentrace._core.server import server_of
from tokentrace._core.stream import StreamAccumulator
from tokentrace._core.usage import TokenUsage, attr, count_at
from tokentrace._core.wrapper import Endpoint
from tokentrace._providers._openai_compatible import (
    ChatCompletionsEndpoint,
    apply_embeddings_response,
    extract_chat_usage,
    extract_embeddings_usage,
    output_type,
)
from tokentrace._providers._openai_compatible import ChatStreamAccumulator as CompatibleChatStream
from tokentrace._providers._stainless import response_body

__all__ = [
    "extract_chat_usage",
    "extract_embeddings_usage",
    "extract_responses_usage",
    "provider_for_host",
    "targets",
]

# Hosts of OpenAI-compatible APIs, by suffix, and the provider each one is (README lists them).
_PROVIDER_BY_HOST_SUFFIX: tuple[tuple[str, str], ...] = (
    ("api.openai.com", semconv.PROVIDER_OPENAI),
    (".openai.azure.com", semconv.PROVIDER_AZURE_OPENAI),
    (".cognitiveservices.azure.com", semconv.PROVIDER_AZURE_OPENAI),
    (".services.ai.azure.com", semconv.PROVIDER_AZURE_OPENAI),
    ("api.groq.com", semconv.PROVIDER_GROQ),
    ("api.together.xyz", semconv.PROVIDER_TOGETHER),
    ("api.together.ai", semconv.PROVIDER_TOGETHER),
    ("api.fireworks.ai", semconv.PROVIDER_FIREWORKS),
    ("api.mistral.ai", semconv.PROVIDER_MISTRAL_AI),
    ("generativelanguage.googleapis.com", semconv.PROVIDER_GCP_GEMINI),
    ("aiplatform.googleapis.com", semconv.PROVIDER_GCP_VERTEX_AI),
    ("api.deepseek.com", semconv.PROVIDER_DEEPSEEK),
    ("api.x.ai", semconv.PROVIDER_X_AI),
    ("api.perplexity.ai", semconv.PROVIDER_PERPLEXITY),
    ("openrouter.ai", semconv.PROVIDER_OPENROUTER),
    ("api.anthropic.com", semconv.PROVIDER_ANTHROPIC),
    (".amazonaws.com", semconv.PROVIDER_AWS_BEDROCK),
)
# openai.* attributes describe OpenAI's own API; the conventions keep them off other providers' spans.
_OPENAI_API_PROVIDERS = (semconv.PROVIDER_OPENAI, semconv.PROVIDER_AZURE_OPENAI)
# Azure OpenAI rejects ``stream_options`` before this API version.
_AZURE_STREAM_OPTIONS_SINCE = "2024-09-01"


_SERVERS: weakref.WeakKeyDictionary[Any, tuple[Any, tuple[str | None, int | None, str]]] = (
    weakref.WeakKeyDictionary()
)


def _server_and_provider(client: Any) -> tuple[str | None, int | None, str]:
    """Host, port and provider of a client, worked out again only when its base URL object changes."""
    url = attr(client, "base_url")
    try:
        cached = _SERVERS.get(client)
    except TypeError:  # not weak-referenceable
        cached = None
    if cached is not None and cached[0] is url:
        return cached[1]
    host, port = server_of(url)
    facts = (host, port, provider_for_host(host, client))
    try:
        _SERVERS[client] = (url, facts)
    except TypeError:
        pass
    return facts


def provider_for_host(host: str | None, client: Any = None) -> str:
    """The ``gen_ai.provider.name`` for an OpenAI-SDK client talking to ``host``.

    Anything unrecognised (a proxy, a local server) is reported as ``openai``: the conventions
    ask for the instrumentation's best knowledge, and the API spoken is OpenAI's.
    """
    if client is not None and "Azure" in type(client).__name__:
        return semconv.PROVIDER_AZURE_OPENAI
    if host:
        for suffix, provider in _PROVIDER_BY_HOST_SUFFIX:
            if host == suffix.lstrip(".") or host.endswith(suffix):
                return provider
    return semconv.PROVIDER_OPENAI


# --- pure readers ----------------------------------------------------------------------------------


def extract_responses_usage(usage: Any) -> TokenUsage | None:
    """``ResponseUsage`` (Responses API): input_tokens includes cached, output_tokens includes reasoning."""
    if usage is None:
        return None
    input_details = attr(usage, "input_tokens_details")
    return TokenUsage(
        input=count_at(usage, "input_tokens"),
        output=count_at(usage, "output_tokens"),
        cache_read=count_at(input_details, "cached_tokens"),
        cache_write=count_at(input_details, "cache_write_tokens"),
        reasoning=count_at(usage, "output_tokens_details", "reasoning_tokens"),
    )


def responses_finish_reason(response: Any) -> str | None:
    """The Responses API has no per-choice reason: derive one from the response status."""
    status = as_str(attr(response, "status"))
    if status == "completed":
        return "stop"
    if status == "incomplete":
        return as_str(attr(attr(response, "incomplete_details"), "reason")) or "incomplete"
    if status == "failed":
        return "error"
    return None


# --- content (only read when capture is switched on) -----------------------------------------------


def _content_parts(content: Any) -> list[Part]:
    if isinstance(content, str):
        return [text_part(content)]
    parts: list[Part] = []
    if isinstance(content, list):
        for item in content:
            kind = as_str(attr(item, "type")) or "unknown"
            text = attr(item, "text")
            if isinstance(text, str):
                parts.append(text_part(text))
            else:
                parts.append({"type": "generic", "generic_type": kind})
    return parts


def _tool_call_parts(tool_calls: Any) -> list[Part]:
    if not isinstance(tool_calls, list):
        return []
    return [
        {
            "type": "tool_call",
            "id": as_str(attr(call, "id")),
            "name": as_str(attr(attr(call, "function"), "name")),
            "arguments": attr(attr(call, "function"), "arguments"),
        }
        for call in tool_calls
    ]


def chat_input_messages(messages: Any) -> list[Message]:
    """The chat request's messages in the conventions' schema."""
    result: list[Message] = []
    if not isinstance(messages, (list, tuple)):
        return result
    for item in messages:
        role = as_str(attr(item, "role")) or "user"
        if role == "tool":
            parts: list[Part] = [
                {
                    "type": "tool_call_response",
                    "id": as_str(attr(item, "tool_call_id")),
                    "response": attr(item, "content"),
                }
            ]
        else:
            parts = _content_parts(attr(item, "content")) + _tool_call_parts(attr(item, "tool_calls"))
        result.append(message(role, parts))
    return result


def chat_output_messages(choices: Any) -> list[Message]:
    """One assistant message per choice."""
    if not isinstance(choices, list):
        return []
    return [
        message(
            "assistant",
            _content_parts(attr(attr(choice, "message"), "content"))
            + _tool_call_parts(attr(attr(choice, "message"), "tool_calls")),
            as_str(attr(choice, "finish_reason")) or "error",
        )
        for choice in choices
    ]


def responses_input_messages(input_value: Any, instructions: Any) -> list[Message]:
    """The Responses request's input (a string or a list of messages)."""
    result: list[Message] = []
    if isinstance(instructions, str):
        result.append(message("system", [text_part(instructions)]))
    if isinstance(input_value, str):
        result.append(message("user", [text_part(input_value)]))
    elif isinstance(input_value, list):
        for item in input_value:
            result.append(
                message(as_str(attr(item, "role")) or "user", _content_parts(attr(item, "content")))
            )
    return result


def responses_output_messages(response: Any) -> list[Message]:
    """The text of a Response's output messages."""
    parts: list[Part] = []
    output = attr(response, "output")
    for item in output if isinstance(output, list) else ():
        if attr(item, "type") == "message":
            parts.extend(_content_parts(attr(item, "content")))
    reason = responses_finish_reason(response) or "error"
    return [message("assistant", parts, reason)] if parts else []


# --- endpoints -------------------------------------------------------------------------------------


class _OpenAIEndpoint(ChatCompletionsEndpoint):
    """What every OpenAI endpoint shares: provider and server from the client, and the openai.* facts."""

    operation: str = semconv.OPERATION_CHAT
    api_type: str | None = None

    def __init__(self, name: str, settings: Settings) -> None:
        super().__init__(name)
        self.settings = settings

    def request(self, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> RequestFacts | None:
        """Facts from the client's base URL and the keyword arguments."""
        client = attr(instance, "_client")
        host, port, provider = _server_and_provider(client)
        attributes = self.request_attributes(kwargs)
        if provider in _OPENAI_API_PROVIDERS:
            if self.api_type:
                attributes[semconv.OPENAI_API_TYPE] = self.api_type
            tier = as_str(kwargs.get("service_tier"))
            if tier and tier != "auto":
                attributes[semconv.OPENAI_REQUEST_SERVICE_TIER] = tier
        return RequestFacts(
            operation=self.operation,
            provider=provider,
            model=as_str(kwargs.get("model")),
            server_address=host,
            server_port=port,
            stream=kwargs.get("stream") is True,
            attributes=attributes,
        )

    def request_attributes(self, kwargs: dict[str, Any]) -> dict[str, AttributeValue]:
        """Sampling parameters and output type."""
        attributes = sampling_attributes(kwargs)
        kind = output_type(kwargs.get("response_format"))
        if kind:
            attributes[semconv.GEN_AI_OUTPUT_TYPE] = kind
        return attributes

    def apply_common(self, invocation: Invocation, response: Any) -> None:
        """Response id, model, and for OpenAI's own API the service tier and system fingerprint."""
        super().apply_common(invocation, response)
        if invocation.provider in _OPENAI_API_PROVIDERS:
            invocation.set_attribute(
                semconv.OPENAI_RESPONSE_SERVICE_TIER, as_str(attr(response, "service_tier"))
            )
            invocation.set_attribute(
                semconv.OPENAI_RESPONSE_SYSTEM_FINGERPRINT, as_str(attr(response, "system_fingerprint"))
            )


class ChatCompletions(_OpenAIEndpoint):
    """``chat.completions.create`` and ``parse`` (and legacy ``completions.create``)."""

    api_type: str | None = "chat_completions"

    def __init__(self, name: str, settings: Settings, operation: str = semconv.OPERATION_CHAT) -> None:
        super().__init__(name, settings)
        self.operation = operation
        if operation != semconv.OPERATION_CHAT:
            self.api_type = None

    def request_attributes(self, kwargs: dict[str, Any]) -> dict[str, AttributeValue]:
        """Chat parameters, plus ``reasoning_effort``; the input messages when capture is on."""
        attributes = super().request_attributes(kwargs)
        effort = as_str(kwargs.get("reasoning_effort"))
        if effort:
            attributes[semconv.GEN_AI_REQUEST_REASONING_LEVEL] = effort
        if self.settings.capture_content:
            prompt = kwargs.get("prompt")
            messages = (
                chat_input_messages(kwargs.get("messages"))
                if "messages" in kwargs
                else [message("user", [text_part(prompt)])]
                if isinstance(prompt, str)
                else []
            )
            attributes[semconv.GEN_AI_INPUT_MESSAGES] = encode_messages(
                messages, self.settings.content_max_length
            )
        return attributes

    def prepare(self, facts: RequestFacts, instance: Any, kwargs: dict[str, Any]) -> dict[str, Any]:
        """Ask a stream for its usage when the caller left ``stream_options`` unset.

        Without ``include_usage`` no chunk carries usage, and the call's tokens are lost. The
        caller's own ``stream_options`` (even an explicit ``None``) always wins.
        """
        if not facts.stream or not self.settings.openai_include_usage:
            return kwargs
        if "stream_options" in kwargs and (
            kwargs["stream_options"] is None or is_given(kwargs["stream_options"])
        ):
            return kwargs
        if facts.provider == semconv.PROVIDER_AZURE_OPENAI:
            api_version = as_str(attr(attr(instance, "_client"), "_api_version")) or ""
            if api_version < _AZURE_STREAM_OPTIONS_SINCE:
                return kwargs
        return {**kwargs, "stream_options": _InjectedStreamOptions(include_usage=True)}

    def on_response(self, invocation: Invocation, result: Any) -> None:
        """Read a ``ChatCompletion`` (or a legacy ``Completion``); its messages when capture is on."""
        super().on_response(invocation, result)
        if self.settings.capture_content:
            invocation.set_attribute(
                semconv.GEN_AI_OUTPUT_MESSAGES,
                encode_messages(
                    chat_output_messages(attr(response_body(result), "choices")),
                    self.settings.content_max_length,
                ),
            )

    def new_accumulator(self, invocation: Invocation, sent_kwargs: dict[str, Any]) -> CompatibleChatStream:
        """Hide the usage-only chunk only when tokentrace is the one that asked for it."""
        injected = isinstance(sent_kwargs.get("stream_options"), _InjectedStreamOptions)
        if self.settings.capture_content:
            return CapturingChatStream(self, hide_usage_chunk=injected)
        # Without capture, the shared merge is used as is: no extra call per chunk.
        return CompatibleChatStream(self, hide_usage_chunk=injected)


class _InjectedStreamOptions(dict[str, Any]):
    """``{"include_usage": True}`` added by tokentrace; a plain dict to the SDK, recognisable to us."""


class CapturingChatStream(CompatibleChatStream):
    """The shared chat stream merge, plus the streamed text (content capture on)."""

    __slots__ = ("texts", "content_max_length")

    def __init__(self, endpoint: ChatCompletions, *, hide_usage_chunk: bool) -> None:
        super().__init__(endpoint, hide_usage_chunk=hide_usage_chunk)
        self.content_max_length = endpoint.settings.content_max_length
        self.texts: dict[int, list[str]] = {}

    def on_chunk(self, chunk: Any) -> bool:
        """The text deltas per choice, then the shared merge."""
        choices = getattr(chunk, "choices", None)
        for position, choice in enumerate(choices if isinstance(choices, list) else ()):
            delta = attr(choice, "delta")
            text = attr(delta, "content") if delta is not None else attr(choice, "text")
            if isinstance(text, str) and text:
                index = attr(choice, "index")
                self.texts.setdefault(index if isinstance(index, int) else position, []).append(text)
        return super().on_chunk(chunk)

    def finish(self, invocation: Invocation) -> None:
        """Apply the merged facts and the captured output messages."""
        super().finish(invocation)
        outputs = [
            message(
                "assistant", [text_part("".join(self.texts.get(index, [])))], self.reasons.get(index, "error")
            )
            for index in sorted(set(self.texts) | set(self.reasons))
        ]
        invocation.set_attribute(
            semconv.GEN_AI_OUTPUT_MESSAGES, encode_messages(outputs, self.content_max_length)
        )


class Responses(_OpenAIEndpoint):
    """``responses.create`` and ``parse``."""

    api_type: str | None = "responses"

    def request_attributes(self, kwargs: dict[str, Any]) -> dict[str, AttributeValue]:
        """Responses parameters: ``max_output_tokens``, ``reasoning.effort``, ``previous_response_id``."""
        attributes = sampling_attributes(kwargs, max_tokens_keys=("max_output_tokens",))
        effort = as_str(attr(kwargs.get("reasoning"), "effort"))
        if effort:
            attributes[semconv.GEN_AI_REQUEST_REASONING_LEVEL] = effort
        previous = as_str(kwargs.get("previous_response_id"))
        if previous:
            attributes[semconv.GEN_AI_REQUEST_PREVIOUS_RESPONSE_ID] = previous
        kind = output_type(attr(kwargs.get("text"), "format")) or output_type(kwargs.get("text_format"))
        if kind:
            attributes[semconv.GEN_AI_OUTPUT_TYPE] = kind
        if self.settings.capture_content:
            messages = responses_input_messages(kwargs.get("input"), kwargs.get("instructions"))
            attributes[semconv.GEN_AI_INPUT_MESSAGES] = encode_messages(
                messages, self.settings.content_max_length
            )
        return attributes

    def on_response(self, invocation: Invocation, result: Any) -> None:
        """Read a ``Response`` (or a raw response's JSON body)."""
        body = response_body(result)
        if body is not None:
            self.apply_response(invocation, body)

    def apply_response(self, invocation: Invocation, response: Any) -> None:
        """Facts of a complete ``Response`` object."""
        self.apply_common(invocation, response)
        invocation.set_usage(extract_responses_usage(attr(response, "usage")))
        reason = responses_finish_reason(response)
        if reason:
            invocation.finish_reasons = [reason]
        if self.settings.capture_content:
            invocation.set_attribute(
                semconv.GEN_AI_OUTPUT_MESSAGES,
                encode_messages(responses_output_messages(response), self.settings.content_max_length),
            )

    def new_accumulator(self, invocation: Invocation, sent_kwargs: dict[str, Any]) -> StreamAccumulator:
        """Responses streams carry the whole response in their terminal event."""
        return ResponsesStreamAccumulator(self)


# Events of a Responses stream that carry the final response (with usage).
_TERMINAL_RESPONSE_EVENTS = frozenset({"response.completed", "response.incomplete", "response.failed"})


class ResponsesStreamAccumulator:
    """Events of a Responses stream: ``response.created`` names it, a terminal event has the usage."""

    __slots__ = ("endpoint", "response")

    def __init__(self, endpoint: Responses) -> None:
        self.endpoint = endpoint
        self.response: Any = None

    def on_chunk(self, chunk: Any) -> bool:
        """Keep the latest response snapshot the stream sent."""
        kind = attr(chunk, "type")
        if (isinstance(kind, str) and kind in _TERMINAL_RESPONSE_EVENTS) or self.response is None:
            response = attr(chunk, "response")
            if response is not None:
                self.response = response
        return True

    def finish(self, invocation: Invocation) -> None:
        """Apply the last response snapshot."""
        if self.response is not None:
            self.endpoint.apply_response(invocation, self.response)


class Embeddings(_OpenAIEndpoint):
    """``embeddings.create``: input tokens only."""

    operation = semconv.OPERATION_EMBEDDINGS

    def request_attributes(self, kwargs: dict[str, Any]) -> dict[str, AttributeValue]:
        """The encoding format asked for."""
        attributes: dict[str, AttributeValue] = {}
        encoding = as_str(kwargs.get("encoding_format"))
        if encoding:
            attributes[semconv.GEN_AI_REQUEST_ENCODING_FORMATS] = (encoding,)
        dimensions = as_int(kwargs.get("dimensions"))
        if dimensions is not None:
            attributes[semconv.GEN_AI_EMBEDDINGS_DIMENSION_COUNT] = dimensions
        return attributes

    def stream_of(self, result: Any) -> Any | None:
        """Embeddings never stream."""
        return None

    def on_response(self, invocation: Invocation, result: Any) -> None:
        """Read a ``CreateEmbeddingResponse`` (or a raw response's JSON body)."""
        apply_embeddings_response(invocation, response_body(result))


def _twins(module: str, method: str, endpoint: Callable[[], Endpoint]) -> tuple[WrapTarget, WrapTarget]:
    """``Class.method`` and its ``AsyncClass.method`` twin, each observed by an endpoint of its own."""
    owner, name = method.split(".")
    return (
        WrapTarget(module, method, endpoint()),
        WrapTarget(module, f"Async{owner}.{name}", endpoint(), is_async=True),
    )


def targets(settings: Settings) -> Sequence[WrapTarget]:
    """Every OpenAI method tokentrace wraps."""
    responses = "openai.resources.responses.responses"
    # Chat completions moved into a package of its own in 1.6x (``completions/completions.py``); the
    # package re-exports the classes, so the module of either layout reaches them (wrapped once).
    chats = ("openai.resources.chat.completions.completions", "openai.resources.chat.completions")
    text = semconv.OPERATION_TEXT_COMPLETION
    return (
        *(
            target
            for chat in chats
            for target in (
                *_twins(chat, "Completions.create", lambda: ChatCompletions("openai.chat", settings)),
                *_twins(chat, "Completions.parse", lambda: ChatCompletions("openai.chat.parse", settings)),
            )
        ),
        *_twins(responses, "Responses.create", lambda: Responses("openai.responses", settings)),
        *_twins(responses, "Responses.parse", lambda: Responses("openai.responses.parse", settings)),
        *_twins(
            "openai.resources.completions",
            "Completions.create",
            lambda: ChatCompletions("openai.completions", settings, text),
        ),
        *_twins(
            "openai.resources.embeddings",
            "Embeddings.create",
            lambda: Embeddings("openai.embeddings", settings),
        ),
    )
