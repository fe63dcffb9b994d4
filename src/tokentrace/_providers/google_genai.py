"""Google Gen AI SDK: ``models`` generate_content (+ stream), embed_content, count_tokens, compute_tokens.

Wrapped on ``google.genai.models.Models`` and ``AsyncModels`` (``client.models`` and
``client.aio.models``), for both backends: the Gemini API (``gcp.gemini``) and Vertex AI
(``gcp.vertex_ai``), told apart by the client's ``vertexai`` flag. ``chats`` need nothing of their
own: ``Chat.send_message`` calls ``Models.generate_content``, so a chat message is one span.

One user call can be several HTTP requests ("hops"): automatic function calling (AFC) calls the
model again with each function result, and automatic continuation resumes a cut-off answer. The
public method returns only the last hop's response, so its ``usage_metadata`` undercounts. The
private per-hop methods (``_generate_content``, ``_generate_content_stream``) are therefore wrapped
too, as parts of the public call: the public invocation absorbs them (``absorbs_nested``), their
usages add up, and the user call stays one span. A hop outside a traced public call is not traced.

Sources, google-genai 3.4.0: ``google/genai/models.py`` (call graph, AFC loop),
``google/genai/_extra_utils.py`` (``StreamContinuation``: a hop's chunks carry running totals),
``google/genai/types.py`` (``GenerateContentResponseUsageMetadata``, ``UsageMetadata``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from opentelemetry.util.types import AttributeValue

from tokentrace._core import semconv
from tokentrace._core.config import Settings
from tokentrace._core.emitter import current_invocation
from tokentrace._core.invocation import Invocation, RequestFacts
from tokentrace._core.patching import WrapTarget
from tokentrace._core.request import as_float, as_int, as_str, sampling_attributes
from tokentrace._core.server import server_of
from tokentrace._core.usage import (
    ModalityCounts,
    TokenUsage,
    as_count,
    attr,
    count_at,
    modality_counts,
    sum_known,
    total_of,
)
from tokentrace._core.wrapper import EndpointBase

# Provider-specific attribute (to move to semconv.py): how Vertex AI billed the request
# (``ON_DEMAND``, ``PROVISIONED_THROUGHPUT``, ...), the provider's own value, unchanged.

_MODULE = "google.genai.models"
# compute_tokens roles become attribute name suffixes: keep them to a safe, low-cardinality form.
_ROLE_UNSAFE = re.compile(r"[^a-z0-9_]+")


def provider_of(instance: Any) -> str:
    """``gcp.vertex_ai`` or ``gcp.gemini`` from the client's backend; ``gcp.gen_ai`` when unknown."""
    api_client = attr(instance, "_api_client")
    if api_client is None:
        return semconv.PROVIDER_GCP_GEN_AI
    return semconv.PROVIDER_GCP_VERTEX_AI if attr(api_client, "vertexai") else semconv.PROVIDER_GCP_GEMINI


def _server(instance: Any) -> tuple[str | None, int | None]:
    return server_of(attr(attr(attr(instance, "_api_client"), "_http_options"), "base_url"))


# --- pure readers ----------------------------------------------------------------------------------


def modalities(details: Any) -> ModalityCounts:
    """``[ModalityTokenCount(modality=TEXT, token_count=6), ...]`` as ``(("text", 6), ...)``."""
    if not isinstance(details, (list, tuple)):
        return ()
    return modality_counts((attr(item, "modality"), attr(item, "token_count")) for item in details)


