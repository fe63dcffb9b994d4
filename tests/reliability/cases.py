"""Every instrumented provider, described once for the reliability tests: adding a provider is one entry.

Three tables:

- ``EXTRACTORS``: each adapter's pure ``extract_*`` usage readers, with the schema of the payload
  they read and the oracle of which counts may come out of it (item 1).
- ``STREAMS``: each adapter's stream accumulators, with a strategy for the chunks the SDK would
  hand them (item 1).
- ``PROVIDERS``: one real SDK call path per provider through the fake provider: clients, the call,
  the wire usage that yields given counts, the SDK's exception types (items 1-5).
"""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import anthropic
import fireworks
import groq
import httpx2
import openai
import together
from anthropic.types import Message as AnthropicMessage
from anthropic.types import Usage as AnthropicUsage
from fireworks.types.chat.completion_create_response import CompletionCreateResponse as FireworksResponse
from groq.types import CompletionUsage as GroqUsage
from groq.types.chat import ChatCompletion as GroqCompletion
from groq.types.chat import ChatCompletionChunk as GroqChunk
from hypothesis import strategies as st
from mistralai.client import Mistral
from mistralai.client.errors import SDKError
from openai.types import CompletionUsage
from openai.types.chat import ChatCompletion, ChatCompletionChunk
from openai.types.responses import Response, ResponseStreamEvent, ResponseUsage
from together.types.chat import ChatCompletion as TogetherCompletion

from tests.reliability.payloads import Schema, leaves, readable, structured, usage_payloads, value_at
from tokentrace._core.config import Settings
from tokentrace._core.invocation import Invocation
from tokentrace._core.stream import StreamAccumulator
from tokentrace._core.usage import TokenUsage
from tokentrace._providers import anthropic as anthropic_adapter
from tokentrace._providers import groq as groq_adapter
from tokentrace._providers import mistral as mistral_adapter
from tokentrace._providers import openai as openai_adapter
from tokentrace._providers import together as together_adapter
from tokentrace._providers._openai_compatible import ChatStreamAccumulator, extract_chat_usage
from tokentrace.testing import anthropic as anthropic_fake
from tokentrace.testing import fireworks as fireworks_fake
from tokentrace.testing import groq as groq_fake
from tokentrace.testing import mistral as mistral_fake
from tokentrace.testing import openai as openai_fake
from tokentrace.testing import together as together_fake
from tokentrace.testing._server import FakeRequest, Handler, Reply

Path = tuple[str, ...]
MESSAGES: list[Any] = [{"role": "user", "content": "Say hello."}]
SETTINGS = Settings()
CAPTURE_SETTINGS = Settings(capture_content=True)

# Span attribute of each normalized count.
USAGE_ATTRIBUTES = {
    "input": "gen_ai.usage.input_tokens",
    "output": "gen_ai.usage.output_tokens",
    "cache_read": "gen_ai.usage.cache_read.input_tokens",
    "cache_write": "gen_ai.usage.cache_write.input_tokens",
    "reasoning": "gen_ai.usage.reasoning.output_tokens",
}
MODALITY_ATTRIBUTE = {
    "input_modalities": "gen_ai.usage.{}.input_tokens",
    "output_modalities": "gen_ai.usage.{}.output_tokens",
    "cache_read_modalities": "gen_ai.usage.{}.cache_read.input_tokens",
}


def sdk_object(sdk_type: Any, package: str, within: tuple[Any, str] | None = None) -> Callable[[Any], Any]:
    """Build what the SDK itself would hand over for a JSON payload (it does not validate responses)."""

    # Each Stainless SDK has its own copy of the builder; it only knows its own models.
    construct = importlib.import_module(f"{package}._models").construct_type

    def build(payload: Any) -> Any:
        if within is not None:
            # Built as part of its response, as the SDK builds it (nested fields are coerced more).
            parent, key = within
            return getattr(construct(type_=parent, value={key: payload}), key)
        return construct(type_=sdk_type, value=payload)

    return build


