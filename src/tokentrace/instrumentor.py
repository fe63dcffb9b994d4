"""``BaseInstrumentor`` subclasses, one per SDK, registered as ``opentelemetry_instrumentor`` entry points.

Each is named ``tokentrace_<sdk>`` in the entry-point group, so ``opentelemetry-instrument`` loads
them and ``OTEL_PYTHON_DISABLED_INSTRUMENTATIONS=tokentrace_openai`` switches one off without
touching another vendor's ``openai`` instrumentation.
"""

from __future__ import annotations

import threading
from collections.abc import Collection, Sequence
from typing import Any, ClassVar

from opentelemetry.instrumentation.instrumentor import BaseInstrumentor  # type: ignore[attr-defined]

from tokentrace._core.config import Settings
from tokentrace._core.emitter import Emitter
from tokentrace._core.guard import guard
from tokentrace._core.patching import Patch, Pending, WrapTarget, apply_patches, revert_patches, when_imported
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

    @property
    def providers(self) -> tuple[Any, Any] | None:
        """The (tracer, meter) providers given to the active instrumentation; None when off."""
        return getattr(self, "_providers", None)

    def _instrument(self, **kwargs: Any) -> None:
        settings = Settings.from_env()
        tracer_provider, meter_provider = kwargs.get("tracer_provider"), kwargs.get("meter_provider")
        emitter = Emitter(tracer_provider, meter_provider, settings)
        self._providers: tuple[Any, Any] | None = (tracer_provider, meter_provider)
        self._lock = threading.RLock()
        self._switch = Switch()
        self._patches: list[Patch] = []
        self._pending: list[Pending] = []
        switch = self._switch

        def patch(targets: Sequence[WrapTarget]) -> None:
            # May run later, on whichever thread imports the SDK: only while this instrumentation
            # is still the active one (uninstrument cancels, but a hook may already be running).
            with self._lock, guard(f"{self.provider}.instrument"):
                if switch.active:
                    self._patches += apply_patches(targets, emitter, switch)

        def sdk_imported() -> None:
            with guard(f"{self.provider}.instrument"):
                by_root: dict[str, list[WrapTarget]] = {}
                for target in self.entry.load().targets(settings):
                    by_root.setdefault(self.entry.root_of(target.module), []).append(target)
                for root, targets in by_root.items():
                    # A target in another distribution (aiobotocore next to botocore) waits for that
                    # one's own import instead of importing it.
                    self._wait_for(root, lambda targets=targets: patch(targets))

        marker = self.entry.import_marker()
        if marker is None:
            sdk_imported()  # the adapter imports nothing from the SDK; each target waits for its module
        else:
            self._wait_for(marker, sdk_imported)

    def _wait_for(self, module: str, callback: Any) -> None:
        pending = when_imported(module, callback)
        if pending is not None:
            with self._lock:
                self._pending.append(pending)

    def _uninstrument(self, **kwargs: Any) -> None:
        self._providers = None
        switch: Switch | None = getattr(self, "_switch", None)
        if switch is not None:
            switch.active = False
        lock = getattr(self, "_lock", None) or threading.RLock()
        with lock:
            for pending in getattr(self, "_pending", ()):
                pending.cancel()
            self._pending = []
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