def extract_usage(usage: Any) -> TokenUsage | None:
    """Normalize ``GenerateContentResponseUsageMetadata`` (or a snake_case mapping of it).

    Google documents ``total_token_count = prompt_token_count + candidates_token_count +
    tool_use_prompt_token_count + thoughts_token_count`` (google-genai ``types.py``), so:

    - input = ``prompt_token_count`` (which already includes ``cached_content_token_count``) +
      ``tool_use_prompt_token_count`` (tool results fed back to the model are input too);
    - output = ``candidates_token_count`` + ``thoughts_token_count``: candidates exclude thinking,
      and the conventions want reasoning inside the output count;
    - reasoning = ``thoughts_token_count``; cache_read = ``cached_content_token_count``.

    Gemini's JSON leaves zero counts out, so an answer cut off while thinking can come without a
    candidate count at all. When neither output count is there, the output is derived from the
    total Google reported (total - prompt - tool use), never guessed.
    """
    if usage is None:
        return None
    prompt = count_at(usage, "prompt_token_count")
    tool_use = count_at(usage, "tool_use_prompt_token_count")
    candidates = count_at(usage, "candidates_token_count")
    thoughts = count_at(usage, "thoughts_token_count")
    output = sum_known(candidates, thoughts)
    if output is None:
        output = _output_from_total(count_at(usage, "total_token_count"), prompt, tool_use)
    return TokenUsage(
        input=total_of(prompt, tool_use),
        output=output,
        cache_read=count_at(usage, "cached_content_token_count"),
        reasoning=thoughts,
        input_modalities=modalities(
            [
                *_listed(attr(usage, "prompt_tokens_details")),
                *_listed(attr(usage, "tool_use_prompt_tokens_details")),
            ]
        ),
        output_modalities=modalities(attr(usage, "candidates_tokens_details")),
        cache_read_modalities=modalities(attr(usage, "cache_tokens_details")),
    )


def _listed(value: Any) -> list[Any]:
    return list(value) if isinstance(value, (list, tuple)) else []


def _output_from_total(total: int | None, prompt: int | None, tool_use: int | None) -> int | None:
    if total is None or prompt is None:
        return None
    rest = total - prompt - (tool_use or 0)
    return rest if rest >= 0 else None


def extract_traffic_type(usage: Any) -> str | None:
    """Vertex AI's ``traffic_type`` (``ON_DEMAND``, ...), as the provider names it."""
    return as_str(attr(usage, "traffic_type"))


def extract_embed_usage(response: Any) -> TokenUsage | None:
    """Input tokens of an ``EmbedContentResponse``; embeddings have no output count.

    Vertex AI reports ``usage_metadata.prompt_token_count`` (``:embedContent``) or a
    ``statistics.token_count`` per embedding (``:predict``, summed when every embedding has one).
    The Gemini API reports no usage at all: nothing is recorded then.
    """
    if response is None:
        return None
    prompt = count_at(response, "usage_metadata", "prompt_token_count")
    if prompt is not None:
        return TokenUsage(input=prompt)
    embeddings = attr(response, "embeddings")
    if not isinstance(embeddings, list) or not embeddings:
        return None
    counts = [count_at(embedding, "statistics", "token_count") for embedding in embeddings]
    known = [count for count in counts if count is not None]
    if len(known) != len(counts):
        return None
    return TokenUsage(input=sum_known(*known))


def extract_count_usage(response: Any) -> TokenUsage | None:
    """``CountTokensResponse``: the counted prompt as input; its cached part as cache_read.

    Google: ``cached_content_token_count`` is the "number of tokens in the cached part of the
    prompt", a part of ``total_tokens``. Counting is not consumption: no usage metric records it.
    """
    if response is None:
        return None
    return TokenUsage(
        input=count_at(response, "total_tokens"),
        cache_read=count_at(response, "cached_content_token_count"),
    )


def extract_compute_counts(response: Any) -> tuple[int | None, dict[str, int]]:
    """The number of tokens a ``ComputeTokensResponse`` lists, in all and per role.

    Only counts are read: the token texts and ids are content and are never recorded.
    """
    infos = attr(response, "tokens_info")
    if not isinstance(infos, list):
        return None, {}
    total = 0
    per_role: dict[str, int] = {}
    for info in infos:
        listed = attr(info, "token_ids")
        if not isinstance(listed, list):
            listed = attr(info, "tokens")
        if not isinstance(listed, list):
            continue
        role = role_name(attr(info, "role"))
        per_role[role] = per_role.get(role, 0) + len(listed)
        total += len(listed)
    return total, per_role


def role_name(role: Any) -> str:
    """A content role as an attribute name suffix: ``"user"``, ``"model"``, ``"unknown"``."""
    text = as_str(role)
    if text is None:
        return "unknown"
    return _ROLE_UNSAFE.sub("_", text.lower()).strip("_") or "unknown"