# --- extractors ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ExtractorCase:
    """One ``extract_*`` reader and what may come out of a payload for it."""

    id: str
    extract: Callable[[Any], TokenUsage | None]
    schema: Schema
    # count field -> every payload path it may be derived from: with none readable it must be None.
    sources: Mapping[str, Sequence[Path]]
    # count field -> the one path it copies: when set, it must equal that path's count exactly.
    exact: Mapping[str, Path] = field(default_factory=dict)
    # modality field -> (path of the details object, modality names read as ``<name>_tokens``).
    modalities: Mapping[str, tuple[Path, Sequence[str]]] = field(default_factory=dict)
    # Turns a JSON payload into the SDK object the adapter reads in real use (None: plain mappings).
    to_sdk: Callable[[Any], Any] | None = None
    # The SDK's "not given" sentinels, which can stand in any field of an SDK-built object.
    sentinels: Sequence[Any] = ()
    # Counts may arrive as decimal strings (HTTP headers).
    text_counts: bool = False

    def payloads(self, *, json_only: bool = False) -> st.SearchStrategy[Any]:
        return usage_payloads(self.schema, json_only=json_only, sentinels=() if json_only else self.sentinels)

    def expected(self, payload: Any) -> dict[str, int | None | type[Any]]:
        """Field -> the exact count, None (must be absent), or ``int`` (any count may be there)."""
        result: dict[str, int | None | type[Any]] = {}
        for name, paths in self.sources.items():
            if name in self.exact:
                result[name] = readable(payload, self.exact[name], text_counts=self.text_counts)
            elif any(readable(payload, path, text_counts=self.text_counts) is not None for path in paths):
                result[name] = int
            else:
                result[name] = None
        return result

    def _has_bool(self, payload: Any, name: str) -> bool:
        return any(isinstance(value_at(payload, path), bool) for path in self.sources[name])

    def expected_modalities(self, payload: Any) -> dict[str, dict[str, int]]:
        result: dict[str, dict[str, int]] = {}
        for name, (path, modalities) in self.modalities.items():
            counts = {}
            for modality in modalities:
                count = readable(payload, (*path, f"{modality}_tokens"))
                if count is not None:
                    counts[modality] = count
            result[name] = counts
        return result

    def check(self, usage: TokenUsage | None, payload: Any) -> None:
        """``usage`` read from ``payload`` holds only counts the payload really had."""
        expected = self.expected(payload)
        for name, want in expected.items():
            got = None if usage is None else getattr(usage, name)
            if want is int:
                assert got is None or type(got) is int, (name, got)
            else:
                assert got == want, (name, got, want, payload)
        if usage is None and all(want is None for want in expected.values()):
            return  # nothing but a breakdown: an invocation keeps no usage without a count
        for name, want_modalities in self.expected_modalities(payload).items():
            got_pairs = () if usage is None else getattr(usage, name)
            assert dict(got_pairs) == want_modalities, (name, got_pairs, want_modalities)

    def check_attributes(
        self, attributes: Mapping[str, Any], payload: Any, *, bools_may_count: bool = False
    ) -> None:
        """The span attributes exported for a call whose usage was ``payload``.

        ``bools_may_count``: the SDK validated the event that carried a bool in pydantic's lax mode,
        which hands the application 0 or 1 for it; that count may then be recorded.
        """
        expected = self.expected(payload)
        for name, want in expected.items():
            got = attributes.get(USAGE_ATTRIBUTES[name])
            if want is int:
                assert got is None or type(got) is int, (name, got)
            elif bools_may_count and want is None and self._has_bool(payload, name):
                assert got is None or type(got) is int, (name, got)
            else:
                assert got == want, (name, got, want, payload)
        # A breakdown without any count is not usage (``TokenUsage.is_empty``): nothing is written.
        any_count = any(want is not None for want in expected.values())
        for name, want_modalities in self.expected_modalities(payload).items():
            if not any_count:
                want_modalities = {}
            for modality in ("text", "audio", "image", "video"):
                got = attributes.get(MODALITY_ATTRIBUTE[name].format(modality))
                assert got == want_modalities.get(modality), (name, modality, got, want_modalities)


