"""The private SDK names tokentrace relies on, in one table, and the check that they still exist.

tokentrace wraps SDK methods and reads SDK objects through their public surface where there is one;
where there is none (a client's base URL, a raw response's parse cache, botocore's one dispatch
method), it uses a private name. An SDK release may rename any of them without notice. tokentrace
keeps working when one disappears (every reader goes through ``attr``/``getattr`` with a default,
every wrap target is feature detected), but the telemetry it gave silently stops. The test suite
checks every name here against each installed SDK, and ``./scripts/test-matrix`` does in the oldest
and the newest release of each declared range, so a rename fails once, naming SDK, version and name.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import inspect
import re
from dataclasses import dataclass
from typing import Any

from packaging.version import Version


@dataclass(frozen=True, slots=True)
class PrivateName:
    """One private name of an SDK that tokentrace uses."""

    distribution: str  # PyPI distribution whose version is reported, e.g. "openai"
    module: str  # importable module, e.g. "openai._streaming"
    attribute: str  # dotted path inside the module, e.g. "Stream._iterator"
    used_by: str  # the tokentrace module relying on it
    why: str  # one line
    instance: bool = (
        False  # True: an attribute set on instances (checked on an instance or the class's source)
    )
    since: str | None = None  # first SDK version having it, when older versions legitimately lack it


_OPENAI = "tokentrace._providers.openai"
_ANTHROPIC = "tokentrace._providers.anthropic"
_STAINLESS = "tokentrace._providers._stainless"
_COMPATIBLE = "tokentrace._providers._openai_compatible"
_GOOGLE = "tokentrace._providers.google_genai"
_BEDROCK = "tokentrace._providers.bedrock"
_LANGCHAIN = "tokentrace._providers.langchain"


def _stainless(
    distribution: str, raw_response: str, stream_flag: str, client_user: str = _COMPATIBLE
) -> tuple[PrivateName, ...]:
    """The names every Stainless-generated SDK shares: the resource's client and the raw response's cache."""
    module, cls = raw_response.rsplit(".", 1)
    package = module.split(".", 1)[0]
    raw = "raw responses of streamed calls: the caller's parse() returns the proxy from this cache"
    return (
        PrivateName(
            distribution,
            f"{package}._resource",
            "SyncAPIResource._client",
            client_user,
            "a resource's client holds the base URL that gives server.address and the provider",
            instance=True,
        ),
        PrivateName(
            distribution,
            f"{package}._resource",
            "AsyncAPIResource._client",
            client_user,
            "the async resource's client, as for the sync one",
            instance=True,
        ),
        PrivateName(distribution, module, f"{cls}._parse", _STAINLESS, f"{raw} (builds the stream)"),
        PrivateName(distribution, module, f"{cls}._parsed_by_type", _STAINLESS, raw, instance=True),
        PrivateName(distribution, module, f"{cls}._cast_to", _STAINLESS, f"{raw} (its key)", instance=True),
        PrivateName(
            distribution,
            module,
            f"{cls}.{stream_flag}",
            _STAINLESS,
            "whether a raw response is a stream",
            True,
        ),
        PrivateName(
            distribution, module, f"{cls}._options", _STAINLESS, "a post_parser there means hands off", True
        ),
    )


PRIVATE_NAMES: tuple[PrivateName, ...] = (
    # --- openai ---
    *_stainless("openai", "openai._legacy_response.LegacyAPIResponse", "_stream", _OPENAI),
    PrivateName(
        "openai",
        "openai.lib.azure",
        "AzureOpenAI._api_version",
        _OPENAI,
        "Azure API versions before stream_options reject it: include_usage is injected only after",
        instance=True,
    ),
    # --- anthropic ---
    *_stainless("anthropic", "anthropic._response.APIResponse", "_is_sse_stream", _ANTHROPIC),
    PrivateName(
        "anthropic",
        "anthropic.lib.streaming._messages",
        "MessageStreamManager.__enter__",
        _ANTHROPIC,
        "messages.stream() posts on entering its manager: the span starts there",
    ),
    PrivateName(
        "anthropic",
        "anthropic.lib.streaming._messages",
        "AsyncMessageStreamManager.__aenter__",
        _ANTHROPIC,
        "the async stream helper posts on entering its manager",
    ),
    PrivateName(
        "anthropic",
        "anthropic.lib.streaming._messages",
        "MessageStreamManager.__api_request",
        _ANTHROPIC,
        "the unsent request a stream manager holds gives the client and the body",
        instance=True,
    ),
    PrivateName(
        "anthropic",
        "anthropic.lib.streaming._messages",
        "AsyncMessageStreamManager.__api_request",
        _ANTHROPIC,
        "the unsent async request (a post() coroutine) gives the client and the body",
        instance=True,
    ),
    PrivateName(
        "anthropic",
        "anthropic.lib.streaming._messages",
        "MessageStream._raw_stream",
        _ANTHROPIC,
        "the helper's raw event stream is replaced by the proxy, so every way of reading it is seen",
        instance=True,
    ),
    PrivateName(
        "anthropic",
        "anthropic.lib.streaming._messages",
        "AsyncMessageStream._raw_stream",
        _ANTHROPIC,
        "the async helper's raw event stream, as for the sync one",
        instance=True,
    ),
    PrivateName(
        "anthropic",
        "anthropic._base_client",
        "start_api_call_span",
        _ANTHROPIC,
        "the SDK's own inference span gives way to tokentrace's (one span per call)",
        since="1.14.0",
    ),
    PrivateName(
        "anthropic",
        "anthropic._base_client",
        "BaseClient._gen_ai_provider_name",
        _ANTHROPIC,
        "the client class names where Claude runs (Bedrock, Vertex AI); older SDKs: the class name",
        since="1.14.0",
    ),
    # --- Stainless SDKs with OpenAI-style chat completions ---
    *_stainless("groq", "groq._response.APIResponse", "_is_sse_stream"),
    *_stainless("together", "together._response.APIResponse", "_is_sse_stream"),
    *_stainless("fireworks-ai", "fireworks._response.APIResponse", "_is_sse_stream"),
    PrivateName(
        "together",
        "together._client",
        "Together._base_url_overridden",
        _COMPATIBLE,
        "without a base URL of its own the SDK posts to another host than client.base_url",
        instance=True,
    ),
    PrivateName(
        "fireworks-ai",
        "fireworks._client",
        "Fireworks._base_url_overridden",
        _COMPATIBLE,
        "without a base URL of its own the SDK posts to another host than client.base_url",
        instance=True,
    ),
    # --- google-genai ---
    PrivateName(
        "google-genai",
        "google.genai._api_module",
        "BaseModule._api_client",
        _GOOGLE,
        "the models module's API client says Vertex AI or Gemini API, and holds the base URL",
        instance=True,
    ),
    PrivateName(
        "google-genai",
        "google.genai._api_client",
        "BaseApiClient._http_options",
        _GOOGLE,
        "the HTTP options hold the base URL that gives server.address",
        instance=True,
    ),
    PrivateName(
        "google-genai",
        "google.genai.models",
        "Models._generate_content",
        _GOOGLE,
        "each request of an automatic function calling loop is a hop of its own",
    ),
    PrivateName(
        "google-genai",
        "google.genai.models",
        "Models._generate_content_stream",
        _GOOGLE,
        "each request of a streamed automatic function calling loop",
    ),
    PrivateName(
        "google-genai",
        "google.genai.models",
        "AsyncModels._generate_content",
        _GOOGLE,
        "the async hops, as for the sync ones",
    ),
    PrivateName(
        "google-genai",
        "google.genai.models",
        "AsyncModels._generate_content_stream",
        _GOOGLE,
        "the async streamed hops",
    ),
    # --- botocore (bedrock) ---
    PrivateName(
        "botocore",
        "botocore.client",
        "BaseClient._make_api_call",
        _BEDROCK,
        "one patch sees every Bedrock Runtime call of every client, also clients made before instrument()",
    ),
    PrivateName(
        "aiobotocore",
        "aiobotocore.client",
        "AioBaseClient._make_api_call",
        _BEDROCK,
        "the async clients' one dispatch method",
    ),
    PrivateName(
        "opentelemetry-instrumentation-botocore",
        "opentelemetry.instrumentation.botocore.extensions",
        "_BOTOCORE_EXTENSIONS",
        _BEDROCK,
        "its bedrock-runtime extension goes quiet while tokentrace reports those calls (no double spans)",
    ),
    PrivateName(
        "opentelemetry-instrumentation-botocore",
        "opentelemetry.instrumentation.botocore.extensions.types",
        "_AwsSdkExtension",
        _BEDROCK,
        "the generic extension whose hooks the quiet bedrock-runtime extension uses",
    ),
    # --- langchain-core ---
    PrivateName(
        "langchain-core",
        "langchain_core.language_models.chat_models",
        "BaseChatModel._generate_with_cache",
        _LANGCHAIN,
        "the one method every sync chat model call path goes through (invoke, batch, generate)",
    ),
    PrivateName(
        "langchain-core",
        "langchain_core.language_models.chat_models",
        "BaseChatModel._agenerate_with_cache",
        _LANGCHAIN,
        "the async twin (ainvoke, abatch, agenerate)",
    ),
    PrivateName(
        "langchain-core",
        "langchain_core.language_models.chat_models",
        "BaseChatModel._get_ls_params",
        _LANGCHAIN,
        "the model's own LangSmith parameters name its provider and model",
    ),
)


def _installed_version(distribution: str) -> str | None:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def _assigned_in_source(module: Any, cls: type[Any], name: str) -> bool:
    """Whether a class (or a base) assigns ``self.<name>`` or declares it as an annotation.

    SDKs that re-export a class under their package name also rewrite its ``__module__``, and then
    ``inspect`` cannot find the class in its file: the module's whole source is searched instead.
    """
    assignment = re.compile(rf"\bself\.{re.escape(name)}\s*(:[^=\n]*)?=[^=]")
    sources: list[Any] = [*inspect.getmro(cls), module]
    for owner in sources:
        if name in vars(owner).get("__annotations__", {}):
            return True
        try:
            source = inspect.getsource(owner)
        except (OSError, TypeError):
            continue
        if assignment.search(source):
            return True
    return False


def _exists(entry: PrivateName) -> bool:
    try:
        module = importlib.import_module(entry.module)
    except ImportError:
        return False
    owner: Any = module
    *path, name = entry.attribute.split(".")
    for part in path:
        owner = getattr(owner, part, None)
        if owner is None:
            return False
    if hasattr(owner, name):
        return True
    return entry.instance and isinstance(owner, type) and _assigned_in_source(module, owner, name)


def missing_private_names(distribution: str | None = None) -> list[str]:
    """Each missing name as 'DIST VERSION: module.attribute (used by X)'; installed distributions only."""
    missing = []
    for entry in PRIVATE_NAMES:
        if distribution is not None and entry.distribution != distribution:
            continue
        version = _installed_version(entry.distribution)
        if version is None or (entry.since is not None and Version(version) < Version(entry.since)):
            continue
        if not _exists(entry):
            missing.append(
                f"{entry.distribution} {version}: {entry.module}.{entry.attribute} (used by {entry.used_by})"
            )
    return missing