def finish_reason_name(reason: Any) -> str | None:
    """``FinishReason.MAX_TOKENS`` (or ``"MAX_TOKENS"``) as ``"max_tokens"``.

    The provider's own value, lower-cased as OpenTelemetry's google-genai instrumentation does, so
    that a plain stop reads ``"stop"`` for Gemini as for every other provider.
    """
    name = as_str(reason)
    return name.lower() if name else None


def extract_finish_reasons(candidates: Any) -> list[str] | None:
    """One finish reason per candidate, in order; ``"error"`` for a candidate without one."""
    if not isinstance(candidates, list) or not candidates:
        return None
    reasons = [finish_reason_name(attr(candidate, "finish_reason")) for candidate in candidates]
    return [reason or "error" for reason in reasons] if any(reasons) else None


def _output_type(config: Any) -> str | None:
    mime = as_str(attr(config, "response_mime_type"))
    if mime == "application/json":
        return "json"
    if mime is not None and mime.startswith("text/"):
        return "text"
    return None


def _integral(value: Any) -> int | None:
    """``top_k`` is a float in the SDK; the conventions want an int."""
    number = as_float(value)
    if number is not None and number.is_integer():
        return int(number)
    return as_int(value)


def request_attributes(config: Any) -> dict[str, AttributeValue]:
    """``gen_ai.request.*`` from a ``GenerateContentConfig`` (object or dict)."""
    if config is None:
        return {}
    params = {
        "temperature": attr(config, "temperature"),
        "top_p": attr(config, "top_p"),
        "top_k": _integral(attr(config, "top_k")),
        "frequency_penalty": attr(config, "frequency_penalty"),
        "presence_penalty": attr(config, "presence_penalty"),
        "max_output_tokens": attr(config, "max_output_tokens"),
        "seed": attr(config, "seed"),
        "candidate_count": attr(config, "candidate_count"),
        "stop_sequences": attr(config, "stop_sequences"),
    }
    attributes = sampling_attributes(
        params,
        max_tokens_keys=("max_output_tokens",),
        stop_key="stop_sequences",
        choice_count_key="candidate_count",
    )
    output_type = _output_type(config)
    if output_type:
        attributes[semconv.GEN_AI_OUTPUT_TYPE] = output_type
    level = as_str(attr(attr(config, "thinking_config"), "thinking_level"))
    if level:
        attributes[semconv.GEN_AI_REQUEST_REASONING_LEVEL] = level
    return attributes


# --- endpoints -------------------------------------------------------------------------------------


class _GoogleEndpoint(EndpointBase):
    """Provider, server and model, shared by every Models method."""

    operation: str = semconv.OPERATION_GENERATE_CONTENT

    def __init__(self, name: str, settings: Settings) -> None:
        self.name = name
        self.settings = settings

    def facts(self, instance: Any, kwargs: dict[str, Any], **extra: Any) -> RequestFacts:
        """Facts every method shares; ``extra`` fills the rest of ``RequestFacts``."""
        host, port = _server(instance)
        return RequestFacts(
            operation=self.operation,
            provider=provider_of(instance),
            model=as_str(kwargs.get("model")),
            server_address=host,
            server_port=port,
            **extra,
        )

    def error_type(self, exc: BaseException) -> str | None:
        """Google's status name (``RESOURCE_EXHAUSTED``, ``INVALID_ARGUMENT``) for API errors."""
        status = getattr(exc, "status", None)
        return status if isinstance(status, str) and status else None


def _hop_name(prefix: str, method: str) -> str:
    return f"{prefix}.{method}.hop"


# Only the SDK's own requests fold into a call; a model call an AFC tool makes is its own span.
_HOP_ENDPOINTS = frozenset(
    _hop_name(prefix, method)
    for prefix in ("google_genai", "google_genai.aio")
    for method in ("generate_content", "generate_content_stream")
)