CHAT_USAGE_SCHEMA: Schema = {
    "prompt_tokens": None,
    "completion_tokens": None,
    "total_tokens": None,
    "prompt_tokens_details": {
        "cached_tokens": None,
        "cache_write_tokens": None,
        "audio_tokens": None,
        "text_tokens": None,
        "image_tokens": None,
    },
    "completion_tokens_details": {
        "reasoning_tokens": None,
        "audio_tokens": None,
        "text_tokens": None,
        "accepted_prediction_tokens": None,
    },
}
CHAT_SOURCES: dict[str, Path] = {
    "input": ("prompt_tokens",),
    "output": ("completion_tokens",),
    "cache_read": ("prompt_tokens_details", "cached_tokens"),
    "cache_write": ("prompt_tokens_details", "cache_write_tokens"),
    "reasoning": ("completion_tokens_details", "reasoning_tokens"),
}
CHAT_MODALITIES = {
    "input_modalities": (("prompt_tokens_details",), ("text", "audio", "image")),
    "output_modalities": (("completion_tokens_details",), ("text", "audio", "image")),
}
RESPONSES_USAGE_SCHEMA: Schema = {
    "input_tokens": None,
    "output_tokens": None,
    "total_tokens": None,
    "input_tokens_details": {"cached_tokens": None, "cache_write_tokens": None},
    "output_tokens_details": {"reasoning_tokens": None},
}
RESPONSES_SOURCES: dict[str, Path] = {
    "input": ("input_tokens",),
    "output": ("output_tokens",),
    "cache_read": ("input_tokens_details", "cached_tokens"),
    "cache_write": ("input_tokens_details", "cache_write_tokens"),
    "reasoning": ("output_tokens_details", "reasoning_tokens"),
}
OPENAI_SENTINELS = (openai.NOT_GIVEN, openai.omit)


def _chat_case(id: str, extract: Callable[[Any], TokenUsage | None], to_sdk: Any) -> ExtractorCase:
    return ExtractorCase(
        id=id,
        extract=extract,
        schema=CHAT_USAGE_SCHEMA,
        sources={name: (path,) for name, path in CHAT_SOURCES.items()},
        exact=CHAT_SOURCES,
        modalities=CHAT_MODALITIES,
        to_sdk=to_sdk,
        sentinels=OPENAI_SENTINELS,
    )


OPENAI_CHAT_USAGE = _chat_case(
    "openai.extract_chat_usage",
    openai_adapter.extract_chat_usage,
    sdk_object(CompletionUsage, "openai", (ChatCompletion, "usage")),
)
OPENAI_RESPONSES_USAGE = ExtractorCase(
    id="openai.extract_responses_usage",
    extract=openai_adapter.extract_responses_usage,
    schema=RESPONSES_USAGE_SCHEMA,
    sources={name: (path,) for name, path in RESPONSES_SOURCES.items()},
    exact=RESPONSES_SOURCES,
    to_sdk=sdk_object(ResponseUsage, "openai", (Response, "usage")),
    sentinels=OPENAI_SENTINELS,
)
OPENAI_EMBEDDINGS_USAGE = ExtractorCase(
    id="openai.extract_embeddings_usage",
    extract=openai_adapter.extract_embeddings_usage,
    schema={"prompt_tokens": None, "total_tokens": None},
    sources={name: () for name in ("output", "cache_read", "cache_write", "reasoning")}
    | {"input": (("prompt_tokens",),)},
    exact={"input": ("prompt_tokens",)},
    sentinels=OPENAI_SENTINELS,
)
GROQ_USAGE = _chat_case(
    "groq.extract_usage", groq_adapter.extract_usage, sdk_object(GroqUsage, "groq", (GroqCompletion, "usage"))
)
FIREWORKS_USAGE = _chat_case(
    "fireworks.extract_chat_usage",
    extract_chat_usage,
    sdk_object(FireworksResponse, "fireworks", (FireworksResponse, "usage")),
)

TOGETHER_USAGE = ExtractorCase(
    id="together.extract_usage",
    extract=together_adapter.extract_usage,
    schema={**CHAT_USAGE_SCHEMA, "cached_tokens": None},
    sources={name: (path,) for name, path in CHAT_SOURCES.items()}
    | {"cache_read": (("prompt_tokens_details", "cached_tokens"), ("cached_tokens",))},
    exact={name: path for name, path in CHAT_SOURCES.items() if name != "cache_read"},
    modalities=CHAT_MODALITIES,
    to_sdk=sdk_object(TogetherCompletion, "together", (TogetherCompletion, "usage")),
)
ANTHROPIC_USAGE_SCHEMA: Schema = {
    "input_tokens": None,
    "output_tokens": None,
    "cache_read_input_tokens": None,
    "cache_creation_input_tokens": None,
    "cache_creation": {"ephemeral_5m_input_tokens": None, "ephemeral_1h_input_tokens": None},
    "output_tokens_details": {"thinking_tokens": None},
    "service_tier": None,
}
ANTHROPIC_USAGE = ExtractorCase(
    id="anthropic.extract_usage",
    extract=anthropic_adapter.extract_usage,
    schema=ANTHROPIC_USAGE_SCHEMA,
    # Anthropic's input_tokens excludes the cache: input is its sum with the cache counts.
    sources={
        "input": (("input_tokens",),),
        "output": (("output_tokens",),),
        "cache_read": (("cache_read_input_tokens",),),
        "cache_write": (
            ("cache_creation_input_tokens",),
            ("cache_creation", "ephemeral_5m_input_tokens"),
            ("cache_creation", "ephemeral_1h_input_tokens"),
        ),
        "reasoning": (("output_tokens_details", "thinking_tokens"),),
    },
    exact={
        "output": ("output_tokens",),
        "cache_read": ("cache_read_input_tokens",),
        "reasoning": ("output_tokens_details", "thinking_tokens"),
    },
    to_sdk=sdk_object(AnthropicUsage, "anthropic", (AnthropicMessage, "usage")),
)

