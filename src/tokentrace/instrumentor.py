"""``BaseInstrumentor`` subclasses, one per SDK, registered as ``opentelemetry_instrumentor`` entry points.

Each is named ``tokentrace_<sdk>`` in the entry-point group, so ``opentelemetry-instrument`` loads
them and ``OTEL_PYTHON_DISABLED_INSTRUMENTATIONS=tokentrace_openai`` switches one off without
touching another vendor's ``openai`` instrumentation.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any, ClassVar

from opentelemetry.instrumentation.instrumentor import BaseInstrumentor  # type: ignore[attr-defined]

from tokentrace._core.config import Settings
from tokentrace._core.emitter import Emitter
from tokentrace._core.patching import Patch, apply_patches, revert_patches
from tokentrace._core.wrapper import Switch
from tokentrace._providers import REGISTRY, ProviderEntry


class TokentraceInstrumentor(BaseInstrumentor):  # type: ignore[misc]
    """Instruments one SDK; subclasses name which (``provider``)."""

    provider: ClassVar[str]

    @property
    def entry(self) -> ProviderEntry:
        """This instrumentor's registry entry."""
        return REGISTRY[self.provider]

    def instrumentation_dependencies(self) -> Collection[str]:
        """The SDK versions this instrumentor supports."""
        return self.entry.dependencies

    def _instrument(self, **kwargs: Any) -> None:
        settings = Settings.from_env()
        emitter = Emitter(kwargs.get("tracer_provider"), kwargs.get("meter_provider"), settings)
        adapter = self.entry.load()
        self._switch = Switch()
        self._patches: list[Patch] = apply_patches(adapter.targets(settings), emitter, self._switch)

    def _uninstrument(self, **kwargs: Any) -> None:
        switch: Switch | None = getattr(self, "_switch", None)
        if switch is not None:
            switch.active = False
        revert_patches(getattr(self, "_patches", ()))
        self._patches = []


class OpenAIInstrumentor(TokentraceInstrumentor):
    """OpenAI SDK: chat completions, Responses, embeddings, legacy completions (and Azure OpenAI)."""

    provider = "openai"


class AnthropicInstrumentor(TokentraceInstrumentor):
    """Anthropic SDK: messages (create, stream, parse, count_tokens) and the beta messages."""

    provider = "anthropic"


class GoogleGenAIInstrumentor(TokentraceInstrumentor):
    """Google Gen AI SDK (Gemini API and Vertex AI): generate, stream, embed, count and compute tokens."""

    provider = "google_genai"


class BedrockInstrumentor(TokentraceInstrumentor):
    """AWS Bedrock Runtime through botocore: Converse, ConverseStream, InvokeModel (and its stream)."""

    provider = "bedrock"


class MistralInstrumentor(TokentraceInstrumentor):
    """Mistral SDK: chat complete and stream, embeddings."""

    provider = "mistralai"


class GroqInstrumentor(TokentraceInstrumentor):
    """Groq SDK: chat completions."""

    provider = "groq"


class TogetherInstrumentor(TokentraceInstrumentor):
    """Together SDK: chat completions."""

    provider = "together"


class FireworksInstrumentor(TokentraceInstrumentor):
    """Fireworks SDK: chat completions."""

    provider = "fireworks"


class LangChainInstrumentor(TokentraceInstrumentor):
    """LangChain chat models, every call path, without double counting instrumented SDKs below them."""

    provider = "langchain"


INSTRUMENTORS: dict[str, type[TokentraceInstrumentor]] = {
    cls.provider: cls
    for cls in (
        OpenAIInstrumentor,
        AnthropicInstrumentor,
        GoogleGenAIInstrumentor,
        BedrockInstrumentor,
        MistralInstrumentor,
        GroqInstrumentor,
        TogetherInstrumentor,
        FireworksInstrumentor,
        LangChainInstrumentor,
    )
}