class GenerateContent(_GoogleEndpoint):
    """``generate_content`` and ``generate_content_stream``: one span per user call.

    With ``hop=True`` it observes the private per-HTTP-request method instead: only inside a traced
    call, which absorbs it (see the module docstring).
    """

    def __init__(self, name: str, settings: Settings, *, stream: bool, hop: bool = False) -> None:
        super().__init__(name, settings)
        self.stream = stream
        self.hop = hop
        # The SDK's stream generator makes the model hops (and runs the AFC tools) while it is
        # read: the call's context must be current then, for the hops to be folded into it.
        self.reattach_stream_context = stream and not hop

    def request(self, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> RequestFacts | None:
        """Facts from the client and the config; hops only as parts of a traced call."""
        if self.hop:
            enclosing = current_invocation()
            if enclosing is None or enclosing.ended:
                return None
            # A hop emits no span of its own: its request parameters would never be written.
            return self.facts(instance, kwargs, stream=self.stream)
        return self.facts(
            instance,
            kwargs,
            stream=self.stream,
            attributes=request_attributes(kwargs.get("config")),
            absorbs_nested=True,
            absorbs_only=_HOP_ENDPOINTS,
        )

    def stream_of(self, result: Any) -> Any | None:
        """The generator (sync) or async generator a streaming method returned."""
        if not self.stream:
            return None
        kind = type(result)
        return result if hasattr(kind, "__next__") or hasattr(kind, "__anext__") else None

    def on_response(self, invocation: Invocation, result: Any) -> None:
        """Read a ``GenerateContentResponse`` (the last hop's, for a public call)."""
        apply_response(
            invocation,
            attr(result, "response_id"),
            attr(result, "model_version"),
            extract_finish_reasons(attr(result, "candidates")),
            attr(result, "usage_metadata"),
        )

    def new_accumulator(
        self, invocation: Invocation, sent_kwargs: dict[str, Any]
    ) -> GenerateContentStreamAccumulator:
        """Chunks carry running totals: the last usage seen wins."""
        return GenerateContentStreamAccumulator()


def apply_response(
    invocation: Invocation, response_id: Any, model_version: Any, finish_reasons: list[str] | None, usage: Any
) -> None:
    """Write a response's facts onto the invocation.

    A public call's usage is only a fallback: its hops report the usage of every request made.
    A public call nested in another instrumented call (LangChain) reports none, because its hops
    are absorbed by that outer call directly and would otherwise be counted twice.
    """
    invocation.response_id = as_str(response_id) or invocation.response_id
    invocation.response_model = as_str(model_version) or invocation.response_model
    if finish_reasons:
        invocation.finish_reasons = finish_reasons
    invocation.set_attribute(semconv.GCP_GEN_AI_USAGE_TRAFFIC_TYPE, extract_traffic_type(usage))
    if invocation.parent is None or not invocation.facts.absorbs_nested:
        invocation.set_usage(extract_usage(usage))


class GenerateContentStreamAccumulator:
    """Chunks of one ``generate_content_stream`` (or of one hop of it).

    Within a hop each chunk's usage is the running total, so the latest one is kept: never a sum
    (peers that summed overcounted input many times over). Across the hops of a public call the
    SDK does not add AFC hops together; the absorbed per-hop invocations do that.
    """

    __slots__ = ("usage", "response_id", "model_version", "reasons")

    def __init__(self) -> None:
        self.usage: Any = None
        self.response_id: Any = None
        self.model_version: Any = None
        self.reasons: dict[int, Any] = {}

    def on_chunk(self, chunk: Any) -> bool:
        """Keep the latest usage, id and model, and each candidate's finish reason."""
        usage = getattr(chunk, "usage_metadata", None)
        if usage is not None:
            self.usage = usage
        response_id = getattr(chunk, "response_id", None)
        if response_id is not None:
            self.response_id = response_id
        model_version = getattr(chunk, "model_version", None)
        if model_version is not None:
            self.model_version = model_version
        candidates = getattr(chunk, "candidates", None)
        if isinstance(candidates, list):
            for position, candidate in enumerate(candidates):
                reason = getattr(candidate, "finish_reason", None)
                if reason is not None:
                    index = getattr(candidate, "index", None)
                    self.reasons[index if isinstance(index, int) else position] = reason
        return True

    def finish(self, invocation: Invocation) -> None:
        """Apply what the chunks said."""
        reasons = None
        if self.reasons:
            names = [finish_reason_name(self.reasons[index]) for index in sorted(self.reasons)]
            reasons = [name or "error" for name in names]
        apply_response(invocation, self.response_id, self.model_version, reasons, self.usage)


class EmbedContent(_GoogleEndpoint):
    """``embed_content``: input tokens where the backend reports them (Vertex AI only)."""

    operation = semconv.OPERATION_EMBEDDINGS

    def request(self, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> RequestFacts | None:
        """The requested dimensionality, if any."""
        attributes: dict[str, AttributeValue] = {}
        dimensions = as_int(attr(kwargs.get("config"), "output_dimensionality"))
        if dimensions is not None:
            attributes[semconv.GEN_AI_EMBEDDINGS_DIMENSION_COUNT] = dimensions
        return self.facts(instance, kwargs, attributes=attributes)

    def on_response(self, invocation: Invocation, result: Any) -> None:
        """Read an ``EmbedContentResponse``."""
        invocation.set_usage(extract_embed_usage(result))
        embeddings = attr(result, "embeddings")
        if isinstance(embeddings, list) and embeddings:
            values = attr(embeddings[0], "values")
            if isinstance(values, list):
                invocation.set_attribute(semconv.GEN_AI_EMBEDDINGS_DIMENSION_COUNT, len(values))


class CountTokens(_GoogleEndpoint):
    """``count_tokens``: a span with the counted total as input tokens, and no usage metrics."""

    operation = semconv.OPERATION_COUNT_TOKENS

    def request(self, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> RequestFacts | None:
        """Counting is not consumption: ``records_usage_metrics=False``."""
        return self.facts(instance, kwargs, records_usage_metrics=False)

    def on_response(self, invocation: Invocation, result: Any) -> None:
        """Read a ``CountTokensResponse``; inside another call, report nothing it could sum."""
        if invocation.parent is None:
            invocation.set_usage(extract_count_usage(result))


class ComputeTokens(_GoogleEndpoint):
    """``compute_tokens`` (Vertex AI): the listed tokens' number, in all and per role; never the tokens."""

    operation = semconv.OPERATION_COMPUTE_TOKENS

    def request(self, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> RequestFacts | None:
        """Counting is not consumption: ``records_usage_metrics=False``."""
        return self.facts(instance, kwargs, records_usage_metrics=False)

    def on_response(self, invocation: Invocation, result: Any) -> None:
        """Read a ``ComputeTokensResponse``; inside another call, report nothing it could sum."""
        if invocation.parent is not None:
            return
        total, per_role = extract_compute_counts(result)
        invocation.set_usage(TokenUsage(input=as_count(total)))
        for role, count in per_role.items():
            invocation.set_attribute(semconv.TOKENTRACE_COMPUTE_TOKENS_PER_ROLE_PREFIX + role, count)


def targets(settings: Settings) -> Sequence[WrapTarget]:
    """Every google-genai method tokentrace wraps (public calls and their per-request hops)."""
    wrap: list[WrapTarget] = []
    for owner, is_async in (("Models", False), ("AsyncModels", True)):
        prefix = "google_genai.aio" if is_async else "google_genai"
        endpoints = (
            ("generate_content", GenerateContent(f"{prefix}.generate_content", settings, stream=False)),
            (
                "generate_content_stream",
                GenerateContent(f"{prefix}.generate_content_stream", settings, stream=True),
            ),
            (
                "_generate_content",
                GenerateContent(_hop_name(prefix, "generate_content"), settings, stream=False, hop=True),
            ),
            (
                "_generate_content_stream",
                GenerateContent(
                    _hop_name(prefix, "generate_content_stream"), settings, stream=True, hop=True
                ),
            ),
            ("embed_content", EmbedContent(f"{prefix}.embed_content", settings)),
            ("count_tokens", CountTokens(f"{prefix}.count_tokens", settings)),
            ("compute_tokens", ComputeTokens(f"{prefix}.compute_tokens", settings)),
        )
        wrap.extend(
            WrapTarget(_MODULE, f"{owner}.{method}", endpoint, is_async=is_async)
            for method, endpoint in endpoints
        )
    return wrap