EXTRACTORS: list[ExtractorCase] = [
    OPENAI_CHAT_USAGE,
    OPENAI_RESPONSES_USAGE,
    OPENAI_EMBEDDINGS_USAGE,
    GROQ_USAGE,
    FIREWORKS_USAGE,
    TOGETHER_USAGE,
    ANTHROPIC_USAGE,
]


# --- stream accumulators ---------------------------------------------------------------------------


@dataclass(frozen=True)
class StreamCase:
    """A stream accumulator fed chunks as the SDK builds them from (malformed) JSON events."""

    id: str
    # A fresh accumulator; ``hide`` says whether tokentrace asked for the usage chunk itself.
    accumulator: Callable[[bool], StreamAccumulator]
    chunk_json: st.SearchStrategy[dict[str, Any]]
    to_sdk: Callable[[Any], Any]
    # The usage an SDK-built chunk carries (None where it carries none).
    usage_of: Callable[[Any], Any]
    usage: ExtractorCase
    # "last": the last usage a chunk carried is the stream's usage (so counts are exact).
    merge: str = "last"
    # Whether a chunk may be hidden when tokentrace injected the usage request (OpenAI only).
    can_hide: bool = False
    # Which chunks may be hidden: usage-only chunks (usage set, no choices).
    hideable: Callable[[Any], bool] = lambda chunk: False


def _choices(json_only: bool = True) -> st.SearchStrategy[Any]:
    leaf = leaves(json_only=json_only)
    choice = structured(
        {"index": None, "finish_reason": None, "delta": {"content": None, "role": None}},
        json_only=json_only,
    )
    reason = st.one_of(st.sampled_from(["stop", "length", "tool_calls", ""]), leaf)
    good = st.fixed_dictionaries(
        {"index": st.integers(min_value=0, max_value=3), "finish_reason": reason, "delta": st.just({})}
    )
    return st.one_of(st.lists(st.one_of(good, good, choice, leaf), max_size=3), leaf)


def _chat_chunks(usage_schema: Schema, usage_key: Path) -> st.SearchStrategy[dict[str, Any]]:
    usage = st.one_of(st.none(), usage_payloads(usage_schema, json_only=True))
    leaf = leaves(json_only=True)

    def build(base: dict[str, Any], choices: Any, usage_value: Any, has_usage: bool) -> dict[str, Any]:
        chunk = {**base, "choices": choices}
        if has_usage:
            node = chunk
            for key in usage_key[:-1]:
                node = node.setdefault(key, {})
            node[usage_key[-1]] = usage_value
        return chunk

    base = st.fixed_dictionaries(
        {},
        optional={
            "id": st.one_of(st.just("chatcmpl-1"), leaf),
            "model": st.one_of(st.just("gpt-4o-mini"), leaf),
            "object": st.just("chat.completion.chunk"),
        },
    )
    return st.builds(build, base, st.one_of(_choices(), st.just([])), usage, st.booleans())


def _usage_at(path: Path) -> Callable[[Any], Any]:
    def usage_of(chunk: Any) -> Any:
        return value_at(chunk, path)

    return usage_of


def _usage_only(chunk: Any) -> bool:
    return chunk.get("usage") is not None and not chunk.get("choices")


