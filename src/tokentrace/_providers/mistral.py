"""Mistral SDK (``mistralai``): ``chat.complete``/``stream`` and their async twins, ``embeddings.create``.

Wrapped (mistralai 3.x, ``mistralai/client/chat.py`` and ``mistralai/client/embeddings.py``):
``mistralai.client.chat.Chat.complete``, ``complete_async``, ``stream``, ``stream_async`` and
``mistralai.client.embeddings.Embeddings.create``, ``create_async``; the same classes under
``mistralai.chat``/``mistralai.embeddings`` in 1.x (whichever exists is wrapped). The ``parse*``
helpers call ``complete``/``stream`` themselves, so they are not wrapped (one span per user call).
Stream items are ``CompletionEvent``s whose ``data`` is a ``CompletionChunk``; the final chunk
carries ``usage``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from opentelemetry.util.types import AttributeValue

from tokentrace._core import semconv
from tokentrace._core.config import Settings
from tokentrace._core.invocation import Invocation, RequestFacts
from tokentrace._core.patching import WrapTarget
from tokentrace._core.request import as_int, as_str
from tokentrace._core.server import server_of
from tokentrace._core.wrapper import EndpointBase
from tokentrace._providers._openai_compatible import (
    ChatCompletionsEndpoint,
    ChatStreamAccumulator,
    apply_embeddings_response,
    chat_request_attributes,
    extract_chat_usage,
    extract_embeddings_usage,
)

__all__ = ["extract_embeddings_usage", "extract_usage", "targets"]

# ``UsageInfo``: prompt_tokens already includes the cached tokens, which Mistral reports outside
# the SDK's declared fields (``usage.additional_properties["prompt_tokens_details"]["cached_tokens"]``,
# readable as an attribute). The SDK fills a missing count with 0; only counts Mistral actually sent
# are recorded (``reported_count``).
extract_usage = extract_chat_usage


def server_of_sdk(instance: Any, kwargs: dict[str, Any]) -> tuple[str | None, int | None]:
    """Host and port of the call: the per-call ``server_url``, else the client's configured server."""
    url = as_str(kwargs.get("server_url"))
    if url is None:
        try:
            url, _ = instance.sdk_configuration.get_server_details()
        except Exception:  # an SDK without it, or an invalid named server: no server facts
            return None, None
    return server_of(url)


def sdk_error_type(exc: BaseException) -> str | None:
    """The HTTP status for the SDK's catch-all ``SDKError`` (its class name says nothing more).

    Other exceptions (``HTTPValidationError``, connection errors) keep their class names.
    """
    status = getattr(exc, "status_code", None)
    if type(exc).__name__ == "SDKError" and isinstance(status, int):
        return str(status)
    return None


class _MistralEndpoint(EndpointBase):
    """Provider, server and error type, as every Mistral endpoint reports them."""

    def error_type(self, exc: BaseException) -> str | None:
        """The HTTP status of an ``SDKError``."""
        return sdk_error_type(exc)


class Chat(_MistralEndpoint, ChatCompletionsEndpoint):
    """``chat.complete`` (``stream=False``) and ``chat.stream`` (``stream=True``), sync or async."""

    provider = semconv.PROVIDER_MISTRAL_AI

    def __init__(self, name: str, *, stream: bool) -> None:
        super().__init__(name)
        self.stream = stream

    def request(self, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> RequestFacts | None:
        """Facts from the SDK configuration and the keyword arguments."""
        host, port = server_of_sdk(instance, kwargs)
        return RequestFacts(
            operation=semconv.OPERATION_CHAT,
            provider=self.provider,
            model=as_str(kwargs.get("model")),
            server_address=host,
            server_port=port,
            stream=self.stream,
            attributes=self.request_attributes(kwargs),
        )

    def request_attributes(self, kwargs: dict[str, Any]) -> dict[str, AttributeValue]:
        """Chat parameters; Mistral calls the seed ``random_seed``."""
        attributes = chat_request_attributes(kwargs)
        seed = as_int(kwargs.get("random_seed"))
        if seed is not None:
            attributes[semconv.GEN_AI_REQUEST_SEED] = seed
        return attributes

    def new_accumulator(self, invocation: Invocation, sent_kwargs: dict[str, Any]) -> ChatStreamAccumulator:
        """A chat stream accumulator that reads each event's chunk."""
        return EventStreamAccumulator(self)


class EventStreamAccumulator(ChatStreamAccumulator):
    """Mistral's stream items wrap the chunk: ``CompletionEvent.data``."""

    __slots__ = ()

    def on_chunk(self, chunk: Any) -> bool:
        """Read the chunk inside the event."""
        return super().on_chunk(getattr(chunk, "data", chunk))


class Embeddings(_MistralEndpoint):
    """``embeddings.create``: input tokens only."""

    provider = semconv.PROVIDER_MISTRAL_AI

    def __init__(self, name: str) -> None:
        self.name = name

    def request(self, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> RequestFacts | None:
        """Facts from the SDK configuration, the model, the encoding and the dimension asked for."""
        host, port = server_of_sdk(instance, kwargs)
        attributes: dict[str, AttributeValue] = {}
        encoding = as_str(kwargs.get("encoding_format"))
        if encoding:
            attributes[semconv.GEN_AI_REQUEST_ENCODING_FORMATS] = (encoding,)
        dimensions = as_int(kwargs.get("output_dimension"))
        if dimensions is not None:
            attributes[semconv.GEN_AI_EMBEDDINGS_DIMENSION_COUNT] = dimensions
        return RequestFacts(
            operation=semconv.OPERATION_EMBEDDINGS,
            provider=self.provider,
            model=as_str(kwargs.get("model")),
            server_address=host,
            server_port=port,
            attributes=attributes,
        )

    def on_response(self, invocation: Invocation, result: Any) -> None:
        """Read an ``EmbeddingResponse``."""
        apply_embeddings_response(invocation, result)


def targets(settings: Settings) -> Sequence[WrapTarget]:
    """Every Mistral method tokentrace wraps, in 3.x (``mistralai.client``) and 1.x layouts."""
    wrapped: list[WrapTarget] = []
    for package in ("mistralai.client", "mistralai"):
        chat, embeddings = f"{package}.chat", f"{package}.embeddings"
        wrapped += [
            WrapTarget(chat, "Chat.complete", Chat("mistralai.chat", stream=False)),
            WrapTarget(chat, "Chat.complete_async", Chat("mistralai.chat", stream=False), is_async=True),
            WrapTarget(chat, "Chat.stream", Chat("mistralai.chat", stream=True)),
            WrapTarget(chat, "Chat.stream_async", Chat("mistralai.chat", stream=True), is_async=True),
            WrapTarget(embeddings, "Embeddings.create", Embeddings("mistralai.embeddings")),
            WrapTarget(
                embeddings, "Embeddings.create_async", Embeddings("mistralai.embeddings"), is_async=True
            ),
        ]
    return wrapped