def _responses_events() -> st.SearchStrategy[dict[str, Any]]:
    leaf = leaves(json_only=True)
    response = structured(
        {
            "id": None,
            "model": None,
            "status": None,
            "usage": RESPONSES_USAGE_SCHEMA,
            "incomplete_details": {"reason": None},
        },
        json_only=True,
    )
    kind = st.one_of(
        st.sampled_from(
            [
                "response.created",
                "response.in_progress",
                "response.completed",
                "response.incomplete",
                "response.failed",
                "response.output_text.delta",
            ]
        ),
        leaf,
    )
    return st.fixed_dictionaries(
        {"type": kind}, optional={"response": st.one_of(response, response, leaf), "sequence_number": leaf}
    )


def _openai_chat_accumulator(settings: Settings) -> Callable[[bool], StreamAccumulator]:
    def new(hide: bool) -> StreamAccumulator:
        endpoint = openai_adapter.ChatCompletions("openai.chat", settings)
        kind = openai_adapter.CapturingChatStream if settings.capture_content else ChatStreamAccumulator
        return kind(endpoint, hide_usage_chunk=hide)

    return new


STREAMS: list[StreamCase] = [
    StreamCase(
        id="openai.ChatStreamAccumulator",
        accumulator=_openai_chat_accumulator(SETTINGS),
        chunk_json=_chat_chunks(CHAT_USAGE_SCHEMA, ("usage",)),
        to_sdk=sdk_object(ChatCompletionChunk, "openai"),
        usage_of=_usage_at(("usage",)),
        usage=OPENAI_CHAT_USAGE,
        can_hide=True,
        hideable=_usage_only,
    ),
    StreamCase(
        id="openai.CapturingChatStream",
        accumulator=_openai_chat_accumulator(CAPTURE_SETTINGS),
        chunk_json=_chat_chunks(CHAT_USAGE_SCHEMA, ("usage",)),
        to_sdk=sdk_object(ChatCompletionChunk, "openai"),
        usage_of=_usage_at(("usage",)),
        usage=OPENAI_CHAT_USAGE,
        can_hide=True,
        hideable=_usage_only,
    ),
    StreamCase(
        id="openai.ResponsesStreamAccumulator",
        accumulator=lambda hide: openai_adapter.ResponsesStreamAccumulator(
            openai_adapter.Responses("openai.responses", SETTINGS)
        ),
        chunk_json=_responses_events(),
        to_sdk=sdk_object(ResponseStreamEvent, "openai"),
        usage_of=_usage_at(("response", "usage")),
        usage=OPENAI_RESPONSES_USAGE,
        # The last *terminal* snapshot (or the first one) wins, not the last usage seen.
        merge="snapshot",
    ),
    StreamCase(
        id="groq.ChatStreamAccumulator",
        accumulator=lambda hide: ChatStreamAccumulator(groq_adapter.ChatCompletions("groq.chat")),
        chunk_json=_chat_chunks(CHAT_USAGE_SCHEMA, ("x_groq", "usage")),
        to_sdk=sdk_object(GroqChunk, "groq"),
        # As Groq's adapter reads it: the chunk's own usage if set, else ``x_groq.usage``.
        usage_of=lambda chunk: _usage_at(("usage",))(chunk) or _usage_at(("x_groq", "usage"))(chunk),
        usage=GROQ_USAGE,
    ),
]


# --- providers through the fake server -------------------------------------------------------------


@dataclass(frozen=True)
class ProviderCase:
    """One provider's main call path, end to end through its real SDK and the fake provider."""

    id: str
    # The name ``tokentrace.instrument`` takes.
    provider: str
    # The fake route the call hits, its path pattern and its handler (for custom servers).
    route: str
    pattern: str
    handler: Handler
    # base URL of the fake server -> (sync client, async client); ``timeout`` in seconds.
    client: Callable[[str, float | None], Any]
    async_client: Callable[[str, float | None], Any]
    # The provider's ``FakeProvider.base_url`` name.
    base: str
    # (client, model, stream) -> the SDK's result (a stream object when streaming).
    create: Callable[[Any, str, bool], Any]
    acreate: Callable[[Any, str, bool], Awaitable[Any]]
    # The wire usage (script value of ``usage``) that reports ``input`` and ``output`` tokens.
    wire_usage: Callable[[int, int], Any]
    # The counts the route's default usage reports.
    default_tokens: tuple[int, int]
    usage: ExtractorCase
    # The SDK's exception for HTTP statuses, for a timeout, and for a broken connection.
    status_errors: Mapping[int, type[BaseException]]
    timeout_error: type[BaseException]
    connection_error: type[BaseException]
    # ``cut_after`` for a stream whose usage has arrived but which breaks before its end (or None).
    cut_after_usage: int | None
    # The model a request asked for, as the handler sees it.
    model_of: Callable[[FakeRequest], str] = lambda request: str(request.json.get("model"))
    # The token points a stream broken after its first events keeps (usage some streams send first).
    tokens_early: Mapping[str, tuple[int, int]] = field(default_factory=dict)
    # Whether random usage JSON can go through this SDK end to end and be judged against the
    # ``usage`` oracle (SDKs that validate responses coerce values the oracle cannot predict).
    fuzz_usage_end_to_end: bool = True
    # Whether the SDK validates some stream events (pydantic's lax mode turns a bool into 0 or 1).
    stream_events_validated: bool = False
    # The ``error.type`` an SDK exception is reported as (the adapter may know a better code).
    error_type: Callable[[BaseException], str] = lambda exc: type(exc).__qualname__

    def __str__(self) -> str:
        return self.id


def dump(result: Any) -> Any:
    """What the application sees of a result or a chunk, as plain data."""
    dumper = getattr(result, "model_dump", None)
    # The SDK builds models from malformed JSON without validation; dumping them warns.
    return dumper(warnings=False) if callable(dumper) else result


def _openai_client(url: str, timeout: float | None) -> openai.OpenAI:
    return openai.OpenAI(base_url=url, api_key="sk-test-key", max_retries=0, timeout=timeout or 30.0)


def _openai_async_client(url: str, timeout: float | None) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=url, api_key="sk-test-key", max_retries=0, timeout=timeout or 30.0)


async def _openai_chat_async(client: Any, model: str, stream: bool) -> Any:
    return await client.chat.completions.create(model=model, messages=MESSAGES, stream=stream)


async def _openai_responses_async(client: Any, model: str, stream: bool) -> Any:
    return await client.responses.create(model=model, input="Say hello.", stream=stream)


def _chat_usage(input: int, output: int) -> dict[str, Any]:
    return {"prompt_tokens": input, "completion_tokens": output, "total_tokens": input + output}


OPENAI_STATUS_ERRORS = {
    400: openai.BadRequestError,
    401: openai.AuthenticationError,
    429: openai.RateLimitError,
    500: openai.InternalServerError,
    503: openai.InternalServerError,
}

OPENAI_CHAT = ProviderCase(
    id="openai-chat",
    provider="openai",
    route="openai.chat",
    pattern=r"/v1/chat/completions",
    handler=openai_fake.chat_completions,
    client=_openai_client,
    async_client=_openai_async_client,
    base="openai",
    create=lambda client, model, stream: client.chat.completions.create(
        model=model, messages=MESSAGES, stream=stream
    ),
    acreate=_openai_chat_async,
    wire_usage=_chat_usage,
    default_tokens=(1217, 9),
    usage=OPENAI_CHAT_USAGE,
    status_errors=OPENAI_STATUS_ERRORS,
    timeout_error=openai.APITimeoutError,
    connection_error=openai.APIConnectionError,
    # role, seven words, finish, usage | [DONE]
    cut_after_usage=10,
)
OPENAI_RESPONSES = ProviderCase(
    id="openai-responses",
    provider="openai",
    route="openai.responses",
    pattern=r"/v1/responses",
    handler=openai_fake.responses,
    client=_openai_client,
    async_client=_openai_async_client,
    base="openai",
    create=lambda client, model, stream: client.responses.create(
        model=model, input="Say hello.", stream=stream
    ),
    acreate=_openai_responses_async,
    wire_usage=lambda input, output: {
        "input_tokens": input,
        "output_tokens": output,
        "total_tokens": input + output,
    },
    default_tokens=(14, 151),
    usage=OPENAI_RESPONSES_USAGE,
    status_errors=OPENAI_STATUS_ERRORS,
    timeout_error=openai.APITimeoutError,
    connection_error=openai.APIConnectionError,
    # The usage arrives in the stream's last event: nothing can break after it.
    cut_after_usage=None,
)


def _groq_client(url: str, timeout: float | None) -> groq.Groq:
    return groq.Groq(base_url=url, api_key="gsk-test", max_retries=0, timeout=timeout or 30.0)


def _groq_async_client(url: str, timeout: float | None) -> groq.AsyncGroq:
    return groq.AsyncGroq(base_url=url, api_key="gsk-test", max_retries=0, timeout=timeout or 30.0)


GROQ = ProviderCase(
    id="groq",
    provider="groq",
    route="groq.chat",
    pattern=r"/openai/v1/chat/completions",
    handler=groq_fake.chat_completions,
    client=_groq_client,
    async_client=_groq_async_client,
    base="groq",
    create=lambda client, model, stream: client.chat.completions.create(
        model=model, messages=MESSAGES, stream=stream
    ),
    acreate=_openai_chat_async,
    wire_usage=_chat_usage,
    default_tokens=(18, 9),
    usage=GROQ_USAGE,
    status_errors={
        400: groq.BadRequestError,
        401: groq.AuthenticationError,
        429: groq.RateLimitError,
        500: groq.InternalServerError,
        503: groq.InternalServerError,
    },
    timeout_error=groq.APITimeoutError,
    connection_error=groq.APIConnectionError,
    # role, five words, finish with usage | [DONE]
    cut_after_usage=7,
)


def _stainless_chat(
    id: str,
    sdk: Any,
    route: str,
    pattern: str,
    handler: Handler,
    base: str,
    tokens: tuple[int, int],
    usage: ExtractorCase,
) -> ProviderCase:
    """An OpenAI-shaped chat-completions SDK (Stainless-generated: Together, Fireworks)."""

    def client(url: str, timeout: float | None) -> Any:
        return sdk.Client(base_url=url, api_key="test", max_retries=0, timeout=timeout or 30.0)

    def async_client(url: str, timeout: float | None) -> Any:
        return sdk.AsyncClient(base_url=url, api_key="test", max_retries=0, timeout=timeout or 30.0)

    return ProviderCase(
        id=id,
        provider=id,
        route=route,
        pattern=pattern,
        handler=handler,
        client=client,
        async_client=async_client,
        base=base,
        create=lambda client, model, stream: client.chat.completions.create(
            model=model, messages=MESSAGES, stream=stream
        ),
        acreate=_openai_chat_async,
        wire_usage=_chat_usage,
        default_tokens=tokens,
        usage=usage,
        status_errors={
            400: sdk.BadRequestError,
            401: sdk.AuthenticationError,
            429: sdk.RateLimitError,
            500: sdk.InternalServerError,
            503: sdk.InternalServerError,
        },
        timeout_error=sdk.APITimeoutError,
        connection_error=sdk.APIConnectionError,
        # role, five words, finish with usage | [DONE]
        cut_after_usage=7,
    )


TOGETHER = _stainless_chat(
    "together",
    together,
    "together.chat",
    r"/together/v1/chat/completions",
    together_fake.chat_completions,
    "together",
    (49, 9),
    TOGETHER_USAGE,
)
FIREWORKS = _stainless_chat(
    "fireworks",
    fireworks,
    "fireworks.chat",
    r"/fireworks/v1/chat/completions",
    fireworks_fake.chat_completions,
    "fireworks",
    (19, 9),
    FIREWORKS_USAGE,
)


async def _anthropic_async(client: Any, model: str, stream: bool) -> Any:
    return await client.messages.create(model=model, max_tokens=64, messages=MESSAGES, stream=stream)


ANTHROPIC = ProviderCase(
    id="anthropic",
    provider="anthropic",
    stream_events_validated=True,
    route="anthropic.messages",
    pattern=r"/v1/messages",
    handler=anthropic_fake.messages,
    client=lambda url, timeout: anthropic.Anthropic(
        base_url=url, api_key="test", max_retries=0, timeout=timeout or 30.0
    ),
    async_client=lambda url, timeout: anthropic.AsyncAnthropic(
        base_url=url, api_key="test", max_retries=0, timeout=timeout or 30.0
    ),
    base="anthropic",
    create=lambda client, model, stream: client.messages.create(
        model=model, max_tokens=64, messages=MESSAGES, stream=stream
    ),
    acreate=_anthropic_async,
    wire_usage=lambda input, output: {"input_tokens": input, "output_tokens": output},
    # 21 uncached + 1024 read from the cache + 188 written to it
    default_tokens=(1233, 12),
    usage=ANTHROPIC_USAGE,
    status_errors={
        400: anthropic.BadRequestError,
        401: anthropic.AuthenticationError,
        429: anthropic.RateLimitError,
        500: anthropic.InternalServerError,
        503: anthropic.ServiceUnavailableError,
    },
    timeout_error=anthropic.APITimeoutError,
    connection_error=anthropic.APIConnectionError,
    # message_start carries the input counts; the output count arrives with message_delta.
    cut_after_usage=None,
    tokens_early={"input": (1233, 1)},
)


def _mistral_client(url: str, timeout: float | None) -> Mistral:
    return Mistral(api_key="test", server_url=url, timeout_ms=int((timeout or 30.0) * 1000))


def _mistral_create(client: Any, model: str, stream: bool) -> Any:
    if stream:
        return client.chat.stream(model=model, messages=MESSAGES)
    return client.chat.complete(model=model, messages=MESSAGES)


async def _mistral_acreate(client: Any, model: str, stream: bool) -> Any:
    if stream:
        return await client.chat.stream_async(model=model, messages=MESSAGES)
    return await client.chat.complete_async(model=model, messages=MESSAGES)


MISTRAL = ProviderCase(
    id="mistralai",
    provider="mistralai",
    route="mistralai.chat",
    pattern=r"/mistral/v1/chat/completions",
    handler=mistral_fake.chat_completions,
    client=_mistral_client,
    async_client=_mistral_client,
    base="mistralai",
    create=_mistral_create,
    acreate=_mistral_acreate,
    wire_usage=_chat_usage,
    default_tokens=(10, 9),
    usage=OPENAI_CHAT_USAGE,
    # One exception type for every HTTP status; transport failures are httpx's own.
    status_errors={status: SDKError for status in (400, 401, 429, 500, 503)},
    timeout_error=httpx2.ReadTimeout,
    connection_error=httpx2.TransportError,
    cut_after_usage=7,
    # Mistral's SDK validates responses with pydantic (lax): the oracle cannot predict its coercions.
    fuzz_usage_end_to_end=False,
    # The adapter reports an SDKError by its HTTP status.
    error_type=lambda exc: mistral_adapter.sdk_error_type(exc) or type(exc).__qualname__,
)

PROVIDERS: list[ProviderCase] = [OPENAI_CHAT, OPENAI_RESPONSES, GROQ, TOGETHER, FIREWORKS, ANTHROPIC, MISTRAL]


def invocation() -> Invocation:
    """A bare invocation for feeding accumulators directly."""
    from tokentrace._core.invocation import RequestFacts

    return Invocation(RequestFacts("chat", "test"), None, None, 0.0)


def consume(result: Any, stream: bool) -> Any:
    """Read a result as the application would: every chunk of a stream."""
    if stream:
        return [dump(chunk) for chunk in result]
    return dump(result)


async def aconsume(result: Any, stream: bool) -> Any:
    if stream:
        return [dump(chunk) async for chunk in result]
    return dump(result)


def fixed_usage_handler(case: ProviderCase, derive: Callable[[FakeRequest], Any]) -> Handler:
    """The case's own route handler, with the usage derived from each request (no shared FIFO)."""

    def handler(request: FakeRequest, script: Mapping[str, Any]) -> Reply:
        return case.handler(request, {**script, "usage": derive(request)})

    return handler


class Clients:
    """One sync and one async client of a case, and the event loop the async one runs on.

    Creating an SDK client costs tens of milliseconds (TLS setup), so tests that make many calls
    keep one pair.
    """

    def __init__(self, case: ProviderCase, url: str, timeout: float | None = None) -> None:
        self.case = case
        self.sync = case.client(url, timeout)
        self.async_ = case.async_client(url, timeout)
        self.loop = asyncio.new_event_loop()

    def call(self, *, stream: bool, is_async: bool, model: str = "gpt-4o-mini") -> Any:
        """The caller's view of one call: every chunk or the result, as plain data."""
        if is_async:

            async def go() -> Any:
                return await aconsume(await self.case.acreate(self.async_, model, stream), stream)

            return self.loop.run_until_complete(go())
        return consume(self.case.create(self.sync, model, stream), stream)

    def outcome(self, *, stream: bool, is_async: bool, model: str = "gpt-4o-mini") -> Any:
        """Like ``call``, but an exception the SDK raised is part of the outcome."""
        try:
            return self.call(stream=stream, is_async=is_async, model=model)
        except Exception as exc:
            return ("raised", type(exc), str(exc))

    def close(self) -> None:
        if hasattr(self.sync, "close"):
            self.sync.close()
            self.loop.run_until_complete(self.async_.close())
        else:  # clients that close only as context managers (mistralai)
            self.sync.__exit__(None, None, None)
            self.loop.run_until_complete(self.async_.__aexit__(None, None, None))
        self.loop.close()

    def __enter__(self) -> Clients:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
